package expansion

import (
	"testing"

	k8sexpansion "k8s.io/kubernetes/third_party/forked/golang/expansion"
)

// FuzzExpand: berth's expansion agrees with the kubelet's on every input.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "plain", "$(A)", "$(A)$(B)", "$$(A)", "$$$(A)", "$(", "$(A", "$)", "$", "$$",
		"a$(MISSING)b", "$(A)$(", "$(A$(B))", "$()", "x$y", "$(A)-$(B)-$(C)", "€$(A)€"} {
		f.Add(s)
	}
	vars := map[string]string{"A": "alpha", "B": "$(A)", "C": "", "": "empty"}
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	kubelet := k8sexpansion.MappingFuncFor(vars)
	f.Fuzz(func(t *testing.T, s string) {
		got := Expand(s, lookup)
		if want := k8sexpansion.Expand(s, kubelet); got != want {
			t.Fatalf("Expand(%q) = %q, the kubelet gives %q", s, got, want)
		}
	})
}
