package dns

import (
	"net/netip"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
)

// result is what the cluster records say about one question: the answer
// records, extra records, and whether the name exists at all (an existing
// name without records of the asked type is NODATA, not NXDOMAIN).
type result struct {
	answer, extra []mdns.RR
	exists        bool
	servfail      bool
}

func found(answer ...mdns.RR) result { return result{answer: answer, exists: true} }

var (
	nxdomain = result{}
	nodata   = result{exists: true}
)

// answerZone answers a question inside the cluster domain. name is
// lower-case and fully qualified; answers carry the name as asked.
func (s *Server) answerZone(r *mdns.Msg, q mdns.Question, name string) *mdns.Msg {
	var res result
	if !s.synced.Load() {
		res = result{servfail: true}
	} else {
		res = s.lookup(q, name, 0)
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.RecursionAvailable = true
	switch {
	case res.servfail:
		m.Rcode = mdns.RcodeServerFailure
		m.Authoritative = false
	case !res.exists:
		m.Rcode = mdns.RcodeNameError
	}
	m.Answer, m.Extra = res.answer, res.extra
	if len(m.Answer) == 0 && !res.servfail {
		m.Ns = []mdns.RR{mdns.Copy(s.soa)}
	}
	return m
}

// maxCNAMEHops bounds a chain of ExternalName Services pointing into the
// cluster domain (a Service naming itself would loop forever).
const maxCNAMEHops = 8

// lookup resolves name (a subdomain of the zone) by its labels, as the
// Kubernetes DNS specification lays them out; hops counts the CNAMEs
// followed so far.
func (s *Server) lookup(q mdns.Question, name string, hops int) result {
	rel := strings.TrimSuffix(strings.TrimSuffix(name, s.zone), ".")
	var l []string
	if rel != "" {
		l = strings.Split(rel, ".")
	}
	switch {
	case len(l) == 0:
		switch q.Qtype {
		case mdns.TypeSOA:
			return found(s.rrSOA(q.Name))
		case mdns.TypeNS:
			return found(&mdns.NS{Hdr: hdr(q.Name, mdns.TypeNS), Ns: s.soa.Ns})
		}
		return nodata
	case len(l) == 1 && l[0] == "dns-version":
		if q.Qtype == mdns.TypeTXT {
			return found(&mdns.TXT{Hdr: hdr(q.Name, mdns.TypeTXT), Txt: []string{schemaVersion}})
		}
		return nodata
	case l[len(l)-1] == "svc":
		return s.lookupSvc(q, l[:len(l)-1], hops)
	case l[len(l)-1] == "pod":
		return lookupPod(q, l[:len(l)-1])
	}
	return nxdomain
}

// lookupSvc resolves <...>.svc.<zone>; l holds the labels before "svc".
func (s *Server) lookupSvc(q mdns.Question, l []string, hops int) result {
	switch len(l) {
	case 0:
		return nodata
	case 1: // <ns>.svc: exists while the namespace has Services
		list, _ := s.services.Services(l[0]).List(labels.Everything())
		if len(list) > 0 {
			return nodata
		}
		return nxdomain
	case 2: // <svc>.<ns>.svc
		return s.serviceRecords(q, l[1], l[0], hops)
	case 3: // <hostname>.<svc>.<ns>.svc
		if strings.HasPrefix(l[0], "_") {
			return nxdomain
		}
		return s.endpointRecords(q, l[2], l[1], l[0])
	case 4: // _<port>._<proto>.<svc>.<ns>.svc
		port, okPort := strings.CutPrefix(l[0], "_")
		proto, okProto := strings.CutPrefix(l[1], "_")
		if !okPort || !okProto {
			return nxdomain
		}
		return s.portRecords(q, l[3], l[2], port, proto)
	}
	return nxdomain
}

func (s *Server) service(ns, name string) *corev1.Service {
	svc, err := s.services.Services(ns).Get(name)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			s.log.Warn("reading service from cache", "service", ns+"/"+name, "err", err)
		}
		return nil
	}
	return svc
}

func headless(svc *corev1.Service) bool { return svc.Spec.ClusterIP == corev1.ClusterIPNone }

func (s *Server) serviceFQDN(svc *corev1.Service) string {
	return svc.Name + "." + svc.Namespace + ".svc." + s.zone
}

// serviceRecords answers <svc>.<ns>.svc: the ClusterIPs, a headless
// Service's ready endpoints, or an ExternalName's CNAME.
func (s *Server) serviceRecords(q mdns.Question, ns, name string, hops int) result {
	svc := s.service(ns, name)
	if svc == nil {
		return nxdomain
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return s.externalName(q, svc, hops)
	}
	if headless(svc) {
		eps := s.readyEndpoints(svc)
		if len(eps) == 0 {
			// Specification §2.4.1: no ready endpoints is NXDOMAIN.
			return nxdomain
		}
		res := nodata
		if q.Qtype == mdns.TypeSRV {
			for _, ep := range eps {
				for _, p := range ep.ports {
					res.answer = append(res.answer, srv(q.Name, p.Port, ep.fqdn(svc, s.zone)))
				}
				res.extra = appendAddr(res.extra, ep.fqdn(svc, s.zone), mdns.TypeA, ep.ip)
				res.extra = appendAddr(res.extra, ep.fqdn(svc, s.zone), mdns.TypeAAAA, ep.ip)
			}
			setWeights(res.answer)
			return res
		}
		for _, ep := range eps {
			res.answer = appendAddr(res.answer, q.Name, q.Qtype, ep.ip)
		}
		return res
	}
	ips := clusterIPs(svc)
	res := nodata
	if q.Qtype == mdns.TypeSRV {
		for _, p := range svc.Spec.Ports {
			res.answer = append(res.answer, srv(q.Name, p.Port, s.serviceFQDN(svc)))
		}
		for _, ip := range ips {
			res.extra = appendAddr(res.extra, s.serviceFQDN(svc), mdns.TypeA, ip)
			res.extra = appendAddr(res.extra, s.serviceFQDN(svc), mdns.TypeAAAA, ip)
		}
		setWeights(res.answer)
		return res
	}
	for _, ip := range ips {
		res.answer = appendAddr(res.answer, q.Name, q.Qtype, ip)
	}
	return res
}

// externalName answers with the CNAME and, for an address question, the
// target's addresses when the upstream resolvers know them.
func (s *Server) externalName(q mdns.Question, svc *corev1.Service, hops int) result {
	target := mdns.Fqdn(svc.Spec.ExternalName)
	res := found(&mdns.CNAME{Hdr: hdr(q.Name, mdns.TypeCNAME), Target: target})
	if q.Qtype == mdns.TypeCNAME {
		return res
	}
	if mdns.IsSubDomain(s.zone, strings.ToLower(target)) {
		if hops >= maxCNAMEHops {
			return res
		}
		sub := s.lookup(mdns.Question{Name: target, Qtype: q.Qtype, Qclass: q.Qclass}, strings.ToLower(target), hops+1)
		res.answer = append(res.answer, sub.answer...)
		return res
	}
	if q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeAAAA {
		res.answer = append(res.answer, s.fwd.resolve(target, q.Qtype)...)
	}
	return res
}

// endpointRecords answers <hostname>.<svc>.<ns>.svc: the endpoint's
// address, named by its hostname or, without one, its dashed IP.
func (s *Server) endpointRecords(q mdns.Question, ns, name, host string) result {
	svc := s.service(ns, name)
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nxdomain
	}
	res := nxdomain
	for _, ep := range s.readyEndpoints(svc) {
		if ep.hostname() == host {
			res.exists = true
			res.answer = appendAddr(res.answer, q.Name, q.Qtype, ep.ip)
		}
	}
	return res
}

// portRecords answers _<port>._<proto>.<svc>.<ns>.svc with one SRV record
// per matching named port: pointing at the Service for a ClusterIP, at each
// ready endpoint for a headless Service.
func (s *Server) portRecords(q mdns.Question, ns, name, port, proto string) result {
	svc := s.service(ns, name)
	if svc == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nxdomain
	}
	res := nxdomain
	if headless(svc) {
		for _, ep := range s.readyEndpoints(svc) {
			for _, p := range ep.ports {
				if strings.EqualFold(p.Name, port) && strings.EqualFold(string(p.Protocol), proto) {
					res.exists = true
					if q.Qtype == mdns.TypeSRV {
						res.answer = append(res.answer, srv(q.Name, p.Port, ep.fqdn(svc, s.zone)))
						res.extra = appendAddr(res.extra, ep.fqdn(svc, s.zone), mdns.TypeA, ep.ip)
						res.extra = appendAddr(res.extra, ep.fqdn(svc, s.zone), mdns.TypeAAAA, ep.ip)
					}
				}
			}
		}
		setWeights(res.answer)
		return res
	}
	for _, p := range svc.Spec.Ports {
		if p.Name != "" && strings.EqualFold(p.Name, port) && strings.EqualFold(string(p.Protocol), proto) {
			res.exists = true
			if q.Qtype == mdns.TypeSRV {
				res.answer = append(res.answer, srv(q.Name, p.Port, s.serviceFQDN(svc)))
			}
		}
	}
	if len(res.answer) > 0 {
		for _, ip := range clusterIPs(svc) {
			res.extra = appendAddr(res.extra, s.serviceFQDN(svc), mdns.TypeA, ip)
			res.extra = appendAddr(res.extra, s.serviceFQDN(svc), mdns.TypeAAAA, ip)
		}
	}
	setWeights(res.answer)
	return res
}

// lookupPod answers <a-b-c-d>.<ns>.pod (specification §2.6), echoing the
// address as CoreDNS' "pods insecure" mode does; l holds the labels before
// "pod".
func lookupPod(q mdns.Question, l []string) result {
	switch len(l) {
	case 0, 1:
		return nodata
	case 2:
		ip, ok := dashedIP(l[0])
		if !ok {
			return nxdomain
		}
		res := nodata
		res.answer = appendAddr(nil, q.Name, q.Qtype, ip)
		return res
	}
	return nxdomain
}

// dashedIP parses 10-244-0-5 or fd00--5 (IPv6 with '-' for ':').
func dashedIP(s string) (netip.Addr, bool) {
	if ip, err := netip.ParseAddr(strings.ReplaceAll(s, "-", ".")); err == nil && ip.Is4() {
		return ip, true
	}
	if ip, err := netip.ParseAddr(strings.ReplaceAll(s, "-", ":")); err == nil && ip.Is6() {
		return ip, true
	}
	return netip.Addr{}, false
}

// endpoint is one ready address of a Service with the Endpoints' ports.
type endpoint struct {
	ip    netip.Addr
	addr  corev1.EndpointAddress
	ports []corev1.EndpointPort
}

func (e endpoint) hostname() string {
	if e.addr.Hostname != "" {
		return strings.ToLower(e.addr.Hostname)
	}
	if e.ip.Is4() {
		return strings.ReplaceAll(e.ip.String(), ".", "-")
	}
	return strings.ReplaceAll(e.ip.StringExpanded(), ":", "-")
}

func (e endpoint) fqdn(svc *corev1.Service, zone string) string {
	return e.hostname() + "." + svc.Name + "." + svc.Namespace + ".svc." + zone
}

// readyEndpoints lists the ready addresses of svc's Endpoints. The
// endpoints controller already puts not-ready pods among the ready
// addresses when the Service publishes them.
func (s *Server) readyEndpoints(svc *corev1.Service) []endpoint {
	eps, err := s.endpoints.Endpoints(svc.Namespace).Get(svc.Name)
	if err != nil {
		return nil
	}
	var out []endpoint
	for _, sub := range eps.Subsets {
		for _, a := range sub.Addresses {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil {
				continue
			}
			out = append(out, endpoint{ip: ip, addr: a, ports: sub.Ports})
		}
	}
	return out
}

func clusterIPs(svc *corev1.Service) []netip.Addr {
	raw := svc.Spec.ClusterIPs
	if len(raw) == 0 && svc.Spec.ClusterIP != "" {
		raw = []string{svc.Spec.ClusterIP}
	}
	var out []netip.Addr
	for _, s := range raw {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

func hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: TTL}
}

func (s *Server) rrSOA(name string) mdns.RR {
	soa := mdns.Copy(s.soa).(*mdns.SOA)
	soa.Hdr.Name = name
	return soa
}

// appendAddr appends an A or AAAA record for ip when it is of the family
// asked (ANY takes both).
func appendAddr(rrs []mdns.RR, name string, qtype uint16, ip netip.Addr) []mdns.RR {
	switch {
	case ip.Is4() && (qtype == mdns.TypeA || qtype == mdns.TypeANY):
		return append(rrs, &mdns.A{Hdr: hdr(name, mdns.TypeA), A: ip.AsSlice()})
	case ip.Is6() && (qtype == mdns.TypeAAAA || qtype == mdns.TypeANY):
		return append(rrs, &mdns.AAAA{Hdr: hdr(name, mdns.TypeAAAA), AAAA: ip.AsSlice()})
	}
	return rrs
}

func srv(name string, port int32, target string) *mdns.SRV {
	return &mdns.SRV{Hdr: hdr(name, mdns.TypeSRV), Priority: 0, Weight: 100, Port: uint16(port), Target: target}
}

// setWeights spreads the weight over equal records as CoreDNS does.
func setWeights(rrs []mdns.RR) {
	if len(rrs) == 0 {
		return
	}
	w := uint16(max(100/len(rrs), 1))
	for _, rr := range rrs {
		if s, ok := rr.(*mdns.SRV); ok {
			s.Weight = w
		}
	}
}

// answerPTR answers a reverse name of a ClusterIP or of a headless
// Service's endpoint; nil means no cluster record (the question is then
// forwarded).
func (s *Server) answerPTR(r *mdns.Msg, q mdns.Question, name string) *mdns.Msg {
	if !s.synced.Load() {
		return nil
	}
	ip, ok := reverseIP(name)
	if !ok {
		return nil
	}
	var answer []mdns.RR
	svcs, _ := s.services.List(labels.Everything())
	for _, svc := range svcs {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		if headless(svc) {
			for _, ep := range s.readyEndpoints(svc) {
				if ep.ip == ip {
					answer = append(answer, &mdns.PTR{Hdr: hdr(q.Name, mdns.TypePTR), Ptr: ep.fqdn(svc, s.zone)})
				}
			}
			continue
		}
		for _, c := range clusterIPs(svc) {
			if c == ip {
				answer = append(answer, &mdns.PTR{Hdr: hdr(q.Name, mdns.TypePTR), Ptr: s.serviceFQDN(svc)})
			}
		}
	}
	if len(answer) == 0 {
		return nil
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Authoritative, m.RecursionAvailable = true, true
	m.Answer = answer
	return m
}

// reverseIP parses d.c.b.a.in-addr.arpa. or the 32 nibbles of ip6.arpa.
func reverseIP(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, p := range l {
			n, err := strconv.ParseUint(p, 10, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			b[3-i] = byte(n)
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, p := range l {
			n, err := strconv.ParseUint(p, 16, 4)
			if err != nil || len(p) != 1 {
				return netip.Addr{}, false
			}
			j := 31 - i
			if j%2 == 0 {
				b[j/2] |= byte(n) << 4
			} else {
				b[j/2] |= byte(n)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}
