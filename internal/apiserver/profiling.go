package apiserver

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// serveProfiling serves Go's profiles under /debug/pprof/, as
// kube-apiserver's --profiling (on by default) does on its secure port:
// the request has passed authentication and authorization like any
// non-resource URL, so only a user RBAC grants get on /debug/pprof/*
// (cluster-admin does) reaches it. It reports whether path was one.
func (s *Server) serveProfiling(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	if s.cfg.DisableProfiling || (path != "/debug/pprof" && !strings.HasPrefix(path, "/debug/pprof/")) {
		return false
	}
	switch strings.TrimPrefix(path, "/debug/pprof/") {
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	case "cmdline":
		pprof.Cmdline(w, r)
	default:
		if path == "/debug/pprof" {
			http.Redirect(w, r, "/debug/pprof/", http.StatusMovedPermanently)
			return true
		}
		pprof.Index(w, r) // the index, and the named profiles (heap, goroutine, ...)
	}
	return true
}
