package agent

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The pod resolver configuration, as the kubelet forms it
// (pkg/kubelet/network/dns: GetPodDNS and its limits).

const (
	// clusterDomain is the kubelet's --cluster-domain.
	clusterDomain = "cluster.local"
	// hostResolvConf is the kubelet's --resolv-conf default.
	hostResolvConf = "/etc/resolv.conf"
	// systemdResolvConf lists the real upstreams when /etc/resolv.conf
	// points at systemd-resolved's stub on 127.0.0.53, which no pod can
	// reach; kubeadm configures the kubelet with it in that case.
	systemdResolvConf = "/run/systemd/resolve/resolv.conf"

	// The API's limits (pkg/apis/core/validation), which the kubelet
	// applies to the composed configuration.
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
	// maxSearchPathLen drops longer search paths, which abort some
	// resolvers (glibc 2.28).
	maxSearchPathLen = 253
)

// dnsSettings is the node side of a pod's resolver configuration.
type dnsSettings struct {
	// clusterDNS is the kubelet's --cluster-dns: the kube-dns ClusterIP.
	clusterDNS []string
	// resolvConf is the node's resolver file; empty: the pod gets
	// 127.0.0.1 and the search path "." (the kubelet's --resolv-conf="").
	resolvConf string
	nodeName   string
}

// dnsConfig is the CRI DNS configuration of pod's sandbox.
func (a *Agent) dnsConfig(pod *corev1.Pod) *runtimeapi.DNSConfig {
	rec := a.recorder
	if rec == nil {
		rec = &record.FakeRecorder{} // before Run: nothing to report to
	}
	cfg, err := podDNSConfig(pod, dnsSettings{clusterDNS: a.cfg.ClusterDNS, resolvConf: nodeResolvConf(), nodeName: a.cfg.NodeName}, rec)
	if err != nil {
		a.log.Warn("reading the node's resolver configuration; the pod gets none of it", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	return cfg
}

// nodeResolvConf is /etc/resolv.conf, or systemd-resolved's list of real
// upstreams when /etc/resolv.conf only names loopback resolvers.
func nodeResolvConf() string {
	servers, _, _, err := readResolvConf(hostResolvConf)
	if err != nil || len(servers) == 0 {
		return hostResolvConf
	}
	for _, s := range servers {
		if ip, err := netip.ParseAddr(s); err != nil || !ip.IsLoopback() {
			return hostResolvConf
		}
	}
	if _, err := os.Stat(systemdResolvConf); err == nil {
		return systemdResolvConf
	}
	return hostResolvConf
}

// podDNSConfig forms pod's resolver configuration by its dnsPolicy, then
// merges spec.dnsConfig and cuts the result to the limits, with a
// DNSConfigForming Warning event when it does. An unreadable resolv.conf
// gives the base nothing (and the error).
func podDNSConfig(pod *corev1.Pod, node dnsSettings, rec record.EventRecorder) (*runtimeapi.DNSConfig, error) {
	cfg := &runtimeapi.DNSConfig{}
	var err error
	if node.resolvConf != "" {
		cfg.Servers, cfg.Searches, cfg.Options, err = readResolvConf(node.resolvConf)
	}
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	switch policy {
	case corev1.DNSNone:
		cfg = &runtimeapi.DNSConfig{}
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		if len(node.clusterDNS) > 0 {
			cfg.Servers = append([]string(nil), node.clusterDNS...)
			cfg.Searches = omitDuplicates(append([]string{
				pod.Namespace + ".svc." + clusterDomain, "svc." + clusterDomain, clusterDomain}, cfg.Searches...))
			cfg.Options = []string{"ndots:5"}
			break
		}
		msg := fmt.Sprintf("kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.",
			corev1.DNSClusterFirst, corev1.DNSDefault)
		// The kubelet's node reference carries the node name as its UID.
		nodeRef := &corev1.ObjectReference{Kind: "Node", Name: node.nodeName, UID: types.UID(node.nodeName)}
		rec.Event(nodeRef, corev1.EventTypeWarning, "MissingClusterDNS", msg)
		rec.Eventf(pod, corev1.EventTypeWarning, "MissingClusterDNS", "pod: %q. %s", podDesc(pod), msg)
		fallthrough
	default: // Default
		if node.resolvConf == "" {
			cfg.Servers, cfg.Searches = []string{"127.0.0.1"}, []string{"."}
		}
	}
	if d := pod.Spec.DNSConfig; d != nil {
		cfg.Servers = omitDuplicates(append(cfg.Servers, d.Nameservers...))
		cfg.Searches = omitDuplicates(append(cfg.Searches, d.Searches...))
		cfg.Options = mergeDNSOptions(cfg.Options, d.Options)
	}
	cfg.Servers = nameserversFitLimits(cfg.Servers, pod, rec)
	cfg.Searches = searchesFitLimits(cfg.Searches, pod, rec)
	return cfg, err
}

// podDesc is the kubelet's format.Pod: name_namespace(uid).
func podDesc(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

func nameserversFitLimits(servers []string, pod *corev1.Pod, rec record.EventRecorder) []string {
	if len(servers) <= maxDNSNameservers {
		return servers
	}
	servers = servers[:maxDNSNameservers]
	rec.Event(pod, corev1.EventTypeWarning, "DNSConfigForming",
		"Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "+strings.Join(servers, " "))
	return servers
}

// searchesFitLimits keeps the first 32 search paths, drops any longer than
// 253 characters, then drops paths from the end until the line fits 2048
// characters.
func searchesFitLimits(searches []string, pod *corev1.Pod, rec record.EventRecorder) []string {
	cut := false
	if len(searches) > maxDNSSearchPaths {
		searches, cut = searches[:maxDNSSearchPaths], true
	}
	kept := searches[:0:0]
	for _, s := range searches {
		if len(s) > maxSearchPathLen {
			cut = true
			continue
		}
		kept = append(kept, s)
	}
	searches = kept
	for len(searches) > 0 && len(strings.Join(searches, " ")) > maxDNSSearchListChars {
		searches, cut = searches[:len(searches)-1], true
	}
	if cut {
		rec.Event(pod, corev1.EventTypeWarning, "DNSConfigForming",
			"Search Line limits were exceeded, some search paths have been omitted, the applied search line is: "+strings.Join(searches, " "))
	}
	return searches
}

// readResolvConf parses a resolv.conf as the kubelet does: nameserver
// lines accumulate; the last search line wins (trailing dots dropped, "."
// skipped); options accumulate, a later option replacing an earlier one of
// the same name.
func readResolvConf(path string) (servers, searches, options []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("reading the node's resolver configuration %s: %w", path, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) >= 2 {
				servers = append(servers, f[1])
			}
		case "search":
			searches = []string{}
			for _, s := range f[1:] {
				if s != "." {
					searches = append(searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			options = mergeOptionStrings(options, f[1:])
		}
	}
	return servers, searches, options, nil
}

func omitDuplicates(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mergeOptionStrings adds name[:value] options to base, a later option
// replacing an earlier one of the same name in place (the kubelet keeps
// them in a map, so its order is arbitrary; first-seen order is one of
// its orders, and stable).
func mergeOptionStrings(base, add []string) []string {
	out := append([]string(nil), base...)
	for _, o := range add {
		name, _, _ := strings.Cut(o, ":")
		replaced := false
		for i, e := range out {
			if n, _, _ := strings.Cut(e, ":"); n == name {
				out[i], replaced = o, true
				break
			}
		}
		if !replaced {
			out = append(out, o)
		}
	}
	return out
}

// mergeDNSOptions merges spec.dnsConfig options into base: a pod option
// replaces a base option of the same name.
func mergeDNSOptions(base []string, pod []corev1.PodDNSConfigOption) []string {
	add := make([]string, 0, len(pod))
	for _, o := range pod {
		if o.Value != nil && *o.Value != "" {
			add = append(add, o.Name+":"+*o.Value)
		} else {
			add = append(add, o.Name)
		}
	}
	return mergeOptionStrings(base, add)
}
