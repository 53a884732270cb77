package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/berth-dev/berth/internal/testutil/poll"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var good = Config{ServiceCIDR: "10.96.0.0/12", AdvertiseIP: "192.168.1.10", Port: 6443, Logger: quiet}

func TestFirstIP(t *testing.T) {
	tests := []struct {
		cidr, want, err string
	}{
		{cidr: "10.96.0.0/12", want: "10.96.0.1"},
		{cidr: "10.0.0.0/24", want: "10.0.0.1"},
		{cidr: "10.96.44.7/12", want: "10.96.0.1"}, // host bits are ignored
		{cidr: "10.0.0.0/31", want: "10.0.0.1"},
		{cidr: "fd00:10:96::/108", want: "fd00:10:96::1"},
		{cidr: "10.0.0.1/32", err: "too small"},
		{cidr: "10.96.0.0", err: `service CIDR "10.96.0.0"`},
		{cidr: "", err: `service CIDR ""`},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			got, err := FirstIP(tt.cidr)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("FirstIP(%q) error = %v, want one containing %q", tt.cidr, err, tt.err)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("FirstIP(%q) = %v, %v; want %s", tt.cidr, got, err, tt.want)
			}
		})
	}
}

func TestBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  string
	}{
		{name: "bad cidr", cfg: Config{ServiceCIDR: "nope", AdvertiseIP: "10.0.0.2", Port: 6443}, err: `service CIDR "nope"`},
		{name: "bad advertise ip", cfg: Config{ServiceCIDR: "10.96.0.0/12", AdvertiseIP: "host", Port: 6443}, err: `advertise IP "host"`},
		{name: "no advertise ip", cfg: Config{ServiceCIDR: "10.96.0.0/12", Port: 6443}, err: `advertise IP ""`},
		{name: "no port", cfg: Config{ServiceCIDR: "10.96.0.0/12", AdvertiseIP: "10.0.0.2"}, err: "port 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = quiet
			client := fake.NewClientset()
			c := New(client, tt.cfg)
			if err := c.EnsureOnce(context.Background()); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("EnsureOnce error = %v, want one containing %q", err, tt.err)
			}
			if err := c.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Run error = %v, want one containing %q", err, tt.err)
			}
			if n := len(client.Actions()); n != 0 {
				t.Errorf("%d API calls with a bad config, want none", n)
			}
		})
	}
}

func wantService(port int32) *corev1.Service {
	single := corev1.IPFamilyPolicySingleStack
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.1", ClusterIPs: []string{"10.96.0.1"},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: &single,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{Name: "https", Protocol: corev1.ProtocolTCP, Port: 443,
				TargetPort: intstr.FromInt32(port)}},
		},
	}
}

func wantEndpoints(ip string, port int32) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: ip}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}},
		}},
	}
}

func ns(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func allNamespaces() []runtime.Object {
	return []runtime.Object{ns("default"), ns("kube-system"), ns("kube-public"), ns("kube-node-lease")}
}

func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func TestEnsureOnce(t *testing.T) {
	tests := []struct {
		name       string
		existing   []runtime.Object
		cfg        Config
		wantWrites []string
		// wantService and wantEndpoints default to wantService(6443) and
		// wantEndpoints("192.168.1.10", 6443).
		wantService *corev1.Service
	}{
		{
			name: "empty cluster gets everything",
			wantWrites: []string{"create namespaces", "create namespaces", "create namespaces", "create namespaces",
				"create services", "create endpoints"},
		},
		{
			name:     "correct objects are left alone",
			existing: append(allNamespaces(), wantService(6443), wantEndpoints("192.168.1.10", 6443)),
		},
		{
			name:       "missing namespace is created",
			existing:   []runtime.Object{ns("default"), ns("kube-system"), ns("kube-public"), wantService(6443), wantEndpoints("192.168.1.10", 6443)},
			wantWrites: []string{"create namespaces"},
		},
		{
			name:       "terminating namespace counts as existing",
			existing:   append([]runtime.Object{terminatingNS("kube-public")}, ns("default"), ns("kube-system"), ns("kube-node-lease"), wantService(6443), wantEndpoints("192.168.1.10", 6443)),
			wantWrites: nil,
		},
		{
			name:       "new API server port repairs service and endpoints",
			existing:   append(allNamespaces(), wantService(40001), wantEndpoints("192.168.1.10", 40001)),
			wantWrites: []string{"update services", "update endpoints"},
		},
		{
			name:       "new advertise address repairs endpoints only",
			existing:   append(allNamespaces(), wantService(6443), wantEndpoints("192.168.1.99", 6443)),
			wantWrites: []string{"update endpoints"},
		},
		{
			name: "edited service is repaired, extra labels kept",
			existing: append(allNamespaces(), func() runtime.Object {
				s := wantService(6443)
				s.Labels = map[string]string{"team": "platform"}
				s.Spec.Selector = map[string]string{"app": "hijack"}
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "extra", Port: 80})
				return s
			}(), wantEndpoints("192.168.1.10", 6443)),
			wantWrites: []string{"update services"},
			wantService: func() *corev1.Service {
				s := wantService(6443)
				s.Labels["team"] = "platform"
				return s
			}(),
		},
		{
			name: "fields the server fills in are not fought over",
			existing: append(allNamespaces(), func() runtime.Object {
				s := wantService(6443)
				s.UID = "u1"
				s.Spec.InternalTrafficPolicy = new(corev1.ServiceInternalTrafficPolicyCluster)
				return s
			}(), wantEndpoints("192.168.1.10", 6443)),
		},
		{
			name: "foreign ClusterIP is reported, not replaced",
			existing: append(allNamespaces(), func() runtime.Object {
				s := wantService(6443)
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.1", []string{"10.0.0.1"}
				return s
			}(), wantEndpoints("192.168.1.10", 6443)),
			wantService: func() *corev1.Service {
				s := wantService(6443)
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.0.0.1", []string{"10.0.0.1"}
				return s
			}(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			client := fake.NewClientset(tt.existing...)
			c := New(client, good)
			if err := c.EnsureOnce(ctx); err != nil {
				t.Fatalf("EnsureOnce: %v", err)
			}
			if got := writes(client); strings.Join(got, ",") != strings.Join(tt.wantWrites, ",") {
				t.Errorf("writes = %v, want %v", got, tt.wantWrites)
			}
			checkObjects(t, client, tt.wantService)

			// A second pass finds nothing to do.
			client.ClearActions()
			if err := c.EnsureOnce(ctx); err != nil {
				t.Fatalf("second EnsureOnce: %v", err)
			}
			if got := writes(client); len(got) != 0 {
				t.Errorf("second pass wrote %v, want nothing", got)
			}
		})
	}
}

func terminatingNS(name string) *corev1.Namespace {
	n := ns(name)
	now := metav1.Now()
	n.DeletionTimestamp = &now
	n.Status.Phase = corev1.NamespaceTerminating
	return n
}

func checkObjects(t *testing.T, client *fake.Clientset, svcWant *corev1.Service) {
	t.Helper()
	ctx := context.Background()
	for _, name := range Namespaces {
		if _, err := client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s: %v", name, err)
		}
	}
	if svcWant == nil {
		svcWant = wantService(6443)
	}
	svc, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	if !equality.Semantic.DeepEqual(svc.Labels, svcWant.Labels) || len(svc.Spec.Selector) != 0 ||
		svc.Spec.Type != svcWant.Spec.Type || svc.Spec.ClusterIP != svcWant.Spec.ClusterIP ||
		!equality.Semantic.DeepEqual(svc.Spec.Ports, svcWant.Spec.Ports) {
		t.Errorf("service = labels %v selector %v type %s clusterIP %s ports %+v\nwant labels %v type %s clusterIP %s ports %+v",
			svc.Labels, svc.Spec.Selector, svc.Spec.Type, svc.Spec.ClusterIP, svc.Spec.Ports,
			svcWant.Labels, svcWant.Spec.Type, svcWant.Spec.ClusterIP, svcWant.Spec.Ports)
	}
	ep, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("endpoints: %v", err)
	}
	if want := wantEndpoints("192.168.1.10", 6443); !equality.Semantic.DeepEqual(ep.Subsets, want.Subsets) ||
		ep.Labels["endpointslice.kubernetes.io/skip-mirror"] != "true" {
		t.Errorf("endpoints = %+v labels %v, want %+v", ep.Subsets, ep.Labels, want.Subsets)
	}
}

// TestUnreachableAdvertiseIP checks that an API server only listening on an
// address pods cannot reach still gets its namespaces and Service, and
// that no Endpoints the API server would reject are written.
func TestUnreachableAdvertiseIP(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1", "0.0.0.0", "169.254.10.1", "fe80::1"} {
		t.Run(ip, func(t *testing.T) {
			client := fake.NewClientset()
			cfg := good
			cfg.AdvertiseIP = ip
			if err := New(client, cfg).EnsureOnce(context.Background()); err != nil {
				t.Fatalf("EnsureOnce: %v", err)
			}
			if _, err := client.CoreV1().Services("default").Get(context.Background(), "kubernetes", metav1.GetOptions{}); err != nil {
				t.Errorf("service: %v", err)
			}
			for _, w := range writes(client) {
				if strings.HasSuffix(w, "endpoints") {
					t.Errorf("wrote endpoints for %s", ip)
				}
			}
		})
	}
}

func TestEnsureOnceReportsFailures(t *testing.T) {
	client := fake.NewClientset()
	client.PrependReactor("create", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("storage unavailable")
	})
	err := New(client, good).EnsureOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "creating service default/kubernetes") {
		t.Fatalf("EnsureOnce error = %v, want the service failure", err)
	}
	// The other objects are still made.
	if _, err := client.CoreV1().Endpoints("default").Get(context.Background(), "kubernetes", metav1.GetOptions{}); err != nil {
		t.Errorf("endpoints not created despite the service failure: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 5*time.Second, what, cond)
}

func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client := fake.NewClientset()
	var failures atomic.Int32
	client.PrependReactor("create", "endpoints", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures.Add(1) <= 2 {
			return true, nil, apierrors.NewServiceUnavailable("storage unavailable")
		}
		return false, nil, nil
	})
	c := New(client, good)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after ctx ended")
		}
	}()

	get := func(get func() error) func() bool { return func() bool { return get() == nil } }
	endpointsExist := get(func() error {
		_, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		return err
	})
	serviceExists := get(func() error {
		_, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		return err
	})
	waitFor(t, "endpoints despite transient failures", endpointsExist)
	waitFor(t, "caches to sync", c.HasSynced)
	checkObjects(t, client, nil)

	if err := client.CoreV1().Services("default").Delete(ctx, "kubernetes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "service to be recreated", serviceExists)

	if err := client.CoreV1().Endpoints("default").Delete(ctx, "kubernetes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "endpoints to be recreated", endpointsExist)

	ep, _ := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	ep.Subsets[0].Ports[0].Port = 1
	if _, err := client.CoreV1().Endpoints("default").Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "endpoints to be repaired", func() bool {
		ep, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		return err == nil && ep.Subsets[0].Ports[0].Port == 6443
	})

	if err := client.CoreV1().Namespaces().Delete(ctx, "kube-public", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "kube-public to be recreated", func() bool {
		_, err := client.CoreV1().Namespaces().Get(ctx, "kube-public", metav1.GetOptions{})
		return err == nil
	})
	checkObjects(t, client, nil)
}
