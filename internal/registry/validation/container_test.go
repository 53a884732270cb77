package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const c0 = "spec.containers[0]"

func TestValidateContainerPorts(t *testing.T) {
	tests := []struct {
		name  string
		ports []corev1.ContainerPort
		want  []want
	}{
		{"valid", []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: "TCP"}, {Name: "dns", ContainerPort: 53, Protocol: "UDP"}}, nil},
		{"no container port", []corev1.ContainerPort{{Protocol: "TCP"}}, []want{req(c0 + ".ports[0].containerPort")}},
		{"port out of range", []corev1.ContainerPort{{ContainerPort: 70000, Protocol: "TCP"}},
			[]want{inv(c0+".ports[0].containerPort", "must be between 1 and 65535, inclusive")}},
		{"host port out of range", []corev1.ContainerPort{{ContainerPort: 80, HostPort: -1, Protocol: "TCP"}},
			[]want{inv(c0+".ports[0].hostPort", "must be between 1 and 65535, inclusive")}},
		{"name too long", []corev1.ContainerPort{{Name: "a-very-long-port-name", ContainerPort: 80, Protocol: "TCP"}},
			[]want{inv(c0+".ports[0].name", "must be no more than 15 characters")}},
		{"name without letter", []corev1.ContainerPort{{Name: "8080", ContainerPort: 80, Protocol: "TCP"}},
			[]want{inv(c0+".ports[0].name", "must contain at least one letter (a-z)")}},
		{"duplicate name", []corev1.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: "TCP"}, {Name: "http", ContainerPort: 81, Protocol: "TCP"}},
			[]want{dup(c0 + ".ports[1].name")}},
		{"protocol empty", []corev1.ContainerPort{{ContainerPort: 80}}, []want{req(c0 + ".ports[0].protocol")}},
		{"protocol unknown", []corev1.ContainerPort{{ContainerPort: 80, Protocol: "ICMP"}},
			[]want{unsupported(c0+".ports[0].protocol", `supported values: "SCTP", "TCP", "UDP"`)}},
		{"same host port twice", []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}, {ContainerPort: 81, HostPort: 8080, Protocol: "TCP"}},
			[]want{dup(c0 + ".ports[1].hostPort")}},
		{"same host port, other protocol", []corev1.ContainerPort{{ContainerPort: 53, HostPort: 53, Protocol: "TCP"}, {ContainerPort: 53, HostPort: 53, Protocol: "UDP"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.Containers[0].Ports = tt.ports
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}
}

func TestValidateEnv(t *testing.T) {
	src := func(s corev1.EnvVarSource) *corev1.EnvVarSource { return &s }
	field := func(path string) *corev1.EnvVarSource {
		return src(corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}})
	}
	secretRef := func(name, key string) *corev1.EnvVarSource {
		return src(corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}})
	}
	const e = c0 + ".env[0]"
	tests := []struct {
		name string
		env  corev1.EnvVar
		want []want
	}{
		{"plain", corev1.EnvVar{Name: "HOME", Value: "/root"}, nil},
		{"relaxed name: digits first, dots, dashes", corev1.EnvVar{Name: "1my.var-x"}, nil},
		{"relaxed name: spaces", corev1.EnvVar{Name: "MY VAR"}, nil},
		{"no name", corev1.EnvVar{Value: "x"}, []want{req(e + ".name")}},
		{"name with =", corev1.EnvVar{Name: "A=B"}, []want{inv(e+".name", "a valid environment variable name must consist only of printable ASCII characters other than '='")}},
		{"name with non-ASCII", corev1.EnvVar{Name: "ÄPFEL"}, []want{inv(e+".name", "printable ASCII")}},
		{"fieldRef", corev1.EnvVar{Name: "POD", ValueFrom: field("metadata.name")}, nil},
		{"fieldRef label subscript", corev1.EnvVar{Name: "APP", ValueFrom: field("metadata.labels['app']")}, nil},
		{"fieldRef legacy spec.host", corev1.EnvVar{Name: "NODE", ValueFrom: field("spec.host")}, nil},
		{"fieldRef whole labels", corev1.EnvVar{Name: "L", ValueFrom: field("metadata.labels")},
			[]want{unsupported(e+".valueFrom.fieldRef.fieldPath", `"metadata.name"`)}},
		{"fieldRef unknown", corev1.EnvVar{Name: "X", ValueFrom: field("spec.nodeNamex")},
			[]want{inv(e+".valueFrom.fieldRef.fieldPath", "error converting fieldPath: field label not supported: spec.nodeNamex")}},
		{"fieldRef subscript on a plain field", corev1.EnvVar{Name: "X", ValueFrom: field("metadata.name['a']")},
			[]want{inv(e+".valueFrom.fieldRef.fieldPath", "field label does not support subscript")}},
		{"fieldRef other version", corev1.EnvVar{Name: "X", ValueFrom: src(corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v2", FieldPath: "metadata.name"}})},
			[]want{inv(e+".valueFrom.fieldRef.fieldPath", "unsupported pod version: v2")}},
		{"secretKeyRef", corev1.EnvVar{Name: "PW", ValueFrom: secretRef("db", "password")}, nil},
		{"secretKeyRef no key", corev1.EnvVar{Name: "PW", ValueFrom: secretRef("db", "")}, []want{req(e + ".valueFrom.secretKeyRef.key")}},
		{"secretKeyRef bad key", corev1.EnvVar{Name: "PW", ValueFrom: secretRef("db", "a b")}, []want{inv(e+".valueFrom.secretKeyRef.key", "a valid config key")}},
		{"secretKeyRef no name", corev1.EnvVar{Name: "PW", ValueFrom: secretRef("", "k")}, []want{inv(e+".valueFrom.secretKeyRef.name", "RFC 1123 subdomain")}},
		{"configMapKeyRef", corev1.EnvVar{Name: "C", ValueFrom: src(corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "k"}})}, nil},
		{"resourceFieldRef", corev1.EnvVar{Name: "CPU", ValueFrom: src(corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}})}, nil},
		{"resourceFieldRef unknown", corev1.EnvVar{Name: "G", ValueFrom: src(corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.gpu"}})},
			[]want{unsupported(e+".valueFrom.resourceFieldRef.resource", `"limits.cpu"`)}},
		{"resourceFieldRef bad divisor", corev1.EnvVar{Name: "CPU", ValueFrom: src(corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1Ki")}})},
			[]want{inv(e+".valueFrom.resourceFieldRef.divisor", "only divisor's values 1m and 1 are supported with the cpu resource")}},
		{"valueFrom empty", corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{}},
			[]want{inv(e+".valueFrom", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")}},
		{"value and valueFrom", corev1.EnvVar{Name: "X", Value: "v", ValueFrom: field("metadata.name")},
			[]want{inv(e+".valueFrom", "may not be specified when `value` is not empty")}},
		{"two sources", corev1.EnvVar{Name: "X", ValueFrom: src(corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}, SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}})},
			[]want{inv(e+".valueFrom", "may not have more than one field specified at a time")}},
		{"fileKeyRef", corev1.EnvVar{Name: "F", ValueFrom: src(corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "data", Path: "env", Key: "K", Optional: ptrTo(false)}})}, nil},
		{"fileKeyRef escaping path", corev1.EnvVar{Name: "F", ValueFrom: src(corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "data", Path: "../env", Key: "K"}})},
			[]want{inv(e+".valueFrom.fileKeyRef.path", "must not contain '..'")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.Containers[0].Env = []corev1.EnvVar{tt.env}
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}
}

func TestValidateEnvFrom(t *testing.T) {
	const e = c0 + ".envFrom"
	cm := &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}
	tests := []struct {
		name string
		src  corev1.EnvFromSource
		want []want
	}{
		{"configMap", corev1.EnvFromSource{ConfigMapRef: cm, Prefix: "CFG_"}, nil},
		{"none", corev1.EnvFromSource{}, []want{inv(e, "must specify one of: `configMapRef` or `secretRef`")}},
		{"both", corev1.EnvFromSource{ConfigMapRef: cm, SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
			[]want{inv(e, "may not have more than one field specified at a time")}},
		{"bad prefix", corev1.EnvFromSource{ConfigMapRef: cm, Prefix: "A="}, []want{inv(e+"[0].prefix", "other than '='")}},
		{"no name", corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{}}, []want{req(e + "[0].secretRef.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{tt.src}
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}
}

func TestValidateProbes(t *testing.T) {
	httpProbe := func() *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80), Scheme: "HTTP"}},
			TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3}
	}
	const l = c0 + ".livenessProbe"
	tests := []struct {
		name   string
		mutate func(c *corev1.Container)
		want   []want
	}{
		{"http liveness", func(c *corev1.Container) { c.LivenessProbe = httpProbe() }, nil},
		{"named port", func(c *corev1.Container) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.HTTPGet.Port = intstr.FromString("http")
		}, nil},
		{"no handler", func(c *corev1.Container) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.HTTPGet = nil
		}, []want{reqDetail(l, "must specify a handler type")}},
		{"two handlers", func(c *corev1.Container) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, []want{forb(l+".httpGet", "may not specify more than 1 handler type")}},
		{"exec without command", func(c *corev1.Container) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.HTTPGet, c.LivenessProbe.Exec = nil, &corev1.ExecAction{}
		}, []want{req(l + ".exec.command")}},
		{"liveness successThreshold", func(c *corev1.Container) { c.LivenessProbe = httpProbe(); c.LivenessProbe.SuccessThreshold = 2 },
			[]want{inv(l+".successThreshold", "must be 1")}},
		{"startup successThreshold", func(c *corev1.Container) { c.StartupProbe = httpProbe(); c.StartupProbe.SuccessThreshold = 2 },
			[]want{inv(c0+".startupProbe.successThreshold", "must be 1")}},
		{"readiness successThreshold may exceed 1", func(c *corev1.Container) { c.ReadinessProbe = httpProbe(); c.ReadinessProbe.SuccessThreshold = 3 }, nil},
		{"negative period", func(c *corev1.Container) { c.ReadinessProbe = httpProbe(); c.ReadinessProbe.PeriodSeconds = -1 },
			[]want{inv(c0+".readinessProbe.periodSeconds", "must be greater than or equal to 0")}},
		{"readiness grace period", func(c *corev1.Container) {
			c.ReadinessProbe = httpProbe()
			c.ReadinessProbe.TerminationGracePeriodSeconds = ptrTo(int64(5))
		},
			[]want{inv(c0+".readinessProbe.terminationGracePeriodSeconds", "must not be set for readinessProbes")}},
		{"probe grace period zero", func(c *corev1.Container) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.TerminationGracePeriodSeconds = ptrTo(int64(0))
		},
			[]want{inv(l+".terminationGracePeriodSeconds", "must be greater than 0")}},
		{"http port zero", func(c *corev1.Container) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.HTTPGet.Port = intstr.FromInt32(0)
		},
			[]want{inv(l+".httpGet.port", "must be between 1 and 65535, inclusive")}},
		{"http scheme", func(c *corev1.Container) { c.LivenessProbe = httpProbe(); c.LivenessProbe.HTTPGet.Scheme = "FTP" },
			[]want{unsupported(l+".httpGet.scheme", `supported values: "HTTP", "HTTPS"`)}},
		{"http path empty", func(c *corev1.Container) { c.LivenessProbe = httpProbe(); c.LivenessProbe.HTTPGet.Path = "" }, []want{req(l + ".httpGet.path")}},
		{"http header name", func(c *corev1.Container) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.HTTPGet.HTTPHeaders = []corev1.HTTPHeader{{Name: "X Bad", Value: "v"}}
		}, []want{inv(l+".httpGet.httpHeaders", "a valid HTTP header must consist of alphanumeric characters or '-'")}},
		{"grpc port", func(c *corev1.Container) {
			c.LivenessProbe = httpProbe()
			c.LivenessProbe.HTTPGet, c.LivenessProbe.GRPC = nil, &corev1.GRPCAction{Port: 0}
		}, []want{inv(l+".grpc.port", "must be between 1 and 65535, inclusive")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(&p.Spec.Containers[0])
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}
}

func TestValidateLifecycle(t *testing.T) {
	const lc = c0 + ".lifecycle"
	sleep := func(s int64) *corev1.LifecycleHandler {
		return &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: s}}
	}
	tests := []struct {
		name string
		lc   corev1.Lifecycle
		want []want
	}{
		{"exec postStart", corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}, nil},
		{"http preStop", corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/quit", Port: intstr.FromInt32(80), Scheme: "HTTP"}}}, nil},
		{"tcpSocket accepted (deprecated)", corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}}, nil},
		{"sleep zero allowed", corev1.Lifecycle{PreStop: sleep(0)}, nil},
		{"sleep equal to grace", corev1.Lifecycle{PreStop: sleep(30)}, nil},
		{"sleep negative", corev1.Lifecycle{PreStop: sleep(-1)},
			[]want{inv(lc+".preStop.sleep", "must be non-negative and less than terminationGracePeriodSeconds (30)")}},
		{"sleep beyond grace", corev1.Lifecycle{PostStart: sleep(31)},
			[]want{inv(lc+".postStart.sleep", "must be non-negative and less than terminationGracePeriodSeconds (30)")}},
		{"no handler", corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{}}, []want{reqDetail(lc+".postStart", "must specify a handler type")}},
		{"two handlers", corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"x"}}, Sleep: &corev1.SleepAction{Seconds: 1}}},
			[]want{forb(lc+".preStop.sleep", "may not specify more than 1 handler type")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.Containers[0].Lifecycle = &tt.lc
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}
}

func TestValidateInitAndEphemeralContainers(t *testing.T) {
	initC := func() corev1.Container {
		return corev1.Container{Name: "init", Image: "busybox", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"}
	}
	hook := &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}}
	const i0 = "spec.initContainers[0]"
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []want
	}{
		{"plain init container", func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{initC()} }, nil},
		{"init container with hook", func(p *corev1.Pod) {
			c := initC()
			c.Lifecycle = hook
			p.Spec.InitContainers = []corev1.Container{c}
		}, []want{forb(i0+".lifecycle", "may not be set for init containers without restartPolicy=Always")}},
		{"sidecar with hook and probe", func(p *corev1.Pod) {
			c := initC()
			c.RestartPolicy, c.Lifecycle = ptrTo(corev1.ContainerRestartPolicyAlways), hook
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1, TimeoutSeconds: 1}
			p.Spec.InitContainers = []corev1.Container{c}
		}, nil},
		{"init restartPolicy Never", func(p *corev1.Pod) {
			c := initC()
			c.RestartPolicy = ptrTo(corev1.ContainerRestartPolicy("Never"))
			p.Spec.InitContainers = []corev1.Container{c}
		}, []want{unsupported(i0+".restartPolicy", `supported values: "Always"`)}},
		{"regular container restartPolicy", func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptrTo(corev1.ContainerRestartPolicyAlways)
		}, []want{forb(c0+".restartPolicy", "may not be set for non-init containers")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}

	// Ephemeral containers arrive by update (ephemeralcontainers
	// subresource); the update must still pass pod validation.
	old := validPod()
	n := old.DeepCopy()
	n.Spec.EphemeralContainers = []corev1.EphemeralContainer{{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "app", Image: "busybox", ImagePullPolicy: "Always", TerminationMessagePolicy: "File",
			Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: "TCP"}}},
		TargetContainerName: "missing",
	}}
	const e0 = "spec.ephemeralContainers[0]"
	errs := ValidatePodUpdate(n, old)
	// Ephemeral containers may not change through a normal update either.
	expectErrs(t, errs,
		dup(e0+".name"),
		notFound(e0+".targetContainerName"),
		forb(e0+".ports", "cannot be set for an Ephemeral Container"),
		forb("spec", "pod updates may not change fields other than"),
	)
}

func TestValidateVolumes(t *testing.T) {
	const v0 = "spec.volumes[0]"
	mode := func(m int32) *int32 { return &m }
	tests := []struct {
		name   string
		vol    corev1.Volume
		mounts []corev1.VolumeMount
		want   []want
	}{
		{"emptyDir", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, nil, nil},
		{"no source", corev1.Volume{Name: "data"}, nil, []want{reqDetail(v0, "must specify a volume type")}},
		{"no name", corev1.Volume{VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, nil,
			[]want{req(v0 + ".name")}},
		{"bad name", corev1.Volume{Name: "Data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, nil,
			[]want{inv(v0+".name", "RFC 1123 label")}},
		{"two sources", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}}, nil,
			[]want{forb(v0+".hostPath", "may not specify more than 1 volume type")}},
		{"two sources, downward API (Kubernetes' spelling)", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, DownwardAPI: &corev1.DownwardAPIVolumeSource{}}}, nil,
			[]want{forb(v0+".downwarAPI", "may not specify more than 1 volume type")}},
		{"secret without name", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: mode(0644)}}}, nil,
			[]want{req(v0 + ".secret.secretName")}},
		{"secret bad mode", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: mode(01000)}}}, nil,
			[]want{inv(v0+".secret.defaultMode", "must be a number between 0 and 0777 (octal), both inclusive")}},
		{"configMap item escapes", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, DefaultMode: mode(0644), Items: []corev1.KeyToPath{{Key: "k", Path: "../x"}}}}}, nil,
			[]want{inv(v0+".configMap.items[0].path", "must not contain '..'")}},
		{"configMap item absolute", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, DefaultMode: mode(0644), Items: []corev1.KeyToPath{{Key: "k", Path: "/etc/x"}}}}}, nil,
			[]want{inv(v0+".configMap.items[0].path", "must be a relative path")}},
		{"hostPath type", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/x", Type: ptrTo(corev1.HostPathType("Pipe"))}}}, nil,
			[]want{unsupported(v0+".hostPath.type", `"", "BlockDevice", "CharDevice"`)}},
		{"hostPath backsteps", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/a/../etc", Type: ptrTo(corev1.HostPathUnset)}}}, nil,
			[]want{inv(v0+".hostPath.path", "must not contain '..'")}},
		{"pvc without claim", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}}, nil,
			[]want{req(v0 + ".persistentVolumeClaim.claimName")}},
		{"image volume", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "busybox", PullPolicy: "Always"}}}, nil, nil},
		{"image volume without reference", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{PullPolicy: "Always"}}}, nil,
			[]want{req(v0 + ".image.reference")}},
		{"downward API bad path", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{DefaultMode: mode(0644),
			Items: []corev1.DownwardAPIVolumeFile{{Path: "ip", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}}}}}, nil,
			[]want{unsupported(v0+".downwardAPI.fieldRef.fieldPath", `"metadata.annotations"`)}},
		{"projected duplicate paths", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: mode(0644), Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Items: []corev1.KeyToPath{{Key: "a", Path: "x"}}}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}, Items: []corev1.KeyToPath{{Key: "b", Path: "x"}}}},
		}}}}, nil, []want{inv(v0+".projected", "conflicting duplicate paths")}},
		{"mount of missing volume", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			[]corev1.VolumeMount{{Name: "other", MountPath: "/o"}}, []want{notFound(c0 + ".volumeMounts[0].name")}},
		{"mount of an invalid volume", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}},
			[]corev1.VolumeMount{{Name: "data", MountPath: "/d"}}, []want{req(v0 + ".persistentVolumeClaim.claimName"), notFound(c0 + ".volumeMounts[0].name")}},
		{"mount without path", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			[]corev1.VolumeMount{{Name: "data"}}, []want{req(c0 + ".volumeMounts[0].mountPath")}},
		{"mount path twice", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			[]corev1.VolumeMount{{Name: "data", MountPath: "/d"}, {Name: "data", MountPath: "/d"}}, []want{inv(c0+".volumeMounts[1].mountPath", "must be unique")}},
		{"subPath escapes (Kubernetes' path has no index)", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			[]corev1.VolumeMount{{Name: "data", MountPath: "/d", SubPath: "../x"}}, []want{inv(c0+".volumeMounts.subPath", "must not contain '..'")}},
		{"bidirectional needs privileged", corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			[]corev1.VolumeMount{{Name: "data", MountPath: "/d", MountPropagation: ptrTo(corev1.MountPropagationBidirectional)}},
			[]want{forb(c0+".volumeMounts.mountPropagation", "Bidirectional mount propagation is available only to privileged containers")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.Volumes = []corev1.Volume{tt.vol}
			// Mount only when the case is about mounts: an invalid volume is
			// also "not found" for its mounts, as in Kubernetes.
			p.Spec.Containers[0].VolumeMounts = tt.mounts
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}
}

func TestValidateDuplicateVolumes(t *testing.T) {
	p := validPod()
	p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0])
	expectErrs(t, ValidatePod(p), dup("spec.volumes[1].name"))
}

func TestValidateContainerSecurityContext(t *testing.T) {
	const sc = c0 + ".securityContext"
	tests := []struct {
		name string
		sc   corev1.SecurityContext
		want []want
	}{
		{"privileged allowed", corev1.SecurityContext{Privileged: ptrTo(true)}, nil},
		{"runAsUser", corev1.SecurityContext{RunAsUser: ptrTo(int64(-5))}, []want{inv(sc+".runAsUser", "must be between 0 and 2147483647, inclusive")}},
		{"no escalation but privileged", corev1.SecurityContext{Privileged: ptrTo(true), AllowPrivilegeEscalation: ptrTo(false)},
			[]want{inv(sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true")}},
		{"unmasked proc in host user namespace", corev1.SecurityContext{ProcMount: ptrTo(corev1.UnmaskedProcMount)},
			[]want{inv(sc+".procMount", "`hostUsers` must be false to use `Unmasked`")}},
		{"seccomp localhost without profile", corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}},
			[]want{reqDetail(sc+".seccompProfile.localhostProfile", "must be set when seccomp type is Localhost")}},
		{"apparmor unknown type", corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: "Strict"}},
			[]want{unsupported(sc+".appArmorProfile.type", `"Localhost", "RuntimeDefault", "Unconfined"`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.Containers[0].SecurityContext = &tt.sc
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}
}
