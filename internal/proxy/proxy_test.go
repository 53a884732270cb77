package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/berth-dev/berth/internal/testutil/poll"
)

func svc(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
}

func TestServicePorts(t *testing.T) {
	web := svc("shop", "web", "10.96.0.20",
		corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("web")},
		corev1.ServicePort{Name: "metrics", Port: 9090, Protocol: corev1.ProtocolTCP})
	eps := map[string]*corev1.Endpoints{
		"shop/web": {Subsets: []corev1.EndpointSubset{
			// The named targetPort resolves per pod: two subsets, two numbers.
			{Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5"}}, NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.0.6"}},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", Port: 9090}}},
			{Addresses: []corev1.EndpointAddress{{IP: "10.244.0.7"}},
				Ports: []corev1.EndpointPort{{Name: "http", Port: 8081, Protocol: corev1.ProtocolTCP}, {Name: "http", Port: 53, Protocol: corev1.ProtocolUDP}}},
		}},
		"shop/single": {Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.244.0.8"}}, Ports: []corev1.EndpointPort{{Port: 80}}}}},
	}
	services := []*corev1.Service{
		web,
		svc("shop", "single", "10.96.0.21", corev1.ServicePort{Port: 8000}), // protocol defaults to TCP
		svc("shop", "headless", "None", corev1.ServicePort{Port: 80}),
		svc("shop", "pending", "", corev1.ServicePort{Port: 80}),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
		svc("shop", "noeps", "10.96.0.22", corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}),
	}
	got := ServicePorts(services, func(ns, name string) *corev1.Endpoints { return eps[ns+"/"+name] })
	var lines []string
	for _, sp := range got {
		var e []string
		for _, ep := range sp.Endpoints {
			e = append(e, ep.String())
		}
		lines = append(lines, fmt.Sprintf("%s/%s %s %s:%d/%s -> %s", sp.Namespace, sp.Name, sp.PortName, sp.ClusterIP, sp.Port, sp.Protocol, strings.Join(e, ",")))
	}
	want := []string{
		"shop/web http 10.96.0.20:80/TCP -> 10.244.0.5:8080,10.244.0.7:8081",
		"shop/web metrics 10.96.0.20:9090/TCP -> 10.244.0.5:9090",
		"shop/single  10.96.0.21:8000/TCP -> 10.244.0.8:80",
		"shop/noeps http 10.96.0.22:80/TCP -> ",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("ServicePorts:\n got %q\nwant %q", lines, want)
	}
}

// fakeRunner records what would have been applied.
type fakeRunner struct {
	mu      sync.Mutex
	scripts []string
	deleted []string
	fail    int // fail this many Apply calls first
}

func (f *fakeRunner) Apply(_ context.Context, s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return fmt.Errorf("nft: injected failure")
	}
	f.scripts = append(f.scripts, s)
	return nil
}

func (f *fakeRunner) DeleteTable(_ context.Context, table string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, table)
	return nil
}

func (f *fakeRunner) lastScript() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.scripts) == 0 {
		return ""
	}
	return f.scripts[len(f.scripts)-1]
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 5*time.Second, what, cond)
}

func TestRunFollowsServicesAndRemovesTable(t *testing.T) {
	client := fake.NewClientset()
	runner := &fakeRunner{}
	guard := &Guard{IP: netip.MustParseAddr("10.244.0.1"), TCP: []int{6443}}
	p, err := New(Config{Client: client, Table: "berth-test", Guard: guard, Runner: runner, Debounce: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Setup(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Setup programs the guard before anything else.
	if s := runner.lastScript(); !strings.Contains(s, "gateway-guard") || strings.Contains(s, "svc-") {
		t.Fatalf("Setup script:\n%s", s)
	}
	runner.mu.Lock()
	runner.fail = 1 // the first rebuild fails and is retried
	runner.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	bg := context.Background()
	_, _ = client.CoreV1().Services("shop").Create(bg, svc("shop", "web", "10.96.0.20",
		corev1.ServicePort{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}), metav1.CreateOptions{})
	waitFor(t, "the Service without endpoints in the cluster-ips set", func() bool {
		s := runner.lastScript()
		return strings.Contains(s, "elements = { 10.96.0.20 }") && !strings.Contains(s, "svc-shop/web")
	})
	_, _ = client.CoreV1().Endpoints("shop").Create(bg, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5"}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}}}, metav1.CreateOptions{})
	waitFor(t, "the endpoint's DNAT", func() bool {
		return strings.Contains(runner.lastScript(), "dnat to 10.244.0.5:8080")
	})
	_ = client.CoreV1().Services("shop").Delete(bg, "web", metav1.DeleteOptions{})
	waitFor(t, "the deleted Service's rules to go", func() bool {
		s := runner.lastScript()
		return !strings.Contains(s, "10.96.0.20") && strings.Contains(s, "gateway-guard")
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	runner.mu.Lock()
	defer runner.mu.Unlock()
	if !slices.Equal(runner.deleted, []string{"berth-test"}) {
		t.Errorf("tables deleted on stop: %v, want [berth-test]", runner.deleted)
	}
}
