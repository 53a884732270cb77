package imageref

import "testing"

// FuzzParse: Parse never panics, and a parsed reference is normalised:
// parsing its String gives it back.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"busybox", "busybox:1.36", "docker.io/library/busybox:latest", "library/busybox",
		"localhost:5000/team/app:v1", "[::1]:5000/app@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"registry.example.com/a/b/c:tag@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"", ":", "UPPER/case", "a:b:c", "example.com:65536/x", "x@sha256:short", "-leading", "a//b", "a/b:" + string(make([]byte, 200)),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = DefaultPullPolicy(s)
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, r, err)
		}
		if again != r {
			t.Fatalf("Parse(%q) = %#v, but Parse(%q) = %#v", s, r, r.String(), again)
		}
	})
}
