package volumes

import (
	"context"
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// tokenSource gives projected serviceAccountToken sources their token.
type tokenSource interface {
	serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error)
}

// defaultTokenExpirationSeconds is the API default of a projection's
// expirationSeconds.
const defaultTokenExpirationSeconds = 3600

// maxTokenAge: a token is renewed after a day even if it is valid longer.
const maxTokenAge = 24 * time.Hour

// tokenCache requests pod-bound tokens through the TokenRequest API and
// keeps them until they are due for renewal, as the kubelet's token
// manager does: after 80% of their lifetime (the lifetime the API server
// reported, so extended kube-api-access tokens are renewed as if they
// lasted what was asked) or a day. Volumes are re-projected every resync,
// so a renewed token reaches the pod's files within one resync.
type tokenCache struct {
	client kubernetes.Interface
	now    func() time.Time

	mu      sync.Mutex
	entries map[tokenKey]cachedToken
}

type tokenKey struct {
	namespace, account, pod string
	uid                     types.UID
	audience                string
	expiration              int64
}

type cachedToken struct {
	token           string
	issued, expires time.Time
}

func newTokenCache(client kubernetes.Interface) *tokenCache {
	return &tokenCache{client: client, now: time.Now, entries: map[tokenKey]cachedToken{}}
}

func (c cachedToken) due(now time.Time) bool {
	ttl := c.expires.Sub(c.issued)
	return now.After(c.issued.Add(ttl*8/10)) || now.After(c.issued.Add(maxTokenAge))
}

func (c *tokenCache) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	exp := int64(defaultTokenExpirationSeconds)
	if p.ExpirationSeconds != nil {
		exp = *p.ExpirationSeconds
	}
	account := pod.Spec.ServiceAccountName
	if account == "" {
		account = "default"
	}
	key := tokenKey{namespace: pod.Namespace, account: account, pod: pod.Name, uid: pod.UID, audience: p.Audience, expiration: exp}
	now := c.now()
	c.mu.Lock()
	cached, ok := c.entries[key]
	// Forget tokens that have expired (pods that are gone).
	for k, e := range c.entries {
		if now.After(e.expires) {
			delete(c.entries, k)
		}
	}
	c.mu.Unlock()
	if ok && !cached.due(now) {
		return cached.token, nil
	}
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	resp, err := c.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, account, req, metav1.CreateOptions{})
	if err != nil {
		if ok && now.Before(cached.expires) {
			return cached.token, nil // keep serving the old one until it expires
		}
		return "", fmt.Errorf("failed to fetch token: %w", err)
	}
	entry := cachedToken{token: resp.Status.Token, issued: now, expires: resp.Status.ExpirationTimestamp.Time}
	c.mu.Lock()
	c.entries[key] = entry
	c.mu.Unlock()
	return entry.token, nil
}

// tokenPayload is the file of one serviceAccountToken source.
func tokenPayload(ctx context.Context, src sources, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection, mode int32) (payload, error) {
	ts, ok := src.(tokenSource)
	if !ok {
		return nil, fmt.Errorf("serviceAccountToken %q: no token source", p.Path)
	}
	tok, err := ts.serviceAccountToken(ctx, pod, p)
	if err != nil {
		return nil, err
	}
	// As the kubelet's projected volume: when the pod names who reads the
	// token (one user for all its containers, or an fsGroup), the file is
	// that user's alone (0600, the fsGroup then adds group read); otherwise
	// the volume's mode.
	user := fsUser(pod)
	if user != nil || fsGroup(pod) != nil {
		mode = 0o600
	}
	return payload{p.Path: {Data: []byte(tok), Mode: mode, FsUser: user}}, nil
}

// fsUser is the kubelet's FsUserFrom: the user every container of the pod
// runs as (its own runAsUser, else the pod's), or nil when one of them sets
// none or they differ.
func fsUser(pod *corev1.Pod) *int64 {
	var user *int64
	same := true
	visit := func(sc *corev1.SecurityContext) {
		var u *int64
		if sc != nil && sc.RunAsUser != nil {
			u = sc.RunAsUser
		} else if pod.Spec.SecurityContext != nil {
			u = pod.Spec.SecurityContext.RunAsUser
		}
		switch {
		case u == nil:
			same = false
		case user == nil:
			user = u
		case *user != *u:
			same = false
		}
	}
	for i := range pod.Spec.InitContainers {
		visit(pod.Spec.InitContainers[i].SecurityContext)
	}
	for i := range pod.Spec.Containers {
		visit(pod.Spec.Containers[i].SecurityContext)
	}
	for i := range pod.Spec.EphemeralContainers {
		visit(pod.Spec.EphemeralContainers[i].SecurityContext)
	}
	if !same || user == nil {
		return nil
	}
	u := *user
	return &u
}

func (s clientSources) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	if s.tokens == nil {
		return "", fmt.Errorf("serviceAccountToken %q: no token source", p.Path)
	}
	return s.tokens.serviceAccountToken(ctx, pod, p)
}

// memoSources passes token requests through: the cache is the memo.
func (s *memoSources) serviceAccountToken(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	ts, ok := s.next.(tokenSource)
	if !ok {
		return "", fmt.Errorf("serviceAccountToken %q: no token source", p.Path)
	}
	return ts.serviceAccountToken(ctx, pod, p)
}

// canProjectTokens reports whether src can write token files.
func canProjectTokens(src sources) bool {
	switch s := src.(type) {
	case clientSources:
		return s.tokens != nil
	case *memoSources:
		return canProjectTokens(s.next)
	}
	_, ok := src.(tokenSource)
	return ok
}

func tokenSourceFor(cfg Config) *tokenCache {
	if !cfg.ProjectTokens {
		return nil
	}
	return newTokenCache(cfg.Client)
}
