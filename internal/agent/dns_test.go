package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

func writeResolvConf(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func dnsPod(policy corev1.DNSPolicy, hostNet bool, cfg *corev1.PodDNSConfig) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns1", UID: "u1"},
		Spec: corev1.PodSpec{DNSPolicy: policy, HostNetwork: hostNet, DNSConfig: cfg}}
}

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestPodDNSConfig covers every dnsPolicy as the kubelet's GetPodDNS forms
// it: the cluster nameserver and search list for ClusterFirst, the node's
// file for Default (and for ClusterFirst on the host network), nothing but
// dnsConfig for None, and dnsConfig merged into all.
func TestPodDNSConfig(t *testing.T) {
	host := writeResolvConf(t, "nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch corp.example lab.example.\noptions timeout:2 attempts:3\n")
	cluster := []string{"10.96.0.10"}
	podCfg := &corev1.PodDNSConfig{
		Nameservers: []string{"198.51.100.1"},
		Searches:    []string{"extra.example", "corp.example"},
		Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}, {Name: "timeout", Value: ptr.To("1")}},
	}
	clusterSearch := []string{"ns1.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	tests := []struct {
		name       string
		pod        *corev1.Pod
		clusterDNS []string
		resolvConf string
		servers    []string
		searches   []string
		options    []string
		events     []string
	}{
		{name: "ClusterFirst", pod: dnsPod(corev1.DNSClusterFirst, false, nil), clusterDNS: cluster, resolvConf: host,
			servers: cluster, searches: append(slices.Clone(clusterSearch), "corp.example", "lab.example"), options: []string{"ndots:5"}},
		{name: "empty policy is ClusterFirst", pod: dnsPod("", false, nil), clusterDNS: cluster, resolvConf: host,
			servers: cluster, searches: append(slices.Clone(clusterSearch), "corp.example", "lab.example"), options: []string{"ndots:5"}},
		{name: "ClusterFirst with dnsConfig", pod: dnsPod(corev1.DNSClusterFirst, false, podCfg), clusterDNS: cluster, resolvConf: host,
			servers:  []string{"10.96.0.10", "198.51.100.1"},
			searches: append(slices.Clone(clusterSearch), "corp.example", "lab.example", "extra.example"),
			options:  []string{"ndots:2", "edns0", "timeout:1"}},
		{name: "ClusterFirst on the host network is Default", pod: dnsPod(corev1.DNSClusterFirst, true, nil), clusterDNS: cluster, resolvConf: host,
			servers: []string{"192.0.2.1", "192.0.2.2"}, searches: []string{"corp.example", "lab.example"}, options: []string{"timeout:2", "attempts:3"}},
		{name: "ClusterFirstWithHostNet", pod: dnsPod(corev1.DNSClusterFirstWithHostNet, true, nil), clusterDNS: cluster, resolvConf: host,
			servers: cluster, searches: append(slices.Clone(clusterSearch), "corp.example", "lab.example"), options: []string{"ndots:5"}},
		{name: "ClusterFirstWithHostNet off the host network", pod: dnsPod(corev1.DNSClusterFirstWithHostNet, false, nil), clusterDNS: cluster, resolvConf: host,
			servers: cluster, searches: append(slices.Clone(clusterSearch), "corp.example", "lab.example"), options: []string{"ndots:5"}},
		{name: "Default", pod: dnsPod(corev1.DNSDefault, false, nil), clusterDNS: cluster, resolvConf: host,
			servers: []string{"192.0.2.1", "192.0.2.2"}, searches: []string{"corp.example", "lab.example"}, options: []string{"timeout:2", "attempts:3"}},
		{name: "Default with dnsConfig", pod: dnsPod(corev1.DNSDefault, false, podCfg), clusterDNS: cluster, resolvConf: host,
			servers:  []string{"192.0.2.1", "192.0.2.2", "198.51.100.1"},
			searches: []string{"corp.example", "lab.example", "extra.example"},
			options:  []string{"timeout:1", "attempts:3", "ndots:2", "edns0"}},
		{name: "None without dnsConfig", pod: dnsPod(corev1.DNSNone, false, nil), clusterDNS: cluster, resolvConf: host},
		{name: "None with dnsConfig", pod: dnsPod(corev1.DNSNone, false, podCfg), clusterDNS: cluster, resolvConf: host,
			servers: []string{"198.51.100.1"}, searches: []string{"extra.example", "corp.example"}, options: []string{"ndots:2", "edns0", "timeout:1"}},
		{name: "None merges duplicates", clusterDNS: cluster, resolvConf: host,
			pod: dnsPod(corev1.DNSNone, false, &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.9", "192.0.2.9"}, Searches: []string{"a.test", "a.test"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}, {Name: "ndots", Value: ptr.To("3")}}}),
			servers: []string{"192.0.2.9"}, searches: []string{"a.test"}, options: []string{"ndots:3"}},
		{name: "ClusterFirst without cluster DNS falls back to Default", pod: dnsPod(corev1.DNSClusterFirst, false, nil), resolvConf: host,
			servers: []string{"192.0.2.1", "192.0.2.2"}, searches: []string{"corp.example", "lab.example"}, options: []string{"timeout:2", "attempts:3"},
			events: []string{
				`Warning MissingClusterDNS kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`,
				`Warning MissingClusterDNS pod: "p_ns1(u1)". kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`}},
		{name: "Default without a resolv.conf", pod: dnsPod(corev1.DNSDefault, false, nil), clusterDNS: cluster,
			servers: []string{"127.0.0.1"}, searches: []string{"."}},
		{name: "nameserver limit", clusterDNS: cluster, resolvConf: host,
			pod:     dnsPod(corev1.DNSDefault, false, &corev1.PodDNSConfig{Nameservers: []string{"198.51.100.1", "198.51.100.2"}}),
			servers: []string{"192.0.2.1", "192.0.2.2", "198.51.100.1"}, searches: []string{"corp.example", "lab.example"}, options: []string{"timeout:2", "attempts:3"},
			events: []string{"Warning DNSConfigForming Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 192.0.2.1 192.0.2.2 198.51.100.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := record.NewFakeRecorder(10)
			got, err := podDNSConfig(tc.pod, dnsSettings{clusterDNS: tc.clusterDNS, resolvConf: tc.resolvConf, nodeName: "node1"}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Servers, tc.servers) {
				t.Errorf("servers = %q, want %q", got.Servers, tc.servers)
			}
			if !slices.Equal(got.Searches, tc.searches) {
				t.Errorf("searches = %q, want %q", got.Searches, tc.searches)
			}
			if !slices.Equal(got.Options, tc.options) {
				t.Errorf("options = %q, want %q", got.Options, tc.options)
			}
			if ev := drain(rec); !slices.Equal(ev, tc.events) {
				t.Errorf("events = %q, want %q", ev, tc.events)
			}
		})
	}
}

// TestPodDNSSearchLimits: at most 32 search paths, none over 253
// characters, the line within 2048 characters; cutting says so with the
// kubelet's DNSConfigForming event.
func TestPodDNSSearchLimits(t *testing.T) {
	host := writeResolvConf(t, "nameserver 192.0.2.1\n")
	many := make([]string, 40)
	for i := range many {
		many[i] = "d" + strings.Repeat("x", 2) + string(rune('a'+i%26)) + strings.Repeat("y", i) + ".test"
	}
	long := strings.Repeat("a", 254)
	wide := make([]string, 0, 30)
	for i := range 30 {
		wide = append(wide, strings.Repeat(string(rune('a'+i%26)), 66)+".test"+strings.Repeat("z", i%3))
	}
	tests := []struct {
		name     string
		policy   corev1.DNSPolicy
		searches []string
		check    func(t *testing.T, got []string)
	}{
		{"more than 32", corev1.DNSNone, many, func(t *testing.T, got []string) {
			if !slices.Equal(got, many[:32]) {
				t.Errorf("searches = %d paths, want the first 32", len(got))
			}
		}},
		{"ClusterFirst counts the cluster paths", corev1.DNSClusterFirst, many[:31], func(t *testing.T, got []string) {
			if len(got) != 32 || got[0] != "ns1.svc.cluster.local" || got[31] != many[28] {
				t.Errorf("searches = %q, want the 3 cluster paths and the first 29", got)
			}
		}},
		{"path over 253 characters", corev1.DNSNone, []string{"a.test", long, "b.test"}, func(t *testing.T, got []string) {
			if !slices.Equal(got, []string{"a.test", "b.test"}) {
				t.Errorf("searches = %q", got)
			}
		}},
		{"line over 2048 characters", corev1.DNSNone, wide, func(t *testing.T, got []string) {
			if n := len(strings.Join(got, " ")); n > 2048 || !slices.Equal(got, wide[:len(got)]) || len(got) < 25 {
				t.Errorf("searches: %d paths, %d characters; want the longest prefix within 2048", len(got), n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := record.NewFakeRecorder(10)
			pod := dnsPod(tc.policy, false, &corev1.PodDNSConfig{Nameservers: []string{"192.0.2.53"}, Searches: tc.searches})
			got, err := podDNSConfig(pod, dnsSettings{clusterDNS: []string{"10.96.0.10"}, resolvConf: host}, rec)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, got.Searches)
			ev := drain(rec)
			want := "Warning DNSConfigForming Search Line limits were exceeded, some search paths have been omitted, the applied search line is: " + strings.Join(got.Searches, " ")
			if len(ev) != 1 || ev[0] != want {
				t.Errorf("events = %q, want [%q]", ev, want)
			}
		})
	}
}

func TestReadResolvConf(t *testing.T) {
	p := writeResolvConf(t, "# comment\nnameserver 10.0.0.1\nsearch old.test\nnameserver 10.0.0.2\n\nsearch a.test b.test. .\noptions ndots:5 timeout:1\noptions ndots:2\nnameserver\n#nameserver 10.0.0.9\n")
	servers, searches, options, err := readResolvConf(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.0.0.1", "10.0.0.2"}; !slices.Equal(servers, want) {
		t.Errorf("servers = %v, want %v", servers, want)
	}
	if want := []string{"a.test", "b.test"}; !slices.Equal(searches, want) {
		t.Errorf("searches = %v, want %v (the last search line wins, without trailing dots or \".\")", searches, want)
	}
	if want := []string{"ndots:2", "timeout:1"}; !slices.Equal(options, want) {
		t.Errorf("options = %v, want %v", options, want)
	}
	if _, _, _, err := readResolvConf(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: no error")
	}
}
