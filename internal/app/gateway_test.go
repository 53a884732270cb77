package app

import (
	"slices"
	"testing"
)

func TestPlanAPIAccess(t *testing.T) {
	cases := []struct {
		name          string
		cfg           ServerConfig
		host          string
		wantAdvertise string
		wantGateway   string // "" : no gateway listener
		wantCertHosts []string
	}{
		{"default make run: loopback, agent in process", ServerConfig{ClusterCIDR: "10.244.0.0/16"}, "127.0.0.1",
			"10.244.0.1", "10.244.0.1", []string{"10.244.0.1"}},
		{"dual-stack cluster CIDR: the IPv4 gateway", ServerConfig{ClusterCIDR: "fd00:10::/64,10.201.3.0/24"}, "127.0.0.1",
			"10.201.3.1", "10.201.3.1", []string{"10.201.3.1"}},
		{"every address: Endpoints on the gateway, no second listener", ServerConfig{ClusterCIDR: "10.244.0.0/16"}, "0.0.0.0",
			"10.244.0.1", "", []string{"10.244.0.1"}},
		{"a specific address is used as it is", ServerConfig{ClusterCIDR: "10.244.0.0/16"}, "192.0.2.2",
			"192.0.2.2", "", nil},
		{"no agent: nothing changes", ServerConfig{ClusterCIDR: "10.244.0.0/16", DisableAgent: true}, "127.0.0.1",
			"127.0.0.1", "", nil},
		{"external CRI runtime: its pod network is not ours", ServerConfig{ClusterCIDR: "10.244.0.0/16", ContainerRuntimeEndpoint: "unix:///run/containerd/containerd.sock"}, "127.0.0.1",
			"127.0.0.1", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := planAPIAccess(tc.cfg, tc.host)
			gw := ""
			if a.gateway.IsValid() {
				gw = a.gateway.String()
			}
			if a.advertise != tc.wantAdvertise || gw != tc.wantGateway || !slices.Equal(a.certHosts, tc.wantCertHosts) {
				t.Errorf("planAPIAccess = advertise %s, gateway %q, cert hosts %v; want %s, %q, %v",
					a.advertise, gw, a.certHosts, tc.wantAdvertise, tc.wantGateway, tc.wantCertHosts)
			}
		})
	}
}
