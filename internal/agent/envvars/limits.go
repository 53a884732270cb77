package envvars

import (
	"fmt"
	"strings"
)

// MaxArgStrLen is the kernel's limit on one argument or environment
// string, its NUL included (MAX_ARG_STRLEN, 32 pages): exec fails with
// E2BIG ("argument list too long") beyond it.
const MaxArgStrLen = 131072

// ExecSize is what exec counts against its limit for these variables (the
// pod's and the image's) and argv: each string with its NUL, plus a
// pointer to it.
func (e *Env) ExecSize(argv []string) (total int, longest Var) {
	for _, list := range [][]Var{e.Image, e.Vars} {
		for _, v := range list {
			n := len(v.Name) + 1 + len(v.Value) + 1
			total += n + 8
			if n > len(longest.Name)+len(longest.Value)+2 {
				longest = v
			}
		}
	}
	for _, a := range argv {
		total += len(a) + 1 + 8
	}
	return total, longest
}

// CheckExec fails, saying why, when exec would refuse this environment
// and argv with E2BIG: limit is the kernel's total (ARG_MAX: a quarter of
// the stack limit, 2 MiB by default), and one string may not exceed
// MaxArgStrLen. Kubernetes lets the container fail to start instead;
// berth says which variables are to blame before it creates it.
func (e *Env) CheckExec(container string, argv []string, limit int) error {
	total, longest := e.ExecSize(argv)
	if n := len(longest.Name) + len(longest.Value) + 2; n > MaxArgStrLen {
		return fmt.Errorf("environment variable %s of container %q is %d bytes, more than the %d bytes the kernel accepts for one variable (exec would fail: argument list too long); it comes from %s",
			longest.Name, container, n, MaxArgStrLen, describe(longest.Origin))
	}
	if limit <= 0 || total <= limit {
		return nil
	}
	links, size := 0, 0
	services := map[string]bool{}
	for _, v := range e.Vars {
		if v.Origin.Kind == KindService {
			links++
			size += len(v.Name) + len(v.Value) + 10
			services[v.Origin.Name] = true
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the environment and arguments of container %q take %d bytes, more than the %d bytes the kernel accepts for exec (it would fail: argument list too long)", container, total, limit)
	if links > 0 {
		fmt.Fprintf(&b, "; %d of the %d variables (%d bytes) are service links of %d Services: set enableServiceLinks: false in the pod spec to leave only the kubernetes Service's", links, len(e.Vars), size, len(services))
	}
	return fmt.Errorf("%s", b.String())
}
