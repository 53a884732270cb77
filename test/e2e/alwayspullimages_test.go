package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestAlwaysPullImages runs a server with --enable-admission-plugins
// AlwaysPullImages (k8s-semantics section 3).
func TestAlwaysPullImages(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir(), "--enable-admission-plugins", "AlwaysPullImages")
	const ns = "apt"
	s.namespace(t, ns)

	s.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: forced
  namespace: apt
spec:
  initContainers:
  - name: init
    image: busybox:v1
    imagePullPolicy: Never
  containers:
  - name: a
    image: busybox:v1
    imagePullPolicy: IfNotPresent
  - name: b
    image: busybox@`+digest+`
  - name: c
    image: busybox
    imagePullPolicy: Never
`)
	policies := func() (init, containers string) {
		return s.mustKubectl(t, "-n", ns, "get", "pod", "forced", "-o", "jsonpath={.spec.initContainers[*].imagePullPolicy}"),
			s.mustKubectl(t, "-n", ns, "get", "pod", "forced", "-o", "jsonpath={.spec.containers[*].imagePullPolicy}")
	}
	images := func() string {
		return s.mustKubectl(t, "-n", ns, "get", "pod", "forced", "-o", "jsonpath={.spec.containers[*].image}")
	}

	t.Run("CreateForcesAlways", func(t *testing.T) {
		init, cs := policies()
		if init != "Always" {
			t.Errorf("initContainers imagePullPolicy %q, want Always (was Never)", init)
		}
		if cs != "Always Always Always" {
			t.Errorf("containers imagePullPolicy %q, want %q (were IfNotPresent, default for a digest, Never)", cs, "Always Always Always")
		}
	})

	t.Run("ImageUpdateKeepsAlways", func(t *testing.T) {
		out := s.mustKubectl(t, "-n", ns, "patch", "pod", "forced", "-p", `{"spec":{"containers":[{"name":"a","image":"busybox:v2"}]}}`)
		if strings.TrimSpace(out) != "pod/forced patched" {
			t.Errorf("patch image: stdout %q, want pod/forced patched", out)
		}
		if got := images(); got != "busybox:v2 busybox@"+digest+" busybox" {
			t.Errorf("images after patch: %q", got)
		}
		if init, cs := policies(); init != "Always" || cs != "Always Always Always" {
			t.Errorf("after patching container a's image: policies init %q containers %q, want all Always", init, cs)
		}
	})

	t.Run("PolicyOnlyUpdateRejected", func(t *testing.T) {
		// No new image: the plugin ignores the update, and pod validation
		// forbids changing anything but the image.
		args := []string{"-n", ns, "patch", "pod", "forced", "--type=json", "-p", `[{"op":"replace","path":"/spec/containers/0/imagePullPolicy","value":"IfNotPresent"}]`}
		out, errOut, err := s.kubectl(args...)
		if err == nil {
			t.Errorf("%s succeeded (stdout %q); want it rejected", s.cmdline(args), out)
		} else {
			for _, want := range []string{`The Pod "forced" is invalid`, "Forbidden", "pod updates may not change fields other than"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("%s: stderr %q; want it to contain %q", s.cmdline(args), errOut, want)
				}
			}
			if !strings.Contains(strings.ToLower(errOut), "imagepullpolicy") {
				t.Errorf("%s: stderr %q; want it to mention imagePullPolicy", s.cmdline(args), errOut)
			}
		}
		if init, cs := policies(); init != "Always" || cs != "Always Always Always" {
			t.Errorf("after the rejected patch: policies init %q containers %q, want all Always", init, cs)
		}
	})

	t.Run("ImageAndPolicyUpdateForcedToAlways", func(t *testing.T) {
		// The update brings a new image, so the mutating half of the plugin
		// runs on it and sets every policy back to Always before validation:
		// Kubernetes accepts the update with imagePullPolicy Always (its
		// Validate half, "Unsupported value: ... supported values: "Always"",
		// only catches a later mutation that undoes this).
		args := []string{"-n", ns, "patch", "pod", "forced", "--type=json", "-p",
			`[{"op":"replace","path":"/spec/containers/0/image","value":"busybox:v3"},{"op":"replace","path":"/spec/containers/0/imagePullPolicy","value":"IfNotPresent"}]`}
		out, errOut, err := s.kubectl(args...)
		if err != nil {
			t.Fatalf("%s: %v; stderr %q; want it accepted with imagePullPolicy forced to Always", s.cmdline(args), err, errOut)
		}
		if strings.TrimSpace(out) != "pod/forced patched" {
			t.Errorf("%s: stdout %q, want pod/forced patched", s.cmdline(args), out)
		}
		if got := images(); !strings.HasPrefix(got, "busybox:v3 ") {
			t.Errorf("images after patch: %q, want container a at busybox:v3", got)
		}
		if init, cs := policies(); init != "Always" || cs != "Always Always Always" {
			t.Errorf("after image+policy patch: policies init %q containers %q, want all Always", init, cs)
		}
	})

	t.Run("VersionedTagForcedToAlways", func(t *testing.T) {
		// A tag that defaults to IfNotPresent is forced to Always too.
		s.apply(t, fmt.Sprintf(simplePod, "plain", ns))
		if got := s.mustKubectl(t, "-n", ns, "get", "pod", "plain", "-o", "jsonpath={.spec.containers[*].imagePullPolicy}"); got != "Always" {
			t.Errorf("pod plain (busybox:1.36): imagePullPolicy %q, want Always", got)
		}
	})
}
