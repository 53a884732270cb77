package proxy

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ServicePort is one port of one Service with a ClusterIP, and the ready
// endpoints it sends new connections to.
type ServicePort struct {
	Namespace, Name string
	// PortName is the Service port's name; empty for a single unnamed port.
	PortName  string
	Protocol  corev1.Protocol
	ClusterIP netip.Addr
	Port      int32
	// Endpoints are the ready backends (address and resolved targetPort).
	Endpoints []netip.AddrPort
}

// Guard closes berth's listeners on the pod network's gateway (the API
// server's, cluster DNS's) to everything but the pods on that network and
// the host itself.
type Guard struct {
	IP netip.Addr
	// TCP and UDP are the guarded ports.
	TCP, UDP []int
}

// Rules is everything one berth instance programs: rendered into one
// nftables table that replaces the previous one atomically.
type Rules struct {
	Table    string
	Services []ServicePort
	Guard    *Guard
}

// Chain priorities. The nat output hook has no "dstnat" keyword, so
// numbers are used throughout: dstnat is -100. The reject check runs after
// DNAT (-90): any new connection still addressed to a ClusterIP then has
// no backend, whether the Service has no ready endpoints or the port is
// not one of its ports.
const (
	prioDNAT        = -100
	prioAfterDNAT   = -90
	prioSNAT        = 100
	prioFilterInput = 0
)

// portSet is one port, or an anonymous set of them.
func portSet(ports []int) string {
	ps := slices.Clone(ports)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	if len(ps) == 1 {
		return fmt.Sprint(ps[0])
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

func protoName(p corev1.Protocol) string {
	switch p {
	case corev1.ProtocolUDP:
		return "udp"
	case corev1.ProtocolSCTP:
		return "sctp"
	}
	return "tcp"
}

// portKey names a Service port inside chain names: its name, or its
// number when unnamed.
func (sp ServicePort) portKey() string {
	if sp.PortName != "" {
		return sp.PortName
	}
	return fmt.Sprint(sp.Port)
}

func (sp ServicePort) chain() string {
	return fmt.Sprintf("svc-%s/%s/%s/%s", sp.Namespace, sp.Name, protoName(sp.Protocol), sp.portKey())
}

func (sp ServicePort) endpointChain(ep netip.AddrPort) string {
	return fmt.Sprintf("ep-%s/%s/%s/%s/%s/%d", sp.Namespace, sp.Name, protoName(sp.Protocol), sp.portKey(), ep.Addr(), ep.Port())
}

// sortPorts orders service ports (and their endpoints) so that the same
// state always renders the same text.
func sortPorts(ports []ServicePort) []ServicePort {
	out := slices.Clone(ports)
	for i := range out {
		out[i].Endpoints = slices.Clone(out[i].Endpoints)
		slices.SortFunc(out[i].Endpoints, func(a, b netip.AddrPort) int { return a.Compare(b) })
		out[i].Endpoints = slices.Compact(out[i].Endpoints)
	}
	slices.SortFunc(out, func(a, b ServicePort) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.portKey(), b.portKey()), cmp.Compare(protoName(a.Protocol), protoName(b.Protocol)))
	})
	return out
}

// Render returns an nft script that replaces the table with r in one
// transaction ("add" makes the "delete" safe when the table is absent).
//
// Layout, as kube-proxy's nftables mode:
//   - service-ips maps ClusterIP . protocol . port to the Service port's
//     chain, which picks a ready endpoint at random (numgen) and DNATs to it;
//   - connections to a ClusterIP left without DNAT are refused at once (TCP
//     reset, ICMP port unreachable otherwise), never left to time out;
//   - DNATed ClusterIP traffic leaving through an interface is masqueraded,
//     so that a backend on the same bridge as its client (or the client
//     itself, hairpin) answers through the host, which undoes the DNAT;
//     without it the reply would be bridged straight back with the pod's
//     own address unless br_netfilter is on;
//   - the guard drops packets to berth's listeners on the gateway (the API
//     server, cluster DNS) unless they come in on the interface holding the
//     gateway address (the pod bridge) or from the host itself (lo).
func Render(r Rules) string {
	var b strings.Builder
	w := func(indent int, format string, args ...any) {
		b.WriteString(strings.Repeat("\t", indent))
		fmt.Fprintf(&b, format, args...)
		b.WriteByte('\n')
	}
	ports := sortPorts(r.Services)
	var ips []netip.Addr
	for _, sp := range ports {
		if sp.ClusterIP.Is4() {
			ips = append(ips, sp.ClusterIP)
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	ips = slices.Compact(ips)

	w(0, "add table ip %s", r.Table)
	w(0, "delete table ip %s", r.Table)
	w(0, "table ip %s {", r.Table)

	w(1, "set cluster-ips {")
	w(2, "type ipv4_addr")
	if len(ips) > 0 {
		s := make([]string, len(ips))
		for i, ip := range ips {
			s[i] = ip.String()
		}
		w(2, "elements = { %s }", strings.Join(s, ", "))
	}
	w(1, "}")

	w(1, "map service-ips {")
	w(2, "type ipv4_addr . inet_proto . inet_service : verdict")
	var elems []string
	for _, sp := range ports {
		if sp.ClusterIP.Is4() && len(sp.Endpoints) > 0 {
			elems = append(elems, fmt.Sprintf("%s . %s . %d : goto %s", sp.ClusterIP, protoName(sp.Protocol), sp.Port, sp.chain()))
		}
	}
	if len(elems) > 0 {
		w(2, "elements = { %s }", strings.Join(elems, ",\n\t\t\t     "))
	}
	w(1, "}")

	base := func(name, typ, hook string, prio int, rules ...string) {
		w(1, "chain %s {", name)
		w(2, "type %s hook %s priority %d; policy accept;", typ, hook, prio)
		for _, rule := range rules {
			w(2, "%s", rule)
		}
		w(1, "}")
	}
	base("nat-prerouting", "nat", "prerouting", prioDNAT, "jump services")
	base("nat-output", "nat", "output", prioDNAT, "jump services")
	base("nat-postrouting", "nat", "postrouting", prioSNAT,
		`ct status dnat ct original ip daddr @cluster-ips oifname != "lo" masquerade`)
	base("filter-prerouting", "filter", "prerouting", prioAfterDNAT, "ct state new ip daddr @cluster-ips jump reject-chain")
	base("filter-output", "filter", "output", prioAfterDNAT, "ct state new ip daddr @cluster-ips jump reject-chain")
	if g := r.Guard; g != nil && g.IP.Is4() && len(g.TCP)+len(g.UDP) > 0 {
		var rules []string
		for _, l := range []struct {
			proto string
			ports []int
		}{{"tcp", g.TCP}, {"udp", g.UDP}} {
			if len(l.ports) > 0 {
				rules = append(rules, fmt.Sprintf(`ip daddr %s %s dport %s iifname != "lo" fib daddr . iif type != local drop`, g.IP, l.proto, portSet(l.ports)))
			}
		}
		base("gateway-guard", "filter", "input", prioFilterInput, rules...)
	}

	w(1, "chain reject-chain {")
	w(2, "meta l4proto tcp reject with tcp reset")
	w(2, "reject")
	w(1, "}")
	w(1, "chain services {")
	w(2, "ip daddr . meta l4proto . th dport vmap @service-ips")
	w(1, "}")

	for _, sp := range ports {
		if !sp.ClusterIP.Is4() || len(sp.Endpoints) == 0 {
			continue
		}
		w(1, "chain %s {", sp.chain())
		if len(sp.Endpoints) == 1 {
			w(2, "goto %s", sp.endpointChain(sp.Endpoints[0]))
		} else {
			vm := make([]string, len(sp.Endpoints))
			for i, ep := range sp.Endpoints {
				vm[i] = fmt.Sprintf("%d : goto %s", i, sp.endpointChain(ep))
			}
			w(2, "numgen random mod %d vmap { %s }", len(sp.Endpoints), strings.Join(vm, ", "))
		}
		w(1, "}")
		for _, ep := range sp.Endpoints {
			w(1, "chain %s {", sp.endpointChain(ep))
			w(2, "meta l4proto %s dnat to %s", protoName(sp.Protocol), ep)
			w(1, "}")
		}
	}
	w(0, "}")
	return b.String()
}
