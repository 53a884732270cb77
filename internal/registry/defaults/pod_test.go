package defaults

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestPullPolicy(t *testing.T) {
	tests := []struct {
		image    string
		explicit corev1.PullPolicy
		want     corev1.PullPolicy
	}{
		{image: "nginx", want: corev1.PullAlways},
		{image: "nginx:latest", want: corev1.PullAlways},
		{image: "nginx:v1", want: corev1.PullIfNotPresent},
		{image: "nginx@" + digest, want: corev1.PullIfNotPresent},
		{image: "nginx:v1@" + digest, want: corev1.PullIfNotPresent},
		{image: "nginx:latest@" + digest, want: corev1.PullAlways},
		{image: "registry.example.com:5000/team/app", want: corev1.PullAlways},
		{image: "registry.example.com:5000/team/app:1.2", want: corev1.PullIfNotPresent},
		{image: "Nginx", want: corev1.PullIfNotPresent}, // unparseable: error ignored
		{image: "", want: corev1.PullIfNotPresent},
		{image: "nginx", explicit: corev1.PullNever, want: corev1.PullNever},
		{image: "nginx:v1", explicit: corev1.PullAlways, want: corev1.PullAlways},
		{image: "nginx:latest", explicit: corev1.PullIfNotPresent, want: corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image+"/"+string(tt.explicit), func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{
				Containers:          []corev1.Container{{Name: "c", Image: tt.image, ImagePullPolicy: tt.explicit}},
				InitContainers:      []corev1.Container{{Name: "i", Image: tt.image, ImagePullPolicy: tt.explicit}},
				EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "e", Image: tt.image, ImagePullPolicy: tt.explicit}}},
				Volumes:             []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: tt.image, PullPolicy: tt.explicit}}}},
			}}
			Pod(p)
			got := map[string]corev1.PullPolicy{
				"container":          p.Spec.Containers[0].ImagePullPolicy,
				"initContainer":      p.Spec.InitContainers[0].ImagePullPolicy,
				"ephemeralContainer": p.Spec.EphemeralContainers[0].ImagePullPolicy,
				"imageVolume":        p.Spec.Volumes[0].Image.PullPolicy,
			}
			for where, g := range got {
				if g != tt.want {
					t.Errorf("%s: imagePullPolicy = %q, want %q", where, g, tt.want)
				}
			}
		})
	}
}

func TestPullPolicyNotRederived(t *testing.T) {
	// Once stored the policy is no longer empty, so changing the tag later
	// keeps the old policy (k8s-semantics §1.3).
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:v1"}}}}
	Pod(p)
	p.Spec.Containers[0].Image = "nginx:latest"
	Pod(p)
	if got := p.Spec.Containers[0].ImagePullPolicy; got != corev1.PullIfNotPresent {
		t.Fatalf("imagePullPolicy = %q, want IfNotPresent", got)
	}
}

func TestPodSpecDefaults(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	Pod(p)
	s := p.Spec
	checks := []struct {
		name      string
		got, want any
	}{
		{"restartPolicy", s.RestartPolicy, corev1.RestartPolicyAlways},
		{"dnsPolicy", s.DNSPolicy, corev1.DNSClusterFirst},
		{"terminationGracePeriodSeconds", *s.TerminationGracePeriodSeconds, int64(30)},
		{"schedulerName", s.SchedulerName, "default-scheduler"},
		{"securityContext", *s.SecurityContext, corev1.PodSecurityContext{}},
		{"enableServiceLinks", *s.EnableServiceLinks, true},
		{"terminationMessagePath", s.Containers[0].TerminationMessagePath, "/dev/termination-log"},
		{"terminationMessagePolicy", s.Containers[0].TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"serviceAccount", s.DeprecatedServiceAccount, ""},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestPodSpecKeepsExplicitValues(t *testing.T) {
	grace := int64(0)
	links := false
	p := &corev1.Pod{Spec: corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		DNSPolicy:                     corev1.DNSDefault,
		TerminationGracePeriodSeconds: &grace,
		SchedulerName:                 "mine",
		EnableServiceLinks:            &links,
		Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			TerminationMessagePath:   "/tmp/msg",
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		}},
	}}
	want := p.DeepCopy()
	Pod(p)
	want.Spec.SecurityContext = &corev1.PodSecurityContext{}
	want.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	if !reflect.DeepEqual(p.Spec, want.Spec) {
		t.Fatalf("explicit values changed:\n got %#v\nwant %#v", p.Spec, want.Spec)
	}
}

func TestServiceAccountSync(t *testing.T) {
	tests := []struct {
		name, sa, deprecated, want string
	}{
		{name: "only new field", sa: "web", want: "web"},
		{name: "only deprecated field", deprecated: "old", want: "old"},
		{name: "both: new field wins", sa: "web", deprecated: "old", want: "web"},
		{name: "neither"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: tt.sa, DeprecatedServiceAccount: tt.deprecated}}
			Pod(p)
			if p.Spec.ServiceAccountName != tt.want || p.Spec.DeprecatedServiceAccount != tt.want {
				t.Fatalf("serviceAccountName=%q serviceAccount=%q, want both %q", p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount, tt.want)
			}
		})
	}
}

func TestContainerDefaults(t *testing.T) {
	c := corev1.Container{
		Name: "c", Image: "busybox:1",
		Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
		Env: []corev1.EnvVar{
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "LIM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "F", ValueFrom: &corev1.EnvVarSource{FileKeyRef: &corev1.FileKeySelector{VolumeName: "v", Path: "p", Key: "k"}}},
		},
		LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}, PeriodSeconds: 5},
		StartupProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, FailureThreshold: 30},
		Lifecycle: &corev1.Lifecycle{
			PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}},
			PreStop:   &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/quit", Scheme: corev1.URISchemeHTTPS}},
		},
	}
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	Pod(p)
	got := p.Spec.Containers[0]

	checks := []struct {
		name      string
		got, want any
	}{
		{"ports[0].protocol", got.Ports[0].Protocol, corev1.ProtocolTCP},
		{"ports[1].protocol", got.Ports[1].Protocol, corev1.ProtocolUDP},
		{"env[0].fieldRef.apiVersion", got.Env[0].ValueFrom.FieldRef.APIVersion, "v1"},
		{"env[1].resourceFieldRef.divisor", got.Env[1].ValueFrom.ResourceFieldRef.Divisor, resource.Quantity{}},
		{"env[2].fileKeyRef.optional", *got.Env[2].ValueFrom.FileKeyRef.Optional, false},
		{"liveness.timeoutSeconds", got.LivenessProbe.TimeoutSeconds, int32(1)},
		{"liveness.periodSeconds", got.LivenessProbe.PeriodSeconds, int32(10)},
		{"liveness.successThreshold", got.LivenessProbe.SuccessThreshold, int32(1)},
		{"liveness.failureThreshold", got.LivenessProbe.FailureThreshold, int32(3)},
		{"liveness.initialDelaySeconds", got.LivenessProbe.InitialDelaySeconds, int32(0)},
		{"liveness.httpGet.path", got.LivenessProbe.HTTPGet.Path, "/"},
		{"liveness.httpGet.scheme", got.LivenessProbe.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"readiness.periodSeconds kept", got.ReadinessProbe.PeriodSeconds, int32(5)},
		{"readiness.grpc.service", *got.ReadinessProbe.GRPC.Service, ""},
		{"startup.failureThreshold kept", got.StartupProbe.FailureThreshold, int32(30)},
		{"postStart.httpGet.path", got.Lifecycle.PostStart.HTTPGet.Path, "/"},
		{"postStart.httpGet.scheme", got.Lifecycle.PostStart.HTTPGet.Scheme, corev1.URISchemeHTTP},
		{"preStop.httpGet.path kept", got.Lifecycle.PreStop.HTTPGet.Path, "/quit"},
		{"preStop.httpGet.scheme kept", got.Lifecycle.PreStop.HTTPGet.Scheme, corev1.URISchemeHTTPS},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestRequestsFromLimits(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "x", Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("128Mi")},
			Requests: corev1.ResourceList{"cpu": resource.MustParse("100m")},
		}}},
		InitContainers: []corev1.Container{{Name: "i", Image: "x", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{"memory": resource.MustParse("1Gi")},
		}}},
		EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "e", Image: "x", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{"memory": resource.MustParse("1Gi")},
		}}}},
	}}
	Pod(p)
	req := p.Spec.Containers[0].Resources.Requests
	if q := req["cpu"]; q.String() != "100m" {
		t.Errorf("explicit cpu request = %s, want 100m", q.String())
	}
	if q := req["memory"]; q.String() != "128Mi" {
		t.Errorf("memory request = %s, want 128Mi from the limit", q.String())
	}
	if q := p.Spec.InitContainers[0].Resources.Requests["memory"]; q.String() != "1Gi" {
		t.Errorf("init memory request = %s, want 1Gi", q.String())
	}
	if p.Spec.EphemeralContainers[0].Resources.Requests != nil {
		t.Errorf("ephemeral containers get no requests from limits")
	}
}

func TestResourceRounding(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x", Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{"cpu": resource.MustParse("0.0001")},
	}}}}}
	Pod(p)
	for _, rl := range []corev1.ResourceList{p.Spec.Containers[0].Resources.Limits, p.Spec.Containers[0].Resources.Requests} {
		if q := rl["cpu"]; q.String() != "1m" {
			t.Errorf("cpu = %s, want rounded up to 1m", q.String())
		}
	}
}

func TestHostNetworkPorts(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "c", Image: "x",
		Ports: []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 9090, HostPort: 9090}}}}}}
	Pod(p)
	if hp := p.Spec.Containers[0].Ports[0].HostPort; hp != 8080 {
		t.Errorf("hostPort = %d, want 8080", hp)
	}
	noHost := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
	Pod(noHost)
	if hp := noHost.Spec.Containers[0].Ports[0].HostPort; hp != 0 {
		t.Errorf("hostPort without hostNetwork = %d, want 0", hp)
	}
}

func TestVolumeDefaults(t *testing.T) {
	mode := int32(0400)
	p := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "none"},
		{Name: "secret", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
		{Name: "secret-mode", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: &mode}}},
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}}},
		{Name: "down", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "n", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}},
		{Name: "empty", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
	}}}
	Pod(p)
	v := p.Spec.Volumes
	checks := []struct {
		name      string
		got, want any
	}{
		{"no source is emptyDir", v[0].EmptyDir, &corev1.EmptyDirVolumeSource{}},
		{"secret.defaultMode", *v[1].Secret.DefaultMode, int32(0644)},
		{"secret.defaultMode kept", *v[2].Secret.DefaultMode, int32(0400)},
		{"configMap.defaultMode", *v[3].ConfigMap.DefaultMode, int32(0644)},
		{"downwardAPI.defaultMode", *v[4].DownwardAPI.DefaultMode, int32(0644)},
		{"downwardAPI.items[0].fieldRef.apiVersion", v[4].DownwardAPI.Items[0].FieldRef.APIVersion, "v1"},
		{"projected.defaultMode", *v[5].Projected.DefaultMode, int32(0644)},
		{"projected.serviceAccountToken.expirationSeconds", *v[5].Projected.Sources[0].ServiceAccountToken.ExpirationSeconds, int64(3600)},
		{"projected.downwardAPI.fieldRef.apiVersion", v[5].Projected.Sources[1].DownwardAPI.Items[0].FieldRef.APIVersion, "v1"},
		{"hostPath.type", *v[6].HostPath.Type, corev1.HostPathUnset},
		{"emptyDir kept", v[7].EmptyDir.Medium, corev1.StorageMediumMemory},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestPodIdempotent(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "busybox", LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}}},
		Volumes:    []corev1.Volume{{Name: "v"}},
	}}
	Pod(p)
	once := p.DeepCopy()
	Pod(p)
	if !reflect.DeepEqual(once, p) {
		t.Fatalf("second defaulting changed the pod")
	}
}

func TestNilSafe(t *testing.T) {
	Pod(nil)
	Service(nil)
	Secret(nil)
	ConfigMap(nil)
	Namespace(nil)
	Node(nil)
	Endpoints(nil)
}

func TestNegativeTerminationGracePeriod(t *testing.T) {
	for _, tc := range []struct {
		in, want int64
	}{{-1, 1}, {-30, 1}, {0, 0}, {5, 5}} {
		p := &corev1.Pod{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &tc.in}}
		Pod(p)
		if got := *p.Spec.TerminationGracePeriodSeconds; got != tc.want {
			t.Errorf("terminationGracePeriodSeconds %d: stored %d, want %d", tc.in, got, tc.want)
		}
	}
}
