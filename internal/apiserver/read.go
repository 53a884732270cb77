package apiserver

import (
	"bufio"
	"context"
	"fmt"
	"net/http"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
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
	switch info.verb {
	case "get":
		s.serveGet(w, r, info)
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
	sel, err := newSelector(res, q.Get("labelSelector"), q.Get("fieldSelector"))
	if err != nil {
		return selector{}, err
	}
	if name != "" {
		sel.fields = fields.AndSelectors(sel.fields, fields.OneTermEqualSelector("metadata.name", name))
	}
	return sel, nil
}

// newSelector parses a label and a field selector for res's objects.
func newSelector(res *registry.Resource, labelSelector, fieldSelector string) (selector, error) {
	ls, err := labels.Parse(labelSelector)
	if err != nil {
		return selector{}, badRequest("unable to parse requirement: %v", err)
	}
	fs, err := fields.ParseSelector(fieldSelector)
	if err != nil {
		return selector{}, badRequest("invalid field selector: %v", err)
	}
	supported := res.Fields(res.New())
	for _, req := range fs.Requirements() {
		if _, ok := supported[req.Field]; !ok {
			return selector{}, badRequest("field label not supported: %s", req.Field)
		}
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

// serveGet answers a get at the resourceVersion asked for. JSON is
// written from the stored bytes, without decoding; other outputs decode
// once per stored value (shared through the cache's memo).
func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, info requestInfo) {
	minRev, err := readRevision(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := negotiate(r.Header.Get("Accept"), hasProtobuf(info.res))
	if err != nil {
		writeError(w, err)
		return
	}
	kv, err := s.objs.getKV(r.Context(), info.res, info.namespace, info.name, minRev)
	if err != nil {
		writeError(w, err)
		return
	}
	if out == outProtobuf {
		raw, err := s.objs.protoItem(info.res, kv)
		var body []byte
		if err == nil {
			body, err = protoEnvelope(info.res.GroupVersion.String(), info.res.Kind, raw)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		writeProtobuf(w, http.StatusOK, body)
		return
	}
	if out == outObject {
		body, err := s.objs.appendObjectJSON(make([]byte, 0, len(kv.Value)+64), info.res, kv, kv.Revision)
		if err != nil {
			writeError(w, err)
			return
		}
		writeRawJSON(w, http.StatusOK, append(body, '\n'))
		return
	}
	obj, err := s.objs.shared(info.res, kv)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeOutput(w, r, info.res, http.StatusOK, obj)
}

// selectKVs reads the stored values a list or watch wants: at minRev,
// filtered by the selector (decoding each value once, shared).
func (s *Server) selectKVs(ctx context.Context, res *registry.Resource, namespace string, sel selector, minRev int64) ([]storage.KeyValue, int64, error) {
	kvs, rev, err := s.objs.listKVs(ctx, res, namespace, minRev)
	if err != nil {
		return nil, 0, err
	}
	if sel.labels.Empty() && sel.fields.Empty() {
		return kvs, rev, nil
	}
	out := kvs[:0:0]
	for _, kv := range kvs {
		obj, err := s.objs.shared(res, kv)
		if err != nil {
			return nil, 0, err
		}
		if sel.matches(res, obj) {
			out = append(out, kv)
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
	minRev, err := readRevision(r.URL.Query())
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := negotiate(r.Header.Get("Accept"), hasProtobuf(info.res))
	if err != nil {
		writeError(w, err)
		return
	}
	kvs, rev, err := s.selectKVs(r.Context(), info.res, info.namespace, sel, minRev)
	if err != nil {
		writeError(w, err)
		return
	}
	switch out {
	case outObject:
		s.writeRawList(w, info, kvs, rev)
		return
	case outProtobuf:
		s.writeProtoList(w, info.res, kvs, rev)
		return
	}
	items := make([]runtime.Object, 0, len(kvs))
	for _, kv := range kvs {
		obj, err := s.objs.shared(info.res, kv)
		if err != nil {
			writeError(w, err)
			return
		}
		items = append(items, obj)
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

// writeRawList answers a JSON list straight from the stored bytes, adding
// each item's resourceVersion, without decoding: lists are the API's
// heaviest reads (client-go relists, kubectl get). It streams through a
// small buffer rather than building the whole answer.
func (s *Server) writeRawList(w http.ResponseWriter, info requestInfo, kvs []storage.KeyValue, rev int64) {
	// Items that are not in the stored shape are encoded before the
	// answer starts, so that an error can still be answered.
	for _, kv := range kvs {
		if metadataFields(kv.Value) < 0 {
			if _, err := s.objs.appendObjectJSON(nil, info.res, kv, kv.Revision); err != nil {
				writeError(w, err)
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, listWriteBuffer)
	buf := make([]byte, 0, 8192)
	buf = fmt.Appendf(buf, `{"kind":%q,"apiVersion":%q,"metadata":{"resourceVersion":"%d"},"items":[`,
		info.res.Kind+"List", info.res.GroupVersion.String(), rev)
	for i, kv := range kvs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf, _ = s.objs.appendObjectJSON(buf, info.res, kv, kv.Revision)
		if _, err := bw.Write(buf); err != nil {
			return // the client went away
		}
		buf = buf[:0]
	}
	buf = append(buf, "]}\n"...)
	_, _ = bw.Write(buf)
	_ = bw.Flush()
}

// listWriteBuffer is how much of a list is written at a time.
const listWriteBuffer = 64 << 10
