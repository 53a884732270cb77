package proxy

import (
	"flag"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestRenderGolden(t *testing.T) {
	kubernetes := ServicePort{Namespace: "default", Name: "kubernetes", PortName: "https", Protocol: corev1.ProtocolTCP,
		ClusterIP: netip.MustParseAddr("10.96.0.1"), Port: 443, Endpoints: []netip.AddrPort{ap("10.244.0.1:6443")}}
	cases := []struct {
		name  string
		rules Rules
	}{
		{"empty", Rules{Table: "berth-0011aabb"}},
		{"guard-only", Rules{Table: "berth-0011aabb", Guard: &Guard{IP: netip.MustParseAddr("10.244.0.1"), TCP: []int{6443, 53}, UDP: []int{53}}}},
		{"kubernetes-service", Rules{Table: "berth-0011aabb", Guard: &Guard{IP: netip.MustParseAddr("10.244.0.1"), TCP: []int{6443}},
			Services: []ServicePort{kubernetes}}},
		{"two-endpoints-sorted", Rules{Table: "berth-0011aabb", Services: []ServicePort{{
			Namespace: "shop", Name: "web", PortName: "http", ClusterIP: netip.MustParseAddr("10.96.0.20"), Port: 80,
			// Out of order and duplicated: rendered sorted and once.
			Endpoints: []netip.AddrPort{ap("10.244.0.9:8080"), ap("10.244.0.3:8080"), ap("10.244.0.9:8080")}}}}},
		{"no-endpoints-rejected", Rules{Table: "berth-0011aabb", Services: []ServicePort{{
			Namespace: "shop", Name: "empty", ClusterIP: netip.MustParseAddr("10.96.0.30"), Port: 80, Protocol: corev1.ProtocolTCP}}}},
		{"udp-tcp-and-unnamed", Rules{Table: "berth-0011aabb", Services: []ServicePort{
			{Namespace: "kube-system", Name: "kube-dns", PortName: "dns-tcp", Protocol: corev1.ProtocolTCP,
				ClusterIP: netip.MustParseAddr("10.96.0.10"), Port: 53, Endpoints: []netip.AddrPort{ap("10.244.0.1:53")}},
			{Namespace: "kube-system", Name: "kube-dns", PortName: "dns", Protocol: corev1.ProtocolUDP,
				ClusterIP: netip.MustParseAddr("10.96.0.10"), Port: 53, Endpoints: []netip.AddrPort{ap("10.244.0.1:53")}},
			{Namespace: "a", Name: "one", Protocol: corev1.ProtocolTCP,
				ClusterIP: netip.MustParseAddr("10.96.0.40"), Port: 8000, Endpoints: []netip.AddrPort{ap("10.244.0.7:80")}},
			// An IPv6 ClusterIP is not proxied (IPv4 only).
			{Namespace: "a", Name: "v6", Protocol: corev1.ProtocolTCP,
				ClusterIP: netip.MustParseAddr("fd00::10"), Port: 80, Endpoints: []netip.AddrPort{ap("[fd00::1]:80")}},
		}}},
	}
	nft, _ := exec.LookPath("nft")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Render(tc.rules)
			path := filepath.Join("testdata", tc.name+".nft")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Render() differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
			}
			// The kernel's parser is the real judge: check the script
			// without applying it, where nft can run (root).
			if nft != "" && os.Geteuid() == 0 {
				cmd := exec.Command(nft, "-c", "-f", "-")
				cmd.Stdin = strings.NewReader(got)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("nft -c rejects the script: %v\n%s", err, out)
				}
			}
		})
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	a := Rules{Table: "t", Services: []ServicePort{
		{Namespace: "b", Name: "x", ClusterIP: netip.MustParseAddr("10.96.0.2"), Port: 1, Endpoints: []netip.AddrPort{ap("10.0.0.2:1"), ap("10.0.0.1:1")}},
		{Namespace: "a", Name: "x", ClusterIP: netip.MustParseAddr("10.96.0.1"), Port: 1, Endpoints: []netip.AddrPort{ap("10.0.0.1:1")}},
	}}
	b := Rules{Table: "t", Services: []ServicePort{a.Services[1], a.Services[0]}}
	b.Services[1].Endpoints = []netip.AddrPort{ap("10.0.0.1:1"), ap("10.0.0.2:1")}
	if Render(a) != Render(b) {
		t.Errorf("the same state rendered differently:\n%s\n%s", Render(a), Render(b))
	}
	// Rendering must not reorder the caller's slices.
	if a.Services[0].Endpoints[0] != ap("10.0.0.2:1") {
		t.Errorf("Render modified its input")
	}
}

func TestTableName(t *testing.T) {
	a, b := TableName("/tmp/one"), TableName("/tmp/two")
	if a == b || !strings.HasPrefix(a, "berth-") || len(a) != len("berth-")+8 {
		t.Errorf("TableName: %q, %q", a, b)
	}
	if TableName("/tmp/one") != a {
		t.Errorf("TableName is not stable")
	}
}
