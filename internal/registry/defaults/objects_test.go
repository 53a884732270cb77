package defaults

import (
	"reflect"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestService(t *testing.T) {
	local := corev1.ServiceInternalTrafficPolicyLocal
	cluster := corev1.ServiceInternalTrafficPolicyCluster
	timeout := corev1.DefaultClientIPServiceAffinitySeconds
	tests := []struct {
		name string
		in   corev1.ServiceSpec
		want corev1.ServiceSpec
	}{
		{
			name: "empty spec",
			in:   corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
			want: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
				InternalTrafficPolicy: &cluster,
				Ports:                 []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}},
			},
		},
		{
			name: "explicit values kept, empty string targetPort defaulted",
			in: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, InternalTrafficPolicy: &local,
				Ports: []corev1.ServicePort{
					{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
					{Port: 8080, TargetPort: intstr.FromString("")},
				},
			},
			want: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone, InternalTrafficPolicy: &local,
				Ports: []corev1.ServicePort{
					{Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
					{Port: 8080, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)},
				},
			},
		},
		{
			name: "NodePort gets externalTrafficPolicy",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, SessionAffinity: corev1.ServiceAffinityNone,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: &cluster},
		},
		{
			name: "LoadBalancer gets allocateLoadBalancerNodePorts",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityNone,
				ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: &cluster,
				AllocateLoadBalancerNodePorts: boolPtr(true)},
		},
		{
			name: "ClusterIP with externalIPs is externally accessible",
			in:   corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.1"}},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
				ExternalIPs: []string{"192.0.2.1"}, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: &cluster},
		},
		{
			name: "ExternalName gets no traffic policies",
			in:   corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", SessionAffinity: corev1.ServiceAffinityNone},
		},
		{
			name: "ClientIP affinity gets a timeout",
			in:   corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityClientIP, InternalTrafficPolicy: &cluster,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}},
		},
		{
			name: "None affinity drops a config",
			in: corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityNone,
				SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}},
			want: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone, InternalTrafficPolicy: &cluster},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &corev1.Service{Spec: tt.in}
			Service(s)
			if !reflect.DeepEqual(s.Spec, tt.want) {
				t.Fatalf("spec:\n got %#v\nwant %#v", s.Spec, tt.want)
			}
		})
	}
}

func TestServiceLoadBalancerIPMode(t *testing.T) {
	s := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.0.2.9"}, {Hostname: "lb.example.com"}}}}}
	Service(s)
	ing := s.Status.LoadBalancer.Ingress
	if ing[0].IPMode == nil || *ing[0].IPMode != corev1.LoadBalancerIPModeVIP {
		t.Errorf("ingress with IP: ipMode = %v, want VIP", ing[0].IPMode)
	}
	if ing[1].IPMode != nil {
		t.Errorf("ingress without IP: ipMode = %v, want nil", *ing[1].IPMode)
	}
}

func TestSecret(t *testing.T) {
	tests := []struct {
		name     string
		in, want corev1.Secret
	}{
		{name: "type defaults to Opaque", in: corev1.Secret{}, want: corev1.Secret{Type: corev1.SecretTypeOpaque}},
		{name: "type kept", in: corev1.Secret{Type: corev1.SecretTypeTLS}, want: corev1.Secret{Type: corev1.SecretTypeTLS}},
		{
			name: "stringData overwrites data and is cleared",
			in: corev1.Secret{Data: map[string][]byte{"a": []byte("1"), "b": []byte("2")},
				StringData: map[string]string{"b": "two", "c": "three"}},
			want: corev1.Secret{Type: corev1.SecretTypeOpaque,
				Data: map[string][]byte{"a": []byte("1"), "b": []byte("two"), "c": []byte("three")}},
		},
		{
			name: "stringData without data",
			in:   corev1.Secret{StringData: map[string]string{"k": "v"}},
			want: corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.in.DeepCopy()
			Secret(s)
			if !reflect.DeepEqual(*s, tt.want) {
				t.Fatalf("got %#v, want %#v", *s, tt.want)
			}
		})
	}
}

func TestConfigMap(t *testing.T) {
	c := &corev1.ConfigMap{}
	ConfigMap(c)
	if c.Data == nil {
		t.Fatal("data should be a non-nil map")
	}
	kept := &corev1.ConfigMap{Data: map[string]string{"k": "v"}}
	ConfigMap(kept)
	if kept.Data["k"] != "v" {
		t.Fatal("data changed")
	}
}

func TestNamespace(t *testing.T) {
	tests := []struct {
		name       string
		in         corev1.Namespace
		wantLabels map[string]string
		wantPhase  corev1.NamespacePhase
	}{
		{name: "named", in: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev"}},
			wantLabels: map[string]string{"kubernetes.io/metadata.name": "dev"}, wantPhase: corev1.NamespaceActive},
		{name: "wrong label forced", in: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "dev", Labels: map[string]string{"kubernetes.io/metadata.name": "prod", "team": "a"}}},
			wantLabels: map[string]string{"kubernetes.io/metadata.name": "dev", "team": "a"}, wantPhase: corev1.NamespaceActive},
		{name: "generateName only", in: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-"}},
			wantLabels: nil, wantPhase: corev1.NamespaceActive},
		{name: "terminating kept", in: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			wantLabels: map[string]string{"kubernetes.io/metadata.name": "x"}, wantPhase: corev1.NamespaceTerminating},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.in.DeepCopy()
			Namespace(n)
			if !reflect.DeepEqual(n.Labels, tt.wantLabels) {
				t.Errorf("labels = %v, want %v", n.Labels, tt.wantLabels)
			}
			if n.Status.Phase != tt.wantPhase {
				t.Errorf("phase = %q, want %q", n.Status.Phase, tt.wantPhase)
			}
		})
	}
}

func TestNode(t *testing.T) {
	n := &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("4"), "pods": resource.MustParse("110")}}}
	Node(n)
	if q := n.Status.Allocatable["cpu"]; q.String() != "4" {
		t.Errorf("allocatable cpu = %s, want 4", q.String())
	}
	kept := &corev1.Node{Status: corev1.NodeStatus{
		Capacity:    corev1.ResourceList{"cpu": resource.MustParse("4")},
		Allocatable: corev1.ResourceList{"cpu": resource.MustParse("3500m")},
	}}
	Node(kept)
	if q := kept.Status.Allocatable["cpu"]; q.String() != "3500m" {
		t.Errorf("explicit allocatable = %s, want 3500m", q.String())
	}

	cidrs := []struct {
		name      string
		cidr      string
		cidrs     []string
		wantCIDR  string
		wantCIDRs []string
	}{
		{name: "singular only", cidr: "10.0.0.0/24", wantCIDR: "10.0.0.0/24", wantCIDRs: []string{"10.0.0.0/24"}},
		{name: "plural only", cidrs: []string{"10.0.0.0/24", "fd00::/64"}, wantCIDR: "10.0.0.0/24", wantCIDRs: []string{"10.0.0.0/24", "fd00::/64"}},
		{name: "disagree: singular wins", cidr: "10.1.0.0/24", cidrs: []string{"10.0.0.0/24"}, wantCIDR: "10.1.0.0/24", wantCIDRs: []string{"10.1.0.0/24"}},
		{name: "neither"},
	}
	for _, tt := range cidrs {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: tt.cidr, PodCIDRs: tt.cidrs}}
			Node(n)
			if n.Spec.PodCIDR != tt.wantCIDR || !reflect.DeepEqual(n.Spec.PodCIDRs, tt.wantCIDRs) {
				t.Fatalf("podCIDR=%q podCIDRs=%v, want %q %v", n.Spec.PodCIDR, n.Spec.PodCIDRs, tt.wantCIDR, tt.wantCIDRs)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	e := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}}}}}
	Endpoints(e)
	if p := e.Subsets[0].Ports; p[0].Protocol != corev1.ProtocolTCP || p[1].Protocol != corev1.ProtocolUDP {
		t.Fatalf("protocols = %q, %q; want TCP, UDP", p[0].Protocol, p[1].Protocol)
	}
}

func TestNoDefaultKinds(t *testing.T) {
	for _, obj := range []runtime.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa"}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, Reason: "Pulled"},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "l"}},
		&corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "b"}},
	} {
		before := obj.DeepCopyObject()
		if !Object(obj) {
			t.Errorf("%T: Object reports an unknown kind", obj)
		}
		if !reflect.DeepEqual(before, obj) {
			t.Errorf("%T changed", obj)
		}
	}
}

func TestObjectDispatch(t *testing.T) {
	pods := &corev1.PodList{Items: []corev1.Pod{{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}
	tests := []struct {
		obj   runtime.Object
		check func() bool
	}{
		{&corev1.Pod{}, nil},
		{pods, func() bool { return pods.Items[0].Spec.RestartPolicy == corev1.RestartPolicyAlways }},
		{&corev1.Service{}, nil},
		{&corev1.Secret{}, nil},
		{&corev1.ConfigMap{}, nil},
		{&corev1.Namespace{}, nil},
		{&corev1.Node{}, nil},
		{&corev1.Endpoints{}, nil},
	}
	for _, tt := range tests {
		if !Object(tt.obj) {
			t.Errorf("%T: unknown kind", tt.obj)
		}
		if tt.check != nil && !tt.check() {
			t.Errorf("%T: defaults not applied", tt.obj)
		}
	}
	if Object(&corev1.PersistentVolume{}) {
		t.Error("PersistentVolume is not served and should be reported unknown")
	}
}
