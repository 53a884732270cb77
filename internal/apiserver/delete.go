package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/admission"
	"github.com/berth-dev/berth/internal/registry"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(data) > 0 {
		if err := s.decodeInto(r.Header.Get("Content-Type"), data, metav1.SchemeGroupVersion.WithKind("DeleteOptions"), opts); err != nil {
			return nil, err
		}
	}
	q := r.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badRequest("gracePeriodSeconds: invalid value %q", v)
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if q.Get("dryRun") != "" {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if p := opts.PropagationPolicy; p != nil {
		switch *p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return nil, badRequest("propagationPolicy: Unsupported value: %q: supported values: \"Foreground\", \"Background\", \"Orphan\"", *p)
		}
	}
	if g := opts.GracePeriodSeconds; g != nil && *g < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	return opts, nil
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := s.deleteOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := s.deleteObject(r.Context(), info.res, info.namespace, info.name, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeOutput(w, r, info.res, http.StatusOK, obj)
}

func (s *Server) serveDeleteCollection(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := s.deleteOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	sel, err := parseSelectors(r, info.res, "")
	if err != nil {
		writeError(w, err)
		return
	}
	items, _, err := s.listObjects(r.Context(), info.res, info.namespace, sel)
	if err != nil {
		writeError(w, err)
		return
	}
	var deleted []runtime.Object
	for _, it := range items {
		m, _ := meta.Accessor(it)
		obj, err := s.deleteObject(r.Context(), info.res, m.GetNamespace(), m.GetName(), opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			writeError(w, err)
			return
		}
		deleted = append(deleted, obj)
	}
	list := info.res.NewList()
	_ = meta.SetList(list, deleted)
	list.GetObjectKind().SetGroupVersionKind(info.res.GroupVersion.WithKind(info.res.Kind + "List"))
	s.writeOutput(w, r, info.res, http.StatusOK, list)
}

// deleteObject deletes one object as Kubernetes does: preconditions,
// graceful deletion for pods on a node, finalizers (namespaces and
// metadata.finalizers) that defer removal, and dependents by propagation.
func (s *Server) deleteObject(ctx context.Context, res *registry.Resource, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, error) {
	for attempt := 0; ; attempt++ {
		obj, err := s.deleteOnce(ctx, res, namespace, name, opts)
		if apierrors.IsConflict(err) && opts.Preconditions == nil && attempt < 10 {
			continue
		}
		return obj, err
	}
}

func (s *Server) deleteOnce(ctx context.Context, res *registry.Resource, namespace, name string, opts *metav1.DeleteOptions) (runtime.Object, error) {
	current, err := s.objs.get(ctx, res, namespace, name)
	if err != nil {
		return nil, err
	}
	m, _ := meta.Accessor(current)
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != m.GetUID() {
			return nil, apierrors.NewConflict(res.GVR().GroupResource(), name,
				fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
			return nil, apierrors.NewConflict(res.GVR().GroupResource(), name,
				fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
		}
	}
	dryRun := len(opts.DryRun) > 0
	// Both admission phases see a delete, with the stored object as the
	// old one, as in kube-apiserver (NodeRestriction lets a node delete
	// only pods bound to it).
	attrs := &admission.Attributes{Operation: admission.Delete, Resource: res.GVR(), Kind: res.GVK(),
		Namespace: namespace, Name: name, OldObject: current, DryRun: dryRun}
	if err := s.cfg.Admission.Admit(ctx, attrs); err != nil {
		return nil, err
	}
	if err := s.cfg.Admission.Validate(ctx, attrs); err != nil {
		return nil, err
	}
	rev := revisionOf(current)
	grace := s.gracePeriod(ctx, res, current, opts)
	gcChanged, gcFinalizers := garbageCollectionFinalizers(res, m, opts)
	finalizers := len(gcFinalizers) > 0 || hasNamespaceFinalizers(current)
	if grace > 0 || finalizers {
		updated := current.DeepCopyObject()
		um, _ := meta.Accessor(updated)
		if gcChanged {
			um.SetFinalizers(gcFinalizers)
		}
		now := metav1.NewTime(time.Now())
		if um.GetDeletionTimestamp() == nil {
			ts := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
			um.SetDeletionTimestamp(&ts)
			um.SetDeletionGracePeriodSeconds(&grace)
			// Marking an object for deletion changes what its controllers
			// should do, so Kubernetes bumps a set generation (once).
			if g := um.GetGeneration(); g > 0 {
				um.SetGeneration(g + 1)
			}
		} else if cur := um.GetDeletionGracePeriodSeconds(); cur != nil && grace < *cur {
			// A shorter grace period may replace a longer one, never the reverse.
			ts := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
			um.SetDeletionTimestamp(&ts)
			um.SetDeletionGracePeriodSeconds(&grace)
		} else if (!finalizers || grace == 0) && !gcChanged {
			return current, nil
		}
		if ns, ok := updated.(*corev1.Namespace); ok {
			ns.Status.Phase = corev1.NamespaceTerminating
		}
		if grace == 0 && !finalizers {
			// fall through to removal below
		} else {
			if dryRun {
				return updated, nil
			}
			if equalObjects(updated, current) {
				return current, nil
			}
			return s.objs.update(ctx, res, updated, rev)
		}
	}
	if dryRun {
		return current, nil
	}
	// Dependents are the garbage collector's: it deletes those whose owners
	// are all gone (Background), as Kubernetes does.
	return s.objs.remove(ctx, res, namespace, name, rev)
}

func equalObjects(a, b runtime.Object) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// gracePeriod is the deletion grace in seconds: only pods bound to a node
// that exists and not yet finished get one; everything else goes at once.
func (s *Server) gracePeriod(ctx context.Context, res *registry.Resource, obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return 0
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return 0
	}
	// With no node agent to confirm, waiting would never end.
	nodeRes, _ := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource("nodes"))
	if _, err := s.objs.get(ctx, nodeRes, "", pod.Spec.NodeName); err != nil {
		return 0
	}
	return grace
}
