package envvars

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func svc(ns, name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{ClusterIP: ip, Ports: ports}}
}

func port(name string, p int32, proto corev1.Protocol) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, Protocol: proto}
}

func lines(vars []Var) string {
	var b strings.Builder
	for _, v := range vars {
		b.WriteString(v.Name + "=" + v.Value + "\n")
	}
	return b.String()
}

// The golden cases of Kubernetes' pkg/kubelet/envvars tests.
func TestFromServiceGolden(t *testing.T) {
	tests := []struct {
		svc  *corev1.Service
		want string
	}{
		{svc("ns", "foo-bar", "1.2.3.4", port("", 8080, "TCP")), `FOO_BAR_SERVICE_HOST=1.2.3.4
FOO_BAR_SERVICE_PORT=8080
FOO_BAR_PORT=tcp://1.2.3.4:8080
FOO_BAR_PORT_8080_TCP=tcp://1.2.3.4:8080
FOO_BAR_PORT_8080_TCP_PROTO=tcp
FOO_BAR_PORT_8080_TCP_PORT=8080
FOO_BAR_PORT_8080_TCP_ADDR=1.2.3.4
`},
		{svc("ns", "abc-123", "5.6.7.8", port("u-d-p", 8081, "UDP"), port("t-c-p", 8081, "TCP")), `ABC_123_SERVICE_HOST=5.6.7.8
ABC_123_SERVICE_PORT=8081
ABC_123_SERVICE_PORT_U_D_P=8081
ABC_123_SERVICE_PORT_T_C_P=8081
ABC_123_PORT=udp://5.6.7.8:8081
ABC_123_PORT_8081_UDP=udp://5.6.7.8:8081
ABC_123_PORT_8081_UDP_PROTO=udp
ABC_123_PORT_8081_UDP_PORT=8081
ABC_123_PORT_8081_UDP_ADDR=5.6.7.8
ABC_123_PORT_8081_TCP=tcp://5.6.7.8:8081
ABC_123_PORT_8081_TCP_PROTO=tcp
ABC_123_PORT_8081_TCP_PORT=8081
ABC_123_PORT_8081_TCP_ADDR=5.6.7.8
`},
		{svc("ns", "q-u-u-x", "9.8.7.6", port("", 8082, "TCP"), port("8083", 8083, "TCP")), `Q_U_U_X_SERVICE_HOST=9.8.7.6
Q_U_U_X_SERVICE_PORT=8082
Q_U_U_X_SERVICE_PORT_8083=8083
Q_U_U_X_PORT=tcp://9.8.7.6:8082
Q_U_U_X_PORT_8082_TCP=tcp://9.8.7.6:8082
Q_U_U_X_PORT_8082_TCP_PROTO=tcp
Q_U_U_X_PORT_8082_TCP_PORT=8082
Q_U_U_X_PORT_8082_TCP_ADDR=9.8.7.6
Q_U_U_X_PORT_8083_TCP=tcp://9.8.7.6:8083
Q_U_U_X_PORT_8083_TCP_PROTO=tcp
Q_U_U_X_PORT_8083_TCP_PORT=8083
Q_U_U_X_PORT_8083_TCP_ADDR=9.8.7.6
`},
		{svc("ns", "svrc-clusterip-none", "None", port("", 8082, "TCP")), ""},
		{svc("ns", "svrc-clusterip-empty", "", port("", 8082, "TCP")), ""},
		{svc("ns", "super-ipv6", "2001:DB8::", port("u-d-p", 8084, "UDP"), port("t-c-p", 8084, "TCP")), `SUPER_IPV6_SERVICE_HOST=2001:DB8::
SUPER_IPV6_SERVICE_PORT=8084
SUPER_IPV6_SERVICE_PORT_U_D_P=8084
SUPER_IPV6_SERVICE_PORT_T_C_P=8084
SUPER_IPV6_PORT=udp://[2001:DB8::]:8084
SUPER_IPV6_PORT_8084_UDP=udp://[2001:DB8::]:8084
SUPER_IPV6_PORT_8084_UDP_PROTO=udp
SUPER_IPV6_PORT_8084_UDP_PORT=8084
SUPER_IPV6_PORT_8084_UDP_ADDR=2001:DB8::
SUPER_IPV6_PORT_8084_TCP=tcp://[2001:DB8::]:8084
SUPER_IPV6_PORT_8084_TCP_PROTO=tcp
SUPER_IPV6_PORT_8084_TCP_PORT=8084
SUPER_IPV6_PORT_8084_TCP_ADDR=2001:DB8::
`},
		{svc("ns", "sctp-1", "1.2.3.4", port("", 777, "SCTP")), `SCTP_1_SERVICE_HOST=1.2.3.4
SCTP_1_SERVICE_PORT=777
SCTP_1_PORT=sctp://1.2.3.4:777
SCTP_1_PORT_777_SCTP=sctp://1.2.3.4:777
SCTP_1_PORT_777_SCTP_PROTO=sctp
SCTP_1_PORT_777_SCTP_PORT=777
SCTP_1_PORT_777_SCTP_ADDR=1.2.3.4
`},
		// No protocol: TCP.
		{svc("ns", "redis-primary", "10.0.0.11", port("redis", 6379, "")), `REDIS_PRIMARY_SERVICE_HOST=10.0.0.11
REDIS_PRIMARY_SERVICE_PORT=6379
REDIS_PRIMARY_SERVICE_PORT_REDIS=6379
REDIS_PRIMARY_PORT=tcp://10.0.0.11:6379
REDIS_PRIMARY_PORT_6379_TCP=tcp://10.0.0.11:6379
REDIS_PRIMARY_PORT_6379_TCP_PROTO=tcp
REDIS_PRIMARY_PORT_6379_TCP_PORT=6379
REDIS_PRIMARY_PORT_6379_TCP_ADDR=10.0.0.11
`},
	}
	for _, tt := range tests {
		t.Run(tt.svc.Name, func(t *testing.T) {
			got := FromService(tt.svc)
			if lines(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", lines(got), tt.want)
			}
			for _, v := range got {
				if v.Origin.Kind != KindService || v.Origin.Name != "ns/"+tt.svc.Name {
					t.Errorf("%s: origin %+v", v.Name, v.Origin)
				}
			}
		})
	}
}

// getServiceEnvVarMap: which Services a pod sees.
func TestServiceVarsSelection(t *testing.T) {
	master := svc("default", "kubernetes", "10.96.0.1", port("https", 443, "TCP"))
	all := []*corev1.Service{
		master,
		svc("default", "other", "10.96.0.2", port("", 80, "TCP")),
		svc("app", "web", "10.96.0.3", port("", 80, "TCP")),
		svc("app", "headless", "None", port("", 80, "TCP")),
		{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}},
		svc("elsewhere", "db", "10.96.0.4", port("", 5432, "TCP")),
	}
	prefixes := func(vars []Var) []string {
		var out []string
		for _, v := range vars {
			if strings.HasSuffix(v.Name, "_SERVICE_HOST") {
				out = append(out, strings.TrimSuffix(v.Name, "_SERVICE_HOST")+"="+v.Value)
			}
		}
		return out
	}
	tests := []struct {
		name  string
		ns    string
		links bool
		svcs  []*corev1.Service
		want  string
	}{
		{"links on", "app", true, all, "[KUBERNETES=10.96.0.1 WEB=10.96.0.3]"},
		{"links off: only kubernetes", "app", false, all, "[KUBERNETES=10.96.0.1]"},
		{"default namespace", "default", true, all, "[KUBERNETES=10.96.0.1 OTHER=10.96.0.2]"},
		{"default, links off", "default", false, all, "[KUBERNETES=10.96.0.1]"},
		{"own kubernetes wins", "app", true, append([]*corev1.Service{svc("app", "kubernetes", "10.96.9.9", port("", 1, "TCP"))}, all...), "[KUBERNETES=10.96.9.9 WEB=10.96.0.3]"},
		{"own kubernetes wins either order", "app", true, append(all, svc("app", "kubernetes", "10.96.9.9", port("", 1, "TCP"))), "[KUBERNETES=10.96.9.9 WEB=10.96.0.3]"},
		{"no services", "app", true, nil, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fmtSlice(prefixes(ServiceVars(tt.svcs, tt.ns, tt.links)))
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func fmtSlice(s []string) string { return "[" + strings.Join(s, " ") + "]" }
