package dns

import (
	"context"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func clusterObjects() []runtime.Object {
	return []runtime.Object{
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 9000, Protocol: corev1.ProtocolUDP}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "prod"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: corev1.ClusterIPNone,
				Ports: []corev1.ServicePort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}}}},
		&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "prod"},
			Subsets: []corev1.EndpointSubset{{
				Addresses:         []corev1.EndpointAddress{{IP: "10.244.0.5", Hostname: "db-0"}, {IP: "10.244.0.6"}},
				NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.0.7", Hostname: "db-2"}},
				Ports:             []corev1.EndpointPort{{Name: "pg", Port: 5432, Protocol: corev1.ProtocolTCP}},
			}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: "prod"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: corev1.ClusterIPNone}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "loop", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "loop.default.svc.cluster.local"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "alias", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "web.default.svc.cluster.local"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "default"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "www.example.com"}},
	}
}

// fakeUpstream answers example.com and www.example.com A with 192.0.2.1,
// and everything else with NXDOMAIN.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		if (q.Name == "example.com." || q.Name == "www.example.com.") && q.Qtype == mdns.TypeA {
			m.Answer = []mdns.RR{&mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.1")}}
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	udp, tcp := &mdns.Server{PacketConn: pc, Handler: h}, &mdns.Server{Listener: ln, Handler: h}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() { _ = udp.Shutdown(); _ = tcp.Shutdown() })
	return pc.LocalAddr().String()
}

func startServer(t *testing.T, upstreams ...string) string {
	t.Helper()
	client := fake.NewClientset(clusterObjects()...)
	s, err := New(Config{Client: client, Addr: "127.0.0.1:0", Upstreams: upstreams, ForwardTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server not ready within 10s")
	}
	return s.Addr().String()
}

func query(t *testing.T, addr, network, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: network, Timeout: 3 * time.Second}
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", name, mdns.TypeToString[qtype], network, err)
	}
	return r
}

// values renders the answer section's data, sorted.
func values(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		f := strings.SplitN(rr.String(), "\t", 5)
		out = append(out, mdns.TypeToString[rr.Header().Rrtype]+" "+f[len(f)-1])
	}
	sort.Strings(out)
	return out
}

func TestServerRecords(t *testing.T) {
	up := fakeUpstream(t)
	addr := startServer(t, up)
	tests := []struct {
		name  string
		qtype uint16
		rcode int
		want  []string
	}{
		{"web.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 10.96.0.20"}},
		{"WEB.Default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 10.96.0.20"}},
		{"web.default.svc.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess, nil},
		{"_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeSuccess, []string{"SRV 0 100 80 web.default.svc.cluster.local."}},
		{"_http._udp.web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, nil},
		{"_nope._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, nil},
		{"db.prod.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 10.244.0.5", "A 10.244.0.6"}},
		{"db-0.db.prod.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 10.244.0.5"}},
		{"10-244-0-6.db.prod.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 10.244.0.6"}},
		{"db-2.db.prod.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil}, // not ready
		{"_pg._tcp.db.prod.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeSuccess,
			[]string{"SRV 0 50 5432 10-244-0-6.db.prod.svc.cluster.local.", "SRV 0 50 5432 db-0.db.prod.svc.cluster.local."}},
		{"empty.prod.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
		{"ext.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 192.0.2.1", "CNAME www.example.com."}},
		{"alias.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 10.96.0.20", "CNAME web.default.svc.cluster.local."}},
		{"10-244-0-9.default.pod.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 10.244.0.9"}},
		{"10-244-0-9.default.pod.cluster.local.", mdns.TypeAAAA, mdns.RcodeSuccess, nil},
		{"not-an-ip.default.pod.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
		{"20.0.96.10.in-addr.arpa.", mdns.TypePTR, mdns.RcodeSuccess, []string{"PTR web.default.svc.cluster.local."}},
		{"5.0.244.10.in-addr.arpa.", mdns.TypePTR, mdns.RcodeSuccess, []string{"PTR db-0.db.prod.svc.cluster.local."}},
		{"dns-version.cluster.local.", mdns.TypeTXT, mdns.RcodeSuccess, []string{"TXT \"1.1.0\""}},
		{"nope.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
		{"web.nope.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
		{"example.com.default.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, nil},
		{"default.svc.cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil},
		{"cluster.local.", mdns.TypeA, mdns.RcodeSuccess, nil},
		{"example.com.", mdns.TypeA, mdns.RcodeSuccess, []string{"A 192.0.2.1"}},
		{"unknown.example.", mdns.TypeA, mdns.RcodeNameError, nil},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range tests {
			t.Run(network+"/"+tc.name+"/"+mdns.TypeToString[tc.qtype], func(t *testing.T) {
				m := query(t, addr, network, tc.name, tc.qtype)
				if m.Rcode != tc.rcode {
					t.Errorf("rcode = %s, want %s", mdns.RcodeToString[m.Rcode], mdns.RcodeToString[tc.rcode])
				}
				if got := values(m); strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("answer = %q, want %q", got, tc.want)
				}
				for _, rr := range m.Answer {
					if rr.Header().Name != tc.name && rr.Header().Rrtype != mdns.TypeA {
						t.Errorf("record %s: owner name is not the question's %s", rr, tc.name)
					}
				}
				inZone := strings.HasSuffix(strings.ToLower(tc.name), "cluster.local.")
				if inZone && len(m.Answer) == 0 {
					if len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != mdns.TypeSOA {
						t.Errorf("no answer and authority %v: want the zone's SOA", m.Ns)
					}
				}
				if inZone && !m.Authoritative {
					t.Error("cluster answer not authoritative")
				}
			})
		}
	}
}

func TestServerTTL(t *testing.T) {
	addr := startServer(t)
	m := query(t, addr, "udp", "web.default.svc.cluster.local.", mdns.TypeA)
	if len(m.Answer) != 1 || m.Answer[0].Header().Ttl != TTL {
		t.Fatalf("answer %v: want one record with TTL %d", m.Answer, TTL)
	}
}

// A name under the cluster domain that does not exist is NXDOMAIN at once,
// never waiting on an upstream; a name outside it, whose upstreams do not
// answer, fails within the forward timeout.
func TestServerNXDOMAINFastAndForwardTimeout(t *testing.T) {
	// An upstream that never answers: a UDP socket nobody reads.
	black, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer black.Close()
	addr := startServer(t, black.LocalAddr().String())

	start := time.Now()
	m := query(t, addr, "udp", "missing.default.svc.cluster.local.", mdns.TypeA)
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("NXDOMAIN took %v, want it at once", d)
	}
	if m.Rcode != mdns.RcodeNameError {
		t.Errorf("rcode = %s, want NXDOMAIN", mdns.RcodeToString[m.Rcode])
	}

	start = time.Now()
	m = query(t, addr, "udp", "example.org.", mdns.TypeA)
	d := time.Since(start)
	if m.Rcode != mdns.RcodeServerFailure {
		t.Errorf("rcode = %s, want SERVFAIL from an upstream that does not answer", mdns.RcodeToString[m.Rcode])
	}
	if d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("forwarding failed after %v, want about the 500ms timeout", d)
	}
}

// Services created after the start are answered once the informer sees
// them.
func TestServerFollowsChanges(t *testing.T) {
	client := fake.NewClientset()
	s, err := New(Config{Client: client, Addr: "127.0.0.1:0", Upstreams: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Run(ctx) }()
	<-s.Ready()
	addr := s.Addr().String()
	if m := query(t, addr, "udp", "late.default.svc.cluster.local.", mdns.TypeA); m.Rcode != mdns.RcodeNameError {
		t.Fatalf("rcode = %s before the service exists, want NXDOMAIN", mdns.RcodeToString[m.Rcode])
	}
	_, err = client.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.30", ClusterIPs: []string{"10.96.0.30"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		m := query(t, addr, "udp", "late.default.svc.cluster.local.", mdns.TypeA)
		if strings.Join(values(m), ",") == "A 10.96.0.30" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("late service not answered within 5s: %v", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReverseIP(t *testing.T) {
	for name, want := range map[string]string{
		"1.0.96.10.in-addr.arpa.": "10.96.0.1",
		"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa.": "4321:0:1:2:3:4:567:89ab",
	} {
		ip, ok := reverseIP(name)
		if !ok || ip.String() != want {
			t.Errorf("reverseIP(%s) = %v %v, want %s", name, ip, ok, want)
		}
	}
	for _, bad := range []string{"0.96.10.in-addr.arpa.", "300.0.96.10.in-addr.arpa.", "x.ip6.arpa."} {
		if _, ok := reverseIP(bad); ok {
			t.Errorf("reverseIP(%s) accepted", bad)
		}
	}
}

// An ExternalName Service naming itself must not loop the server.
func TestServerExternalNameLoop(t *testing.T) {
	addr := startServer(t)
	m := query(t, addr, "udp", "loop.default.svc.cluster.local.", mdns.TypeA)
	if m.Rcode != mdns.RcodeSuccess || len(m.Answer) == 0 || m.Answer[0].Header().Rrtype != mdns.TypeCNAME {
		t.Fatalf("answer %v rcode %s: want the CNAME", m.Answer, mdns.RcodeToString[m.Rcode])
	}
}
