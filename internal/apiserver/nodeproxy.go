package apiserver

import (
	"net/http"
)

// serveNodeProxy answers pods/log, exec, attach, port-forward and proxy.
// These stream from the node agent; until an agent endpoint is wired they
// answer 503 with a message that says so.
func (s *Server) serveNodeProxy(w http.ResponseWriter, r *http.Request, info requestInfo) {
	writeError(w, &statusErr{code: http.StatusServiceUnavailable, reason: "ServiceUnavailable",
		msg: "pods/" + info.subresource + " is served by the node agent, and no node agent endpoint is connected to this API server"})
}
