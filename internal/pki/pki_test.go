package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServingCertCoversNewHosts: a data dir from an earlier start gets a
// serving certificate for names added since (a new pod network gateway),
// signed by the same CA, while an unchanged set keeps the same certificate.
func TestServingCertCoversNewHosts(t *testing.T) {
	dir := t.TempDir()
	first, err := Ensure(dir, []string{"10.96.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Ensure(dir, []string{"10.96.0.1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Serving.Leaf.Raw, again.Serving.Leaf.Raw) {
		t.Errorf("the serving certificate was reissued although it covered every host")
	}
	more, err := Ensure(dir, []string{"10.96.0.1", "10.244.0.1", "node-a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"10.96.0.1", "10.244.0.1", "node-a", "kubernetes.default.svc", "127.0.0.1"} {
		if err := more.Serving.Leaf.VerifyHostname(h); err != nil {
			t.Errorf("serving certificate does not cover %s: %v", h, err)
		}
	}
	if !bytes.Equal(first.CA.Raw, more.CA.Raw) {
		t.Errorf("the CA changed")
	}
	if err := more.Serving.Leaf.CheckSignatureFrom(more.CA); err != nil {
		t.Errorf("reissued certificate not signed by the CA: %v", err)
	}
}

// TestEnsureChecksCertificates starts from a good PKI, damages one file
// as time, a flag change, a replaced CA or a crash would, and runs Ensure
// again: a leaf is issued again with a log line saying why, a CA problem
// is an error saying what to do.
func TestEnsureChecksCertificates(t *testing.T) {
	hosts := []string{"10.96.0.1", "192.0.2.10"}
	day := 24 * time.Hour
	now := time.Now()
	for _, tc := range []struct {
		name    string
		hosts   []string // of the second start; default hosts
		damage  func(t *testing.T, dir string)
		reissue string // file issued again; "" none
		log     string // in the log line
		err     string // in the error; then no reissue
	}{
		{name: "unchanged", damage: func(*testing.T, string) {}},
		{name: "serving expired", reissue: ServingCert, log: "expired on",
			damage: leaf(ServingCert, ServingKey, now.Add(-400*day), now.Add(-day), hosts)},
		{name: "serving near expiry", reissue: ServingCert, log: "past 80% of its lifetime",
			damage: leaf(ServingCert, ServingKey, now.Add(-90*day), now.Add(10*day), hosts)},
		{name: "serving not yet valid", reissue: ServingCert, log: "not valid before",
			damage: leaf(ServingCert, ServingKey, now.Add(day), now.Add(400*day), hosts)},
		{name: "serving fine for a while yet", damage: leaf(ServingCert, ServingKey, now.Add(-10*day), now.Add(90*day), hosts)},
		{name: "advertise address changed", hosts: []string{"10.96.0.1", "192.0.2.77"}, reissue: ServingCert, log: "not valid for 192.0.2.77",
			damage: func(*testing.T, string) {}},
		{name: "service CIDR changed", hosts: []string{"10.100.0.1", "192.0.2.10"}, reissue: ServingCert, log: "not valid for 10.100.0.1",
			damage: func(*testing.T, string) {}},
		{name: "admin expired", reissue: AdminCertFile, log: "expired on",
			damage: leaf(AdminCertFile, AdminKeyFile, now.Add(-400*day), now.Add(-time.Minute), nil)},
		{name: "crash between new key and its certificate", reissue: ServingCert, log: "do not match",
			damage: func(t *testing.T, dir string) {
				k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				der, _ := x509.MarshalECPrivateKey(k)
				write(t, filepath.Join(dir, ServingKey), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
			}},
		{name: "serving from another CA", err: "is not signed by berth's CA",
			damage: func(t *testing.T, dir string) {
				other := t.TempDir()
				if _, err := Ensure(other, hosts, nil); err != nil {
					t.Fatal(err)
				}
				copyFile(t, filepath.Join(other, ServingCert), filepath.Join(dir, ServingCert))
				copyFile(t, filepath.Join(other, ServingKey), filepath.Join(dir, ServingKey))
			}},
		{name: "CA expired", err: "berth reset --data-dir",
			damage: func(t *testing.T, dir string) {
				k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "berth-ca"},
					NotBefore: now.Add(-3650 * day), NotAfter: now.Add(-day), IsCA: true, BasicConstraintsValid: true,
					KeyUsage: x509.KeyUsageCertSign}
				der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
				if err != nil {
					t.Fatal(err)
				}
				kder, _ := x509.MarshalECPrivateKey(k)
				write(t, filepath.Join(dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
				write(t, filepath.Join(dir, CACertFile), pemCert(der))
			}},
		{name: "CA removed", err: "is missing, but",
			damage: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, CACertFile)); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "CA key replaced", err: "do not match",
			damage: func(t *testing.T, dir string) {
				k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				kder, _ := x509.MarshalECPrivateKey(k)
				write(t, filepath.Join(dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := Ensure(dir, hosts, nil); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, dir)
			before := readAll(t, dir)
			var logs bytes.Buffer
			second := hosts
			if tc.hosts != nil {
				second = tc.hosts
			}
			b, err := Ensure(dir, second, slog.New(slog.NewTextHandler(&logs, nil)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Ensure: %v, want an error with %q", err, tc.err)
				}
				if after := readAll(t, dir); !equalFiles(before, after) {
					t.Errorf("a failed check changed files")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			after := readAll(t, dir)
			for name := range before {
				changed := !bytes.Equal(before[name], after[name])
				want := tc.reissue != "" && (name == tc.reissue || name == keyOf(tc.reissue))
				if changed != want {
					t.Errorf("%s changed: %v, want %v", name, changed, want)
				}
			}
			if tc.log == "" && logs.Len() > 0 {
				t.Errorf("unexpected log: %s", logs.String())
			}
			if tc.log != "" && (!strings.Contains(logs.String(), tc.log) || !strings.Contains(logs.String(), tc.reissue)) {
				t.Errorf("log %q does not name %s and %q", logs.String(), tc.reissue, tc.log)
			}
			for _, h := range second {
				if err := b.Serving.Leaf.VerifyHostname(h); err != nil {
					t.Errorf("serving certificate: %v", err)
				}
			}
			if p := Expiry(b.Serving.Leaf, time.Now()); p != "" && tc.name != "serving fine for a while yet" {
				t.Errorf("serving certificate %s", p)
			}
			if fi, err := os.Stat(filepath.Join(dir, ServingKey)); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("serving key mode: %v %v", fi.Mode(), err)
			}
		})
	}
}

// TestEnsureAfterCrashOnFirstStart: a first start that died after
// writing the CA key (written before its certificate) starts over.
func TestEnsureAfterCrashOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(k)
	write(t, filepath.Join(dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	b, err := Ensure(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Serving.Leaf.CheckSignatureFrom(b.CA); err != nil {
		t.Error(err)
	}
}

func TestExpiry(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	for _, tc := range []struct {
		name            string
		notBefore, left time.Duration
		want            string
	}{
		{"fresh", -day, 364 * day, ""},
		{"79% used", -79 * day, 21 * day, ""},
		{"81% used", -81 * day, 19 * day, "past 80%"},
		{"expired", -100 * day, -time.Second, "expired on"},
		{"expires now", -100 * day, 0, "expired on"},
		{"future", day, 100 * day, "not valid before"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &x509.Certificate{NotBefore: now.Add(tc.notBefore), NotAfter: now.Add(tc.left)}
			got := Expiry(c, now)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("Expiry = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLeafCappedAtCA: nothing berth issues outlives its CA.
func TestLeafCappedAtCA(t *testing.T) {
	dir := t.TempDir()
	b, err := Ensure(dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Serving.Leaf.NotAfter.After(b.CA.NotAfter) {
		t.Errorf("serving certificate outlives the CA")
	}
}

// leaf replaces certFile/keyFile with a certificate from dir's CA valid
// from notBefore to notAfter for hosts.
func leaf(certFile, keyFile string, notBefore, notAfter time.Time, hosts []string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		ca, err := LoadCA(dir)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "test"},
			NotBefore: notBefore, NotAfter: notAfter, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
		addHosts(tmpl, append([]string{"localhost", "127.0.0.1", "::1", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, hosts...))
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.CA, k.Public(), ca.caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(k)
		write(t, filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
		write(t, filepath.Join(dir, certFile), pemCert(der))
	}
}

func keyOf(certFile string) string {
	return map[string]string{ServingCert: ServingKey, AdminCertFile: AdminKeyFile}[certFile]
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	write(t, to, data)
}

func readAll(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, name := range []string{CACertFile, CAKeyFile, ServingCert, ServingKey, AdminCertFile, AdminKeyFile} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		files[name] = data
	}
	return files
}

func equalFiles(a, b map[string][]byte) bool {
	for k := range a {
		if !bytes.Equal(a[k], b[k]) {
			return false
		}
	}
	return len(a) == len(b)
}
