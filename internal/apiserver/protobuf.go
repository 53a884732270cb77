package apiserver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/http"

	"google.golang.org/protobuf/encoding/protowire"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
)

// protobufMediaType is Kubernetes' protobuf encoding, which client-go's
// controllers and informers ask for first (kube-controller-manager,
// kube-scheduler and kubelet all do).
const protobufMediaType = "application/vnd.kubernetes.protobuf"

// protobufWatchType is the content type of a protobuf watch stream.
const protobufWatchType = protobufMediaType + ";stream=watch"

// protoMagic starts every protobuf-encoded Kubernetes object: the bytes
// after it are a runtime.Unknown naming the type and holding the object.
var protoMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// protoMarshaler is what the generated k8s.io/api types implement.
type protoMarshaler interface {
	Marshal() ([]byte, error)
}

// hasProtobuf says whether r's objects have a protobuf encoding.
func hasProtobuf(r *registry.Resource) bool {
	if r == nil || r.New == nil || r.NewList == nil {
		return false
	}
	_, obj := r.New().(protoMarshaler)
	_, list := r.NewList().(protoMarshaler)
	return obj && list
}

// protoKey is the memo key of a value's protobuf encoding, without the
// envelope (what a list embeds as an item).
type protoKey struct{ r *registry.Resource }

// protoRaw encodes obj's fields (no envelope).
func protoRaw(obj runtime.Object) ([]byte, error) {
	m, ok := obj.(protoMarshaler)
	if !ok {
		return nil, fmt.Errorf("%T has no protobuf encoding", obj)
	}
	return m.Marshal()
}

// protoEnvelope wraps raw, the encoding of an object of kind in
// apiVersion, as the protobuf serializer does: the magic, then a
// runtime.Unknown.
func protoEnvelope(apiVersion, kind string, raw []byte) ([]byte, error) {
	unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: apiVersion, Kind: kind}, Raw: raw}
	b := make([]byte, len(protoMagic), len(protoMagic)+unk.Size())
	copy(b, protoMagic)
	n, err := unk.MarshalToSizedBuffer(b[len(protoMagic):cap(b)])
	if err != nil {
		return nil, err
	}
	return b[:len(protoMagic)+n], nil
}

// protoObject encodes one object with its envelope.
func (s *Server) protoObject(obj runtime.Object) ([]byte, error) {
	raw, err := protoRaw(obj)
	if err != nil {
		return nil, err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	return protoEnvelope(gvk.GroupVersion().String(), gvk.Kind, raw)
}

// protoItem is a stored value's encoding without envelope, computed once
// per value (shared through the cache's memo).
func (o *objects) protoItem(r *registry.Resource, kv storage.KeyValue) ([]byte, error) {
	v, err := kv.Memo.Get(protoKey{r}, func() (any, error) {
		obj, err := o.shared(r, kv)
		if err != nil {
			return nil, err
		}
		return protoRaw(obj)
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// writeProtoList streams a list assembled from its items' encodings:
// every generated Kubernetes list type is `ListMeta metadata = 1; repeated
// T items = 2`, so the items' memoized bytes are copied, never re-encoded,
// and the sizes the envelope needs are known before the first byte.
func (s *Server) writeProtoList(w http.ResponseWriter, r *registry.Resource, kvs []storage.KeyValue, rev int64) {
	lm := metav1.ListMeta{ResourceVersion: itoa(rev)}
	meta, err := lm.Marshal()
	if err != nil {
		writeError(w, err)
		return
	}
	items := make([][]byte, len(kvs))
	rawLen := protowire.SizeTag(1) + protowire.SizeBytes(len(meta))
	for i, kv := range kvs {
		if items[i], err = s.objs.protoItem(r, kv); err != nil {
			writeError(w, err)
			return
		}
		rawLen += protowire.SizeTag(2) + protowire.SizeBytes(len(items[i]))
	}
	tm := runtime.TypeMeta{APIVersion: r.GroupVersion.String(), Kind: r.Kind + "List"}
	tmBytes, err := tm.Marshal()
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", protobufMediaType)
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, listWriteBuffer)
	// The envelope: the magic, then runtime.Unknown{TypeMeta = 1, Raw = 2}.
	head := append([]byte(nil), protoMagic...)
	head = protowire.AppendTag(head, 1, protowire.BytesType)
	head = protowire.AppendBytes(head, tmBytes)
	head = protowire.AppendTag(head, 2, protowire.BytesType)
	head = protowire.AppendVarint(head, uint64(rawLen))
	head = protowire.AppendTag(head, 1, protowire.BytesType)
	head = protowire.AppendBytes(head, meta)
	if _, err := bw.Write(head); err != nil {
		return
	}
	var tag []byte
	for _, it := range items {
		tag = protowire.AppendTag(tag[:0], 2, protowire.BytesType)
		tag = protowire.AppendVarint(tag, uint64(len(it)))
		if _, err := bw.Write(tag); err != nil {
			return
		}
		if _, err := bw.Write(it); err != nil {
			return
		}
	}
	_ = bw.Flush()
}

// protoWatchFrame is one event of a protobuf watch stream: a 4-byte
// big-endian length, then a metav1.WatchEvent (no envelope) whose object
// is encoded with its envelope, as kube-apiserver's watch handler writes.
func protoWatchFrame(t watch.EventType, object []byte) ([]byte, error) {
	ev := metav1.WatchEvent{Type: string(t), Object: runtime.RawExtension{Raw: object}}
	n := ev.Size()
	b := make([]byte, 4+n)
	binary.BigEndian.PutUint32(b, uint32(n))
	if _, err := ev.MarshalToSizedBuffer(b[4:]); err != nil {
		return nil, err
	}
	return b, nil
}

// protoEventKey is the memo key of an event's protobuf watch frame.
type protoEventKey struct {
	r   *registry.Resource
	t   watch.EventType
	rev int64
}

// writeProtobuf writes an encoded protobuf body.
func writeProtobuf(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", protobufMediaType)
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// isProtoEnveloped reports whether b starts with the protobuf magic (tests).
func isProtoEnveloped(b []byte) bool { return bytes.HasPrefix(b, protoMagic) }
