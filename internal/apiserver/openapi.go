package apiserver

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/registry"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// openAPI serves /openapi/v3: a root listing one document per group
// version, and per group version the paths and operations berth serves.
//
// kubectl reads these documents to learn that the server validates fields
// itself (the fieldValidation query parameter on PATCH operations), and
// then leaves unknown-field checks to the server. Component schemas are
// not published: kubectl falls back to its compiled-in types for
// client-side apply, and `kubectl explain` is not supported.
type openAPI struct {
	docs map[string][]byte // "api/v1" → document
	root []byte
}

func newOpenAPI(reg *registry.Registry) *openAPI {
	o := &openAPI{docs: map[string][]byte{}}
	rootPaths := map[string]any{}
	for _, gv := range reg.GroupVersions() {
		key := "api/" + gv.Version
		if gv.Group != "" {
			key = "apis/" + gv.Group + "/" + gv.Version
		}
		doc, _ := json.Marshal(gvDocument(reg, gv, key))
		sum := sha512.Sum512(doc)
		o.docs[key] = doc
		rootPaths[key] = map[string]string{"serverRelativeURL": "/openapi/v3/" + key + "?hash=" + strings.ToUpper(hex.EncodeToString(sum[:]))}
	}
	o.root, _ = json.Marshal(map[string]any{"paths": rootPaths})
	return o
}

func (o *openAPI) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/openapi/")
	switch {
	case p == "v3" || p == "v3/":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(o.root)
	case strings.HasPrefix(p, "v3/"):
		doc, ok := o.docs[strings.TrimPrefix(p, "v3/")]
		if !ok {
			writeError(w, notFoundPath(r.URL.Path))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		// Documents are addressed by hash, so they may be cached for good.
		if r.URL.Query().Get("hash") != "" {
			w.Header().Set("Cache-Control", "public, immutable")
		}
		_, _ = w.Write(doc)
	default:
		writeError(w, notFoundPath(r.URL.Path))
	}
}

func queryParam(name, desc string) map[string]any {
	return map[string]any{"name": name, "in": "query", "description": desc, "schema": map[string]string{"type": "string"}}
}

func gvDocument(reg *registry.Registry, gv schema.GroupVersion, key string) map[string]any {
	writeParams := []any{
		queryParam("dryRun", "When present, indicates that modifications should not be persisted."),
		queryParam("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes."),
		queryParam("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: Ignore, Warn (default), Strict."),
	}
	patchParams := append(append([]any{}, writeParams...), queryParam("force", "Force is going to \"force\" Apply requests."))
	paths := map[string]any{}
	for _, r := range reg.All() {
		if r.GroupVersion != gv {
			continue
		}
		gvk := map[string]string{"group": gv.Group, "version": gv.Version, "kind": r.Kind}
		base := "/" + key
		if r.Namespaced {
			base += "/namespaces/{namespace}"
		}
		op := func(id string, params []any) map[string]any {
			return map[string]any{
				"operationId":                     id + r.Kind,
				"parameters":                      params,
				"responses":                       map[string]any{"200": map[string]any{"description": "OK"}},
				"x-kubernetes-group-version-kind": gvk,
				"x-kubernetes-action":             strings.ToLower(id),
			}
		}
		paths[base+"/"+r.Name] = map[string]any{
			"get":  op("list", nil),
			"post": op("create", writeParams),
		}
		paths[base+"/"+r.Name+"/{name}"] = map[string]any{
			"get":    op("read", nil),
			"put":    op("replace", writeParams),
			"patch":  op("patch", patchParams),
			"delete": op("delete", nil),
		}
	}
	return map[string]any{
		"openapi": "3.0.0",
		"info":    map[string]string{"title": "Kubernetes", "version": "berth"},
		"paths":   paths,
	}
}
