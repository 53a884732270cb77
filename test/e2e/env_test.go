package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// TestEnv checks the container environment on real containers: the
// downward API examples of the Kubernetes documentation, service links,
// precedence and $(VAR) expansion, configuration errors that heal, and
// `berth explain env`.
func TestEnv(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/envimage:v1", testregistry.Image{
		Env: []string{"IMG_ONLY=from-image", "PREC_SVC_SERVICE_HOST=from-image", "LAYER=from-image"},
	})

	// envOf reads a pod's printed environment (`env` as its first output).
	envOf := func(t *testing.T, ns, pod string) map[string]string {
		t.Helper()
		var out string
		eventually(t, 30*time.Second, func() error {
			o, stderr, err := s.kubectl("-n", ns, "logs", pod)
			if err != nil || !strings.Contains(o, "END-OF-ENV") {
				return fmt.Errorf("logs of %s: %q %s %v", pod, s.redactString(o), stderr, err)
			}
			out = o
			return nil
		})
		m := map[string]string{}
		for _, line := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				m[k] = v
			}
		}
		return m
	}
	expect := func(t *testing.T, env map[string]string, want map[string]string) {
		t.Helper()
		for k, v := range want {
			got, ok := env[k]
			switch {
			case v == "<unset>" && ok:
				t.Errorf("%s is set (%q), want unset", k, s.redactString(got))
			case v != "<unset>" && got != v:
				t.Errorf("%s = %q (set: %v), want %q", k, s.redactString(got), ok, s.redactString(v))
			}
		}
	}
	printEnv := `["sh", "-c", "env; echo END-OF-ENV; sleep 3600"]`

	t.Run("DownwardAPIDocs", func(t *testing.T) {
		t.Parallel()
		ns := "dapi"
		s.namespace(t, ns)
		// kubernetes.io: "Expose Pod Information to Containers Through
		// Environment Variables", both examples.
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: dapi-envars-fieldref, namespace: %[1]s}
spec:
  containers:
  - name: test-container
    image: %[2]s
    command: ["sh", "-c"]
    args:
    - |
      printenv() { for v in "$@"; do eval "echo \"\$$$v\""; done; }  # this busybox has no printenv applet
      printenv MY_NODE_NAME MY_POD_NAME MY_POD_NAMESPACE
      printenv MY_POD_IP MY_POD_SERVICE_ACCOUNT
    env:
    - {name: MY_NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: MY_POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: MY_POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: MY_POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MY_POD_SERVICE_ACCOUNT, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
  restartPolicy: Never
---
apiVersion: v1
kind: Pod
metadata: {name: dapi-envars-resourcefieldref, namespace: %[1]s}
spec:
  containers:
  - name: test-container
    image: %[2]s
    command: ["sh", "-c"]
    args:
    - |
      printenv() { for v in "$@"; do eval "echo \"\$$$v\""; done; }  # this busybox has no printenv applet
      printenv MY_CPU_REQUEST MY_CPU_LIMIT
      printenv MY_MEM_REQUEST MY_MEM_LIMIT
      printenv CPU_MILLI MEM_MI SIDE_CPU NO_LIMIT_MEM_MI
    resources:
      requests: {memory: "32Mi", cpu: "125m"}
      limits: {memory: "64Mi", cpu: "250m"}
    env:
    - {name: MY_CPU_REQUEST, valueFrom: {resourceFieldRef: {containerName: test-container, resource: requests.cpu}}}
    - {name: MY_CPU_LIMIT, valueFrom: {resourceFieldRef: {containerName: test-container, resource: limits.cpu}}}
    - {name: MY_MEM_REQUEST, valueFrom: {resourceFieldRef: {containerName: test-container, resource: requests.memory}}}
    - {name: MY_MEM_LIMIT, valueFrom: {resourceFieldRef: {containerName: test-container, resource: limits.memory}}}
    - {name: CPU_MILLI, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: 1m}}}
    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: requests.memory, divisor: 1Mi}}}
    - {name: SIDE_CPU, valueFrom: {resourceFieldRef: {containerName: side, resource: limits.cpu, divisor: 1m}}}
    - {name: NO_LIMIT_MEM_MI, valueFrom: {resourceFieldRef: {containerName: side, resource: limits.memory, divisor: 1Mi}}}
  - name: side
    image: %[2]s
    command: ["true"]
    resources:
      limits: {cpu: "1500m"}
  restartPolicy: Never
`, ns, image))
		for _, pod := range []string{"dapi-envars-fieldref", "dapi-envars-resourcefieldref"} {
			eventually(t, 60*time.Second, func() error {
				if p := s.podField(t, ns, pod, "{.status.phase}"); p != "Succeeded" && p != "Failed" {
					return fmt.Errorf("pod %s is %q", pod, p)
				}
				return nil
			})
		}
		node := s.podField(t, ns, "dapi-envars-fieldref", "{.spec.nodeName}")
		ip := s.podField(t, ns, "dapi-envars-fieldref", "{.status.podIP}")
		if node == "" || ip == "" {
			t.Fatalf("pod has node %q, IP %q", node, ip)
		}
		want := strings.Join([]string{node, "dapi-envars-fieldref", ns, ip, "default"}, "\n")
		if out := strings.TrimSpace(s.mustKubectl(t, "-n", ns, "logs", "dapi-envars-fieldref")); out != want {
			t.Errorf("fieldRef example printed %q, want %q", out, want)
		}
		// The documented output (1 1 33554432 67108864), then divisors,
		// another container, and node allocatable for a missing limit.
		allocMem := s.mustKubectl(t, "get", "node", node, "-o", "jsonpath={.status.allocatable.memory}")
		memMi := "<unknown>"
		var n int64
		if _, err := fmt.Sscanf(allocMem, "%dKi", &n); err == nil {
			memMi = fmt.Sprint((n + 1023) / 1024)
		} else if _, err := fmt.Sscanf(allocMem, "%d", &n); err == nil {
			memMi = fmt.Sprint((n + 1<<20 - 1) >> 20)
		}
		want = strings.Join([]string{"1", "1", "33554432", "67108864", "250", "32", "1500", memMi}, "\n")
		if out := strings.TrimSpace(s.mustKubectl(t, "-n", ns, "logs", "dapi-envars-resourcefieldref", "-c", "test-container")); out != want {
			t.Errorf("resourceFieldRef example printed %q, want %q (node allocatable memory %s)", out, want, allocMem)
		}
	})

	t.Run("ServiceLinks", func(t *testing.T) {
		t.Parallel()
		ns := "links"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: before-svc, namespace: %[1]s}
spec:
  selector: {app: nothing}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: dns-udp, port: 5353, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: %[1]s}
spec:
  clusterIP: None
  selector: {app: nothing}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: external, namespace: %[1]s}
spec:
  type: ExternalName
  externalName: example.com
`, ns))
		ip := s.mustKubectl(t, "-n", ns, "get", "svc", "before-svc", "-o", "jsonpath={.spec.clusterIP}")
		kip := s.mustKubectl(t, "-n", "default", "get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
		kport := s.mustKubectl(t, "-n", "default", "get", "svc", "kubernetes", "-o", "jsonpath={.spec.ports[0].port}")
		if ip == "" || kip == "" {
			t.Fatalf("ClusterIPs: before-svc %q, kubernetes %q", ip, kip)
		}
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: links-on, namespace: %[1]s}
spec:
  containers: [{name: c, image: %[2]s, command: %[3]s}]
---
apiVersion: v1
kind: Pod
metadata: {name: links-off, namespace: %[1]s}
spec:
  enableServiceLinks: false
  containers: [{name: c, image: %[2]s, command: %[3]s}]
`, ns, image, printEnv))
		s.waitPod(t, ns, "links-on", "{.status.phase}", "Running", 60*time.Second)
		s.waitPod(t, ns, "links-off", "{.status.phase}", "Running", 60*time.Second)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: after-svc, namespace: %s}
spec:
  selector: {app: nothing}
  ports: [{port: 81}]
`, ns))
		on := envOf(t, ns, "links-on")
		expect(t, on, map[string]string{
			"BEFORE_SVC_SERVICE_HOST":         ip,
			"BEFORE_SVC_SERVICE_PORT":         "80",
			"BEFORE_SVC_SERVICE_PORT_HTTP":    "80",
			"BEFORE_SVC_SERVICE_PORT_DNS_UDP": "5353",
			"BEFORE_SVC_PORT":                 "tcp://" + ip + ":80",
			"BEFORE_SVC_PORT_80_TCP":          "tcp://" + ip + ":80",
			"BEFORE_SVC_PORT_80_TCP_PROTO":    "tcp",
			"BEFORE_SVC_PORT_80_TCP_PORT":     "80",
			"BEFORE_SVC_PORT_80_TCP_ADDR":     ip,
			"BEFORE_SVC_PORT_5353_UDP":        "udp://" + ip + ":5353",
			"BEFORE_SVC_PORT_5353_UDP_PROTO":  "udp",
			"BEFORE_SVC_PORT_5353_UDP_PORT":   "5353",
			"BEFORE_SVC_PORT_5353_UDP_ADDR":   ip,
			"KUBERNETES_SERVICE_HOST":         kip,
			"KUBERNETES_SERVICE_PORT":         kport,
			"KUBERNETES_PORT":                 "tcp://" + kip + ":" + kport,
			"HEADLESS_SERVICE_HOST":           "<unset>",
			"EXTERNAL_SERVICE_HOST":           "<unset>",
		})
		for k := range on {
			if strings.HasPrefix(k, "AFTER_SVC_") {
				t.Errorf("a Service created after the container gave %s", k)
			}
		}
		off := envOf(t, ns, "links-off")
		for k := range off {
			if (strings.Contains(k, "_SERVICE_") || strings.Contains(k, "_PORT")) && !strings.HasPrefix(k, "KUBERNETES_") && k != "PREC_SVC_SERVICE_HOST" /* image ENV */ {
				t.Errorf("enableServiceLinks: false still gave %s", k)
			}
		}
		expect(t, off, map[string]string{"KUBERNETES_SERVICE_HOST": kip, "KUBERNETES_PORT_" + kport + "_TCP_ADDR": kip})
	})

	t.Run("PrecedenceExpansionExplain", func(t *testing.T) {
		t.Parallel()
		ns := "prec"
		s.namespace(t, ns)
		password := randomString("pw-")
		s.addSecret(password)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: prec-svc, namespace: %[1]s}
spec:
  selector: {app: nothing}
  ports: [{port: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: layers, namespace: %[1]s}
data:
  LAYER: from-configmap
  ENV_WINS: from-configmap
  PREC_SVC_SERVICE_PORT: from-configmap
  CM_ONLY: from-configmap
---
apiVersion: v1
kind: Secret
metadata: {name: creds, namespace: %[1]s}
stringData:
  PASSWORD: %[2]s
`, ns, password))
		ip := s.mustKubectl(t, "-n", ns, "get", "svc", "prec-svc", "-o", "jsonpath={.spec.clusterIP}")
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: prec, namespace: %[1]s}
spec:
  containers:
  - name: c
    image: %[2]s
    command:
    - sh
    - -c
    - |
      env | grep -vF "$PW"
      for v in PW S_PASSWORD DSN; do eval "x=\$$$v"; echo "${v}_SHA=$(printf %%s "$x" | sha256sum | cut -c1-64)"; done
      echo "ARGS=$0|$1"
      echo END-OF-ENV
      sleep 3600
    - $(ENV_WINS)
    - $$(ENV_WINS)
    envFrom:
    - configMapRef: {name: layers}
    - prefix: S_
      secretRef: {name: creds}
    - secretRef: {name: not-there, optional: true}
    env:
    - {name: ENV_WINS, value: from-env}
    - {name: FWD, value: "$(LATER)"}
    - {name: LATER, value: later}
    - {name: ESC, value: "$$(LAYER)"}
    - {name: REF, value: "$(PREC_SVC_SERVICE_HOST):$(ENV_WINS):$(CM_ONLY)"}
    - {name: OPT, valueFrom: {configMapKeyRef: {name: not-there, key: k, optional: true}}}
    - {name: OPT_KEY, valueFrom: {configMapKeyRef: {name: layers, key: nope, optional: true}}}
    - {name: PW, valueFrom: {secretKeyRef: {name: creds, key: PASSWORD}}}
    - {name: DSN, value: "db://u:$(PW)@db"}
    - {name: MY_POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
`, ns, image))
		s.waitPod(t, ns, "prec", "{.status.phase}", "Running", 60*time.Second)
		env := envOf(t, ns, "prec")
		expect(t, env, map[string]string{
			"ENV_WINS":              "from-env",       // env over envFrom
			"PREC_SVC_SERVICE_PORT": "from-configmap", // envFrom over service links
			"PREC_SVC_SERVICE_HOST": ip,               // service links over image ENV
			"LAYER":                 "from-configmap", // envFrom over image ENV
			"IMG_ONLY":              "from-image",
			"FWD":                   "$(LATER)", // forward reference stays literal
			"LATER":                 "later",
			"ESC":                   "$(LAYER)",
			"REF":                   ip + ":from-env:from-configmap",
			"OPT":                   "<unset>",
			"OPT_KEY":               "<unset>",
			// Secret values only as hashes: they must not reach any output.
			"PW_SHA":         sha(password),
			"S_PASSWORD_SHA": sha(password),
			"DSN_SHA":        sha("db://u:" + password + "@db"),
			"MY_POD":         "prec",
			"ARGS":           "from-env|$(ENV_WINS)",
		})

		// berth explain env, through the API server's node proxy.
		out, err := exec.Command(berthBin, "explain", "env", "prec", "-n", ns, "--kubeconfig", s.kubeconfig).CombinedOutput()
		text := string(out)
		if red, leaked := s.redact(text); leaked {
			t.Errorf("explain env printed a secret value:\n%s", red)
		}
		if err != nil {
			t.Fatalf("berth explain env: %v\n%s", err, s.redactString(text))
		}
		for _, want := range []string{
			"(node ",
			"IMG_ONLY", "image ENV",
			"service link of Service " + ns + "/prec-svc",
			`envFrom[0] configMap "layers" key "LAYER"`,
			`envFrom[1] secret "creds" key "PASSWORD" with prefix "S_"`,
			"(secret, hidden: --show-secrets)",
			"$(LATER) left as written (defined later, in env[2]",
			"$$ is an escaped $",
			"expanded $(PREC_SVC_SERVICE_HOST), $(ENV_WINS), $(CM_ONLY)",
			`env[7] secretKeyRef "creds" key "PASSWORD"`,
			"env[9] fieldRef metadata.name",
			"overrides envFrom[0] configMap layers",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("explain env output lacks %q:\n%s", want, s.redactString(text))
			}
		}
		// Order: image ENV first, then envFrom, env, then service links.
		if i, j := strings.Index(text, "IMG_ONLY"), strings.Index(text, "MY_POD"); i < 0 || j < 0 || i > j {
			t.Errorf("explain env order: image ENV not before env")
		}
		// --show-secrets reads them from the API.
		out, err = exec.Command(berthBin, "explain", "env", "prec", "-n", ns, "-c", "c", "--show-secrets", "--kubeconfig", s.kubeconfig).CombinedOutput()
		if err != nil || !strings.Contains(string(out), password) {
			t.Errorf("explain env --show-secrets: %v\n%s", err, s.redactString(string(out)))
		}
	})

	t.Run("MissingConfigMapHeals", func(t *testing.T) {
		t.Parallel()
		ns := "heal"
		s.namespace(t, ns)
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: waits, namespace: %[1]s}
spec:
  containers:
  - name: c
    image: %[2]s
    command: %[3]s
    env:
    - {name: LATE, valueFrom: {configMapKeyRef: {name: late, key: value}}}
`, ns, image, printEnv))
		s.waitPod(t, ns, "waits", "{.status.containerStatuses[0].state.waiting.reason}", "CreateContainerConfigError", 60*time.Second)
		if msg := s.podField(t, ns, "waits", "{.status.containerStatuses[0].state.waiting.message}"); msg != `configmap "late" not found` {
			t.Errorf("waiting message %q, want Kubernetes' `configmap \"late\" not found`", msg)
		}
		s.mustKubectl(t, "-n", ns, "create", "configmap", "late", "--from-literal=value=arrived")
		s.waitPod(t, ns, "waits", "{.status.phase}", "Running", 60*time.Second)
		expect(t, envOf(t, ns, "waits"), map[string]string{"LATE": "arrived"})
	})

	t.Run("SubPathExprAndFileKeyRef", func(t *testing.T) {
		t.Parallel()
		ns := "files"
		s.namespace(t, ns)
		// subPathExpr sees status.podIP on the first start; fileKeyRef reads
		// an env file an init container wrote into an emptyDir.
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: files, namespace: %[1]s}
spec:
  volumes: [{name: data, emptyDir: {}}]
  initContainers:
  - name: write
    image: %[2]s
    command: ["sh", "-c", "echo \"DB_HOST='db.example'\" > /data/app.env"]
    volumeMounts: [{name: data, mountPath: /data}]
  containers:
  - name: c
    image: %[2]s
    command: %[3]s
    env:
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: DB_HOST, valueFrom: {fileKeyRef: {volumeName: data, path: app.env, key: DB_HOST}}}
    - {name: MISSING_OK, valueFrom: {fileKeyRef: {volumeName: data, path: app.env, key: NOPE, optional: true}}}
    volumeMounts:
    - {name: data, mountPath: /by-ip, subPathExpr: "$(POD_IP)"}
    - {name: data, mountPath: /data}
`, ns, image, printEnv))
		s.waitPod(t, ns, "files", "{.status.phase}", "Running", 60*time.Second)
		ip := s.podField(t, ns, "files", "{.status.podIP}")
		expect(t, envOf(t, ns, "files"), map[string]string{"POD_IP": ip, "DB_HOST": "db.example", "MISSING_OK": "<unset>"})
		s.mustKubectl(t, "-n", ns, "exec", "files", "-c", "c", "--", "touch", "/by-ip/marker")
		// The marker is in the emptyDir's directory named after the pod IP.
		out, _, err := s.kubectl("-n", ns, "exec", "files", "-c", "c", "--", "ls", "/data/"+ip)
		if err != nil || !strings.Contains(out, "marker") {
			t.Errorf("subPathExpr mount: %q %v", out, err)
		}
	})
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
