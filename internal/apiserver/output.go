package apiserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registry/printers"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// outputKind is what the client asked for in Accept.
type outputKind int

const (
	outObject outputKind = iota
	outTable
	outPartialMetadata
	// outProtobuf: the object (or list, or watch events) as Kubernetes
	// protobuf, for resources whose types have a protobuf encoding.
	outProtobuf
)

// negotiate reads Accept the way kubectl and client-go write it: a list of
// media types with parameters; the first one we serve wins. Protobuf is
// served for objects of resources whose type has a protobuf encoding
// (proto); Tables and partial metadata are JSON only, so clients that also
// accept JSON get JSON.
func negotiate(accept string, proto bool) (outputKind, error) {
	if accept == "" {
		return outObject, nil
	}
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		mt := strings.TrimSpace(fields[0])
		params := map[string]string{}
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(strings.TrimSpace(f), "="); ok {
				params[k] = v
			}
		}
		if mt == protobufMediaType && proto && params["as"] == "" {
			return outProtobuf, nil
		}
		if mt != "application/json" && mt != "*/*" && mt != "application/*" {
			continue
		}
		switch params["as"] {
		case "":
			return outObject, nil
		case "Table":
			if params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
				return outTable, nil
			}
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			if params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1") {
				return outPartialMetadata, nil
			}
		}
	}
	return outObject, &statusErr{code: http.StatusNotAcceptable, reason: "NotAcceptable",
		msg: "only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io"}
}

// toTable renders obj (one object or a list) as a Table with the
// Kubernetes columns, attaching each row's object per includeObject
// (None, Metadata — the default — or Object).
func toTable(r *registry.Resource, obj runtime.Object, includeObject string) (*metav1.Table, error) {
	t, err := printers.Convert(obj, time.Now())
	if err != nil {
		return nil, err
	}
	t.TypeMeta = metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}
	items := []runtime.Object{obj}
	if meta.IsListType(obj) {
		items, _ = meta.ExtractList(obj)
		if lm, err := meta.ListAccessor(obj); err == nil {
			t.ResourceVersion = lm.GetResourceVersion()
			t.Continue = lm.GetContinue()
		}
	}
	for i := range t.Rows {
		if i >= len(items) {
			break
		}
		switch includeObject {
		case "None":
		case "Object":
			t.Rows[i].Object = runtime.RawExtension{Object: items[i]}
		default:
			t.Rows[i].Object = runtime.RawExtension{Object: partialMetadata(r, items[i])}
		}
	}
	return t, nil
}

func partialMetadata(r *registry.Resource, obj runtime.Object) *metav1.PartialObjectMetadata {
	pm := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}}
	// Typed objects give their whole ObjectMeta (owner references,
	// finalizers and deletion timestamp included: the garbage collector
	// reads them here).
	if oma, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := oma.GetObjectMeta().(*metav1.ObjectMeta); ok {
			pm.ObjectMeta = *om
			return pm
		}
	}
	if acc, err := meta.Accessor(obj); err == nil {
		pm.ObjectMeta = metav1.ObjectMeta{Name: acc.GetName(), Namespace: acc.GetNamespace(), UID: acc.GetUID(),
			ResourceVersion: acc.GetResourceVersion(), Labels: acc.GetLabels(), Annotations: acc.GetAnnotations(),
			CreationTimestamp: acc.GetCreationTimestamp()}
	}
	return pm
}

// writeOutput encodes obj as the client asked.
func (s *Server) writeOutput(w http.ResponseWriter, req *http.Request, r *registry.Resource, code int, obj runtime.Object) {
	kind, err := negotiate(req.Header.Get("Accept"), hasProtobuf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	switch kind {
	case outProtobuf:
		body, err := s.protoObject(obj)
		if err != nil {
			writeError(w, err)
			return
		}
		writeProtobuf(w, code, body)
	case outTable:
		t, err := toTable(r, obj, req.URL.Query().Get("includeObject"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, code, t)
	case outPartialMetadata:
		if meta.IsListType(obj) {
			items, _ := meta.ExtractList(obj)
			list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"}}
			if lm, err := meta.ListAccessor(obj); err == nil {
				list.ResourceVersion = lm.GetResourceVersion()
			}
			for _, it := range items {
				list.Items = append(list.Items, *partialMetadata(r, it))
			}
			writeJSON(w, code, list)
			return
		}
		writeJSON(w, code, partialMetadata(r, obj))
	default:
		writeJSON(w, code, obj)
	}
}
