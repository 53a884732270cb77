package envvars

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceVars is the kubelet's getServiceEnvVarMap and FromServices: the
// docker-link variables of every Service with a ClusterIP in namespace
// (when enableServiceLinks) and always of "kubernetes" in "default". A
// Service of the pod's namespace named "kubernetes" wins over the default
// one, as in the kubelet. Services are taken in name order.
func ServiceVars(services []*corev1.Service, namespace string, enableServiceLinks bool) []Var {
	chosen := map[string]*corev1.Service{}
	for _, s := range services {
		if !serviceIPSet(s) {
			continue
		}
		switch {
		case s.Namespace == metav1.NamespaceDefault && s.Name == "kubernetes":
			if _, ok := chosen[s.Name]; !ok {
				chosen[s.Name] = s
			}
		case s.Namespace == namespace && enableServiceLinks:
			chosen[s.Name] = s
		}
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Var
	for _, n := range names {
		out = append(out, FromService(chosen[n])...)
	}
	return out
}

// serviceIPSet is v1helper.IsServiceIPSet: headless and ExternalName
// Services have none.
func serviceIPSet(s *corev1.Service) bool {
	return s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone
}

// FromService is the variables of one Service, in Kubernetes' order.
func FromService(s *corev1.Service) []Var {
	if !serviceIPSet(s) || len(s.Spec.Ports) == 0 {
		return nil
	}
	origin := Origin{Kind: KindService, Name: s.Namespace + "/" + s.Name}
	var out []Var
	add := func(name, value string) { out = append(out, Var{Name: name, Value: value, Origin: origin}) }
	prefix := envName(s.Name)
	ip := s.Spec.ClusterIP
	add(prefix+"_SERVICE_HOST", ip)
	add(prefix+"_SERVICE_PORT", strconv.Itoa(int(s.Spec.Ports[0].Port)))
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			add(prefix+"_SERVICE_PORT_"+envName(p.Name), strconv.Itoa(int(p.Port)))
		}
	}
	for i, p := range s.Spec.Ports {
		proto := string(corev1.ProtocolTCP)
		if p.Protocol != "" {
			proto = string(p.Protocol)
		}
		url := fmt.Sprintf("%s://%s", strings.ToLower(proto), net.JoinHostPort(ip, strconv.Itoa(int(p.Port))))
		if i == 0 {
			add(prefix+"_PORT", url)
		}
		pp := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(proto))
		add(pp, url)
		add(pp+"_PROTO", strings.ToLower(proto))
		add(pp+"_PORT", strconv.Itoa(int(p.Port)))
		add(pp+"_ADDR", ip)
	}
	return out
}

// envName is makeEnvVariableName.
func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
