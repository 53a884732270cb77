package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// The client floor: the same client-go workload against a stub API server
// that does no work at all — every answer is bytes encoded before the
// first request (berth's own answers, decoded once and re-encoded), over
// the same TLS and HTTP/2. What remains is the benchmark client's CPU
// (encoding, decoding, TLS) and the wire at both ends, on the same two
// cores: a time no API server can go below, so the part of each row that
// is the server's own is the row minus this floor.

// stubFiles are what the benchmark hands the stub process: berth's
// answers for the pods and a configmap, and the certificates.
type stubFiles struct {
	pods, configMap string // JSON: an array of pods; one configmap
}

func newStubFiles(dir string) stubFiles {
	return stubFiles{pods: filepath.Join(dir, "pods.json"), configMap: filepath.Join(dir, "configmap.json")}
}

// benchStub starts the stub as a child process (this benchmark's binary
// with -stub-serve) on berth's answers, runs the workload against it and
// stops it.
func benchStub(ctx context.Context, cfg config, dir, label string, podJSON [][]byte, configMapJSON []byte) (*apiResult, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files := newStubFiles(dir)
	certs, err := writeKubeCerts(dir)
	if err != nil {
		return nil, fmt.Errorf("writing certificates: %w", err)
	}
	pods := make([]json.RawMessage, len(podJSON))
	for i, p := range podJSON {
		pods[i] = p
	}
	data, err := json.Marshal(pods)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(files.pods, data, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(files.configMap, configMapJSON, 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	benchkit.Progress("%s: starting the stub API server on %s", label, addr)
	child, err := benchkit.StartChild(filepath.Join(dir, "stub.log"), syscall.SIGTERM, exe,
		"-stub-serve", addr, "-stub-dir", dir, "-stub-cert", certs.serverCert, "-stub-key", certs.serverKey)
	if err != nil {
		return nil, fmt.Errorf("starting the stub: %w", err)
	}
	defer stopChild(label, child)
	host := "https://" + addr
	if err := waitReady(ctx, host, certs, child); err != nil {
		return nil, fmt.Errorf("stub: %w", err)
	}
	rc, err := restConfigFor(dir, host, certs)
	if err != nil {
		return nil, err
	}
	noProfile := cfg
	noProfile.profileDir = ""
	return runWorkload(ctx, label, noProfile, rc, 0)
}

// serveStub is the stub process: it serves until SIGTERM.
func serveStub(addr, dir, cert, key string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	files := newStubFiles(dir)
	s, err := newStub(files)
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2", "http/1.1"}}}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		// Watches never end by themselves: close, do not drain.
		return srv.Close()
	}
}

// stub answers the workload's requests from pre-encoded bytes.
type stub struct {
	pods                              []*corev1.Pod
	podJSON, podProto                 [][]byte
	listJSON, listProto               []byte
	selectorJSON, selectorProto       []byte
	firstJSON, firstProto             []byte // a list with limit 1
	configMapJSON, configMapProto     []byte
	namespaceJSON, serviceAccountJSON []byte
	proto                             runtime.Encoder
	creates                           atomic.Int64
	rev                               atomic.Int64
	mu                                sync.Mutex
	watchers                          map[chan []byte]struct{}
}

func newStub(files stubFiles) (*stub, error) {
	s := &stub{proto: protobuf.NewSerializer(scheme.Scheme, scheme.Scheme), watchers: map[chan []byte]struct{}{}}
	data, err := os.ReadFile(files.pods)
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	if err := json.Unmarshal(data, &pods); err != nil {
		return nil, fmt.Errorf("reading berth's pods: %w", err)
	}
	if len(pods) == 0 {
		return nil, errors.New("no pods to serve")
	}
	var last int64
	for _, p := range pods {
		p.APIVersion, p.Kind = "v1", "Pod"
		if rv, _ := strconv.ParseInt(p.ResourceVersion, 10, 64); rv > last {
			last = rv
		}
		j, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		pb, err := s.encodeProto(p)
		if err != nil {
			return nil, err
		}
		s.pods, s.podJSON, s.podProto = append(s.pods, p), append(s.podJSON, j), append(s.podProto, pb)
	}
	s.rev.Store(last)
	list := func(items []*corev1.Pod) (j, pb []byte, err error) {
		l := &corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}, ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(last, 10)}}
		for _, p := range items {
			l.Items = append(l.Items, *p)
		}
		if j, err = json.Marshal(l); err != nil {
			return nil, nil, err
		}
		pb, err = s.encodeProto(l)
		return j, pb, err
	}
	if s.listJSON, s.listProto, err = list(pods); err != nil {
		return nil, err
	}
	var selected []*corev1.Pod
	k, v, _ := strings.Cut(selectorLabel, "=")
	for _, p := range pods {
		if p.Labels[k] == v {
			selected = append(selected, p)
		}
	}
	if s.selectorJSON, s.selectorProto, err = list(selected); err != nil {
		return nil, err
	}
	if s.firstJSON, s.firstProto, err = list(pods[:1]); err != nil {
		return nil, err
	}
	var cm corev1.ConfigMap
	if data, err = os.ReadFile(files.configMap); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &cm); err != nil {
		return nil, fmt.Errorf("reading berth's configmap: %w", err)
	}
	cm.APIVersion, cm.Kind = "v1", "ConfigMap"
	if s.configMapJSON, err = json.Marshal(&cm); err != nil {
		return nil, err
	}
	if s.configMapProto, err = s.encodeProto(&cm); err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: namespace, ResourceVersion: "1"}}
	if s.namespaceJSON, err = json.Marshal(ns); err != nil {
		return nil, err
	}
	sa := &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: namespace, ResourceVersion: "1"}}
	if s.serviceAccountJSON, err = json.Marshal(sa); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *stub) encodeProto(obj runtime.Object) ([]byte, error) {
	var b strings.Builder
	if err := s.proto.Encode(obj, &b); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// ServeHTTP routes the few paths the workload uses; anything else is 404.
func (s *stub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body) // a server reads the body, whatever it does with it
	if err != nil {
		return
	}
	proto := strings.HasPrefix(r.Header.Get("Accept"), protobufType)
	answer := func(code int, j, pb []byte) {
		if proto {
			w.Header().Set("Content-Type", protobufType)
			w.WriteHeader(code)
			_, _ = w.Write(pb)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(j)
	}
	nsPath := "/api/v1/namespaces/" + namespace + "/"
	path := r.URL.Path
	switch {
	case path == "/readyz":
		_, _ = io.WriteString(w, "ok")
	case path == "/api/v1/namespaces" && r.Method == http.MethodPost:
		answer(http.StatusCreated, s.namespaceJSON, nil)
	case path == nsPath+"serviceaccounts/default":
		answer(http.StatusOK, s.serviceAccountJSON, nil)
	case path == nsPath+"configmaps" && r.Method == http.MethodPost:
		answer(http.StatusCreated, s.configMapJSON, s.configMapProto)
	case path == nsPath+"pods" && r.Method == http.MethodPost:
		i := int(s.creates.Add(1)-1) % len(s.pods)
		answer(http.StatusCreated, s.podJSON[i], s.podProto[i])
	case path == nsPath+"pods" && r.URL.Query().Get("watch") == "true":
		s.watch(w, r)
	case path == nsPath+"pods":
		q := r.URL.Query()
		switch {
		case q.Get("labelSelector") != "":
			answer(http.StatusOK, s.selectorJSON, s.selectorProto)
		case q.Get("limit") == "1":
			answer(http.StatusOK, s.firstJSON, s.firstProto)
		default:
			answer(http.StatusOK, s.listJSON, s.listProto)
		}
	case strings.HasPrefix(path, nsPath+"pods/"):
		i := s.podIndex(strings.TrimPrefix(path, nsPath+"pods/"))
		if i < 0 {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodPatch {
			s.patched(w, i, body)
			return
		}
		answer(http.StatusOK, s.podJSON[i], s.podProto[i])
	default:
		http.NotFound(w, r)
	}
}

func (s *stub) podIndex(name string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "web-"))
	if err != nil || n < 0 || n >= len(s.pods) {
		return -1
	}
	return n
}

// watch streams the frames patched sends, as protobuf watch events.
func (s *stub) watch(w http.ResponseWriter, r *http.Request) {
	frames := make(chan []byte, 64)
	s.mu.Lock()
	s.watchers[frames] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers, frames)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", protobufType+";stream=watch")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case f := <-frames:
			if _, err := w.Write(f); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// patched answers the watch fan-out's annotation patch: the pod with the
// patch's annotation, encoded once and sent to every watcher.
func (s *stub) patched(w http.ResponseWriter, i int, patch []byte) {
	var mp struct {
		Metadata struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(patch, &mp); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p := s.pods[i].DeepCopy()
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	for k, v := range mp.Metadata.Annotations {
		p.Annotations[k] = v
	}
	rev := s.rev.Add(1)
	p.ResourceVersion = strconv.FormatInt(rev, 10)
	obj, err := s.encodeProto(p)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ev := metav1.WatchEvent{Type: "MODIFIED", Object: runtime.RawExtension{Raw: obj}}
	frame := make([]byte, 4+ev.Size())
	binary.BigEndian.PutUint32(frame, uint32(ev.Size()))
	if _, err := ev.MarshalToSizedBuffer(frame[4:]); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	for c := range s.watchers {
		select {
		case c <- frame:
		default: // a watcher 64 events behind: the workload would fail, as it should
		}
	}
	s.mu.Unlock()
	j, err := json.Marshal(p)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(j)
}
