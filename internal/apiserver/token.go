package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/berth-dev/berth/internal/admission"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// TokenIssuer signs service-account tokens (internal/auth.Tokens).
type TokenIssuer interface {
	Issue(ctx context.Context, sa *corev1.ServiceAccount, pod *corev1.Pod, secret *corev1.Secret, node *corev1.Node, audiences []string, expirationSeconds, warnAfter int64) (string, time.Time, error)
	APIAudiences() []string
}

const (
	// minTokenExpiration is the shortest token Kubernetes issues.
	minTokenExpiration = 10 * 60
	// extendedTokenSeconds: a pod-bound request for exactly this many
	// seconds (what the ServiceAccount admission asks for in
	// kube-api-access volumes) gets a token valid for a year with a
	// warnafter claim, as kube-apiserver's
	// --service-account-extend-token-expiration (on by default) does.
	extendedTokenSeconds = 3607
	extendedTokenMax     = 365 * 24 * 60 * 60
)

var tokenRequestGK = schema.GroupKind{Group: "authentication.k8s.io", Kind: "TokenRequest"}

// serveTokenRequest answers POST serviceaccounts/NAME/token, as
// Kubernetes' TokenREST does: the account must exist, a bound pod must
// exist and run as that account, audiences default to the API server's.
func (s *Server) serveTokenRequest(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if s.cfg.ServiceAccountTokens == nil || info.name == "" {
		writeError(w, notFoundPath(r.URL.Path))
		return
	}
	if info.verb != "create" {
		writeError(w, methodNotSupported(schema.GroupResource{Resource: "serviceaccounts/token"}, info.verb))
		return
	}
	req := &authenticationv1.TokenRequest{}
	data, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ct := r.Header.Get("Content-Type")
	if !isProtobuf(ct) {
		if data, err = toJSON(ct, data); err != nil {
			writeError(w, badRequest("TokenRequest: %v", err))
			return
		}
	}
	if err := s.decodeInto(ct, data, authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"), req); err != nil {
		writeError(w, err)
		return
	}
	// Admission sees the request as kube-apiserver's does (NodeRestriction
	// limits a node to tokens for pods bound to it).
	attrs := &admission.Attributes{Operation: admission.Create, Resource: corev1.SchemeGroupVersion.WithResource("serviceaccounts"),
		Subresource: "token", Kind: authenticationv1.SchemeGroupVersion.WithKind("TokenRequest"),
		Namespace: info.namespace, Name: info.name, Object: req}
	if err := s.cfg.Admission.Admit(r.Context(), attrs); err != nil {
		writeError(w, err)
		return
	}
	if err := s.cfg.Admission.Validate(r.Context(), attrs); err != nil {
		writeError(w, err)
		return
	}
	out, err := s.issueToken(r.Context(), info.namespace, info.name, req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) issueToken(ctx context.Context, namespace, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	if req.Name != "" && req.Name != name {
		return nil, apierrors.NewInvalid(tokenRequestGK, name, field.ErrorList{field.Invalid(field.NewPath("metadata").Child("name"), req.Name, "must match the service account name if specified")})
	}
	if req.Namespace != "" && req.Namespace != namespace {
		return nil, apierrors.NewInvalid(tokenRequestGK, name, field.ErrorList{field.Invalid(field.NewPath("metadata").Child("namespace"), req.Namespace, "must match the service account namespace if specified")})
	}
	saRes, _ := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource("serviceaccounts"))
	obj, err := s.objs.get(ctx, saRes, namespace, name)
	if err != nil {
		return nil, err
	}
	sa := obj.(*corev1.ServiceAccount)
	if req.Spec.ExpirationSeconds == nil {
		req.Spec.ExpirationSeconds = ptrInt64(3600) // v1 defaulting
	}
	exp := *req.Spec.ExpirationSeconds
	if exp < minTokenExpiration {
		return nil, apierrors.NewInvalid(tokenRequestGK, "", field.ErrorList{field.Invalid(field.NewPath("spec", "expirationSeconds"), exp, "may not specify a duration less than 10 minutes")})
	}
	if exp > 1<<32 {
		return nil, apierrors.NewInvalid(tokenRequestGK, "", field.ErrorList{field.TooLong(field.NewPath("spec", "expirationSeconds"), exp, 1<<32)})
	}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = s.cfg.ServiceAccountTokens.APIAudiences()
	}
	var pod *corev1.Pod
	var secret *corev1.Secret
	var node *corev1.Node
	if ref := req.Spec.BoundObjectRef; ref != nil {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		var uid string
		switch {
		case gv.Group == "" && ref.Kind == "Pod":
			res, _ := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource("pods"))
			o, err := s.objs.get(ctx, res, namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			pod = o.(*corev1.Pod)
			if pod.Spec.ServiceAccountName != name {
				return nil, badRequest("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", name)
			}
			uid = string(pod.UID)
			// The token names the pod's node too (kube-apiserver's
			// ServiceAccountTokenPodNodeInfo, on by default); a node that is
			// gone still gives its name.
			if pod.Spec.NodeName != "" {
				node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}
				nodes, _ := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource("nodes"))
				if o, err := s.objs.get(ctx, nodes, "", pod.Spec.NodeName); err == nil {
					node = o.(*corev1.Node)
				}
			}
		case gv.Group == "" && ref.Kind == "Node":
			res, _ := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource("nodes"))
			o, err := s.objs.get(ctx, res, "", ref.Name)
			if err != nil {
				return nil, err
			}
			node = o.(*corev1.Node)
			uid = string(node.UID)
		case gv.Group == "" && ref.Kind == "Secret":
			res, _ := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource("secrets"))
			o, err := s.objs.get(ctx, res, namespace, ref.Name)
			if err != nil {
				return nil, err
			}
			secret = o.(*corev1.Secret)
			uid = string(secret.UID)
		default:
			return nil, badRequest("cannot bind token to object of type %s", schema.FromAPIVersionAndKind(ref.APIVersion, ref.Kind).String())
		}
		if ref.UID != "" && string(ref.UID) != uid {
			return nil, apierrors.NewConflict(schema.GroupResource{Resource: ref.Kind}, ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
		}
	}
	var warnAfter int64
	if pod != nil && exp == extendedTokenSeconds {
		warnAfter, exp = exp, extendedTokenMax
	}
	token, expiry, err := s.cfg.ServiceAccountTokens.Issue(ctx, sa, pod, secret, node, req.Spec.Audiences, exp, warnAfter)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("failed to generate token: %w", err))
	}
	out := req.DeepCopy()
	out.TypeMeta = metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenRequest"}
	out.Name, out.Namespace, out.UID = sa.Name, sa.Namespace, sa.UID
	out.CreationTimestamp = metav1.Now()
	if warnAfter != 0 {
		// The answer says when the client should renew, not the extended expiry.
		expiry = out.CreationTimestamp.Add(time.Duration(warnAfter) * time.Second)
	}
	out.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(expiry)}
	return out, nil
}

func ptrInt64(v int64) *int64 { return &v }
