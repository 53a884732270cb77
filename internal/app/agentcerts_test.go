package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func TestCheckAgentCerts(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	type cert struct {
		from, to time.Duration // relative to now
		hosts    []string
	}
	good := cert{-day, 300 * day, []string{"n2", "192.0.2.5"}}
	for _, tc := range []struct {
		name           string
		client         *cert // nil: a token kubeconfig
		serving        *cert // nil: no kubelet endpoint
		want, wantAlso string
	}{
		{name: "both good", client: &good, serving: &good},
		{name: "token kubeconfig, no endpoint"},
		{name: "client expired", client: &cert{-400 * day, -day, nil}, serving: &good,
			want: "expired on", wantAlso: "berth kubeconfig --data-dir DATA_DIR --node n2 > "},
		{name: "client near expiry", client: &cert{-300 * day, 10 * day, nil},
			want: "past 80% of its lifetime", wantAlso: "--node n2"},
		{name: "serving expired", client: &good, serving: &cert{-400 * day, -time.Hour, []string{"n2", "192.0.2.5"}},
			want: "expired on", wantAlso: "--kubelet-serving-dir"},
		{name: "serving lacks the node address", client: &good, serving: &cert{-day, 300 * day, []string{"n2", "192.0.2.99"}},
			want: "not valid for 192.0.2.5", wantAlso: "--kubelet-serving-dir"},
		{name: "serving lacks the node name", client: &good, serving: &cert{-day, 300 * day, []string{"n3", "192.0.2.5"}},
			want: "not valid for n2", wantAlso: "--kubelet-serving-dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := AgentConfig{Kubeconfig: filepath.Join(dir, "kubeconfig"), NodeName: "n2"}
			rc := &rest.Config{}
			if tc.client != nil {
				rc.TLSClientConfig.CertData = testCert(t, "system:node:n2", now.Add(tc.client.from), now.Add(tc.client.to), tc.client.hosts)
			}
			if tc.serving != nil {
				cfg.TLSCertFile = filepath.Join(dir, "kubelet.crt")
				if err := os.WriteFile(cfg.TLSCertFile, testCert(t, "n2", now.Add(tc.serving.from), now.Add(tc.serving.to), tc.serving.hosts), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := checkAgentCerts(cfg, rc, "192.0.2.5", now)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.wantAlso) {
				t.Fatalf("error %v, want one with %q and %q", err, tc.want, tc.wantAlso)
			}
		})
	}
}

func testCert(t *testing.T, cn string, from, to time.Time, hosts []string) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: from, NotAfter: to}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
