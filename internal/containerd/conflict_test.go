package containerd

import (
	"net/netip"
	"testing"
)

func TestCIDRConflict(t *testing.T) {
	subnets := []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name   string
		ifaces []ifaceAddrs
		want   string
	}{
		{name: "free", ifaces: []ifaceAddrs{{"lo", []netip.Prefix{p("127.0.0.1/8")}}, {"eth0", []netip.Prefix{p("192.168.1.5/24")}}}},
		{name: "our own bridge from the last run", ifaces: []ifaceAddrs{{"berth-mine", []netip.Prefix{p("10.244.0.1/16")}}}},
		{name: "a leftover berth bridge", ifaces: []ifaceAddrs{{"berth-0a1b2c3d", []netip.Prefix{p("10.244.0.1/16")}}},
			want: `containerd: the pod CIDR 10.244.0.0/16 overlaps interface berth-0a1b2c3d (10.244.0.1/16): another berth is running with this range, or a stopped one left its bridge behind: stop the other instance, or for a stopped one run "berth reset --data-dir <its data dir>" (or "ip link delete berth-0a1b2c3d"); or choose another --cluster-cidr`},
		{name: "a host network inside the range", ifaces: []ifaceAddrs{{"eth1", []netip.Prefix{p("10.244.7.2/24")}}},
			want: `containerd: the pod CIDR 10.244.0.0/16 overlaps interface eth1 (10.244.7.2/24): change --cluster-cidr, or free the range`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := cidrConflict("berth-mine", subnets, tc.ifaces)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
	if err := cidrConflict("berth-mine", subnets, []ifaceAddrs{{"berth-x", []netip.Prefix{p("10.245.0.1/16")}}}); err != nil {
		t.Errorf("a neighbour range conflicts: %v", err)
	}
}
