package benchkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
)

// PickClusterCIDR returns a pod range 10.<second>.N.0/24 (N random) that
// no interface on this machine and no running berth (--cluster-cidr on a
// command line) uses. Each benchmark has its own second byte.
func PickClusterCIDR(second byte) (string, error) {
	used := map[int]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip := ipn.IP.To4(); ip != nil && ip[0] == 10 && ip[1] == second {
				used[int(ip[2])] = true
			}
		}
	}
	for _, p := range Processes() {
		for _, a := range p.Cmdline {
			a = strings.TrimPrefix(a, "--cluster-cidr=")
			if pfx, err := netip.ParsePrefix(a); err == nil && pfx.Addr().Is4() {
				b := pfx.Addr().As4()
				if b[0] == 10 && b[1] == second {
					used[int(b[2])] = true
				}
			}
		}
	}
	start := 1 + rand.IntN(254)
	for i := range 254 {
		n := 1 + (start+i)%254
		if !used[n] {
			return fmt.Sprintf("10.%d.%d.0/24", second, n), nil
		}
	}
	return "", fmt.Errorf("no free 10.%d.N.0/24 for the pod network", second)
}
