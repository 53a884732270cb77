// Package registry describes every API resource berth serves: its kind and
// names, how it is defaulted, validated, printed as a table and filtered by
// field selectors. The apiserver's generic handlers are driven by these
// descriptions; nothing here does I/O.
package registry

import (
	"slices"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one API resource (e.g. pods in core/v1).
type Resource struct {
	GroupVersion schema.GroupVersion
	Name         string // plural, as in URLs: "pods"
	SingularName string
	Kind         string
	Namespaced   bool
	ShortNames   []string
	Categories   []string
	// Subresources served besides the main resource, e.g. "status", "binding".
	Subresources []string

	New     func() runtime.Object
	NewList func() runtime.Object

	// Default fills empty fields, as Kubernetes' v1 defaulting does on decode.
	Default func(obj runtime.Object)
	// PrepareForCreate resets fields a client may not set on create (status
	// of most kinds) before validation.
	PrepareForCreate func(obj runtime.Object)
	// PrepareForUpdate copies from old what a main-resource update may not
	// change (status); PrepareForStatusUpdate copies everything but status.
	PrepareForUpdate       func(obj, old runtime.Object)
	PrepareForStatusUpdate func(obj, old runtime.Object)
	Validate               func(obj runtime.Object) field.ErrorList
	ValidateUpdate         func(obj, old runtime.Object) field.ErrorList
	ValidateStatusUpdate   func(obj, old runtime.Object) field.ErrorList

	// Fields returns the field-selector view of an object. Every resource
	// supports metadata.name and metadata.namespace; other labels are kind
	// specific, and a selector on an unsupported label is a 400.
	Fields func(obj runtime.Object) fields.Set
	// AllowCreateOnUpdate lets PUT create a missing object.
	AllowCreateOnUpdate bool
	// HasGeneration: metadata.generation counts spec changes.
	HasGeneration bool
	// Verbs the resource answers to in discovery; nil means all of them.
	Verbs []string
	// NotStored: the resource is answered by the server (reviews), never
	// read from or written to storage.
	NotStored bool
}

// GroupVersionResource of the main resource.
func (r *Resource) GVR() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Name)
}

// GVK of the resource's kind.
func (r *Resource) GVK() schema.GroupVersionKind {
	return r.GroupVersion.WithKind(r.Kind)
}

// Serves reports whether the resource answers to verb.
func (r *Resource) Serves(verb string) bool { return r.Verbs == nil || slices.Contains(r.Verbs, verb) }

// HasSubresource reports whether sub is served.
func (r *Resource) HasSubresource(sub string) bool {
	for _, s := range r.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// Registry is the set of served resources.
type Registry struct {
	resources []*Resource
	byGVR     map[schema.GroupVersionResource]*Resource
}

// NewRegistry indexes resources.
func NewRegistry(rs ...*Resource) *Registry {
	reg := &Registry{byGVR: map[schema.GroupVersionResource]*Resource{}}
	for _, r := range rs {
		reg.resources = append(reg.resources, r)
		reg.byGVR[r.GVR()] = r
	}
	return reg
}

// Lookup finds a resource by group, version and plural name.
func (g *Registry) Lookup(gvr schema.GroupVersionResource) (*Resource, bool) {
	r, ok := g.byGVR[gvr]
	return r, ok
}

// All returns the resources in registration order.
func (g *Registry) All() []*Resource { return g.resources }

// GroupVersions returns the served group versions in order, core first.
func (g *Registry) GroupVersions() []schema.GroupVersion {
	seen := map[schema.GroupVersion]bool{}
	var out []schema.GroupVersion
	for _, r := range g.resources {
		if !seen[r.GroupVersion] {
			seen[r.GroupVersion] = true
			out = append(out, r.GroupVersion)
		}
	}
	return out
}
