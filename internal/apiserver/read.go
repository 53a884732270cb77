package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/registry"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// serveResource dispatches a parsed resource request.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info requestInfo) {
	switch info.subresource {
	case "log", "exec", "attach", "portforward", "proxy":
		s.serveNodeProxy(w, r, info)
		return
	case "scale":
		s.serveScale(w, r, info)
		return
	case "binding":
		if info.verb != "create" {
			writeError(w, methodNotSupported(info.res.GVR().GroupResource(), info.verb))
			return
		}
		s.serveBinding(w, r, info)
		return
	}
	ctx := r.Context()
	switch info.verb {
	case "get":
		obj, err := s.objs.get(ctx, info.res, info.namespace, info.name)
		if err != nil {
			writeError(w, err)
			return
		}
		s.writeOutput(w, r, info.res, http.StatusOK, obj)
	case "list":
		s.serveList(w, r, info)
	case "watch":
		s.serveWatch(w, r, info)
	case "create":
		if info.name != "" || info.subresource != "" {
			writeError(w, methodNotSupported(info.res.GVR().GroupResource(), "create"))
			return
		}
		s.serveCreate(w, r, info)
	case "update":
		s.serveUpdate(w, r, info)
	case "patch":
		s.servePatch(w, r, info)
	case "delete":
		s.serveDelete(w, r, info)
	case "deletecollection":
		s.serveDeleteCollection(w, r, info)
	}
}

// selector is a request's label and field selectors.
type selector struct {
	labels labels.Selector
	fields fields.Selector
}

func (sel selector) matches(res *registry.Resource, obj runtime.Object) bool {
	m, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	if !sel.labels.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if sel.fields.Empty() {
		return true
	}
	return sel.fields.Matches(res.Fields(obj))
}

// parseSelectors validates labelSelector and fieldSelector; a field label
// the resource does not support is a 400, as in Kubernetes.
func parseSelectors(r *http.Request, res *registry.Resource, name string) (selector, error) {
	q := r.URL.Query()
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return selector{}, badRequest("unable to parse requirement: %v", err)
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return selector{}, badRequest("invalid field selector: %v", err)
	}
	supported := res.Fields(res.New())
	for _, req := range fs.Requirements() {
		if _, ok := supported[req.Field]; !ok {
			return selector{}, badRequest("field label not supported: %s", req.Field)
		}
	}
	if name != "" {
		fs = fields.AndSelectors(fs, fields.OneTermEqualSelector("metadata.name", name))
	}
	return selector{labels: ls, fields: fs}, nil
}

func (s *Server) listObjects(ctx context.Context, res *registry.Resource, namespace string, sel selector) ([]runtime.Object, int64, error) {
	items, rev, err := s.objs.list(ctx, res, namespace)
	if err != nil {
		return nil, 0, err
	}
	out := items[:0]
	for _, it := range items {
		if sel.matches(res, it) {
			out = append(out, it)
		}
	}
	return out, rev, nil
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, info requestInfo) {
	sel, err := parseSelectors(r, info.res, "")
	if err != nil {
		writeError(w, err)
		return
	}
	if out, _ := negotiate(r.Header.Get("Accept")); out == outObject && sel.labels.Empty() && sel.fields.Empty() {
		s.serveRawList(w, r, info)
		return
	}
	items, rev, err := s.listObjects(r.Context(), info.res, info.namespace, sel)
	if err != nil {
		writeError(w, err)
		return
	}
	list := info.res.NewList()
	if err := meta.SetList(list, items); err != nil {
		writeError(w, err)
		return
	}
	list.GetObjectKind().SetGroupVersionKind(info.res.GroupVersion.WithKind(info.res.Kind + "List"))
	if lm, err := meta.ListAccessor(list); err == nil {
		lm.SetResourceVersion(itoa(rev))
	}
	s.writeOutput(w, r, info.res, http.StatusOK, list)
}

// serveRawList answers an unfiltered JSON list straight from the stored
// bytes, adding each item's resourceVersion, without decoding: lists are
// the API's heaviest reads (client-go relists, kubectl get).
func (s *Server) serveRawList(w http.ResponseWriter, r *http.Request, info requestInfo) {
	kvs, rev, err := s.cfg.Store.List(r.Context(), listPrefix(info.res, info.namespace))
	if err != nil {
		writeError(w, err)
		return
	}
	var buf bytes.Buffer
	buf.Grow(64 + len(kvs)*2048)
	fmt.Fprintf(&buf, `{"kind":%q,"apiVersion":%q,"metadata":{"resourceVersion":"%d"},"items":[`,
		info.res.Kind+"List", info.res.GroupVersion.String(), rev)
	first := true
	for _, kv := range kvs {
		if info.res.Namespaced && info.namespace == "" && strings.Count(strings.TrimPrefix(kv.Key, resourcePrefix(info.res)), "/") != 1 {
			continue
		}
		i := bytes.Index(kv.Value, metadataOpen)
		if i < 0 || kv.Value[i+len(metadataOpen)] == '}' {
			// Not the shape json.Marshal writes: decode it the slow way.
			obj, err := s.objs.decode(info.res, kv.Value, kv.Revision)
			if err != nil {
				writeError(w, err)
				return
			}
			data, _ := json.Marshal(obj)
			if !first {
				buf.WriteByte(',')
			}
			buf.Write(data)
			first = false
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		i += len(metadataOpen)
		buf.Write(kv.Value[:i])
		fmt.Fprintf(&buf, `"resourceVersion":"%d",`, kv.Revision)
		buf.Write(kv.Value[i:])
	}
	buf.WriteString("]}\n")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

var metadataOpen = []byte(`"metadata":{`)
