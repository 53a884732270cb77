package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/serviceaccount"
)

// DefaultIssuer is the iss claim of berth's service-account tokens, the
// one kubeadm clusters use; it is also the API audience.
const DefaultIssuer = "https://kubernetes.default.svc.cluster.local"

// ServiceAccountKeyFile is the token signing key under the PKI directory.
const ServiceAccountKeyFile = "sa.key"

// Objects is what token validation reads: the service account, pod, secret
// or node a token is bound to must still exist with the same UID. Get
// returns an error apierrors.IsNotFound accepts when absent.
type Objects interface {
	ServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	Node(ctx context.Context, name string) (*corev1.Node, error)
}

// Tokens issues and authenticates service-account JWTs with Kubernetes'
// own generator, claims and validator (k8s.io/kubernetes/pkg/serviceaccount).
type Tokens struct {
	Issuer    string
	Audiences []string // the API server's audiences: tokens without one are refused
	gen       serviceaccount.TokenGenerator
	authn     authenticator.Token
	// oidc renders the issuer's discovery document and key set, served at
	// /.well-known/openid-configuration and /openid/v1/jwks.
	oidc serviceaccount.OpenIDMetadataProvider
}

// LoadOrCreateKey reads the ECDSA signing key at path, creating it (0600,
// written atomically) if missing.
func LoadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("service-account key %s: no PEM block (delete it to create a new one; existing tokens stop working)", path)
		}
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("service-account key %s: %w (delete it to create a new one; existing tokens stop working)", path, err)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return key, nil
}

// NewTokens builds the issuer and authenticator for key.
func NewTokens(key *ecdsa.PrivateKey, issuer string, objs Objects) (*Tokens, error) {
	gen, err := serviceaccount.JWTTokenGenerator(issuer, key)
	if err != nil {
		return nil, err
	}
	keys, err := serviceaccount.StaticPublicKeysGetter([]interface{}{&key.PublicKey})
	if err != nil {
		return nil, err
	}
	auds := authenticator.Audiences{issuer}
	authn := serviceaccount.JWTTokenAuthenticator([]string{issuer}, keys, auds, serviceaccount.NewValidator(getter{objs}))
	// The key set is announced under the issuer, as kube-apiserver does when
	// --service-account-jwks-uri is unset: pods reach the issuer's host
	// (kubernetes.default.svc) through the cluster DNS and Service proxy.
	oidc, err := serviceaccount.NewOpenIDMetadataProvider(issuer, strings.TrimSuffix(issuer, "/")+serviceaccount.JWKSPath, "", keys)
	if err != nil {
		return nil, fmt.Errorf("service-account issuer %q: %w", issuer, err)
	}
	return &Tokens{Issuer: issuer, Audiences: auds, gen: gen, authn: authn, oidc: oidc}, nil
}

// OpenIDConfiguration is the issuer's OIDC discovery document and how long
// clients may cache it, in seconds.
func (t *Tokens) OpenIDConfiguration() ([]byte, int) { return t.oidc.GetConfigJSON() }

// OpenIDKeySet is the issuer's public keys as a JWKS, and how long clients
// may cache it, in seconds.
func (t *Tokens) OpenIDKeySet() ([]byte, int) { return t.oidc.GetKeysetJSON() }

// AuthenticateToken authenticates a service-account JWT.
func (t *Tokens) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	return t.authn.AuthenticateToken(ctx, token)
}

// APIAudiences are the audiences a token for this API server carries.
func (t *Tokens) APIAudiences() []string { return t.Audiences }

// Issue signs a token for sa, bound to pod or secret if one is non-nil,
// valid for expirationSeconds for audiences (the API audiences if empty);
// warnAfter (seconds, 0 for none) is the kubernetes.io warnafter claim of
// extended kubelet tokens. It returns the token and its expiry.
func (t *Tokens) Issue(ctx context.Context, sa *corev1.ServiceAccount, pod *corev1.Pod, secret *corev1.Secret, node *corev1.Node, audiences []string, expirationSeconds, warnAfter int64) (string, time.Time, error) {
	if len(audiences) == 0 {
		audiences = t.Audiences
	}
	isa := core.ServiceAccount{ObjectMeta: sa.ObjectMeta}
	var ipod *core.Pod
	if pod != nil {
		ipod = &core.Pod{ObjectMeta: pod.ObjectMeta}
	}
	var isecret *core.Secret
	if secret != nil {
		isecret = &core.Secret{ObjectMeta: secret.ObjectMeta}
	}
	var inode *core.Node
	if node != nil {
		inode = &core.Node{ObjectMeta: node.ObjectMeta}
	}
	sc, pc, err := serviceaccount.Claims(isa, ipod, isecret, inode, nil, nil, expirationSeconds, warnAfter, audiences, nil)
	if err != nil {
		return "", time.Time{}, err
	}
	token, err := t.gen.GenerateToken(ctx, sc, pc)
	if err != nil {
		return "", time.Time{}, err
	}
	return token, sc.Expiry.Time(), nil
}

// getter adapts Objects to the upstream validator's getter. berth serves
// no webhook configurations, so tokens bound to one are refused.
type getter struct{ objs Objects }

func (g getter) GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return g.objs.ServiceAccount(ctx, namespace, name)
}
func (g getter) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return g.objs.Pod(ctx, namespace, name)
}
func (g getter) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return g.objs.Secret(ctx, namespace, name)
}
func (g getter) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	return g.objs.Node(ctx, name)
}
func (g getter) GetValidatingWebhookConfiguration(_ context.Context, name string) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "validatingwebhookconfigurations"}, name)
}
func (g getter) GetMutatingWebhookConfiguration(_ context.Context, name string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: "admissionregistration.k8s.io", Resource: "mutatingwebhookconfigurations"}, name)
}
