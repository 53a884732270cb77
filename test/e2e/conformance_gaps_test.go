package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// TestConformanceGaps covers berth's own failures in Kubernetes' node e2e
// tests (issue 13): pod generation, negative grace periods, failed-start
// events, activeDeadlineSeconds and host-network /etc/hosts.
func TestConformanceGaps(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/busybox:gaps", testregistry.Image{})

	t.Run("GenerationAndActiveDeadline", func(t *testing.T) {
		t.Parallel()
		ns := "gen"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: %s}
spec:
  terminationGracePeriodSeconds: -1
  containers: [{name: c, image: %s, command: ["sleep", "3600"]}]
`, ns, image))
		s.waitPod(t, ns, "p", "{.status.phase}", "Running", 60*time.Second)
		if got := s.podField(t, ns, "p", "{.spec.terminationGracePeriodSeconds}"); got != "1" {
			t.Errorf("terminationGracePeriodSeconds -1 stored as %q, want 1", got)
		}
		// Scheduling and status writes leave generation 1; the agent observes it.
		s.waitPod(t, ns, "p", "{.metadata.generation} {.status.observedGeneration} {.status.conditions[?(@.type==\"Ready\")].observedGeneration}", "1 1 1", 20*time.Second)
		// A spec change is generation 2, observed; then the lowered
		// deadline fails the pod.
		s.mustKubectl(t, "-n", ns, "patch", "pod", "p", "-p", `{"spec":{"activeDeadlineSeconds":3600}}`)
		s.waitPod(t, ns, "p", "{.metadata.generation} {.status.observedGeneration} {.status.conditions[?(@.type==\"PodScheduled\")].observedGeneration}", "2 2 2", 20*time.Second)
		s.mustKubectl(t, "-n", ns, "patch", "pod", "p", "-p", `{"spec":{"activeDeadlineSeconds":2}}`)
		s.waitPod(t, ns, "p", "{.status.phase} {.status.reason} {.status.message}",
			"Failed DeadlineExceeded Pod was active on the node longer than the specified deadline", 30*time.Second)
		s.waitPod(t, ns, "p", "{.status.containerStatuses[0].state.terminated.reason}", "Error", 20*time.Second)
	})

	t.Run("FailedStartEvent", func(t *testing.T) {
		t.Parallel()
		ns := "starterr"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: %s}
spec:
  restartPolicy: Never
  containers: [{name: c, image: %s, command: ["/no/such/cmd"]}]
`, ns, image))
		eventually(t, 60*time.Second, func() error {
			out, _, err := s.kubectl("-n", ns, "get", "events", "--field-selector", "reason=Failed", "-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}")
			if err != nil || !strings.Contains(out, "Error: ") {
				return fmt.Errorf("Failed events %q %v", out, err)
			}
			if strings.Contains(out, "<nil>") {
				t.Fatalf("a Failed event says <nil>: %q", out)
			}
			return nil
		})
	})

	t.Run("HostNetworkHostsFile", func(t *testing.T) {
		t.Parallel()
		ns := "hostnet"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: %s}
spec:
  hostNetwork: true
  hostAliases: [{ip: 192.0.2.7, hostnames: [foo.local, bar.local]}]
  containers: [{name: c, image: %s, command: ["sleep", "3600"]}]
`, ns, image))
		s.waitPod(t, ns, "p", "{.status.phase}", "Running", 60*time.Second)
		node, err := os.ReadFile("/etc/hosts")
		if err != nil {
			t.Fatal(err)
		}
		want := "# Kubernetes-managed hosts file (host network).\n" + string(node) +
			"\n# Entries added by HostAliases.\n192.0.2.7\tfoo.local\tbar.local\n"
		if got := s.mustKubectl(t, "-n", ns, "exec", "p", "--", "cat", "/etc/hosts"); got != want {
			t.Errorf("/etc/hosts =\n%s\nwant\n%s", got, want)
		}
		s.mustKubectl(t, "-n", ns, "delete", "pod", "p", "--grace-period=1")
	})
}
