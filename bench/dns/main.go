// Command dns measures berth's cluster DNS server (internal/dns) against
// the floor set by the DNS library it is built on: the same miekg/dns
// server answering one static record, on the same loopback, with the same
// client, query by query in turn. It prints Markdown tables.
//
//	go run ./bench/dns [-services 50] [-n 5000] [-clients 8] [-duration 3s]
//
// See README.md for what each row measures and how to read it.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
	clusterdns "github.com/berth-dev/berth/internal/dns"
	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

const (
	namespace = "bench-dns"
	// target is the bound for a Service lookup, p99.
	target = 5 * time.Millisecond
)

type config struct {
	out      *benchkit.Output // -json, -busy-ok
	services int
	n        int
	clients  int
	duration time.Duration
}

func main() {
	var cfg config
	cfg.out = benchkit.Flags("dns")
	flag.IntVar(&cfg.services, "services", 50, "ClusterIP Services in the namespace (plus one headless Service with 10 endpoints)")
	flag.IntVar(&cfg.n, "n", 5000, "queries measured one at a time per row, on each side")
	flag.IntVar(&cfg.clients, "clients", 8, "concurrent clients in the throughput run")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "length of the throughput run, on each side")
	flag.Parse()
	if cfg.services < 1 || cfg.n < 1 || cfg.clients < 1 || cfg.duration <= 0 {
		fmt.Fprintln(os.Stderr, "bench/dns: -services, -n, -clients and -duration must be positive")
		os.Exit(2)
	}
	cfg.out.Main("servers stopped", func(ctx context.Context) error { return run(ctx, cfg) })
}

// objects are the Services and Endpoints the server answers from.
func objects(n int) []runtime.Object {
	var objs []runtime.Object
	for i := range n {
		ip := fmt.Sprintf("10.96.%d.%d", 1+i/250, 1+i%250)
		objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i), Namespace: namespace},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ip, ClusterIPs: []string{ip},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}})
	}
	objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: namespace},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}})
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: namespace},
		Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}}}
	for i := range 10 {
		ep.Subsets[0].Addresses = append(ep.Subsets[0].Addresses, corev1.EndpointAddress{IP: fmt.Sprintf("10.244.0.%d", 10+i)})
	}
	return append(objs, ep)
}

// startFloor runs a miekg/dns server that answers every question with one
// A record, or NXDOMAIN for names starting with "nx": no lookup at all.
func startFloor() (string, func(), error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	a := net.ParseIP("10.96.0.1").To4()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if len(q.Name) > 2 && q.Name[:2] == "nx" {
			m.Rcode = mdns.RcodeNameError
		} else {
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: a}}
		}
		_ = w.WriteMsg(m)
	})
	srv := &mdns.Server{PacketConn: pc, Handler: h}
	go func() { _ = srv.ActivateAndServe() }()
	return pc.LocalAddr().String(), func() { _ = srv.Shutdown() }, nil
}

func run(ctx context.Context, cfg config) error {
	m := benchkit.DescribeMachine(os.Args[0], os.TempDir())
	benchkit.Progress("machine: %s", m.OneLine())

	srv, err := clusterdns.New(clusterdns.Config{Client: fake.NewClientset(objects(cfg.services)...), Addr: "127.0.0.1:0",
		Upstreams: []string{"127.0.0.1:1"}})
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(sctx) }()
	defer func() { stop(); _ = <-done }()
	select {
	case <-srv.Ready():
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		return fmt.Errorf("the DNS server did not sync within 30s")
	}
	floor, stopFloor, err := startFloor()
	if err != nil {
		return err
	}
	defer stopFloor()
	berth := srv.Addr().String()

	svcName := func() string {
		return fmt.Sprintf("svc-%d.%s.svc.cluster.local.", rand.IntN(cfg.services), namespace)
	}
	rows := []row{
		{name: fmt.Sprintf("A of a Service (random of %d)", cfg.services), qtype: mdns.TypeA, berth: svcName, floor: svcName},
		{name: "A of a headless Service (10 endpoints)", qtype: mdns.TypeA,
			berth: fixed("headless." + namespace + ".svc.cluster.local."), floor: fixed("headless." + namespace + ".svc.cluster.local.")},
		{name: "SRV of a named port", qtype: mdns.TypeSRV,
			berth: func() string { return "_http._tcp." + svcName() }, floor: func() string { return "_http._tcp." + svcName() }},
		{name: "NXDOMAIN in the cluster domain (a search-list miss)", qtype: mdns.TypeA,
			berth: fixed("nx-nothing." + namespace + ".svc.cluster.local."), floor: fixed("nx-nothing." + namespace + ".svc.cluster.local.")},
	}
	for i := range rows {
		benchkit.Progress("%s: %d queries each side", rows[i].name, cfg.n)
		if err := rows[i].measure(ctx, berth, floor, cfg.n); err != nil {
			return fmt.Errorf("%s: %w", rows[i].name, err)
		}
	}
	benchkit.Progress("throughput: %d clients × %s each side", cfg.clients, cfg.duration)
	tb, err := throughput(ctx, berth, svcName, cfg)
	if err != nil {
		return err
	}
	tf, err := throughput(ctx, floor, svcName, cfg)
	if err != nil {
		return err
	}
	report(cfg.out.Stdout(), cfg, m, rows, tb, tf)
	return nil
}

func fixed(s string) func() string { return func() string { return s } }

// row is one kind of question, asked of both servers in turn.
type row struct {
	name         string
	qtype        uint16
	berth, floor func() string
	lb, lf       benchkit.Latencies
}

func (r *row) measure(ctx context.Context, berth, floor string, n int) error {
	cb, err := dial(berth)
	if err != nil {
		return err
	}
	defer cb.Close()
	cf, err := dial(floor)
	if err != nil {
		return err
	}
	defer cf.Close()
	c := &mdns.Client{Timeout: 2 * time.Second}
	for i := range n + n/10 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		db, err := exchange(c, cb, r.berth(), r.qtype)
		if err != nil {
			return fmt.Errorf("berth: %w", err)
		}
		df, err := exchange(c, cf, r.floor(), r.qtype)
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		if i >= n/10 { // the first tenth warms up
			r.lb, r.lf = append(r.lb, db), append(r.lf, df)
		}
	}
	return nil
}

func dial(addr string) (*mdns.Conn, error) {
	return (&mdns.Client{Timeout: 2 * time.Second}).Dial(addr)
}

// exchange asks one question on conn and checks that an answer came.
func exchange(c *mdns.Client, conn *mdns.Conn, name string, qtype uint16) (time.Duration, error) {
	q := new(mdns.Msg)
	q.SetQuestion(name, qtype)
	start := time.Now()
	m, _, err := c.ExchangeWithConn(q, conn)
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	if m.Rcode != mdns.RcodeSuccess && m.Rcode != mdns.RcodeNameError {
		return 0, fmt.Errorf("%s: rcode %s", name, mdns.RcodeToString[m.Rcode])
	}
	return d, nil
}

type rate struct {
	ops int
	dur time.Duration
	lat benchkit.Latencies
}

func (r rate) perSecond() float64 { return float64(r.ops) / r.dur.Seconds() }

// throughput has cfg.clients goroutines ask Service names of addr for
// cfg.duration, each on its own socket.
func throughput(ctx context.Context, addr string, name func() string, cfg config) (rate, error) {
	var mu sync.Mutex
	var all benchkit.Latencies
	var firstErr error
	start := time.Now()
	end := start.Add(cfg.duration)
	var wg sync.WaitGroup
	for range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := dial(addr)
			if err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
				return
			}
			defer conn.Close()
			c := &mdns.Client{Timeout: 2 * time.Second}
			var lat benchkit.Latencies
			for time.Now().Before(end) && ctx.Err() == nil {
				d, err := exchange(c, conn, name(), mdns.TypeA)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				lat = append(lat, d)
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return rate{ops: len(all), dur: time.Since(start), lat: all}, firstErr
}
