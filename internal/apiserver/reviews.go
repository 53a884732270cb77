package apiserver

import (
	"context"
	"fmt"
	"net/http"

	"github.com/berth-dev/berth/internal/registry"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	authninstall "k8s.io/kubernetes/pkg/apis/authentication/install"
	authzinstall "k8s.io/kubernetes/pkg/apis/authorization/install"
	"k8s.io/kubernetes/pkg/registry/authentication/selfsubjectreview"
	"k8s.io/kubernetes/pkg/registry/authentication/tokenreview"
	"k8s.io/kubernetes/pkg/registry/authorization/localsubjectaccessreview"
	"k8s.io/kubernetes/pkg/registry/authorization/selfsubjectaccessreview"
	"k8s.io/kubernetes/pkg/registry/authorization/selfsubjectrulesreview"
	"k8s.io/kubernetes/pkg/registry/authorization/subjectaccessreview"
)

// The review APIs (authorization.k8s.io SelfSubjectAccessReview,
// SelfSubjectRulesReview, SubjectAccessReview, LocalSubjectAccessReview;
// authentication.k8s.io SelfSubjectReview, TokenReview) are answered by
// Kubernetes' own REST handlers, which work on the internal types: the v1
// request is converted in, the answer converted back.

type creater interface {
	New() runtime.Object
	Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error)
}

type reviews struct {
	scheme *runtime.Scheme
	byName map[string]creater // resource name → handler
}

func newReviews(authz authorizer.Authorizer, rules authorizer.RuleResolver, s *Server) *reviews {
	scheme := runtime.NewScheme()
	authzinstall.Install(scheme)
	authninstall.Install(scheme)
	if rules == nil {
		rules = noRules{}
	}
	rv := &reviews{scheme: scheme, byName: map[string]creater{
		"selfsubjectaccessreviews":  selfsubjectaccessreview.NewREST(authz, scheme),
		"subjectaccessreviews":      subjectaccessreview.NewREST(authz, scheme),
		"localsubjectaccessreviews": localsubjectaccessreview.NewREST(authz, scheme),
		"selfsubjectrulesreviews":   selfsubjectrulesreview.NewREST(rules),
		"selfsubjectreviews":        selfsubjectreview.NewREST(),
	}}
	rv.byName["tokenreviews"] = tokenreview.NewREST(s.authn, s.cfg.APIAudiences)
	return rv
}

// serveAuthAPI answers the review kinds and serviceaccounts/NAME/token;
// it reports false for every other request.
func (s *Server) serveAuthAPI(w http.ResponseWriter, r *http.Request, info requestInfo) bool {
	if info.subresource == "token" && info.res.Name == "serviceaccounts" {
		s.serveTokenRequest(w, r, info)
		return true
	}
	if !info.res.NotStored {
		return false
	}
	h, ok := s.reviews.byName[info.res.Name]
	if !ok || info.verb != "create" || info.name != "" {
		writeError(w, methodNotSupported(info.res.GVR().GroupResource(), info.verb))
		return true
	}
	_, in, err := s.readWrite(r, info)
	if err != nil {
		writeError(w, err)
		return true
	}
	out, err := s.reviews.create(request.WithNamespace(r.Context(), info.namespace), h, info.res, in)
	if err != nil {
		writeError(w, err)
		return true
	}
	s.writeOutput(w, r, info.res, http.StatusCreated, out)
	return true
}

func (rv *reviews) create(ctx context.Context, h creater, res *registry.Resource, in runtime.Object) (runtime.Object, error) {
	internal := h.New()
	if err := rv.scheme.Convert(in, internal, nil); err != nil {
		return nil, badRequest("%s: %v", res.Kind, err)
	}
	answer, err := h.Create(ctx, internal, nil, &metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	out := res.New()
	if err := rv.scheme.Convert(answer, out, nil); err != nil {
		return nil, fmt.Errorf("converting the %s answer: %w", res.Kind, err)
	}
	setTypeMeta(res, out)
	return out, nil
}

// noRules answers rules reviews when no resolver is configured (every
// request is allowed then): nothing listed, incomplete.
type noRules struct{}

func (noRules) RulesFor(context.Context, user.Info, string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	return nil, nil, true, nil
}
