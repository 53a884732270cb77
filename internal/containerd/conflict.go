package containerd

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// ifaceAddrs is one host interface and its addresses.
type ifaceAddrs struct {
	name  string
	addrs []netip.Prefix
}

// hostInterfaces lists the host's interfaces with their addresses.
func hostInterfaces() ([]ifaceAddrs, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []ifaceAddrs
	for _, i := range ifs {
		addrs, err := i.Addrs()
		if err != nil {
			continue
		}
		ia := ifaceAddrs{name: i.Name}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil {
				ia.addrs = append(ia.addrs, p)
			}
		}
		out = append(out, ia)
	}
	return out, nil
}

// cidrConflict refuses a pod CIDR that an interface other than our own
// bridge already has addresses in: another berth running with the same
// --cluster-cidr, a stopped one's bridge left behind (its routes would
// take the new pods' traffic), or a host network. Starting anyway gives
// pods that cannot reach anything, with no error anywhere.
func cidrConflict(bridge string, subnets []netip.Prefix, ifaces []ifaceAddrs) error {
	for _, i := range ifaces {
		if i.name == bridge {
			continue
		}
		for _, a := range i.addrs {
			for _, s := range subnets {
				if !a.Overlaps(s) {
					continue
				}
				hint := `change --cluster-cidr, or free the range`
				if strings.HasPrefix(i.name, "berth-") {
					hint = fmt.Sprintf(`another berth is running with this range, or a stopped one left its bridge behind: stop the other instance, or for a stopped one run "berth reset --data-dir <its data dir>" (or "ip link delete %s"); or choose another --cluster-cidr`, i.name)
				}
				return fmt.Errorf("containerd: the pod CIDR %s overlaps interface %s (%s): %s", s, i.name, a, hint)
			}
		}
	}
	return nil
}
