package apiserver

import (
	"net/http"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/registry"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var allVerbs = metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// subresourceVerbs says what each subresource answers to.
var subresourceVerbs = map[string]metav1.Verbs{
	"status":              {"get", "patch", "update"},
	"ephemeralcontainers": {"get", "patch", "update"},
	"scale":               {"get", "patch", "update"},
	"binding":             {"create"},
	"token":               {"create"},
	"finalize":            {"update"},
	"log":                 {"get"},
	"exec":                {"create", "get"},
	"attach":              {"create", "get"},
	"portforward":         {"create", "get"},
	"proxy":               {"create", "delete", "get", "patch", "update"},
}

func resourceVerbs(r *registry.Resource) metav1.Verbs {
	if r.Verbs != nil {
		return r.Verbs
	}
	return allVerbs
}

func (s *Server) resourceList(gv schema.GroupVersion) *metav1.APIResourceList {
	list := &metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, r := range s.reg.All() {
		if r.GroupVersion != gv {
			continue
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: r.Name, SingularName: r.SingularName, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: resourceVerbs(r), ShortNames: r.ShortNames, Categories: r.Categories,
		})
		for _, sub := range r.Subresources {
			kind := r.Kind
			switch sub {
			case "binding":
				kind = "Binding"
			case "token":
				kind = "TokenRequest"
			case "scale":
				kind = "Scale"
			case "log", "exec", "attach", "portforward", "proxy":
				kind = map[string]string{"log": "Pod", "exec": "PodExecOptions", "attach": "PodAttachOptions",
					"portforward": "PodPortForwardOptions", "proxy": r.Kind + "ProxyOptions"}[sub]
			}
			ar := metav1.APIResource{
				Name: r.Name + "/" + sub, Namespaced: r.Namespaced, Kind: kind, Verbs: subresourceVerbs[sub],
			}
			if sub == "scale" {
				// The scale client and autoscalers find the Scale's group here.
				ar.Group, ar.Version = "autoscaling", "v1"
			}
			list.APIResources = append(list.APIResources, ar)
		}
	}
	sort.SliceStable(list.APIResources, func(i, j int) bool { return list.APIResources[i].Name < list.APIResources[j].Name })
	return list
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	switch path {
	case "/api", "/api/":
		writeJSON(w, http.StatusOK, &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"}, Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
		})
		return true
	case "/apis", "/apis/":
		groups := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
		for _, gv := range s.reg.GroupVersions() {
			if gv.Group != "" {
				groups.Groups = append(groups.Groups, apiGroup(gv))
			}
		}
		writeJSON(w, http.StatusOK, groups)
		return true
	}
	if !maybeDiscoveryPath(path) {
		return false // a resource path: spare the walk over the group versions
	}
	for _, gv := range s.reg.GroupVersions() {
		if gv.Group == "" {
			if path == "/api/"+gv.Version || path == "/api/"+gv.Version+"/" {
				writeJSON(w, http.StatusOK, s.resourceList(gv))
				return true
			}
			continue
		}
		switch path {
		case "/apis/" + gv.Group, "/apis/" + gv.Group + "/":
			g := apiGroup(gv)
			g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
			writeJSON(w, http.StatusOK, &g)
			return true
		case "/apis/" + gv.String(), "/apis/" + gv.String() + "/":
			writeJSON(w, http.StatusOK, s.resourceList(gv))
			return true
		}
	}
	return false
}

// maybeDiscoveryPath: /api/VERSION or /apis/GROUP[/VERSION], with or
// without a trailing slash; longer paths are resources.
func maybeDiscoveryPath(path string) bool {
	p := strings.TrimSuffix(path, "/")
	switch {
	case strings.HasPrefix(p, "/api/"):
		return !strings.Contains(p[len("/api/"):], "/")
	case strings.HasPrefix(p, "/apis/"):
		return strings.Count(p[len("/apis/"):], "/") <= 1
	}
	return false
}

func apiGroup(gv schema.GroupVersion) metav1.APIGroup {
	v := metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version}
	return metav1.APIGroup{Name: gv.Group, Versions: []metav1.GroupVersionForDiscovery{v}, PreferredVersion: v}
}

var _ = registry.Resource{}
