package apiserver

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestEphemeralContainersSubresource follows Kubernetes'
// podEphemeralContainersStrategy: only spec.ephemeralContainers changes
// (other spec, status and labels sent along are ignored), the generation
// counts it, existing ones may not be changed or removed, and an
// ephemeral container may have no ports. A status write on a pod whose
// graceful deletion runs does not remove it.
func TestEphemeralContainersSubresource(t *testing.T) {
	_, do := newTestServer(t)
	const path = "/api/v1/namespaces/default/pods/e"
	get := func(p string) corev1.Pod {
		t.Helper()
		rec := do("GET", p, "", "")
		var pod corev1.Pod
		if err := json.Unmarshal(rec.Body.Bytes(), &pod); err != nil {
			t.Fatalf("get %s: %d %s", p, rec.Code, rec.Body)
		}
		return pod
	}
	if rec := do("POST", "/api/v1/nodes", "application/json", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}`); rec.Code != 201 {
		t.Fatalf("creating node n1: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/api/v1/namespaces/default/pods", "application/json",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"e","namespace":"default"},"spec":{"nodeName":"n1","terminationGracePeriodSeconds":30,"containers":[{"name":"c","image":"busybox"}]}}`); rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	rec := do("PATCH", path+"/ephemeralcontainers", "application/strategic-merge-patch+json",
		`{"metadata":{"labels":{"sneaky":"yes"}},"spec":{"activeDeadlineSeconds":5,"ephemeralContainers":[{"name":"dbg","image":"busybox","targetContainerName":"c","stdin":true,"tty":true}]},"status":{"phase":"Failed"}}`)
	if rec.Code != 200 {
		t.Fatalf("patch ephemeralcontainers: %d %s", rec.Code, rec.Body)
	}
	p := get(path + "/ephemeralcontainers")
	if len(p.Spec.EphemeralContainers) != 1 || p.Spec.EphemeralContainers[0].TerminationMessagePath != "/dev/termination-log" {
		t.Errorf("ephemeral containers (defaulted) = %+v", p.Spec.EphemeralContainers)
	}
	if p.Generation != 2 || p.Spec.ActiveDeadlineSeconds != nil || p.Labels["sneaky"] != "" || p.Status.Phase != corev1.PodPending {
		t.Errorf("only ephemeral containers may change: generation %d, activeDeadlineSeconds %v, labels %v, phase %s",
			p.Generation, p.Spec.ActiveDeadlineSeconds, p.Labels, p.Status.Phase)
	}
	for name, tc := range map[string]struct{ patch, want string }{
		"remove": {`{"spec":{"ephemeralContainers":[{"$patch":"delete","name":"dbg"}]}}`, `existing ephemeral containers \"dbg\" may not be removed`},
		"change": {`{"spec":{"ephemeralContainers":[{"name":"dbg","image":"other"}]}}`, `existing ephemeral containers \"dbg\" may not be changed`},
		"ports": {`{"spec":{"ephemeralContainers":[{"name":"p","image":"busybox","ports":[{"containerPort":80}]}]}}`,
			"].ports: Forbidden: cannot be set for an Ephemeral Container"},
		"target": {`{"spec":{"ephemeralContainers":[{"name":"t","image":"busybox","targetContainerName":"nope"}]}}`,
			`].targetContainerName: Not found: \"nope\"`},
	} {
		rec := do("PATCH", path+"/ephemeralcontainers", "application/strategic-merge-patch+json", tc.patch)
		if rec.Code != 422 || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s; want 422 with %s", name, rec.Code, rec.Body, tc.want)
		}
	}
	// A plain pod update cannot add one.
	if rec := do("PATCH", path, "application/strategic-merge-patch+json",
		`{"spec":{"ephemeralContainers":[{"name":"x","image":"busybox"}]}}`); rec.Code != 422 {
		t.Errorf("adding an ephemeral container by a pod update: %d %s", rec.Code, rec.Body)
	}

	// Graceful deletion, then status writes: the pod stays until the node
	// deletes it with grace 0.
	if rec := do("DELETE", path, "", ""); rec.Code != 200 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := do("PATCH", path+"/status", "application/merge-patch+json", `{"status":{"phase":"Succeeded"}}`); rec.Code != 200 {
		t.Fatalf("status write during the grace period: %d %s", rec.Code, rec.Body)
	}
	if p := get(path); p.Status.Phase != corev1.PodSucceeded || p.DeletionTimestamp == nil {
		t.Errorf("after a status write during the grace period: phase %s deletionTimestamp %v", p.Status.Phase, p.DeletionTimestamp)
	}
	if rec := do("DELETE", path+"?gracePeriodSeconds=0", "", ""); rec.Code != 200 {
		t.Fatalf("delete with grace 0: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", path, "", ""); rec.Code != 404 {
		t.Errorf("after delete with grace 0: %d %s", rec.Code, rec.Body)
	}
}

// TestDataThenErr: wsstream's copy drops the data of a Read that also
// returns io.EOF; the adapter splits such a Read in two.
func TestDataThenErr(t *testing.T) {
	r := &dataThenErr{r: eofWithData{}}
	buf := make([]byte, 8)
	n, err := r.Read(buf)
	if n != 3 || err != nil {
		t.Fatalf("first read: %d %v", n, err)
	}
	if n, err = r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("second read: %d %v", n, err)
	}
}

type eofWithData struct{}

func (eofWithData) Read(p []byte) (int, error) { return copy(p, "abc"), io.EOF }
