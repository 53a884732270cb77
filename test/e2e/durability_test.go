package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDurability restarts one server on the same data dir, after SIGTERM and
// after SIGKILL: every object comes back unchanged (same uid and
// resourceVersion), and a watch resumes from a resourceVersion of the
// previous run.
func TestDurability(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	const ns = "durable"
	s.namespace(t, ns)

	s.mustKubectl(t, "-n", ns, "create", "configmap", "c1", "--from-literal=v=1")
	s.mustKubectl(t, "-n", ns, "create", "configmap", "c-del", "--from-literal=v=1")
	s.mustKubectl(t, "-n", ns, "create", "secret", "generic", "sec", "--from-literal=user=alice")
	s.mustKubectl(t, "-n", ns, "create", "serviceaccount", "builder")
	s.mustKubectl(t, "-n", ns, "create", "service", "clusterip", "web", "--tcp=80:8080")
	s.apply(t, fmt.Sprintf(simplePod, "p", ns))
	s.mustKubectl(t, "-n", ns, "patch", "serviceaccount", "builder", "-p", `{"imagePullSecrets":[{"name":"sec"}]}`)

	objects := []string{
		"namespace/" + ns,
		"configmap/c1", "configmap/c-del", "secret/sec", "serviceaccount/builder",
		"serviceaccount/default", "service/web", "pod/p",
	}
	before := s.snapshot(t, ns, objects)
	oldRV := s.listRV(t, "/api/v1/namespaces/"+ns+"/configmaps")

	t.Run("SIGTERMStopsWithin10s", func(t *testing.T) {
		// An open watch must not hold the stop up.
		w := s.kubectlBackground(t, 60*time.Second, "-n", ns, "get", "configmaps", "-w")
		eventually(t, 20*time.Second, func() error {
			if !strings.Contains(w.stdout.String(), "c1") {
				return fmt.Errorf("kubectl get configmaps -w printed nothing yet: stdout %q stderr %q", w.stdout.String(), w.stderr.String())
			}
			return nil
		})
		elapsed, err := s.stop(syscall.SIGTERM)
		if elapsed > 10*time.Second {
			t.Errorf("SIGTERM (with a watch open): the server exited after %v, want within 10s", elapsed.Round(time.Millisecond))
		}
		if err != nil {
			t.Errorf("SIGTERM: the server did not exit cleanly (status 0): %v", err)
		}
	})

	if s.running() {
		_, _ = s.stop(syscall.SIGKILL) // the stop subtest gave up early
	}
	s.start(t)
	t.Run("ObjectsBackAfterSIGTERM", func(t *testing.T) {
		s.compareSnapshot(t, ns, objects, before)
	})

	// Changes after the restart, then a crash.
	s.mustKubectl(t, "-n", ns, "patch", "configmap", "c1", "--type=merge", "-p", `{"data":{"v":"2"}}`)
	s.mustKubectl(t, "-n", ns, "create", "configmap", "c-new", "--from-literal=v=new")
	s.mustKubectl(t, "-n", ns, "delete", "configmap", "c-del")
	objects2 := []string{
		"namespace/" + ns,
		"configmap/c1", "configmap/c-new", "secret/sec", "serviceaccount/builder",
		"serviceaccount/default", "service/web", "pod/p",
	}
	beforeKill := s.snapshot(t, ns, objects2)
	if _, err := s.stop(syscall.SIGKILL); err == nil {
		t.Logf("SIGKILL: exit status 0?")
	}
	s.start(t)

	t.Run("ObjectsBackAfterSIGKILL", func(t *testing.T) {
		s.compareSnapshot(t, ns, objects2, beforeKill)
		if _, errOut, err := s.kubectl("-n", ns, "get", "configmap", "c-del"); err == nil || !strings.Contains(errOut, "not found") {
			t.Errorf("configmap c-del, deleted before the crash, is back (err %v, stderr %q)", err, errOut)
		}
		if got := s.mustKubectl(t, "-n", ns, "get", "configmap", "c1", "-o", "jsonpath={.data.v}"); got != "2" {
			t.Errorf("configmap c1 data.v after the crash: %q, want 2 (patched before the crash)", got)
		}
	})

	t.Run("WatchResumesFromOldResourceVersion", func(t *testing.T) {
		path := fmt.Sprintf("/api/v1/namespaces/%s/configmaps?watch=1&resourceVersion=%s&timeoutSeconds=2", ns, oldRV)
		out := s.mustKubectl(t, "get", "--raw", path)
		type event struct {
			Type   string `json:"type"`
			Object struct {
				Metadata struct {
					Name            string `json:"name"`
					ResourceVersion string `json:"resourceVersion"`
				} `json:"metadata"`
				Data map[string]string `json:"data"`
			} `json:"object"`
		}
		var got []string
		dec := json.NewDecoder(bytes.NewReader([]byte(out)))
		for {
			var e event
			if err := dec.Decode(&e); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("get --raw %s: not a stream of watch events: %v\n%s", path, err, out)
			}
			if !strings.HasPrefix(e.Object.Metadata.Name, "c") {
				continue // objects made by the system, if any
			}
			got = append(got, fmt.Sprintf("%s %s v=%s", e.Type, e.Object.Metadata.Name, e.Object.Data["v"]))
		}
		want := []string{"MODIFIED c1 v=2", "ADDED c-new v=new", "DELETED c-del v=1"}
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("watch from resourceVersion %s (taken before both restarts): events %q, want %q", oldRV, got, want)
		}
	})

	t.Run("SIGTERMStopsWithin10sAgain", func(t *testing.T) {
		elapsed, err := s.stop(syscall.SIGTERM)
		if elapsed > 10*time.Second {
			t.Errorf("SIGTERM after a crash restart: exited after %v, want within 10s", elapsed.Round(time.Millisecond))
		}
		if err != nil {
			t.Errorf("SIGTERM: the server did not exit cleanly (status 0): %v", err)
		}
	})
}

// snapshot returns each object's JSON (normalised) by "kind/name".
func (s *server) snapshot(t *testing.T, ns string, objects []string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	for _, o := range objects {
		var v map[string]any
		s.getJSON(t, &v, "-n", ns, o)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		snap[o] = string(b)
	}
	return snap
}

func (s *server) compareSnapshot(t *testing.T, ns string, objects []string, want map[string]string) {
	t.Helper()
	// The API may take a moment after the restart: wait until it answers.
	eventually(t, 30*time.Second, func() error {
		_, errOut, err := s.kubectl("-n", ns, "get", objects[0])
		if err != nil {
			return fmt.Errorf("kubectl get %s after the restart: %v: %s", objects[0], err, errOut)
		}
		return nil
	})
	got := s.snapshot(t, ns, objects)
	for _, o := range objects {
		if got[o] == want[o] {
			continue
		}
		var a, b struct {
			Metadata struct {
				UID             string `json:"uid"`
				ResourceVersion string `json:"resourceVersion"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal([]byte(want[o]), &a)
		_ = json.Unmarshal([]byte(got[o]), &b)
		t.Errorf("%s changed across the restart: uid %s -> %s, resourceVersion %s -> %s\nbefore: %s\nafter:  %s",
			o, a.Metadata.UID, b.Metadata.UID, a.Metadata.ResourceVersion, b.Metadata.ResourceVersion,
			s.redactString(want[o]), s.redactString(got[o]))
	}
}

// listRV returns the resourceVersion of a list.
func (s *server) listRV(t *testing.T, path string) string {
	t.Helper()
	out := s.mustKubectl(t, "get", "--raw", path)
	var list struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || list.Metadata.ResourceVersion == "" {
		t.Fatalf("get --raw %s: no list resourceVersion (%v):\n%s", path, err, out)
	}
	return list.Metadata.ResourceVersion
}
