package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/berth-dev/berth/internal/registry/defaults"
)

// validService is a defaulted ClusterIP service with its IP allocated.
func validService() *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
			ClusterIP:  "10.96.0.10",
			ClusterIPs: []string{"10.96.0.10"},
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
		},
	}
	defaults.Service(s)
	return s
}

func TestValidateService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *corev1.Service)
		want   []want
	}{
		{"valid", func(*corev1.Service) {}, nil},
		{"name must be a DNS-1035 label", func(s *corev1.Service) { s.Name = "1web" }, []want{inv("metadata.name", "DNS-1035 label")}},
		{"name with dot", func(s *corev1.Service) { s.Name = "a.b" }, []want{inv("metadata.name", "DNS-1035 label")}},
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, []want{req("spec.ports")}},
		{"headless without ports", func(s *corev1.Service) {
			s.Spec.Ports, s.Spec.ClusterIP, s.Spec.ClusterIPs = nil, "None", []string{"None"}
		}, nil},
		{"port out of range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, []want{inv("spec.ports[0].port", "must be between 1 and 65535, inclusive")}},
		{"bad targetPort name", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("Http_1") },
			[]want{inv("spec.ports[0].targetPort", "must contain only alpha-numeric characters")}},
		{"protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" }, []want{unsupported("spec.ports[0].protocol", `"SCTP", "TCP", "UDP"`)}},
		{"second port needs a name", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, Protocol: "TCP", TargetPort: intstr.FromInt32(443)})
		}, []want{req("spec.ports[1].name")}},
		{"duplicate port name", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 443, Protocol: "TCP", TargetPort: intstr.FromInt32(443)})
		}, []want{dup("spec.ports[1].name")}},
		{"duplicate port and protocol", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "other", Port: 80, Protocol: "TCP", TargetPort: intstr.FromInt32(80)})
		}, []want{dup("spec.ports[1]")}},
		{"same port other protocol", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "quic", Port: 80, Protocol: "UDP", TargetPort: intstr.FromInt32(80)})
		}, nil},
		{"bad selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} }, []want{inv("spec.selector", "a valid label")}},
		{"nodePort on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			[]want{forb("spec.ports[0].nodePort", "may not be used when `type` is 'ClusterIP'")}},
		{"type unknown", func(s *corev1.Service) { s.Spec.Type = "Internal" },
			[]want{unsupported("spec.type", `"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"`)}},
		{"sessionAffinity unknown", func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }, []want{unsupported("spec.sessionAffinity", `"ClientIP", "None"`)}},
		{"ClientIP timeout too long", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptrTo(int32(86401))}}
		}, []want{inv("spec.sessionAffinityConfig.clientIP.timeoutSeconds", "must be greater than 0 and less than 86400")}},
		{"clusterIPs out of step", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.11"} },
			[]want{inv("spec.clusterIPs", "first value must match `clusterIP`")}},
		{"bad clusterIP", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0", []string{"10.96.0"} },
			[]want{inv("spec.clusterIPs[0]", "must be a valid IP address")}},
		{"two IPv4 cluster IPs", func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.10", "10.96.0.11"} },
			[]want{inv("spec.clusterIPs", "may specify no more than one IP for each IP family")}},
		{"family disagrees with IP", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} },
			[]want{inv("spec.clusterIPs[0]", "expected an IPv6 value as indicated by `ipFamilies[0]`")}},
		{"loopback external IP", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"} }, []want{
			inv("spec.externalIPs[0]", "may not be in the loopback range"),
			req("spec.externalTrafficPolicy"),
		}},
		{"externalTrafficPolicy on plain ClusterIP", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			[]want{inv("spec.externalTrafficPolicy", "may only be set for externally-accessible services")}},
		{"internalTrafficPolicy missing", func(s *corev1.Service) { s.Spec.InternalTrafficPolicy = nil }, []want{req("spec.internalTrafficPolicy")}},
		{"trafficDistribution unknown", func(s *corev1.Service) { s.Spec.TrafficDistribution = ptrTo("Nearby") },
			[]want{unsupported("spec.trafficDistribution", `"PreferClose"`)}},
		{"source ranges on ClusterIP", func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			[]want{forb("spec.LoadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'")}},
		{"loadBalancerClass on ClusterIP", func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptrTo("example.com/lb") },
			[]want{forb("spec.loadBalancerClass", "may only be used when `type` is 'LoadBalancer'")}},
		{"allocateLoadBalancerNodePorts on ClusterIP", func(s *corev1.Service) { s.Spec.AllocateLoadBalancerNodePorts = ptrTo(true) },
			[]want{forb("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'")}},
		{"NodePort", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.Ports[0].NodePort = 30080
		}, nil},
		{"headless NodePort", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "None", []string{"None"}
		}, []want{inv("spec.clusterIPs[0]", "may not be set to 'None' for NodePort services")}},
		{"LoadBalancer without allocate flag (Kubernetes' path)", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, []want{req("allocateLoadBalancerNodePorts")}},
		{"LoadBalancer exposing the kubelet port", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.AllocateLoadBalancerNodePorts = ptrTo(true)
			s.Spec.Ports[0].Port = 10250
		}, []want{inv("spec.ports[0]", "may not expose port 10250 externally since it is used by kubelet")}},
		{"LoadBalancer Local needs a health check port", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.AllocateLoadBalancerNodePorts = ptrTo(true)
		}, []want{req("spec.healthCheckNodePort")}},
		{"ExternalName", func(s *corev1.Service) {
			*s = corev1.Service{ObjectMeta: s.ObjectMeta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}}
			defaults.Service(s)
		}, nil},
		{"ExternalName without name", func(s *corev1.Service) {
			*s = corev1.Service{ObjectMeta: s.ObjectMeta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}}
			defaults.Service(s)
		}, []want{req("spec.externalName")}},
		{"ExternalName with a cluster IP", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com"
			s.Spec.IPFamilies = nil
		}, []want{forb("spec.clusterIPs", "may not be set for ExternalName services")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validService()
			tt.mutate(s)
			expectErrs(t, ValidateService(s), tt.want...)
		})
	}
}

func TestValidateServiceUpdate(t *testing.T) {
	tests := []struct {
		name     string
		old, new func(s *corev1.Service)
		want     []want
	}{
		{"ports and selector change", nil, func(s *corev1.Service) {
			s.Spec.Ports[0].Port = 8080
			s.Spec.Selector = map[string]string{"app": "web2"}
		}, nil},
		{"clusterIP changed", nil, func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"} },
			[]want{inv("spec.clusterIPs[0]", "may not change once set")}},
		{"clusterIP removed", nil, func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil },
			[]want{inv("spec.clusterIPs[0]", "primary clusterIP can not be unset")}},
		{"secondary added", nil, func(s *corev1.Service) {
			s.Spec.ClusterIPs = append(s.Spec.ClusterIPs, "fd00::10")
			s.Spec.IPFamilies = append(s.Spec.IPFamilies, corev1.IPv6Protocol)
		}, nil},
		{"secondary released without SingleStack", func(s *corev1.Service) {
			s.Spec.ClusterIPs = append(s.Spec.ClusterIPs, "fd00::10")
			s.Spec.IPFamilies = append(s.Spec.IPFamilies, corev1.IPv6Protocol)
		}, func(s *corev1.Service) {
			s.Spec.ClusterIPs, s.Spec.IPFamilies = s.Spec.ClusterIPs[:1], s.Spec.IPFamilies[:1]
		}, []want{
			inv("spec.ipFamilyPolicy", "must be set to 'SingleStack' when releasing the secondary clusterIP"),
			inv("spec.ipFamilyPolicy", "must be set to 'SingleStack' when releasing the secondary ipFamily"),
		}},
		{"to ExternalName drops the IP", nil, func(s *corev1.Service) {
			*s = corev1.Service{ObjectMeta: s.ObjectMeta, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}}
			defaults.Service(s)
		}, nil},
		{"loadBalancerClass changed", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.AllocateLoadBalancerNodePorts = ptrTo(true)
			s.Spec.LoadBalancerClass = ptrTo("example.com/a")
		}, func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptrTo("example.com/b") },
			[]want{inv("spec.loadBalancerClass", "may not change once set")}},
		{"no resourceVersion", nil, func(s *corev1.Service) { s.ResourceVersion = "" }, []want{inv("metadata.resourceVersion", "must be specified for an update")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validService()
			if tt.old != nil {
				tt.old(old)
			}
			n := old.DeepCopy()
			if tt.new != nil {
				tt.new(n)
			}
			expectErrs(t, ValidateServiceUpdate(n, old), tt.want...)
		})
	}
}

func TestValidateServiceStatusUpdate(t *testing.T) {
	lb := func() *corev1.Service {
		s := validService()
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		defaults.Service(s)
		return s
	}
	vip := corev1.LoadBalancerIPModeVIP
	tests := []struct {
		name string
		svc  *corev1.Service
		ing  []corev1.LoadBalancerIngress
		want []want
	}{
		{"ip with mode", lb(), []corev1.LoadBalancerIngress{{IP: "192.0.2.10", IPMode: &vip}}, nil},
		{"hostname", lb(), []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}}, nil},
		{"ip without mode", lb(), []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}},
			[]want{reqDetail("status.loadBalancer.ingress[0].ipMode", "must be specified when `ip` is set")}},
		{"hostname that is an IP", lb(), []corev1.LoadBalancerIngress{{Hostname: "192.0.2.10"}},
			[]want{inv("status.loadBalancer.ingress[0].hostname", "must be a DNS name, not an IP address")}},
		{"not a LoadBalancer", validService(), []corev1.LoadBalancerIngress{{Hostname: "lb.example.com"}},
			[]want{forb("status.loadBalancer.ingress", "may only be used when `spec.type` is 'LoadBalancer'")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.svc.DeepCopy()
			n.Status.LoadBalancer.Ingress = tt.ing
			expectErrs(t, ValidateServiceStatusUpdate(n, tt.svc), tt.want...)
		})
	}
}
