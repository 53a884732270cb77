package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	"github.com/berth-dev/berth/internal/registry"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var scaleGK = schema.GroupKind{Group: "autoscaling", Kind: "Scale"}

// serveScale answers the scale subresource (autoscaling/v1 Scale) of
// Deployments, ReplicaSets and StatefulSets, as kubectl scale and
// autoscalers use it: reads show the parent's replicas and selector;
// writes change only the parent's spec.replicas, through the parent's
// update path (so its generation moves and its validation runs).
func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, info requestInfo) {
	ctx := r.Context()
	switch info.verb {
	case "get":
		obj, err := s.objs.get(ctx, info.res, info.namespace, info.name)
		if err != nil {
			writeError(w, err)
			return
		}
		sc, err := registry.Scale(obj)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, sc)
		return
	case "update", "patch":
	default:
		writeError(w, methodNotSupported(info.res.GVR().GroupResource(), info.verb))
		return
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	ct := r.Header.Get("Content-Type")
	if info.verb == "update" {
		if body, err = toJSON(ct, body); err != nil {
			writeError(w, cannotHandle(info.res, err))
			return
		}
	}
	pt, _, _ := mime.ParseMediaType(ct)
	parent := info
	parent.subresource = ""
	var result *autoscalingv1.Scale
	_, _, err = s.updateObject(ctx, parent, opts, func(current runtime.Object) (runtime.Object, error) {
		cur, err := registry.Scale(current)
		if err != nil {
			return nil, err
		}
		want, err := scaleRequest(info, types.PatchType(pt), cur, body)
		if err != nil {
			return nil, err
		}
		if want.Name != "" && want.Name != info.name {
			return nil, badRequest("the name of the object (%s) does not match the name on the URL (%s)", want.Name, info.name)
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGK, info.name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
		}
		if err := registry.SetScale(current, want.Spec.Replicas); err != nil {
			return nil, err
		}
		m, _ := meta.Accessor(current)
		// A resourceVersion in the Scale is a precondition on the parent.
		m.SetResourceVersion(want.ResourceVersion)
		return current, nil
	}, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := s.objs.get(ctx, info.res, info.namespace, info.name)
	if err == nil {
		result, err = registry.Scale(obj)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeWarnings(w, opts.warnings)
	writeJSON(w, http.StatusOK, result)
}

// scaleRequest is the Scale a PUT sends or a PATCH makes of cur.
func scaleRequest(info requestInfo, pt types.PatchType, cur *autoscalingv1.Scale, body []byte) (*autoscalingv1.Scale, error) {
	out := &autoscalingv1.Scale{}
	if info.verb == "update" {
		if err := json.Unmarshal(body, out); err != nil {
			return nil, badRequest("decoding Scale: %v", err)
		}
		return out, nil
	}
	curJSON, _ := json.Marshal(cur)
	var patched []byte
	var err error
	switch pt {
	case types.JSONPatchType:
		p, perr := jsonpatch.DecodePatch(body)
		if perr != nil {
			return nil, apierrors.NewBadRequest(perr.Error())
		}
		patched, err = applyJSONPatch(p, curJSON)
	case types.MergePatchType:
		patched, err = jsonpatch.MergePatch(curJSON, body)
	case types.StrategicMergePatchType:
		patched, err = applyStrategicPatch(curJSON, body, &autoscalingv1.Scale{})
	default:
		return nil, &statusErr{code: http.StatusUnsupportedMediaType, reason: "UnsupportedMediaType",
			msg: fmt.Sprintf("the scale subresource accepts %s, %s and %s patches", types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType)}
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, badRequest("decoding the patched Scale: %v", err)
	}
	// A patch keeps the current resourceVersion only if it set one.
	if out.ResourceVersion == cur.ResourceVersion {
		out.ResourceVersion = ""
	}
	return out, nil
}
