// Package admission runs mutating then validating admission plugins on API
// writes, as the Kubernetes API server does. One sub-package per plugin
// (defaulting lives in the registry; serviceaccount, alwayspullimages and
// pullsecretlint live here).
package admission

import (
	"context"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Operation is the kind of write being admitted.
type Operation string

const (
	Create Operation = "CREATE"
	Update Operation = "UPDATE"
	Delete Operation = "DELETE"
)

// Attributes describe one write. Plugins may change Object (it belongs to the
// request) and must never change OldObject.
type Attributes struct {
	Operation   Operation
	Resource    schema.GroupVersionResource // e.g. {"" "v1" "pods"}
	Subresource string                      // "" for the main resource, else "status", "binding", ...
	Kind        schema.GroupVersionKind
	Namespace   string
	Name        string // may be empty on create with generateName
	Object      runtime.Object
	OldObject   runtime.Object // nil on create
	DryRun      bool

	mu       sync.Mutex
	warnings []string
}

// AddWarning records a warning returned to the client as an HTTP Warning
// header (kubectl prints "Warning: <text>").
func (a *Attributes) AddWarning(text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.warnings = append(a.warnings, text)
}

// Warnings returns the warnings recorded so far.
func (a *Attributes) Warnings() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.warnings...)
}

// Mutator may change a.Object. Returning an error rejects the request.
type Mutator interface {
	Admit(ctx context.Context, a *Attributes) error
}

// Validator may only inspect. Returning an error rejects the request.
type Validator interface {
	Validate(ctx context.Context, a *Attributes) error
}

// Chain runs all mutators in order, then all validators in order. A plugin
// may implement either interface or both.
type Chain struct {
	Plugins []any
}

// Admit runs the mutating phase.
func (c Chain) Admit(ctx context.Context, a *Attributes) error {
	for _, p := range c.Plugins {
		if m, ok := p.(Mutator); ok {
			if err := m.Admit(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// Validate runs the validating phase.
func (c Chain) Validate(ctx context.Context, a *Attributes) error {
	for _, p := range c.Plugins {
		if v, ok := p.(Validator); ok {
			if err := v.Validate(ctx, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// NewForbidden wraps err as Kubernetes admission does:
// `pods "name" is forbidden: <err>`.
func NewForbidden(a *Attributes, err error) error {
	name := a.Name
	if name == "" {
		if m, ok := a.Object.(interface{ GetGenerateName() string }); ok {
			name = m.GetGenerateName()
		}
	}
	return apierrors.NewForbidden(a.Resource.GroupResource(), name, err)
}
