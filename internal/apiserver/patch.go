package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"sync/atomic"

	"github.com/berth-dev/berth/internal/registry"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/yaml"
)

// Patch limits, as kube-apiserver's: at most maxJSONPatchOperations
// operations in a JSON patch, and "copy" operations that together add at
// most jsonPatchMaxCopyBytes (the CVE-2019-1002100 fix: without it, a
// kilobyte of copies doubling one value grows an object past the memory
// of the machine). A patched object may be no larger than a request body.
const (
	maxJSONPatchOperations = 10000
	jsonPatchMaxCopyBytes  = 3 * 1024 * 1024
	maxPatchedObjectBytes  = maxBodyBytes
)

// setJSONPatchCopyLimit sets the json-patch library's copy limit, a
// package variable, as kube-apiserver does at start-up: lower an unset or
// larger limit, never raise a smaller one.
func setJSONPatchCopyLimit() {
	for {
		cur := atomic.LoadInt64(&jsonpatch.AccumulatedCopySizeLimit)
		if cur > 0 && cur <= jsonPatchMaxCopyBytes {
			return
		}
		if atomic.CompareAndSwapInt64(&jsonpatch.AccumulatedCopySizeLimit, cur, jsonPatchMaxCopyBytes) {
			return
		}
	}
}

// checkPatchedSize refuses a patch whose result is larger than any
// request could have sent.
func checkPatchedSize(res *registry.Resource, name string, size int) error {
	if size > maxPatchedObjectBytes {
		return apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
			"the patched %s %q would be %d bytes; the limit is %d", res.Name, name, size, maxPatchedObjectBytes))
	}
	return nil
}

// applyJSONPatch applies p to doc. The library panics on some malformed
// operations (found by FuzzPatch: "replace" of the root without a value);
// such a patch is refused like any patch that does not apply (422), where
// kube-apiserver would answer 500 from its panic recovery.
func applyJSONPatch(p jsonpatch.Patch, doc []byte) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, fmt.Errorf("the JSON patch cannot be applied: %v", v)
		}
	}()
	return p.Apply(doc)
}

// applyStrategicPatch is strategicpatch.StrategicMergePatch, with a panic
// of the library (a merge key whose value is a list, found by fuzzing)
// answered as the bad patch it is; kube-apiserver answers it with a 500
// from its panic recovery.
func applyStrategicPatch(doc, patch []byte, schema runtime.Object) (out []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, fmt.Errorf("the strategic merge patch cannot be applied: %v", v)
		}
	}()
	return strategicpatch.StrategicMergePatch(doc, patch, schema)
}

func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := parseWriteOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	pt := types.PatchType(mt)
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
	default:
		writeError(w, &statusErr{code: http.StatusUnsupportedMediaType, reason: "UnsupportedMediaType",
			msg: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s, %s",
				types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType)})
		return
	}
	if pt == types.ApplyCBORPatchType {
		writeError(w, &statusErr{code: http.StatusUnsupportedMediaType, reason: "UnsupportedMediaType", msg: "CBOR apply patches are not supported; send application/apply-patch+yaml"})
		return
	}
	patch, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	force := isTrue(r.URL.Query().Get("force"))
	opts.applied = pt == types.ApplyYAMLPatchType
	if pt == types.ApplyYAMLPatchType {
		if r.URL.Query().Get("fieldManager") == "" {
			writeError(w, apierrors.NewBadRequest("PATCH requests with apply content type must have fieldManager set"))
			return
		}
	} else if r.URL.Query().Has("force") {
		writeError(w, apierrors.NewBadRequest("force flag is only supported for apply patches"))
		return
	}
	var create func() (runtime.Object, error)
	if pt == types.ApplyYAMLPatchType && info.subresource == "" {
		// Apply creates what does not exist yet.
		create = func() (runtime.Object, error) {
			empty := info.res.New()
			setTypeMeta(info.res, empty)
			applied, err := s.applyPatch(info, opts, empty, patch, force)
			if err != nil {
				return nil, err
			}
			m, _ := meta.Accessor(applied)
			m.SetName(info.name)
			return applied, nil
		}
	}
	out, created, err := s.updateObject(r.Context(), info, opts, func(current runtime.Object) (runtime.Object, error) {
		if pt == types.ApplyYAMLPatchType {
			return s.applyPatch(info, opts, current, patch, force)
		}
		return s.mergePatch(info.res, pt, current, patch, opts)
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

// mergePatch applies a JSON, merge or strategic merge patch to current,
// which is the caller's copy (its resourceVersion is cleared). The result
// carries a resourceVersion only if the patch set one.
func (s *Server) mergePatch(res *registry.Resource, pt types.PatchType, current runtime.Object, patch []byte, opts *writeOptions) (runtime.Object, error) {
	// The patched result must only carry a resourceVersion if the patch
	// itself asked for one, so drop the current one before encoding (one
	// encoding, where a trip through a generic map took three and rounded
	// integers beyond 2^53).
	if m, err := meta.Accessor(current); err == nil {
		m.SetResourceVersion("")
	}
	cur, err := json.Marshal(current)
	if err != nil {
		return nil, err
	}
	var patched []byte
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf(
				"The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
		}
		patched, err = applyJSONPatch(p, cur)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", res.GVR().GroupResource(), "", err.Error(), 0, false)
		}
	case types.MergePatchType:
		patched, err = jsonpatch.MergePatch(cur, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	case types.StrategicMergePatchType:
		var patchMap map[string]any
		if err := json.Unmarshal(patch, &patchMap); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
		}
		patched, err = applyStrategicPatch(cur, patch, res.New())
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	if err := checkPatchedSize(res, nameOf(current), len(patched)); err != nil {
		return nil, err
	}
	obj, warnings, err := s.decodeObject(res, patched, opts.validation)
	if err != nil {
		return nil, err
	}
	opts.warnings = append(opts.warnings, warnings...)
	return obj, nil
}

// applyPatch runs server-side apply through the field manager.
func (s *Server) applyPatch(info requestInfo, opts *writeOptions, current runtime.Object, patch []byte, force bool) (runtime.Object, error) {
	patchObj := &unstructured.Unstructured{Object: map[string]any{}}
	if err := yaml.Unmarshal(patch, &patchObj.Object); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	if gvk := patchObj.GroupVersionKind(); gvk != info.res.GVK() {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the apply patch has kind %q and apiVersion %q, expected %q and %q",
			gvk.Kind, gvk.GroupVersion(), info.res.Kind, info.res.GroupVersion))
	}
	if patchObj.GetName() != "" && patchObj.GetName() != info.name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", patchObj.GetName(), info.name))
	}
	fm, err := s.fieldManager(info.res, info.subresource)
	if err != nil {
		return nil, err
	}
	out, err := fm.Apply(current, patchObj, opts.manager, force)
	if err != nil {
		return nil, err
	}
	if data, err := json.Marshal(out); err != nil {
		return nil, err
	} else if err := checkPatchedSize(info.res, info.name, len(data)); err != nil {
		return nil, err
	}
	if m, err := meta.Accessor(out); err == nil {
		m.SetResourceVersion("")
		if rv := patchObj.GetResourceVersion(); rv != "" {
			m.SetResourceVersion(rv)
		}
	}
	return out, nil
}

func nameOf(obj runtime.Object) string {
	if m, err := meta.Accessor(obj); err == nil {
		return m.GetName()
	}
	return ""
}

// fieldManagerKey identifies a resource's (or subresource's) field manager.
type fieldManagerKey struct {
	res         *registry.Resource
	subresource string
}

// fieldManager returns the (cached) managed-fields tracker of a resource.
func (s *Server) fieldManager(res *registry.Resource, subresource string) (*managedfields.FieldManager, error) {
	s.fmMu.Lock()
	defer s.fmMu.Unlock()
	key := fieldManagerKey{res, subresource}
	if fm, ok := s.fieldManagers[key]; ok {
		return fm, nil
	}
	if s.typeConverter == nil {
		s.typeConverter = applyconfigurations.NewTypeConverter(s.scheme)
	}
	// As kube-apiserver's installer: the unsafe convertor returns an
	// object already at the hub version as it is instead of a deep copy
	// (the field manager only reads it).
	fm, err := managedfields.NewDefaultFieldManager(s.typeConverter, runtime.UnsafeObjectConvertor(s.scheme), defaulter{res}, s.scheme,
		res.GVK(), res.GroupVersion, subresource, nil)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", res.Name, err)
	}
	s.fieldManagers[key] = fm
	return fm, nil
}

type defaulter struct{ res *registry.Resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.res.Default != nil {
		d.res.Default(obj)
	}
}

// trackManagedFields records a non-apply write in managedFields.
func (s *Server) trackManagedFields(res *registry.Resource, subresource string, live, obj runtime.Object, manager string) runtime.Object {
	fm, err := s.fieldManager(res, subresource)
	if err != nil {
		return obj
	}
	if live == nil {
		live = res.New()
		setTypeMeta(res, live)
	}
	return fm.UpdateNoErrors(live, obj, manager)
}
