// Package streamtest holds test doubles for the streaming path of logs,
// exec, attach and port-forward: a fake CRI streaming server that speaks
// SPDY like containerd's (and, like containerd 1.6, refuses WebSocket
// subprotocols it does not know), and a throwaway PKI for mutual TLS. It
// is imported by tests only.
package streamtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// Request is what a streaming session was created for.
type Request struct {
	Kind        string // "exec", "attach" or "portforward"
	Cmd         []string
	Stdin, TTY  bool
	Stdout      bool
	Stderr      bool
	ContainerID string
	SandboxID   string
}

// Streamer is a fake runtime streaming server. Register a session with
// URL and the client connects to the returned URL, as with CRI.
//
// Exec sessions run a tiny built-in command set: "cat" copies stdin to
// stdout, "exit N" fails with exit code N, anything else prints its
// arguments. Attach sessions behave like "cat". Port-forward sessions
// echo what each stream sends.
type Streamer struct {
	srv *httptest.Server

	mu       sync.Mutex
	sessions map[string]Request
	next     int
	// Served counts the sessions connected to, by kind.
	served map[string]int
}

// NewStreamer starts a streaming server on a loopback port.
func NewStreamer() *Streamer {
	s := &Streamer{sessions: map[string]Request{}, served: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Close stops the server.
func (s *Streamer) Close() { s.srv.Close() }

// URL registers a session and returns its one-time URL.
func (s *Streamer) URL(req Request) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	token := strconv.Itoa(s.next)
	s.sessions[token] = req
	return s.srv.URL + "/" + req.Kind + "/" + token
}

// Served returns how many sessions of kind were connected to.
func (s *Streamer) Served(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served[kind]
}

func (s *Streamer) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 2 {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	req, ok := s.sessions[parts[1]]
	delete(s.sessions, parts[1]) // tokens are single use, as in containerd
	s.mu.Unlock()
	if !ok || req.Kind != parts[0] {
		http.NotFound(w, r)
		return
	}
	s.ServeSession(w, r, req)
}

// ServeSession serves one session directly, without a token: a fake
// kubelet can answer exec, attach and port-forward requests with it.
func (s *Streamer) ServeSession(w http.ResponseWriter, r *http.Request, req Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		// containerd 1.6 knows the channel.k8s.io protocols up to v4 only;
		// its WebSocket handshake fails with a 403.
		http.Error(w, fmt.Sprintf("requested protocol(s) are not supported: %v", r.Header.Values("Sec-Websocket-Protocol")), http.StatusForbidden)
		return
	}
	s.mu.Lock()
	s.served[req.Kind]++
	s.mu.Unlock()
	switch req.Kind {
	case "exec", "attach":
		serveRemoteCommand(w, r, req)
	case "portforward":
		servePortForward(w, r)
	}
}

// acceptStreams upgrades to SPDY and delivers the client's streams once
// their replies are sent.
func acceptStreams(w http.ResponseWriter, r *http.Request, protocols []string) (httpstream.Connection, <-chan httpstream.Stream) {
	if _, err := httpstream.Handshake(r, w, protocols); err != nil {
		return nil, nil
	}
	streams := make(chan httpstream.Stream, 16)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, replySent <-chan struct{}) error {
		go func() { <-replySent; streams <- st }()
		return nil
	})
	return conn, streams
}

func serveRemoteCommand(w http.ResponseWriter, r *http.Request, req Request) {
	conn, streams := acceptStreams(w, r, []string{"v4.channel.k8s.io"})
	if conn == nil {
		return
	}
	defer conn.Close()
	want := 1 // the error stream
	for _, on := range []bool{req.Stdin, req.Stdout, req.Stderr && !req.TTY, req.TTY} {
		if on {
			want++
		}
	}
	got := map[string]httpstream.Stream{}
	deadline := time.After(10 * time.Second)
	for len(got) < want {
		select {
		case st := <-streams:
			got[st.Headers().Get("streamType")] = st
		case <-deadline:
			return
		}
	}
	stdout := io.Discard
	if st := got["stdout"]; st != nil {
		stdout = st
	}
	code := 0
	cmd := req.Cmd
	if req.Kind == "attach" {
		cmd = []string{"cat"}
	}
	switch {
	case len(cmd) > 0 && cmd[0] == "cat":
		if in := got["stdin"]; in != nil {
			_, _ = io.Copy(stdout, in)
		}
	case len(cmd) == 2 && cmd[0] == "exit":
		code, _ = strconv.Atoi(cmd[1])
	default:
		fmt.Fprintln(stdout, strings.Join(cmd, " "))
	}
	status := metav1.Status{Status: metav1.StatusSuccess}
	if code != 0 {
		status = metav1.Status{Status: metav1.StatusFailure, Reason: "NonZeroExitCode",
			Message: fmt.Sprintf("command terminated with non-zero exit code: exit status %d", code),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: strconv.Itoa(code)}}}}
	}
	for _, name := range []string{"stdout", "stderr"} {
		if st := got[name]; st != nil {
			st.Close()
		}
	}
	data, _ := json.Marshal(status)
	_, _ = got["error"].Write(data)
	got["error"].Close()
	// Let the client read the status before the connection goes.
	select {
	case <-conn.CloseChan():
	case <-time.After(5 * time.Second):
	}
}

func servePortForward(w http.ResponseWriter, r *http.Request) {
	conn, streams := acceptStreams(w, r, []string{"portforward.k8s.io"})
	if conn == nil {
		return
	}
	defer conn.Close()
	for {
		select {
		case st := <-streams:
			switch st.Headers().Get("streamType") {
			case "error":
				st.Close() // nothing went wrong
			case "data":
				go func() {
					_, _ = io.Copy(st, st)
					st.Close()
				}()
			}
		case <-conn.CloseChan():
			return
		}
	}
}

// PKI is a throwaway CA with a serving certificate for the loopback
// addresses and a client certificate.
type PKI struct {
	CA     *x509.Certificate
	Server tls.Certificate
	Client tls.Certificate
}

// NewPKI creates the CA and both certificates; it panics on failure, as
// only tests use it.
func NewPKI() *PKI {
	caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	ca := must(x509.ParseCertificate(must(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey))))
	issue := func(cn string, usage x509.ExtKeyUsage, serial int64) tls.Certificate {
		key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: []string{"system:masters"}},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}}
		der := must(x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey))
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: must(x509.ParseCertificate(der))}
	}
	return &PKI{CA: ca, Server: issue("node", x509.ExtKeyUsageServerAuth, 2),
		Client: issue("kube-apiserver-kubelet-client", x509.ExtKeyUsageClientAuth, 3)}
}

func (p *PKI) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	return pool
}

// ServerTLS serves the serving certificate and requires client
// certificates from the CA.
func (p *PKI) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Server}, ClientCAs: p.pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
}

// ClientTLS presents the client certificate and trusts the CA.
func (p *PKI) ClientTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Client}, RootCAs: p.pool(), MinVersion: tls.VersionTLS12}
}

// ClientPEM returns the CA certificate and the client certificate and
// key in PEM, for a client-go rest.Config.
func (p *PKI) ClientPEM() (caPEM, certPEM, keyPEM []byte) {
	key := must(x509.MarshalECPrivateKey(p.Client.PrivateKey.(*ecdsa.PrivateKey)))
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CA.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Client.Certificate[0]}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: key})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
