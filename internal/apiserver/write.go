package apiserver

import (
	"context"
	"crypto/rand"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/admission"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/watchcache"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// writeOptions are the query parameters every write takes.
type writeOptions struct {
	dryRun     bool
	manager    string
	validation string
	warnings   []string
	// applied: the field manager already recorded this write as an Apply.
	applied bool
	// stored is what the write stored (JSON without resourceVersion), so
	// that the answer is not encoded again; nil when nothing was written.
	stored []byte
}

func parseWriteOptions(r *http.Request) (*writeOptions, error) {
	q := r.URL.Query()
	fv, err := fieldValidation(r)
	if err != nil {
		return nil, err
	}
	o := &writeOptions{validation: fv, manager: q.Get("fieldManager")}
	for _, d := range q["dryRun"] {
		if d != metav1.DryRunAll {
			return nil, badRequest("dryRun: Unsupported value: %q: supported values: %q", d, metav1.DryRunAll)
		}
		o.dryRun = true
	}
	if o.manager == "" {
		// Kubernetes names the manager after the client's user agent.
		o.manager, _, _ = strings.Cut(r.UserAgent(), "/")
		if o.manager == "" {
			o.manager = "unknown"
		}
	}
	if len(o.manager) > 128 {
		return nil, badRequest("fieldManager: Too long: may not be more than 128 bytes")
	}
	return o, nil
}

func writeWarnings(w http.ResponseWriter, warnings []string) {
	for _, text := range warnings {
		w.Header().Add("Warning", `299 - "`+strings.ReplaceAll(text, `"`, `\"`)+`"`)
	}
}

// readWrite reads a create or update request: its options and its body
// decoded (JSON, YAML or protobuf) under the field validation asked for.
func (s *Server) readWrite(r *http.Request, info requestInfo) (*writeOptions, runtime.Object, error) {
	opts, err := parseWriteOptions(r)
	if err != nil {
		return nil, nil, err
	}
	data, err := readBody(r)
	if err != nil {
		return nil, nil, err
	}
	if data, err = toJSON(r.Header.Get("Content-Type"), data); err != nil {
		return nil, nil, cannotHandle(info.res, err)
	}
	obj, warnings, err := s.decodeObjectAs(info.res, r.Header.Get("Content-Type"), data, opts.validation)
	if err != nil {
		return nil, nil, err
	}
	opts.warnings = append(opts.warnings, warnings...)
	return opts, obj, nil
}

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, obj, err := s.readWrite(r, info)
	if err != nil {
		writeError(w, err)
		return
	}
	created, err := s.createObject(r.Context(), info.res, info.namespace, obj, opts)
	writeWarnings(w, opts.warnings)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeWritten(w, r, info.res, http.StatusCreated, created, opts)
}

// generateNameSuffix is what Kubernetes appends to generateName.
func generateNameSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	b := make([]byte, 5)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[n.Int64()]
	}
	return string(b)
}

// createObject runs the create pipeline: metadata, namespace checks,
// defaulting, admission (mutating), validation, admission (validating),
// field management, storage.
func (s *Server) createObject(ctx context.Context, res *registry.Resource, namespace string, obj runtime.Object, opts *writeOptions) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	if res.Namespaced {
		if m.GetNamespace() != "" && namespace != "" && m.GetNamespace() != namespace {
			return nil, badRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		if namespace == "" {
			namespace = m.GetNamespace()
		}
		if namespace == "" {
			return nil, badRequest("an empty namespace may not be set during creation")
		}
		m.SetNamespace(namespace)
	} else {
		m.SetNamespace("")
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + generateNameSuffix())
	}
	if m.GetName() == "" {
		return nil, apierrors.NewInvalid(res.GVK().GroupKind(), "",
			field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if msgs := path.IsValidPathSegmentName(m.GetName()); len(msgs) > 0 {
		return nil, apierrors.NewInvalid(res.GVK().GroupKind(), m.GetName(),
			field.ErrorList{field.Invalid(field.NewPath("metadata", "name"), m.GetName(), strings.Join(msgs, ", "))})
	}
	if res.Namespaced {
		if err := s.checkNamespaceOpen(ctx, namespace); err != nil {
			return nil, err
		}
	}
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(metav1.NewTime(time.Now().Truncate(time.Second)))
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	if res.HasGeneration {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	if res.PrepareForCreate != nil {
		res.PrepareForCreate(obj)
	}
	if res.Default != nil {
		res.Default(obj)
	}
	if err := s.allocate(ctx, res, obj); err != nil {
		return nil, err
	}
	attrs := &admission.Attributes{Operation: admission.Create, Resource: res.GVR(), Kind: res.GVK(),
		Namespace: namespace, Name: m.GetName(), Object: obj, DryRun: opts.dryRun}
	if err := s.cfg.Admission.Admit(ctx, attrs); err != nil {
		opts.warnings = append(opts.warnings, attrs.Warnings()...)
		return nil, err
	}
	if res.Default != nil {
		// Mutators may set fields that defaulting keeps in sync (e.g. the
		// deprecated spec.serviceAccount), as Kubernetes' conversion does.
		res.Default(obj)
	}
	if res.Validate != nil {
		if errs := res.Validate(obj); len(errs) > 0 {
			return nil, apierrors.NewInvalid(res.GVK().GroupKind(), m.GetName(), errs)
		}
	}
	err = s.cfg.Admission.Validate(ctx, attrs)
	opts.warnings = append(opts.warnings, attrs.Warnings()...)
	if err != nil {
		return nil, err
	}
	if !opts.applied {
		obj = s.trackManagedFields(res, "", nil, obj, opts.manager)
	}
	if opts.dryRun {
		return obj, nil
	}
	created, stored, err := s.objs.createStored(ctx, res, obj)
	opts.stored = stored
	return created, err
}

// checkNamespaceOpen refuses content for a missing or terminating namespace.
func (s *Server) checkNamespaceOpen(ctx context.Context, namespace string) error {
	nsRes, _ := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource("namespaces"))
	// As kube-apiserver's NamespaceLifecycle: the informer's state, and a
	// live lookup for a namespace it does not hold yet.
	kv, err := s.objs.getKV(ctx, nsRes, "", namespace, 0)
	if apierrors.IsNotFound(err) {
		kv, err = s.objs.getKV(ctx, nsRes, "", namespace, watchcache.Consistent)
	}
	if err != nil {
		return err
	}
	obj, err := s.objs.shared(nsRes, kv) // read only
	if err != nil {
		return err
	}
	ns := obj.(*corev1.Namespace)
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		e := apierrors.NewForbidden(nsRes.GVR().GroupResource(), namespace,
			errNamespaceTerminating(namespace))
		e.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause,
			Message: "namespace " + namespace + " is being terminated", Field: "metadata.namespace"}}
		return e
	}
	return nil
}

type errNamespaceTerminating string

func (e errNamespaceTerminating) Error() string {
	return "unable to create new content in namespace " + string(e) + " because it is being terminated"
}

// updateFunc turns the current object into the desired one.
type updateFunc func(current runtime.Object) (runtime.Object, error)

// updateObject runs the update pipeline with optimistic concurrency.
// When the desired object names a resourceVersion it must match the stored
// one (409 otherwise); without one the update is retried on conflicts.
// create is called when the object does not exist and the caller allows it.
func (s *Server) updateObject(ctx context.Context, info requestInfo, opts *writeOptions, fn updateFunc,
	create func() (runtime.Object, error)) (runtime.Object, bool, error) {
	res := info.res
	for attempt := 0; ; attempt++ {
		opts.stored = nil
		current, err := s.objs.get(ctx, res, info.namespace, info.name)
		if apierrors.IsNotFound(err) && create != nil {
			obj, err := create()
			if err != nil {
				return nil, false, err
			}
			created, err := s.createObject(ctx, res, info.namespace, obj, opts)
			if apierrors.IsAlreadyExists(err) && attempt < 5 {
				continue
			}
			return created, true, err
		}
		if err != nil {
			return nil, false, err
		}
		curRev := revisionOf(current)
		desired, err := fn(current.DeepCopyObject())
		if err != nil {
			return nil, false, err
		}
		dm, err := meta.Accessor(desired)
		if err != nil {
			return nil, false, err
		}
		pinned := dm.GetResourceVersion() != ""
		if pinned && dm.GetResourceVersion() != itoa(curRev) {
			return nil, false, conflict(res, info.name)
		}
		out, err := s.applyUpdate(ctx, info, opts, current, desired)
		if apierrors.IsConflict(err) && !pinned && attempt < 10 {
			continue
		}
		return out, false, err
	}
}

// applyUpdate validates and stores desired over current.
func (s *Server) applyUpdate(ctx context.Context, info requestInfo, opts *writeOptions, current, desired runtime.Object) (runtime.Object, error) {
	res := info.res
	cm, _ := meta.Accessor(current)
	dm, _ := meta.Accessor(desired)
	if dm.GetName() != cm.GetName() {
		return nil, badRequest("the name of the object (%s) does not match the name on the URL (%s)", dm.GetName(), cm.GetName())
	}
	if res.Namespaced && dm.GetNamespace() != "" && dm.GetNamespace() != cm.GetNamespace() {
		return nil, badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	// Fields the system owns.
	dm.SetNamespace(cm.GetNamespace())
	dm.SetUID(cm.GetUID())
	dm.SetCreationTimestamp(cm.GetCreationTimestamp())
	dm.SetDeletionTimestamp(cm.GetDeletionTimestamp())
	dm.SetDeletionGracePeriodSeconds(cm.GetDeletionGracePeriodSeconds())
	dm.SetGeneration(cm.GetGeneration())
	dm.SetSelfLink("")
	if cm.GetDeletionTimestamp() != nil && len(dm.GetFinalizers()) > len(cm.GetFinalizers()) {
		return nil, apierrors.NewForbidden(res.GVR().GroupResource(), cm.GetName(),
			errString("no new finalizers can be added if the object is being deleted"))
	}
	switch info.subresource {
	case "binding":
		// The binding handler changed exactly spec.nodeName and a condition.
	case "status":
		if res.PrepareForStatusUpdate != nil {
			res.PrepareForStatusUpdate(desired, current)
		}
	case "ephemeralcontainers":
		prepareEphemeralContainersUpdate(desired, current)
	case "finalize":
		// Only spec.finalizers of a namespace change here.
		ns, cur := desired.(*corev1.Namespace), current.(*corev1.Namespace)
		fin := ns.Spec.Finalizers
		*ns = *cur.DeepCopy()
		ns.Spec.Finalizers = fin
	default:
		if res.PrepareForUpdate != nil {
			res.PrepareForUpdate(desired, current)
		}
	}
	if res.Default != nil {
		res.Default(desired)
	}
	attrs := &admission.Attributes{Operation: admission.Update, Resource: res.GVR(), Subresource: info.subresource,
		Kind: res.GVK(), Namespace: cm.GetNamespace(), Name: cm.GetName(), Object: desired, OldObject: current, DryRun: opts.dryRun}
	if err := s.cfg.Admission.Admit(ctx, attrs); err != nil {
		return nil, err
	}
	if res.Default != nil {
		res.Default(desired)
	}
	dm.SetResourceVersion(cm.GetResourceVersion())
	var errs field.ErrorList
	if info.subresource == "status" && res.ValidateStatusUpdate != nil {
		errs = res.ValidateStatusUpdate(desired, current)
	} else if info.subresource == "ephemeralcontainers" {
		errs = validateEphemeralContainersUpdate(desired, current)
	} else if info.subresource == "" && res.ValidateUpdate != nil {
		errs = res.ValidateUpdate(desired, current)
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(res.GVK().GroupKind(), cm.GetName(), errs)
	}
	err := s.cfg.Admission.Validate(ctx, attrs)
	opts.warnings = append(opts.warnings, attrs.Warnings()...)
	if err != nil {
		return nil, err
	}
	// Only spec writes count (Kubernetes' pod strategies): a binding or a
	// status write leaves metadata.generation alone.
	if res.HasGeneration && info.subresource != "binding" && info.subresource != "status" && specChanged(desired, current) {
		dm.SetGeneration(cm.GetGeneration() + 1)
	}
	if !opts.applied {
		desired = s.trackManagedFields(res, info.subresource, current, desired, opts.manager)
	}
	dm, _ = meta.Accessor(desired)
	dm.SetResourceVersion(cm.GetResourceVersion())
	if equalButManagedTimes(desired, current) {
		return current, nil // nothing changed: no write, same resourceVersion
	}
	if opts.dryRun {
		return desired, nil
	}
	// Deletion completes when the last finalizer is removed, unless a
	// grace period runs (a pod its node is stopping: its status writes
	// must not remove it; the node deletes it with grace 0 when done), as
	// the generic registry's shouldDeleteDuringUpdate.
	if dm.GetDeletionTimestamp() != nil && len(dm.GetFinalizers()) == 0 && !hasNamespaceFinalizers(desired) &&
		(cm.GetDeletionGracePeriodSeconds() == nil || *cm.GetDeletionGracePeriodSeconds() == 0) {
		return s.objs.remove(ctx, res, cm.GetNamespace(), cm.GetName(), revisionOf(current))
	}
	updated, stored, err := s.objs.updateStored(ctx, res, desired, revisionOf(current))
	opts.stored = stored
	return updated, err
}

func hasNamespaceFinalizers(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

type errString string

func (e errString) Error() string { return string(e) }

// equalButManagedTimes compares two objects the caller owns, ignoring
// managedFields timestamps, so that an update that changes nothing is
// recognised as a no-op. The timestamps are set aside in place for the
// comparison and put back (no copies of the objects).
func equalButManagedTimes(a, b runtime.Object) bool {
	restoreA, restoreB := clearManagedTimes(a), clearManagedTimes(b)
	defer restoreA()
	defer restoreB()
	return equality.Semantic.DeepEqual(a, b)
}

// clearManagedTimes sets obj's managedFields timestamps to nil and
// returns the function that puts them back.
func clearManagedTimes(obj runtime.Object) func() {
	m, err := meta.Accessor(obj)
	if err != nil {
		return func() {}
	}
	mf := m.GetManagedFields()
	if len(mf) == 0 {
		return func() {}
	}
	times := make([]*metav1.Time, len(mf))
	for i := range mf {
		times[i], mf[i].Time = mf[i].Time, nil
	}
	m.SetManagedFields(mf)
	return func() {
		for i := range mf {
			mf[i].Time = times[i]
		}
		m.SetManagedFields(mf)
	}
}

// specChanged compares the spec fields of two objects of the same type.
func specChanged(a, b runtime.Object) bool {
	switch x := a.(type) {
	case *corev1.Pod:
		return !equality.Semantic.DeepEqual(x.Spec, b.(*corev1.Pod).Spec)
	}
	return false
}

func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, obj, err := s.readWrite(r, info)
	if err != nil {
		writeError(w, err)
		return
	}
	if m, _ := meta.Accessor(obj); m.GetName() != info.name {
		writeError(w, badRequest("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), info.name))
		return
	}
	var create func() (runtime.Object, error)
	if info.res.AllowCreateOnUpdate && info.subresource == "" {
		create = func() (runtime.Object, error) { return obj.DeepCopyObject(), nil }
	}
	out, created, err := s.updateObject(r.Context(), info, opts, func(runtime.Object) (runtime.Object, error) {
		return obj.DeepCopyObject(), nil
	}, create)
	writeWarnings(w, opts.warnings)
	if err != nil {
		writeError(w, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	s.writeWritten(w, r, info.res, code, out, opts)
}

// writeWritten answers a write with the object written: in JSON from the
// bytes stored, not encoded again.
func (s *Server) writeWritten(w http.ResponseWriter, r *http.Request, res *registry.Resource, code int, obj runtime.Object, opts *writeOptions) {
	if out, err := negotiate(r.Header.Get("Accept"), hasProtobuf(res)); err == nil && out == outObject && opts.stored != nil {
		if body, ok := appendWithResourceVersion(make([]byte, 0, len(opts.stored)+64), opts.stored, revisionOf(obj)); ok {
			writeRawJSON(w, code, append(body, '\n'))
			return
		}
	}
	s.writeOutput(w, r, res, code, obj)
}
