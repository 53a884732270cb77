package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/httpstream/wsstream"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
)

// serveNodeProxy answers pods/log, exec, attach and portforward the way
// kube-apiserver does: it checks the request against the pod, finds the
// pod's node and that node's kubelet endpoint (an InternalIP and
// status.daemonEndpoints.kubeletEndpoint.port), and proxies to the
// kubelet's path there over HTTPS with the KubeletClientTLS credentials.
// Logs are a plain streaming proxy; exec, attach and port-forward proxy
// the upgraded (SPDY or WebSocket) connection. pods/proxy, services/proxy
// and nodes/proxy are not served.
func (s *Server) serveNodeProxy(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if info.res.Name == "nodes" && info.subresource == "proxy" && s.cfg.KubeletClientTLS != nil {
		s.serveNodesProxy(w, r, info)
		return
	}
	if info.res.GroupVersion.Group != "" || info.res.Name != "pods" || info.subresource == "proxy" {
		writeError(w, &statusErr{code: http.StatusServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable,
			msg: info.res.Name + "/" + info.subresource + " is not served by berth"})
		return
	}
	if s.cfg.KubeletClientTLS == nil {
		writeError(w, &statusErr{code: http.StatusServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable,
			msg: "pods/" + info.subresource + " is served by the node agent, and no node agent endpoint is connected to this API server"})
		return
	}
	gr := schema.GroupResource{Resource: "pods/" + info.subresource}
	switch {
	case r.Method == http.MethodGet:
	case r.Method == http.MethodPost && info.subresource != "log":
	default:
		writeError(w, methodNotSupported(gr, strings.ToLower(r.Method)))
		return
	}
	q := r.URL.Query()
	params := url.Values{}
	if info.subresource == "log" {
		// Options are checked before the pod is read, as in Kubernetes.
		if err := logParams(q, info.name, params); err != nil {
			writeError(w, err)
			return
		}
	}
	obj, err := s.objs.get(r.Context(), info.res, info.namespace, info.name)
	if err != nil {
		writeError(w, err)
		return
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		writeError(w, fmt.Errorf("pods/%s: stored object is a %T, not a Pod", info.subresource, obj))
		return
	}
	var path string
	switch info.subresource {
	case "log":
		container, err := logContainerName(pod, q.Get("container"))
		if err != nil {
			writeError(w, err)
			return
		}
		if pod.Spec.NodeName == "" {
			// Kubernetes answers an empty log for a pod not yet on a node.
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusOK)
			return
		}
		path = fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, container)
	case "exec", "attach":
		container, err := streamContainerName(pod, q.Get("container"))
		if err != nil {
			writeError(w, err)
			return
		}
		streamParams(q, info.subresource == "exec", params)
		path = fmt.Sprintf("/%s/%s/%s/%s", info.subresource, pod.Namespace, pod.Name, container)
	case "portforward":
		if ports := q["ports"]; len(ports) > 0 {
			params.Set("port", strings.Join(ports, ","))
		}
		path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
	}
	if pod.Spec.NodeName == "" {
		writeError(w, badRequest("pod %s does not have a host assigned", pod.Name))
		return
	}
	host, err := s.kubeletHost(r, pod.Spec.NodeName)
	if err != nil {
		writeError(w, err)
		return
	}
	loc := &url.URL{Scheme: "https", Host: host, Path: path, RawQuery: params.Encode()}
	if info.subresource == "log" {
		s.proxyLog(w, r, loc, pod.Name)
		return
	}
	s.proxyUpgrade(w, r, loc)
}

// logParams checks PodLogOptions as Kubernetes does and sets the
// kubelet's query parameters.
func logParams(q url.Values, podName string, params url.Values) error {
	var errs field.ErrorList
	for _, name := range []string{"follow", "previous", "timestamps"} {
		if queryBool(q, name) {
			params.Set(name, "true")
		}
	}
	for _, name := range []string{"tailLines", "limitBytes", "sinceSeconds"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return badRequest("%s: invalid value %q: %v", name, v, err)
		}
		switch {
		case name == "tailLines" && n < 0:
			errs = append(errs, field.Invalid(field.NewPath(name), n, "must be greater than or equal to 0"))
		case name != "tailLines" && n < 1:
			errs = append(errs, field.Invalid(field.NewPath(name), n, "must be greater than 0"))
		}
		params.Set(name, v)
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return badRequest("sinceTime: invalid value %q: %v", v, err)
		}
		if q.Get("sinceSeconds") != "" {
			errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
		}
		params.Set("sinceTime", t.Format(time.RFC3339))
	}
	if v := q.Get("stream"); v != "" {
		if v != "All" && v != "Stdout" && v != "Stderr" {
			errs = append(errs, field.NotSupported(field.NewPath("stream"), v, []string{"All", "Stderr", "Stdout"}))
		}
		params.Set("stream", v)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, podName, errs)
	}
	return nil
}

// streamParams turns PodExecOptions / PodAttachOptions into the
// kubelet's parameters. stdout and stderr are always on: Kubernetes' v1
// defaulting sets them after reading the query, and the kubelet drops
// stderr when there is a terminal.
func streamParams(q url.Values, exec bool, params url.Values) {
	if queryBool(q, "stdin") {
		params.Set("input", "1")
	}
	params.Set("output", "1")
	params.Set("error", "1")
	if queryBool(q, "tty") {
		params.Set("tty", "1")
	}
	if exec {
		for _, c := range q["command"] {
			params.Add("command", c)
		}
	}
}

// queryBool reads a boolean query parameter as Kubernetes converts one:
// present and not "false" or "0" is true.
func queryBool(q url.Values, key string) bool {
	v, ok := q[key]
	if !ok || len(v) == 0 {
		return false
	}
	return !strings.EqualFold(v[0], "false") && v[0] != "0"
}

// logContainerName validates or defaults the container of pods/log.
func logContainerName(pod *corev1.Pod, name string) (string, error) {
	if name != "" {
		if !hasContainer(pod, name) {
			return "", badRequest("container %s is not valid for pod %s", name, pod.Name)
		}
		return name, nil
	}
	switch len(pod.Spec.Containers) {
	case 1:
		return pod.Spec.Containers[0].Name, nil
	case 0:
		return "", badRequest("a container name must be specified for pod %s", pod.Name)
	}
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	return "", badRequest("a container name must be specified for pod %s, choose one of: %s", pod.Name, names)
}

// streamContainerName validates or defaults the container of pods/exec
// and pods/attach.
func streamContainerName(pod *corev1.Pod, name string) (string, error) {
	if name != "" {
		if !hasContainer(pod, name) {
			return "", badRequest("container %s is not valid for pod %s", name, pod.Name)
		}
		return name, nil
	}
	switch len(pod.Spec.Containers) {
	case 1:
		return pod.Spec.Containers[0].Name, nil
	case 0:
		return "", badRequest("a container name must be specified for pod %s", pod.Name)
	}
	names := func(cs []corev1.Container) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name)
		}
		return strings.Join(out, " ")
	}
	msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, names(pod.Spec.Containers))
	if len(pod.Spec.InitContainers) > 0 {
		msg += fmt.Sprintf(" or one of the init containers: [%s]", names(pod.Spec.InitContainers))
	}
	return "", badRequest("%s", msg)
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// kubeletHost is the host:port of a node's kubelet endpoint: its
// InternalIP (else another address) and the port it publishes.
func (s *Server) kubeletHost(r *http.Request, nodeName string) (string, error) {
	nodes, ok := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource("nodes"))
	if !ok {
		return "", errors.New("nodes are not served")
	}
	obj, err := s.objs.get(r.Context(), nodes, "", nodeName)
	if err != nil {
		return "", err
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return "", fmt.Errorf("stored node %s is a %T, not a Node", nodeName, obj)
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 {
		return "", &statusErr{code: http.StatusServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable,
			msg: fmt.Sprintf("node %q publishes no kubelet endpoint (status.daemonEndpoints.kubeletEndpoint.port is %d): its agent serves no logs, exec or port-forward", nodeName, port)}
	}
	var addr string
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeInternalDNS, corev1.NodeHostName} {
		for _, a := range node.Status.Addresses {
			if a.Type == want && a.Address != "" && addr == "" {
				addr = a.Address
			}
		}
	}
	if addr == "" {
		return "", &statusErr{code: http.StatusServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable,
			msg: fmt.Sprintf("node %q has no address to reach its kubelet endpoint at (status.addresses is empty)", nodeName)}
	}
	return net.JoinHostPort(addr, strconv.Itoa(int(port))), nil
}

// kubeletTransport connects to kubelet endpoints. Each request gets its
// own connection (no keep-alive): logs and streams are long-lived, and no
// idle connections are left behind.
func (s *Server) kubeletTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       s.cfg.KubeletClientTLS.Clone(),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
		DisableKeepAlives:     true,
	}
}

// backendError is a failure to reach the kubelet, worded as Kubernetes
// words errors that are not API errors.
func backendError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	return &statusErr{code: http.StatusInternalServerError, reason: metav1.StatusReasonUnknown, msg: err.Error()}
}

// proxyLog streams the kubelet's log response, flushing as data arrives
// so that -f shows lines as they are written.
func (s *Server) proxyLog(w http.ResponseWriter, r *http.Request, loc *url.URL, podName string) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, loc.String(), nil)
	if err != nil {
		writeError(w, err)
		return
	}
	client := &http.Client{Transport: s.kubeletTransport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		writeError(w, backendError(err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		writeError(w, kubeletError(resp, podName))
		return
	}
	if wsstream.IsWebSocketRequest(r) {
		// As kube-apiserver streams pods/log to a WebSocket client: the
		// body in binary (binary.k8s.io, or no subprotocol) or base64
		// (base64.binary.k8s.io) messages, with pings.
		rd := wsstream.NewReaderWithLogger(proxyLogger(s.log), &dataThenErr{r: resp.Body}, true, wsstream.NewDefaultReaderProtocols())
		if err := rd.Copy(w, r); err != nil && r.Context().Err() == nil {
			s.log.Debug("log stream over WebSocket ended", "pod", podName, "err", err)
		}
		return
	}
	// Logs are text/plain; nodes/proxy passes the kubelet's type on
	// (/pods is JSON).
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) && r.Context().Err() == nil {
				s.log.Debug("log stream from the kubelet ended", "pod", podName, "err", rerr)
			}
			return
		}
	}
}

// kubeletError turns a kubelet's error response into an API error. The
// kubelet answers plain text; a metav1.Status passes through unchanged.
func kubeletError(resp *http.Response, podName string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = fmt.Sprintf("the kubelet answered %s for pod %s", resp.Status, podName)
	}
	switch resp.StatusCode {
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(errors.New(msg))
	case http.StatusNotFound:
		return &statusErr{code: resp.StatusCode, reason: metav1.StatusReasonNotFound, msg: msg}
	case http.StatusUnprocessableEntity:
		return &statusErr{code: resp.StatusCode, reason: metav1.StatusReasonInvalid, msg: msg}
	case http.StatusForbidden:
		return &statusErr{code: resp.StatusCode, reason: metav1.StatusReasonForbidden, msg: msg}
	case http.StatusUnauthorized:
		return &statusErr{code: resp.StatusCode, reason: metav1.StatusReasonUnauthorized, msg: msg}
	}
	return &statusErr{code: resp.StatusCode, reason: metav1.StatusReasonUnknown, msg: msg}
}

// proxyUpgrade proxies exec, attach and port-forward. Only upgrade
// requests are served; a kubelet's refusal to upgrade (say a WebSocket
// subprotocol its runtime does not speak) reaches the client as it was
// sent, which is an upgrade failure to the client: kubectl then falls
// back from WebSocket to SPDY.
func (s *Server) proxyUpgrade(w http.ResponseWriter, r *http.Request, loc *url.URL) {
	h := proxy.NewUpgradeAwareHandler(loc, s.kubeletTransport(), false, true, upgradeResponder{})
	ctx := klog.NewContext(r.Context(), proxyLogger(s.log))
	out := r.Clone(ctx)
	// The caller's credentials are for this server, not the node's.
	out.Header.Del("Authorization")
	for k := range out.Header {
		if strings.HasPrefix(k, "Impersonate-") {
			out.Header.Del(k)
		}
	}
	h.ServeHTTP(w, out)
}

// upgradeResponder answers errors that happen before the upgrade.
type upgradeResponder struct{}

func (upgradeResponder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	writeError(w, backendError(err))
}

// proxyLogger is the klog logger the upgrade proxy reports through: the
// server's log, at debug level, because what the proxy calls errors are
// clients and runtimes hanging up, which is how streams end.
func proxyLogger(log *slog.Logger) logr.Logger {
	return logr.FromSlogHandler(debugHandler{log.Handler()})
}

// debugHandler logs every record at debug level or below.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, min(l, slog.LevelDebug))
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = min(r.Level, slog.LevelDebug)
	return h.Handler.Handle(ctx, r)
}

func (h debugHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return debugHandler{h.Handler.WithAttrs(as)}
}
func (h debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h.Handler.WithGroup(name)}
}

// serveNodesProxy answers GET nodes/NAME/proxy/PATH from the node agent's
// endpoint. Only read-only paths are proxied: the kubelet's /pods and
// berth's own records for `berth explain` (berth/...), not the whole
// kubelet API. NAME may carry the kubelet's port (NAME:PORT, or
// https:NAME:PORT) as kube-apiserver accepts it; another port than the
// node's kubelet endpoint is not proxied.
func (s *Server) serveNodesProxy(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if r.Method != http.MethodGet {
		writeError(w, methodNotSupported(schema.GroupResource{Resource: "nodes/proxy"}, strings.ToLower(r.Method)))
		return
	}
	if !strings.HasPrefix(info.proxyPath, "berth/") && info.proxyPath != "pods" && info.proxyPath != "pods/" {
		writeError(w, &statusErr{code: http.StatusForbidden, reason: metav1.StatusReasonForbidden,
			msg: "nodes/proxy serves only the kubelet's pods and berth's own paths (berth/...) on this API server"})
		return
	}
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(info.name)
	if !ok || (scheme != "" && scheme != "https") {
		writeError(w, badRequest("invalid node request %q", info.name))
		return
	}
	host, err := s.kubeletHost(r, name)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, kport, _ := net.SplitHostPort(host); port != "" && port != kport {
		writeError(w, &statusErr{code: http.StatusServiceUnavailable, reason: metav1.StatusReasonServiceUnavailable,
			msg: fmt.Sprintf("nodes/proxy reaches only node %q's kubelet endpoint (port %s), not port %s", name, kport, port)})
		return
	}
	loc := &url.URL{Scheme: "https", Host: host, Path: "/" + info.proxyPath, RawQuery: r.URL.RawQuery}
	s.proxyLog(w, r, loc, info.name)
}

// dataThenErr returns data and an error in separate Reads: wsstream's
// copy drops the bytes of a Read that also returns io.EOF, which an HTTP
// body with a known length does on its last Read.
type dataThenErr struct {
	r   io.Reader
	err error
}

func (d *dataThenErr) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.r.Read(p)
	if n > 0 && err != nil {
		d.err, err = err, nil
	}
	return n, err
}
