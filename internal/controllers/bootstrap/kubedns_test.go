package bootstrap

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestDNSServiceIP(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.96.0.0/12": "10.96.0.10", "10.0.0.0/24": "10.0.0.10", "fd00:10:96::/108": "fd00:10:96::a", "10.0.0.0/29": "",
	} {
		got, err := DNSServiceIP(cidr)
		if want == "" {
			if err == nil {
				t.Errorf("DNSServiceIP(%s) = %v, want an error", cidr, got)
			}
			continue
		}
		if err != nil || got.String() != want {
			t.Errorf("DNSServiceIP(%s) = %v, %v; want %s", cidr, got, err, want)
		}
	}
}

var withDNS = Config{ServiceCIDR: "10.96.0.0/12", AdvertiseIP: "192.168.1.10", Port: 6443, DNSEndpointIP: "10.244.0.1", Logger: quiet}

func checkDNSObjects(t *testing.T, client *fake.Clientset) {
	t.Helper()
	ctx := context.Background()
	svc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("kube-dns service: %v", err)
	}
	if svc.Spec.ClusterIP != "10.96.0.10" || svc.Labels["k8s-app"] != "kube-dns" || len(svc.Spec.Selector) != 0 {
		t.Errorf("kube-dns service: clusterIP %s labels %v selector %v", svc.Spec.ClusterIP, svc.Labels, svc.Spec.Selector)
	}
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, p.Name+"/"+string(p.Protocol)+"/"+p.TargetPort.String())
	}
	if got := strings.Join(ports, ","); got != "dns/UDP/53,dns-tcp/TCP/53" {
		t.Errorf("kube-dns ports = %s", got)
	}
	ep, err := client.CoreV1().Endpoints("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("kube-dns endpoints: %v", err)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != "10.244.0.1" ||
		len(ep.Subsets[0].Ports) != 2 || ep.Subsets[0].Ports[0].Port != 53 || ep.Subsets[0].Ports[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("kube-dns endpoints = %+v", ep.Subsets)
	}
}

func TestKubeDNS(t *testing.T) {
	client := fake.NewClientset()
	if err := New(client, withDNS).EnsureOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkDNSObjects(t, client)

	// Without a DNS endpoint there are no kube-dns objects.
	bare := fake.NewClientset()
	if err := New(bare, good).EnsureOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := bare.CoreV1().Services("kube-system").Get(context.Background(), "kube-dns", metav1.GetOptions{}); err == nil {
		t.Error("kube-dns service created without Config.DNSEndpointIP")
	}

	bad := withDNS
	bad.DNSEndpointIP = "127.0.0.1"
	if err := New(fake.NewClientset(), bad).EnsureOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "cluster DNS endpoint IP") {
		t.Errorf("loopback DNS endpoint: error %v", err)
	}
}

func TestKubeDNSRepaired(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset()
	c := New(client, withDNS)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case _ = <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after ctx ended")
		}
	}()
	waitFor(t, "caches to sync", c.HasSynced)
	waitFor(t, "kube-dns endpoints", func() bool {
		_, err := client.CoreV1().Endpoints("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		return err == nil
	})
	if err := client.CoreV1().Endpoints("kube-system").Delete(ctx, "kube-dns", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "kube-dns endpoints recreated", func() bool {
		_, err := client.CoreV1().Endpoints("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		return err == nil
	})
	svc, _ := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	svc.Spec.Ports = svc.Spec.Ports[:1]
	if _, err := client.CoreV1().Services("kube-system").Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "kube-dns service repaired", func() bool {
		svc, err := client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		return err == nil && len(svc.Spec.Ports) == 2
	})
	checkDNSObjects(t, client)
}

// A kube-dns failure (its ClusterIP taken by an older Service) does not
// fail start-up.
func TestKubeDNSFailureDoesNotHoldStartup(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() == "kube-system" {
			return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "kube-dns",
				field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs"), "10.96.0.10", "provided IP is already allocated")})
		}
		return false, nil, nil
	})
	if err := New(client, withDNS).EnsureOnce(context.Background()); err != nil {
		t.Fatalf("EnsureOnce = %v, want nil despite the kube-dns failure", err)
	}
	if _, err := client.CoreV1().Services("default").Get(context.Background(), "kubernetes", metav1.GetOptions{}); err != nil {
		t.Errorf("kubernetes service: %v", err)
	}
}
