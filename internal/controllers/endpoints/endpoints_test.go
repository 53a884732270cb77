package endpoints

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func eventually(t *testing.T, f func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func pod(name, ip string, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "x",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

// TestControllers runs the upstream controllers against a fake API: the
// wiring (informers, workers, the extra kubernetes slice) is what is
// tested here; their behaviour is Kubernetes' and tested end to end.
func TestControllers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := fake.NewSimpleClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Name: "web", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}}}},
		pod("ready", "10.244.0.5", true), pod("unready", "10.244.0.6", false),
		// Without its Service, the endpoint controller would delete the
		// kubernetes Endpoints as left over.
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"}, Spec: corev1.ServiceSpec{
			ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}},
		&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.2"}},
				Ports: []corev1.EndpointPort{{Name: "https", Port: 6443, Protocol: corev1.ProtocolTCP}}}}},
	)
	done := make(chan error)
	go func() { done <- New(client, Config{Logger: quiet()}).Run(ctx) }()

	eventually(t, func() error {
		ep, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != "10.244.0.5" ||
			len(ep.Subsets[0].NotReadyAddresses) != 1 || ep.Subsets[0].Ports[0].Port != 8080 {
			return fmt.Errorf("endpoints web: %+v", ep.Subsets)
		}
		return nil
	})
	eventually(t, func() error {
		list, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
		if err != nil {
			return err
		}
		if len(list.Items) != 1 || len(list.Items[0].Endpoints) != 2 {
			return fmt.Errorf("slices of web: %+v", list.Items)
		}
		for _, e := range list.Items[0].Endpoints {
			if want := e.Addresses[0] == "10.244.0.5"; *e.Conditions.Ready != want {
				return fmt.Errorf("endpoint %s ready=%v", e.Addresses[0], *e.Conditions.Ready)
			}
		}
		return nil
	})
	eventually(t, func() error {
		s, err := client.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if s.Labels[discoveryv1.LabelServiceName] != "kubernetes" || len(s.Endpoints) != 1 || s.Endpoints[0].Addresses[0] != "192.0.2.2" ||
			len(s.Ports) != 1 || *s.Ports[0].Port != 6443 || *s.Ports[0].Name != "https" {
			return fmt.Errorf("kubernetes slice: %+v", s)
		}
		return nil
	})
	// The kubernetes Endpoints gone (e.g. berth now listens on loopback):
	// the slice goes too rather than pointing at a stale address.
	if err := client.CoreV1().Endpoints("default").Delete(ctx, "kubernetes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		_, err := client.DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("kubernetes slice still there: %v", err)
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
}

func TestSliceFromEndpoints(t *testing.T) {
	node := "node-1"
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
		Subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{{IP: "192.0.2.2", NodeName: &node}, {IP: "fd00::1"}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "192.0.2.3"}},
			Ports:             []corev1.EndpointPort{{Name: "https", Port: 6443, Protocol: corev1.ProtocolTCP}},
		}}}
	s := sliceFromEndpoints(ep)
	if s.AddressType != discoveryv1.AddressTypeIPv4 || len(s.Endpoints) != 2 {
		t.Fatalf("slice: %+v", s)
	}
	if e := s.Endpoints[0]; e.Addresses[0] != "192.0.2.2" || !*e.Conditions.Ready || e.NodeName == nil || *e.NodeName != node {
		t.Errorf("ready endpoint: %+v", e)
	}
	if e := s.Endpoints[1]; e.Addresses[0] != "192.0.2.3" || *e.Conditions.Ready {
		t.Errorf("not-ready endpoint: %+v", e)
	}
	v6 := sliceFromEndpoints(&corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "fd00::1"}}}}})
	if v6.AddressType != discoveryv1.AddressTypeIPv6 || len(v6.Endpoints) != 1 {
		t.Errorf("ipv6 slice: %+v", v6)
	}
	empty := sliceFromEndpoints(&corev1.Endpoints{})
	if empty.Endpoints != nil || empty.AddressType != discoveryv1.AddressTypeIPv4 {
		t.Errorf("empty slice: %+v", empty)
	}
}
