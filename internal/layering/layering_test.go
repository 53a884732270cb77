// Package layering holds the tests of what imports what: the package
// layering of DESIGN.md, "cmd → cli → app → (apiserver, agent, explain) →
// (registry, admission, podworker parts) → (storage, controllers,
// containerd, imageref, cri); nothing below imports anything above it",
// and no fake of a dependency in the binary.
package layering

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/berth-dev/berth/"

// levels: a package's level is that of the longest matching entry (an
// entry ending in "/" matches sub-packages only). A package may import
// packages of a higher number, and packages of its own tree at its level
// (internal/admission/serviceaccount → internal/admission).
var levels = map[string]int{
	"cmd/":               0,
	"internal/cli":       1,
	"internal/app":       2,
	"internal/apiserver": 3, "internal/agent": 3, "internal/explain": 3, "internal/reset": 3,
	// The podworker parts, the registry and admission.
	"internal/agent/": 4, "internal/registry": 4, "internal/admission": 4,
	// The watch cache: a storage.Store over a storage.Store.
	"internal/watchcache": 4,
	// The leaves: used by any of the above, using none of them.
	"internal/storage": 5, "internal/controllers": 5, "internal/containerd": 5,
	"internal/cri": 5, "internal/keyring": 5, "internal/pki": 5, "internal/proxy": 5, "internal/dns": 5, "internal/auth": 5,
	// Image references and atomic file writes: used by the leaves too (the
	// keyring; pki and auth).
	"internal/imageref": 6, "internal/atomicfile": 6, "internal/emptyinformer": 6,
	// Test helpers (testHelperLevel): production code must not import them;
	// they may import anything but cmd.
	"internal/testutil": testHelperLevel, "internal/cri/fakecri": testHelperLevel, "internal/cri/critest": testHelperLevel,
	"internal/storage/storagetest": testHelperLevel, "internal/storage/memory": testHelperLevel,
	"internal/agent/server/streamtest": testHelperLevel,
}

const testHelperLevel = 7

// exceptions are known upward imports, each with the reason it stays.
var exceptions = map[string]string{
	// The image manager implements agent.ImageEnsurer and returns the
	// agent's reason errors; removing it means moving those into a leaf
	// package of the agent, which the pod worker's owners must do.
	"internal/agent/images -> internal/agent": "images implements agent.ImageEnsurer",
}

func level(pkg string) (lvl int, tree string, ok bool) {
	best := ""
	for prefix := range levels {
		match := pkg == prefix || strings.HasPrefix(pkg, prefix+"/") || (strings.HasSuffix(prefix, "/") && strings.HasPrefix(pkg, prefix))
		if match && len(prefix) > len(best) {
			best = prefix
		}
	}
	if best == "" {
		return 0, "", false
	}
	return levels[best], strings.TrimSuffix(best, "/"), true
}

// topTree is the first two path elements: internal/agent, internal/admission.
func topTree(pkg string) string {
	parts := strings.SplitN(pkg, "/", 3)
	if len(parts) < 2 {
		return pkg
	}
	return parts[0] + "/" + parts[1]
}

type pkgInfo struct {
	ImportPath string
	Imports    []string
}

func TestLayering(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "github.com/berth-dev/berth/cmd/...", "github.com/berth-dev/berth/internal/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var violations []string
	for dec.More() {
		var p pkgInfo
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		from := strings.TrimPrefix(p.ImportPath, module)
		if from == "internal/layering" {
			continue
		}
		fromLvl, _, ok := level(from)
		if !ok {
			violations = append(violations, from+": not placed in a layer (add it to levels, as DESIGN.md's package list)")
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := strings.TrimPrefix(imp, module)
			toLvl, _, ok := level(to)
			if !ok {
				continue // reported as its own package
			}
			allowed := toLvl > fromLvl || (toLvl == fromLvl && topTree(to) == topTree(from)) ||
				(fromLvl == testHelperLevel && toLvl > 0)
			if allowed {
				continue
			}
			edge := from + " -> " + to
			if _, ok := exceptions[edge]; ok {
				continue
			}
			violations = append(violations, edge+": imports upward or across its layer")
		}
	}
	sort.Strings(violations)
	for _, v := range violations {
		t.Error(v)
	}
}

// The shipped binary links no test helper of its dependencies either: a
// fake clientset once brought every fake typed client, 15 MB of it.
// (k8s.io/client-go/testing itself comes with client-go's gentype, which
// every typed client uses.)
func TestBinaryLinksNoFakes(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"cmd/berth").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/fake") || strings.Contains(pkg, "/fake/") || pkg == "testing" {
			t.Errorf("berth links %s, a test helper", pkg)
		}
	}
}
