package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// compareConfigs lists where the floor's sandbox and container configs
// differ from berth's, both read back from containerd (so both went
// through the same decoding: fields this containerd does not know are gone
// from both). Pod-specific values (name, UID, pod directory) are replaced
// by placeholders first; the container hash annotation (a hash of the Go
// struct) is not compared.
func compareConfigs(berth, floor *sentConfig) (diffs []string, fields int) {
	for _, part := range []struct {
		what string
		b, f map[string]any
	}{{"sandbox", berth.sandbox, floor.sandbox}, {"container", berth.container, floor.container}} {
		b := normalize(flatten(part.b), berth)
		f := normalize(flatten(part.f), floor)
		keys := map[string]bool{}
		for k := range b {
			keys[k] = true
		}
		for k := range f {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			if k == "annotations."+annoContainerHash {
				continue
			}
			fields++
			bv, inB := b[k]
			fv, inF := f[k]
			switch {
			case !inF:
				diffs = append(diffs, fmt.Sprintf("%s %s: berth %q, floor (none)", part.what, k, bv))
			case !inB:
				diffs = append(diffs, fmt.Sprintf("%s %s: berth (none), floor %q", part.what, k, fv))
			case bv != fv:
				diffs = append(diffs, fmt.Sprintf("%s %s: berth %q, floor %q", part.what, k, bv, fv))
			}
		}
	}
	return diffs, fields
}

// flatten turns a JSON object into path → value ("linux.cgroup_parent",
// "mounts.0.host_path", "labels.app").
func flatten(v map[string]any) map[string]string {
	out := map[string]string{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			// An empty object still says something: a CRI message whose
			// fields are all zero (seccomp {} is RuntimeDefault) differs
			// from none.
			if len(x) == 0 && prefix != "" {
				out[prefix] = "{}"
			}
			for k, e := range x {
				walk(join(prefix, k), e)
			}
		case []any:
			if len(x) == 0 && prefix != "" {
				out[prefix] = "[]"
			}
			for i, e := range x {
				walk(join(prefix, fmt.Sprint(i)), e)
			}
		case nil:
		default:
			out[prefix] = fmt.Sprint(x)
		}
	}
	walk("", v)
	return out
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// normalize replaces the pod's own values by placeholders, in keys (map
// keys such as a label holding the name are not affected: only values) and
// values.
func normalize(m map[string]string, c *sentConfig) map[string]string {
	r := strings.NewReplacer(c.podDir, "<pod dir>", c.uid, "<uid>")
	out := make(map[string]string, len(m))
	for k, v := range m {
		v = r.Replace(v)
		if v == c.name {
			v = "<name>"
		}
		out[k] = v
	}
	return out
}
