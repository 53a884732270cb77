package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Test helpers stay out of the shipped binary: a fake clientset once
// linked every fake typed client into it, 15 MB. (k8s.io/client-go/testing
// itself comes with client-go's gentype, which every typed client uses.)
func TestBinaryLinksNoTestHelpers(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/fake") || strings.Contains(pkg, "/fake/") ||
			strings.HasSuffix(pkg, "/testutil") || pkg == "testing" {
			t.Errorf("berth links %s, a test helper", pkg)
		}
	}
}
