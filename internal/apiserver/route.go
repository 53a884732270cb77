package apiserver

import (
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/registry"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// requestInfo is what an API path and method mean.
type requestInfo struct {
	gv          schema.GroupVersion
	res         *registry.Resource
	namespace   string
	name        string
	subresource string
	verb        string // get list watch create update patch delete deletecollection
	proxyPath   string // for .../proxy/{path}: the path to proxy to
}

// parsePath resolves /api/v1/... and /apis/<group>/<version>/... paths.
// ok is false for paths that are not resource paths.
func parsePath(reg *registry.Registry, method, path string, watchParam bool) (requestInfo, bool, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var info requestInfo
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		info.gv = schema.GroupVersion{Version: parts[1]}
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		info.gv = schema.GroupVersion{Group: parts[1], Version: parts[2]}
		parts = parts[3:]
	default:
		return info, false, nil
	}
	watchPrefix := false
	if parts[0] == "watch" {
		watchPrefix, parts = true, parts[1:]
	}
	lookup := func(name string) (*registry.Resource, bool) {
		return reg.Lookup(info.gv.WithResource(name))
	}
	// namespaces/{ns}/{resource}/... unless it is the namespace itself.
	if len(parts) >= 3 && parts[0] == "namespaces" {
		if r, ok := lookup(parts[2]); ok && r.Namespaced {
			info.namespace = parts[1]
			parts = parts[2:]
		}
	}
	if len(parts) > 3 && parts[2] == "proxy" {
		// {resource}/{name}/proxy/{path...}: the rest is the proxied path.
		info.proxyPath = strings.Join(parts[3:], "/")
		parts = parts[:3]
	}
	if len(parts) == 0 || len(parts) > 3 {
		return info, true, notFoundPath(path)
	}
	r, ok := lookup(parts[0])
	if !ok {
		return info, true, notFoundPath(path)
	}
	info.res = r
	if len(parts) >= 2 {
		info.name = parts[1]
	}
	if len(parts) == 3 {
		info.subresource = parts[2]
		if !r.HasSubresource(info.subresource) {
			return info, true, notFoundPath(path)
		}
	}
	isWatch := watchPrefix || watchParam
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case info.name == "" && isWatch:
			info.verb = "watch"
		case info.name == "":
			info.verb = "list"
		case isWatch:
			info.verb = "watch" // watch of a single object: a list watch with a name selector
		default:
			info.verb = "get"
		}
	case http.MethodPost:
		info.verb = "create"
	case http.MethodPut:
		info.verb = "update"
	case http.MethodPatch:
		info.verb = "patch"
	case http.MethodDelete:
		if info.name == "" {
			info.verb = "deletecollection"
		} else {
			info.verb = "delete"
		}
	default:
		return info, true, methodNotSupported(r.GVR().GroupResource(), strings.ToLower(method))
	}
	return info, true, nil
}

func notFoundPath(path string) error {
	return &statusErr{code: http.StatusNotFound, reason: "NotFound", msg: "the server could not find the requested resource"}
}
