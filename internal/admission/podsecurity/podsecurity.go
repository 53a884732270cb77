// Package podsecurity is the PodSecurity admission plugin, as
// kube-apiserver runs it (plugin/pkg/admission/security/podsecurity): the
// evaluation is Kubernetes' own library, k8s.io/pod-security-admission, so
// the levels (privileged, baseline, restricted), the namespace labels
// (pod-security.kubernetes.io/enforce|warn|audit[-version]) and every
// message are Kubernetes'. berth has no audit log: audit-mode violations
// are logged.
package podsecurity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	psadmission "k8s.io/pod-security-admission/admission"
	psconfig "k8s.io/pod-security-admission/admission/api/load"
	psapi "k8s.io/pod-security-admission/api"
	psmetrics "k8s.io/pod-security-admission/metrics"
	"k8s.io/pod-security-admission/policy"

	"github.com/berth-dev/berth/internal/admission"
)

// PluginName is the plugin's name in kube-apiserver.
const PluginName = "PodSecurity"

// NamespaceGetter and PodLister are what the library reads: the
// namespace's labels, and its pods when an enforce label changes (to warn
// about the pods the new level would refuse).
type (
	NamespaceGetter = psadmission.NamespaceGetter
	PodLister       = psadmission.PodLister
)

// Plugin validates pods, pod templates and namespaces.
type Plugin struct {
	delegate *psadmission.Admission
	log      *slog.Logger
}

var _ admission.Validator = (*Plugin)(nil)

// New builds the plugin with kube-apiserver's default configuration
// (every namespace privileged unless its labels say otherwise, no
// exemptions).
func New(ns NamespaceGetter, pods PodLister, log *slog.Logger) (*Plugin, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := psconfig.LoadFromData(nil)
	if err != nil {
		return nil, fmt.Errorf("pod security: default configuration: %w", err)
	}
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		return nil, fmt.Errorf("pod security: checks: %w", err)
	}
	d := &psadmission.Admission{
		Configuration:    cfg,
		Evaluator:        eval,
		Metrics:          noMetrics{},
		PodSpecExtractor: psadmission.DefaultPodSpecExtractor{},
		NamespaceGetter:  ns,
		PodLister:        pods,
	}
	if err := d.CompleteConfiguration(); err != nil {
		return nil, fmt.Errorf("pod security: %w", err)
	}
	if err := d.ValidateConfiguration(); err != nil {
		return nil, fmt.Errorf("pod security: %w", err)
	}
	return &Plugin{delegate: d, log: log}, nil
}

var applicable = map[schema.GroupResource]bool{
	corev1.Resource("pods"):       true,
	corev1.Resource("namespaces"): true,
}

// Validate is kube-apiserver's plugin Validate: warnings go to the client,
// a refusal is a Forbidden error with the library's message.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Operation != admission.Create && a.Operation != admission.Update {
		return nil
	}
	gr := a.Resource.GroupResource()
	if !applicable[gr] && !p.delegate.PodSpecExtractor.HasPodSpec(gr) {
		return nil
	}
	res := p.delegate.Validate(ctx, attributes{a})
	for _, w := range res.Warnings {
		a.AddWarning(w)
	}
	for k, v := range res.AuditAnnotations {
		// Violations of the audit level and policy errors are what an
		// audit log would be read for; the policy enforced (an annotation
		// on every pod write) and exemptions are routine.
		level := slog.LevelDebug
		if k == psapi.AuditViolationsAnnotationKey || k == "error" {
			level = slog.LevelInfo
		}
		p.log.Log(ctx, level, "pod security audit", "resource", gr.String(), "namespace", a.Namespace, "name", a.Name,
			"annotation", psapi.AuditAnnotationPrefix+k, "value", v)
	}
	if res.Allowed {
		return nil
	}
	var out *apierrors.StatusError
	if !errors.As(admission.NewForbidden(a, errors.New("Not allowed by PodSecurity")), &out) {
		return admission.NewForbidden(a, errors.New("Not allowed by PodSecurity"))
	}
	if r := res.Result; r != nil {
		if r.Message != "" {
			out.ErrStatus.Message = r.Message
		}
		if r.Reason != "" {
			out.ErrStatus.Reason = r.Reason
		}
		if r.Details != nil {
			out.ErrStatus.Details = r.Details
		}
		if r.Code != 0 {
			out.ErrStatus.Code = r.Code
		}
	}
	return out
}

// attributes adapts berth's admission attributes to the library's. The
// objects are already external (v1) types.
type attributes struct{ a *admission.Attributes }

func (x attributes) GetName() string                          { return x.a.Name }
func (x attributes) GetNamespace() string                     { return x.a.Namespace }
func (x attributes) GetKind() schema.GroupVersionKind         { return x.a.Kind }
func (x attributes) GetResource() schema.GroupVersionResource { return x.a.Resource }
func (x attributes) GetSubresource() string                   { return x.a.Subresource }
func (x attributes) GetOperation() admissionv1.Operation      { return admissionv1.Operation(x.a.Operation) }
func (x attributes) GetUserName() string                      { return "" }
func (x attributes) GetObject() (runtime.Object, error)       { return x.a.Object, nil }
func (x attributes) GetOldObject() (runtime.Object, error)    { return x.a.OldObject, nil }

// noMetrics: berth exports no admission metrics.
type noMetrics struct{}

func (noMetrics) RecordEvaluation(psmetrics.Decision, psapi.LevelVersion, psmetrics.Mode, psapi.Attributes) {
}
func (noMetrics) RecordExemption(psapi.Attributes)           {}
func (noMetrics) RecordError(fatal bool, _ psapi.Attributes) {}
