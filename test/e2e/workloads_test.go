package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// TestWorkloads runs Deployments, Jobs, CronJobs, StatefulSets and
// DaemonSets through Kubernetes' own controllers in berth, driven by the
// real kubectl as the Kubernetes documentation drives them, and deletes
// them by cascade in the three propagation modes.
func TestWorkloads(t *testing.T) {
	s := startNode(t)
	// Runs before the node's cleanup (which deletes pods): without their
	// controllers, pods are not recreated behind it.
	t.Cleanup(func() {
		_, _, _ = s.kubectl("delete", "cronjobs,jobs,deployments,replicasets,statefulsets,daemonsets", "--all", "-A",
			"--cascade=background", "--wait=false")
	})
	reg := testregistry.Start(t, testregistry.Options{})
	// sh traps TERM so pods stop at once (a PID 1 without a handler
	// ignores it and would use its whole grace period).
	cmd := []string{"sh", "-c", "trap 'exit 0' TERM; echo started $VERSION; httpd -f -p 8080 -h /www & wait"}
	v1, _ := reg.Push(t, "e2e/web:v1", testregistry.Image{Cmd: cmd, Env: []string{"VERSION=v1"},
		Files: map[string]string{"/www/index.html": "v1\n"}})
	v2, _ := reg.Push(t, "e2e/web:v2", testregistry.Image{Cmd: cmd, Env: []string{"VERSION=v2"},
		Files: map[string]string{"/www/index.html": "v2\n"}})
	s.mustKubectl(t, "get", "nodes")

	t.Run("DeploymentTutorial", func(t *testing.T) {
		t.Parallel()
		ns := "tutorial"
		s.namespace(t, ns)
		s.mustKubectl(t, "-n", ns, "create", "deployment", "web", "--image="+v1, "--replicas=2")
		s.mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		if r := row(s.mustKubectl(t, "-n", ns, "get", "deployment", "web"), "web"); len(r) < 4 || r[1] != "2/2" || r[2] != "2" || r[3] != "2" {
			t.Errorf("kubectl get deployment web: row %q, want READY 2/2, UP-TO-DATE 2, AVAILABLE 2", r)
		}
		if h := header(s.mustKubectl(t, "-n", ns, "get", "deployment", "web", "-o", "wide")); !strings.Contains(h, "CONTAINERS") || !strings.Contains(h, "SELECTOR") {
			t.Errorf("wide header %q", h)
		}
		// The pods the ReplicaSet made, with Kubernetes' names.
		pods := s.mustKubectl(t, "-n", ns, "get", "pods", "-l", "app=web", "-o", "name")
		if n := len(strings.Fields(pods)); n != 2 {
			t.Fatalf("pods: %q, want 2", pods)
		}
		for _, p := range strings.Fields(pods) {
			if !strings.HasPrefix(p, "pod/web-") || strings.Count(p, "-") != 2 {
				t.Errorf("pod name %q: want web-<hash>-<suffix>", p)
			}
		}
		eventually(t, 20*time.Second, func() error {
			out, stderr, err := s.kubectl("-n", ns, "logs", "deploy/web")
			if err != nil || !strings.Contains(out, "started v1") {
				return fmt.Errorf("logs deploy/web: %q %s %v", out, stderr, err)
			}
			return nil
		})
		if out := s.mustKubectl(t, "-n", ns, "exec", "deploy/web", "--", "cat", "/www/index.html"); strings.TrimSpace(out) != "v1" {
			t.Errorf("exec deploy/web: %q", out)
		}

		// kubectl scale goes through the scale subresource.
		s.mustKubectl(t, "-n", ns, "scale", "deployment/web", "--replicas=3")
		var sc struct {
			Kind string
			Spec struct{ Replicas int }
		}
		if err := json.Unmarshal([]byte(s.mustKubectl(t, "get", "--raw", "/apis/apps/v1/namespaces/"+ns+"/deployments/web/scale")), &sc); err != nil {
			t.Fatal(err)
		}
		if sc.Kind != "Scale" || sc.Spec.Replicas != 3 {
			t.Errorf("scale subresource: %+v", sc)
		}
		s.mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")

		// Update the image, then roll back.
		s.mustKubectl(t, "-n", ns, "set", "image", "deployment/web", "web="+v2)
		s.mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		hist := s.mustKubectl(t, "-n", ns, "rollout", "history", "deployment/web")
		revisions := 0
		for _, l := range strings.Split(hist, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] >= "1" && f[0] <= "9" {
				revisions++
			}
		}
		if !strings.Contains(hist, "REVISION") || revisions != 2 {
			t.Errorf("rollout history:\n%s\nwant 2 revisions", hist)
		}
		if out := s.mustKubectl(t, "-n", ns, "exec", "deploy/web", "--", "cat", "/www/index.html"); strings.TrimSpace(out) != "v2" {
			t.Errorf("after set image: %q", out)
		}
		s.mustKubectl(t, "-n", ns, "rollout", "undo", "deployment/web")
		s.mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		if img := s.mustKubectl(t, "-n", ns, "get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"); img != v1 {
			t.Errorf("after undo: image %q, want %q", img, v1)
		}
		var d struct {
			Metadata struct{ Generation int64 }
			Status   struct{ ObservedGeneration int64 }
		}
		s.getJSON(t, &d, "-n", ns, "deployment", "web")
		if d.Metadata.Generation < 4 || d.Status.ObservedGeneration != d.Metadata.Generation {
			t.Errorf("generation %d observedGeneration %d", d.Metadata.Generation, d.Status.ObservedGeneration)
		}

		// Pause holds a template change back; resume rolls it out; restart
		// rolls the pods again.
		s.mustKubectl(t, "-n", ns, "rollout", "pause", "deployment/web")
		s.mustKubectl(t, "-n", ns, "set", "env", "deployment/web", "PAUSED=yes")
		rsBefore := s.mustKubectl(t, "-n", ns, "get", "rs", "-o", "name")
		s.mustKubectl(t, "-n", ns, "rollout", "resume", "deployment/web")
		s.mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
		if rsAfter := s.mustKubectl(t, "-n", ns, "get", "rs", "-o", "name"); len(strings.Fields(rsAfter)) != len(strings.Fields(rsBefore))+1 {
			t.Errorf("replicasets before resume %q, after %q: want one more", rsBefore, rsAfter)
		}
		s.mustKubectl(t, "-n", ns, "rollout", "restart", "deployment/web")
		s.mustKubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	})

	t.Run("ApplyAppAndDeleteFile", func(t *testing.T) {
		t.Parallel()
		ns := "app"
		s.namespace(t, ns)
		manifest := fmt.Sprintf(`
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: %[1]s}
data: {GREETING: hello}
---
apiVersion: v1
kind: Secret
metadata: {name: app-secret, namespace: %[1]s}
stringData: {TOKEN: s3cret-value}
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: %[1]s}
spec:
  selector: {app: app}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: %[1]s}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: web
        image: %[2]s
        envFrom: [{configMapRef: {name: app-config}}, {secretRef: {name: app-secret}}]
        ports: [{containerPort: 8080}]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: app, namespace: %[1]s}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: app}}
`, ns, v1)
		s.addSecret("s3cret-value")
		s.mustKubectlIn(t, manifest, "apply", "-f", "-")
		s.mustKubectl(t, "-n", ns, "rollout", "status", "deployment/app", "--timeout=60s")
		eventually(t, 20*time.Second, func() error {
			out, _, err := s.kubectl("-n", ns, "get", "endpointslices", "-l", "kubernetes.io/service-name=app", "-o", "jsonpath={.items[*].endpoints[*].addresses[0]}")
			if err != nil || len(strings.Fields(out)) != 2 {
				return fmt.Errorf("service endpoints: %q %v", out, err)
			}
			return nil
		})
		// The disruption controller keeps the budget: 2 healthy, 1 needed.
		eventually(t, 30*time.Second, func() error {
			r := row(s.mustKubectl(t, "-n", ns, "get", "pdb", "app"), "app")
			if len(r) < 4 || r[1] != "1" || r[2] != "N/A" || r[3] != "1" {
				return fmt.Errorf("kubectl get pdb: %q, want MIN AVAILABLE 1, MAX UNAVAILABLE N/A, ALLOWED DISRUPTIONS 1", r)
			}
			return nil
		})
		out, _ := s.mustKubectlIn(t, manifest, "apply", "-f", "-")
		if !strings.Contains(out, "deployment.apps/app unchanged") {
			t.Errorf("re-apply: %q", out)
		}
		// Server-side apply takes the workload kinds too.
		if out, _ := s.mustKubectlIn(t, manifest, "apply", "--server-side", "--force-conflicts", "-f", "-"); !strings.Contains(out, "deployment.apps/app serverside-applied") {
			t.Errorf("server-side apply: %q", out)
		}
		s.mustKubectlIn(t, manifest, "delete", "-f", "-", "--grace-period=1")
		eventually(t, 40*time.Second, func() error {
			out, _, err := s.kubectl("-n", ns, "get", "rs,pods", "-o", "name")
			if err != nil || strings.TrimSpace(out) != "" {
				return fmt.Errorf("left after delete -f: %q %v", out, err)
			}
			return nil
		})
	})

	t.Run("Jobs", func(t *testing.T) {
		t.Parallel()
		ns := "jobs"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: batch/v1
kind: Job
metadata: {name: pi, namespace: %[1]s}
spec:
  completions: 3
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi, image: %[2]s, command: ["sh", "-c", "echo 3.14159"]}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: fails, namespace: %[1]s}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: fail, image: %[2]s, command: ["sh", "-c", "exit 3"]}]
`, ns, v1))
		s.mustKubectl(t, "-n", ns, "create", "job", "hello", "--image="+v1, "--", "echo", "hello")
		s.mustKubectl(t, "-n", ns, "wait", "--for=condition=complete", "job/pi", "job/hello", "--timeout=60s")
		if r := row(s.mustKubectl(t, "-n", ns, "get", "job", "pi"), "pi"); len(r) < 3 || r[1] != "Complete" || r[2] != "3/3" {
			t.Errorf("kubectl get job pi: %q, want Complete 3/3", r)
		}
		if out := s.mustKubectl(t, "-n", ns, "logs", "job/hello"); strings.TrimSpace(out) != "hello" {
			t.Errorf("logs job/hello: %q", out)
		}
		s.mustKubectl(t, "-n", ns, "wait", "--for=condition=failed", "job/fails", "--timeout=60s")
		reason := s.mustKubectl(t, "-n", ns, "get", "job", "fails", "-o", `jsonpath={.status.conditions[?(@.type=="Failed")].reason}`)
		if reason != "BackoffLimitExceeded" {
			t.Errorf("failed job reason %q, want BackoffLimitExceeded", reason)
		}
		if n := s.mustKubectl(t, "-n", ns, "get", "job", "fails", "-o", "jsonpath={.status.failed}"); n != "2" {
			t.Errorf("failed pods %q, want 2 (backoffLimit 1)", n)
		}
	})

	t.Run("CronJobEveryMinute", func(t *testing.T) {
		t.Parallel()
		ns := "cron"
		s.namespace(t, ns)
		s.mustKubectl(t, "-n", ns, "create", "cronjob", "tick", "--image="+v1, "--schedule=* * * * *", "--", "echo", "tick")
		if out := s.mustKubectl(t, "-n", ns, "get", "cronjob", "tick"); !strings.Contains(out, "* * * * *") || !strings.Contains(header(out), "LAST SCHEDULE") {
			t.Errorf("kubectl get cronjob:\n%s", out)
		}
		eventually(t, 100*time.Second, func() error {
			last := s.mustKubectl(t, "-n", ns, "get", "cronjob", "tick", "-o", "jsonpath={.status.lastSuccessfulTime}")
			if last == "" {
				return fmt.Errorf("no successful run yet")
			}
			return nil
		})
		jobs := s.mustKubectl(t, "-n", ns, "get", "jobs", "-o", "name")
		if !strings.Contains(jobs, "job.batch/tick-") {
			t.Errorf("jobs %q: want tick-<minute>", jobs)
		}
	})

	t.Run("StatefulSetOrdered", func(t *testing.T) {
		t.Parallel()
		ns := "sts"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: db, namespace: %[1]s}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 8080}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: %[1]s}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: %[2]s
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
`, ns, v1))
		s.mustKubectl(t, "-n", ns, "rollout", "status", "statefulset/db", "--timeout=90s")
		var list struct {
			Items []struct {
				Metadata struct {
					Name              string
					CreationTimestamp time.Time
				}
				Status struct {
					Conditions []struct {
						Type               string
						Status             string
						LastTransitionTime time.Time
					}
				}
			}
		}
		s.getJSON(t, &list, "-n", ns, "pods", "-l", "app=db")
		ready := map[string]time.Time{}
		created := map[string]time.Time{}
		for _, p := range list.Items {
			created[p.Metadata.Name] = p.Metadata.CreationTimestamp
			for _, c := range p.Status.Conditions {
				if c.Type == "Ready" && c.Status == "True" {
					ready[p.Metadata.Name] = c.LastTransitionTime
				}
			}
		}
		for i := 0; i < 3; i++ {
			if _, ok := ready[fmt.Sprintf("db-%d", i)]; !ok {
				t.Fatalf("pods %v: want db-0, db-1, db-2 ready", ready)
			}
		}
		// OrderedReady: each pod is created only once its predecessor is
		// ready (timestamps have one-second precision).
		for i := 1; i < 3; i++ {
			prev, cur := fmt.Sprintf("db-%d", i-1), fmt.Sprintf("db-%d", i)
			if created[cur].Before(ready[prev]) {
				t.Errorf("%s created at %v before %s was ready at %v", cur, created[cur], prev, ready[prev])
			}
		}
		if h := s.mustKubectl(t, "-n", ns, "exec", "db-1", "--", "hostname"); strings.TrimSpace(h) != "db-1" {
			t.Errorf("hostname of db-1: %q", h)
		}
		if r := row(s.mustKubectl(t, "-n", ns, "get", "statefulset", "db"), "db"); len(r) < 2 || r[1] != "3/3" {
			t.Errorf("kubectl get statefulset: %q", r)
		}
		if out := s.mustKubectl(t, "-n", ns, "get", "controllerrevisions", "-o", "wide"); !strings.Contains(out, "statefulset.apps/db") {
			t.Errorf("controllerrevisions:\n%s", out)
		}
	})

	t.Run("DaemonSetOnTheNode", func(t *testing.T) {
		t.Parallel()
		ns := "ds"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: %[1]s}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: %[2]s}]
`, ns, v1))
		s.mustKubectl(t, "-n", ns, "rollout", "status", "daemonset/agent", "--timeout=60s")
		node := strings.TrimSpace(s.mustKubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
		got := s.mustKubectl(t, "-n", ns, "get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.nodeName}")
		if got != node {
			t.Errorf("daemon pods on %q, want one on %q", got, node)
		}
		if r := row(s.mustKubectl(t, "-n", ns, "get", "daemonset", "agent"), "agent"); len(r) < 6 || r[1] != "1" || r[3] != "1" {
			t.Errorf("kubectl get daemonset: %q, want DESIRED 1 READY 1", r)
		}
	})

	t.Run("CascadingDeletion", func(t *testing.T) {
		t.Parallel()
		ns := "cascade"
		s.namespace(t, ns)
		for _, name := range []string{"bg", "fg", "orphan"} {
			s.apply(t, fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: web, image: %[3]s}]
`, name, ns, v1))
		}
		for _, name := range []string{"bg", "fg", "orphan"} {
			s.mustKubectl(t, "-n", ns, "rollout", "status", "deployment/"+name, "--timeout=60s")
		}
		gone := func(what string, args ...string) {
			t.Helper()
			eventually(t, 40*time.Second, func() error {
				out, _, err := s.kubectl(append([]string{"-n", ns, "get", "-o", "name"}, args...)...)
				if err != nil || strings.TrimSpace(out) != "" {
					return fmt.Errorf("%s: still there: %q %v", what, out, err)
				}
				return nil
			})
		}
		// Background: the owner goes at once, the collector removes the rest.
		s.mustKubectl(t, "-n", ns, "delete", "deployment", "bg", "--cascade=background")
		gone("background", "rs,pods", "-l", "app=bg")

		// Foreground: the owner stays, marked, until its dependents are gone.
		s.mustKubectl(t, "-n", ns, "delete", "deployment", "fg", "--cascade=foreground", "--wait=false")
		if fin, _, err := s.kubectl("-n", ns, "get", "deployment", "fg", "-o", "jsonpath={.metadata.finalizers}"); err == nil && !strings.Contains(fin, "foregroundDeletion") {
			t.Errorf("foreground deletion: finalizers %q, want foregroundDeletion", fin)
		}
		gone("foreground", "deployment/fg", "--ignore-not-found")
		gone("foreground dependents", "rs,pods", "-l", "app=fg")

		// Orphan: the ReplicaSet and its pod stay, without the owner.
		rs := strings.TrimSpace(s.mustKubectl(t, "-n", ns, "get", "rs", "-l", "app=orphan", "-o", "name"))
		s.mustKubectl(t, "-n", ns, "delete", "deployment", "orphan", "--cascade=orphan")
		gone("orphan owner", "deployment/orphan", "--ignore-not-found")
		var rsObj struct {
			Metadata struct{ OwnerReferences []json.RawMessage }
			Status   struct{ ReadyReplicas int }
		}
		s.getJSON(t, &rsObj, "-n", ns, rs)
		if len(rsObj.Metadata.OwnerReferences) != 0 || rsObj.Status.ReadyReplicas != 1 {
			t.Errorf("orphaned %s: ownerReferences %s, ready %d", rs, rsObj.Metadata.OwnerReferences, rsObj.Status.ReadyReplicas)
		}
		if phase := s.mustKubectl(t, "-n", ns, "get", "pods", "-l", "app=orphan", "-o", "jsonpath={.items[*].status.phase}"); phase != "Running" {
			t.Errorf("orphaned pods: phase %q, want Running", phase)
		}
	})

	t.Run("ReplicaSetAdoptsAndReleases", func(t *testing.T) {
		t.Parallel()
		ns := "adopt"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: stray, namespace: %[1]s, labels: {app: adopt}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: web, image: %[2]s}]
`, ns, v1))
		s.waitPod(t, ns, "stray", "{.status.phase}", "Running", 60*time.Second)
		s.apply(t, fmt.Sprintf(`
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: adopt, namespace: %[1]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: adopt}}
  template:
    metadata: {labels: {app: adopt}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: web, image: %[2]s}]
`, ns, v1))
		// The matching orphan is adopted instead of a new pod being made.
		s.waitPod(t, ns, "stray", "{.metadata.ownerReferences[0].name}", "adopt", 30*time.Second)
		if pods := s.mustKubectl(t, "-n", ns, "get", "pods", "-o", "name"); strings.TrimSpace(pods) != "pod/stray" {
			t.Errorf("pods after adoption: %q, want only pod/stray", pods)
		}
		// Relabelled, it is released and replaced.
		s.mustKubectl(t, "-n", ns, "label", "pod", "stray", "app=other", "--overwrite")
		s.waitPod(t, ns, "stray", "{.metadata.ownerReferences}", "", 30*time.Second)
		eventually(t, 30*time.Second, func() error {
			out := s.mustKubectl(t, "-n", ns, "get", "pods", "-l", "app=adopt", "-o", "jsonpath={.items[*].metadata.ownerReferences[0].name}")
			if out != "adopt" {
				return fmt.Errorf("pods owned by the ReplicaSet: %q, want one", out)
			}
			return nil
		})
	})

	t.Run("BadInput", func(t *testing.T) {
		t.Parallel()
		ns := "bad"
		s.namespace(t, ns)
		_, stderr, err := s.kubectlIn(fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: mismatch, namespace: %s}
spec:
  selector: {matchLabels: {app: a}}
  template:
    metadata: {labels: {app: b}}
    spec: {containers: [{name: c, image: busybox}]}
`, ns), "apply", "-f", "-")
		want := "The Deployment \"mismatch\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"b\"}: `selector` does not match template `labels`"
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("selector/template mismatch: err %v, stderr %q, want %q", err, stderr, want)
		}
		_, stderr, err = s.kubectl("-n", ns, "create", "cronjob", "c", "--image=busybox", "--schedule=every minute")
		if err == nil || !strings.Contains(stderr, `spec.schedule: Invalid value: "every minute"`) {
			t.Errorf("bad schedule: err %v stderr %q", err, stderr)
		}
		s.mustKubectl(t, "-n", ns, "create", "deployment", "d", "--image=busybox", "--replicas=0")
		_, stderr, err = s.kubectl("-n", ns, "patch", "deployment", "d", "--type=merge", "-p",
			`{"spec":{"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}}}}}`)
		if err == nil || !strings.Contains(stderr, "field is immutable") {
			t.Errorf("selector change: err %v stderr %q", err, stderr)
		}
	})
}
