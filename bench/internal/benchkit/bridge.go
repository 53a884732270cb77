package benchkit

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
)

// bridgeFor names the berth-* interface holding an address in cidr; ""
// when there is none.
func bridgeFor(cidr string) string {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil {
		return ""
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if !strings.HasPrefix(i.Name, "berth-") {
			continue
		}
		addrs, _ := i.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && pfx.Contains(ip) {
					return i.Name
				}
			}
		}
	}
	return ""
}

// deleteLink deletes the network interface name.
func deleteLink(name string) error {
	if out, err := exec.Command("ip", "link", "delete", "dev", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link delete %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
