package dns

import (
	"bufio"
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// upstreamsTTL is how long the nameservers read from resolv.conf are kept
// before the file is read again (a node's resolvers can change).
const upstreamsTTL = 10 * time.Second

// forwarder sends questions outside the cluster domain to the node's
// resolvers, one after the other, within one timeout for all of them.
type forwarder struct {
	upstreams  []string // fixed; empty: read resolvConf
	resolvConf string
	timeout    time.Duration

	mu     sync.Mutex
	cached []string
	readAt time.Time
}

func (f *forwarder) servers() []string {
	if len(f.upstreams) > 0 {
		return f.upstreams
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cached == nil || time.Since(f.readAt) > upstreamsTTL {
		f.cached = ResolvConfNameservers(f.resolvConf)
		f.readAt = time.Now()
	}
	return f.cached
}

// ResolvConfNameservers returns the nameservers of a resolv.conf file as
// host:port (port 53).
func ResolvConfNameservers(path string) []string {
	out := []string{}
	file, err := os.Open(path)
	if err != nil {
		return out
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "nameserver" {
			// A zone index (fe80::1%eth0) is kept: net.JoinHostPort
			// brackets it.
			out = append(out, net.JoinHostPort(f[1], "53"))
		}
	}
	return out
}

// forward asks the upstream resolvers r over the transport r came in on,
// and returns their answer or SERVFAIL.
func (f *forwarder) forward(w mdns.ResponseWriter, r *mdns.Msg) *mdns.Msg {
	network := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		network = "tcp"
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	if m := f.exchange(ctx, r, network); m != nil {
		return m
	}
	m := new(mdns.Msg)
	m.SetRcode(r, mdns.RcodeServerFailure)
	m.RecursionAvailable = true
	return m
}

func (f *forwarder) exchange(ctx context.Context, r *mdns.Msg, network string) *mdns.Msg {
	c := &mdns.Client{Net: network, UDPSize: mdns.DefaultMsgSize}
	for _, up := range f.servers() {
		if ctx.Err() != nil {
			return nil
		}
		m, _, err := c.ExchangeContext(ctx, r, up)
		if err != nil || m == nil {
			continue
		}
		if m.Rcode == mdns.RcodeServerFailure || m.Rcode == mdns.RcodeRefused {
			continue // another upstream may do better
		}
		m.Id = r.Id
		return m
	}
	return nil
}

// resolve asks the upstream resolvers for name's records of type qtype
// (an ExternalName's target); nothing on failure.
func (f *forwarder) resolve(name string, qtype uint16) []mdns.RR {
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	defer cancel()
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	m := f.exchange(ctx, q, "udp")
	if m == nil {
		return nil
	}
	return m.Answer
}
