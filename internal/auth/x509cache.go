package auth

import (
	"crypto/sha256"
	"crypto/x509"
	"net/http"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
)

// x509CacheSize bounds the verified certificates remembered; past it the
// cache starts over (there are a handful of client certificates per node).
const x509CacheSize = 1024

// x509CacheTTL bounds how long a verification is reused, whatever the
// certificates' validity.
const x509CacheTTL = 5 * time.Minute

// cachedX509 is Kubernetes' client-certificate authenticator with its
// verification remembered per certificate chain. Verifying the chain
// (an ECDSA signature check) is most of the CPU of a small request, and
// every request of a connection presents the same chain. The outcome
// depends only on the presented certificates, the fixed CA pool and the
// time, so a success is reused until the earliest NotAfter in the chain
// (or the TTL); failures are never cached and always go through the
// library, as are cache misses, so errors and identities are its own.
type cachedX509 struct {
	inner *x509request.Authenticator
	opts  x509.VerifyOptions
	now   func() time.Time

	mu      sync.RWMutex
	entries map[[sha256.Size]byte]x509Entry
}

type x509Entry struct {
	user    user.Info
	expires time.Time
}

func newCachedX509(roots *x509.CertPool) *cachedX509 {
	opts := x509request.DefaultVerifyOptions()
	opts.Roots = roots
	return &cachedX509{
		inner:   x509request.New(opts, x509request.CommonNameUserConversion),
		opts:    opts,
		now:     time.Now,
		entries: map[[sha256.Size]byte]x509Entry{},
	}
}

// chainKey identifies the presented chain: leaf and intermediates.
func chainKey(certs []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	for _, c := range certs {
		var n [4]byte
		l := len(c.Raw)
		n[0], n[1], n[2], n[3] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
		h.Write(n[:])
		h.Write(c.Raw)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (a *cachedX509) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	certs := req.TLS.PeerCertificates
	key := chainKey(certs)
	now := a.now()
	a.mu.RLock()
	e, hit := a.entries[key]
	a.mu.RUnlock()
	if hit && now.Before(e.expires) {
		return &authenticator.Response{User: copyUser(e.user)}, true, nil
	}
	resp, ok, err := a.inner.AuthenticateRequest(req)
	if !ok || err != nil || resp == nil || resp.User == nil {
		return resp, ok, err
	}
	if expires, valid := a.validUntil(certs, now); valid {
		a.mu.Lock()
		if len(a.entries) >= x509CacheSize {
			for k, old := range a.entries {
				if !now.Before(old.expires) {
					delete(a.entries, k)
				}
			}
			if len(a.entries) >= x509CacheSize {
				clear(a.entries)
			}
		}
		a.entries[key] = x509Entry{user: copyUser(resp.User), expires: expires}
		a.mu.Unlock()
	}
	return resp, ok, err
}

// validUntil is when the verification of certs stops holding: the earliest
// NotAfter of any certificate of any chain it verifies through (roots
// included), at most the TTL from now.
func (a *cachedX509) validUntil(certs []*x509.Certificate, now time.Time) (time.Time, bool) {
	opts := a.opts
	opts.CurrentTime = now
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := certs[0].Verify(opts)
	if err != nil || len(chains) == 0 {
		return time.Time{}, false
	}
	until := now.Add(x509CacheTTL)
	for _, chain := range chains {
		for _, c := range chain {
			if c.NotAfter.Before(until) {
				until = c.NotAfter
			}
		}
	}
	return until, true
}

// copyUser is a private copy of u: the filters after authentication add
// groups to what they get.
func copyUser(u user.Info) user.Info {
	return &user.DefaultInfo{
		Name:   u.GetName(),
		UID:    u.GetUID(),
		Groups: append([]string(nil), u.GetGroups()...),
		Extra:  copyExtra(u.GetExtra()),
	}
}

func copyExtra(e map[string][]string) map[string][]string {
	if e == nil {
		return nil
	}
	out := make(map[string][]string, len(e))
	for k, v := range e {
		out[k] = append([]string(nil), v...)
	}
	return out
}
