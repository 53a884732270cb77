package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestValidatePodSpec(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []want
	}{
		{"valid", func(*corev1.Pod) {}, nil},
		{"no name", func(p *corev1.Pod) { p.Name = "" }, []want{reqDetail("metadata.name", "name or generateName is required")}},
		{"upper-case name", func(p *corev1.Pod) { p.Name = "Web" }, []want{inv("metadata.name", "RFC 1123 subdomain")}},
		{"name with slash", func(p *corev1.Pod) { p.Name = "a/b" }, []want{inv("metadata.name", "RFC 1123 subdomain")}},
		{"no namespace", func(p *corev1.Pod) { p.Namespace = "" }, []want{req("metadata.namespace")}},
		{"bad label", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "a b"} }, []want{inv("metadata.labels", "a valid label")}},
		{"unqualified finalizer", func(p *corev1.Pod) { p.Finalizers = []string{"foo"} },
			[]want{inv("metadata.finalizers[0]", "name is neither a standard finalizer name nor is it fully qualified")}},
		{"standard finalizer", func(p *corev1.Pod) { p.Finalizers = []string{"orphan"} }, nil},
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, []want{req("spec.containers")}},
		{"container name empty", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, []want{req("spec.containers[0].name")}},
		{"container name not a label", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App_1" }, []want{inv("spec.containers[0].name", "RFC 1123 label")}},
		{"duplicate container names", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Ports = nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []want{dup("spec.containers[1].name")}},
		{"init container shares a name", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "app", Image: "busybox", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"}}
		}, []want{dup("spec.initContainers[0].name")}},
		{"image missing", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []want{req("spec.containers[0].image")}},
		{"image padded", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" },
			[]want{inv("spec.containers[0].image", "must not have leading or trailing whitespace")}},
		{"image only whitespace", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "   " },
			[]want{inv("spec.containers[0].image", "must not have leading or trailing whitespace")}},
		{"imagePullPolicy empty", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "" }, []want{req("spec.containers[0].imagePullPolicy")}},
		{"imagePullPolicy unknown", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" },
			[]want{unsupported("spec.containers[0].imagePullPolicy", `supported values: "Always", "IfNotPresent", "Never"`)}},
		{"terminationMessagePolicy empty", func(p *corev1.Pod) { p.Spec.Containers[0].TerminationMessagePolicy = "" },
			[]want{req("spec.containers[0].terminationMessagePolicy")}},
		{"restartPolicy empty", func(p *corev1.Pod) { p.Spec.RestartPolicy = "" }, []want{req("spec.restartPolicy")}},
		{"restartPolicy unknown", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" },
			[]want{unsupported("spec.restartPolicy", `supported values: "Always", "OnFailure", "Never"`)}},
		{"dnsPolicy empty", func(p *corev1.Pod) { p.Spec.DNSPolicy = "" }, []want{req("spec.dnsPolicy")}},
		{"dnsPolicy unknown", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Cluster" }, []want{unsupported("spec.dnsPolicy", `"ClusterFirstWithHostNet"`)}},
		{"dnsPolicy None without config", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone },
			[]want{reqDetail("spec.dnsConfig", "must provide `dnsConfig` when `dnsPolicy` is None")}},
		{"dnsConfig bad nameserver", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.2.3"}, Searches: []string{"example.com."}}
		}, []want{inv("spec.dnsConfig.nameservers[0]", "must be a valid IP address")}},
		{"grace period missing", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil }, []want{req("spec.terminationGracePeriodSeconds")}},
		{"negative grace period accepted", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptrTo(int64(-1)) }, nil},
		{"activeDeadlineSeconds zero", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(0)) },
			[]want{inv("spec.activeDeadlineSeconds", "must be between 1 and 2147483647, inclusive")}},
		{"bad hostname", func(p *corev1.Pod) { p.Spec.Hostname = "My_Host" }, []want{inv("spec.hostname", "RFC 1123 label")}},
		{"bad subdomain", func(p *corev1.Pod) { p.Spec.Subdomain = "a.b" }, []want{inv("spec.subdomain", "must not contain dots")}},
		{"bad serviceAccountName", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "Bad_SA" }, []want{inv("spec.serviceAccountName", "RFC 1123 subdomain")}},
		{"bad nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "node_1" }, []want{inv("spec.nodeName", "RFC 1123 subdomain")}},
		{"bad imagePullSecret name accepted", func(p *corev1.Pod) {
			// Only the shape is checked; a missing secret is the kubelet's problem.
			p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		}, nil},
		{"ephemeral containers on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", ImagePullPolicy: "Always", TerminationMessagePolicy: "File"}}}
		}, []want{forb("spec.ephemeralContainers", "cannot be set on create")}},
		{"nodeName with scheduling gates", func(p *corev1.Pod) {
			p.Spec.NodeName = "n1"
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}}
		}, []want{forb("spec.nodeName", "cannot be set until all schedulingGates have been cleared")}},
		{"projected token without service account", func(p *corev1.Pod) {
			p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount = "", ""
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "tok", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptrTo(int64(3600))}}}}}})
		}, []want{forb("spec.volumes[1].projected.sources[0].serviceAccountToken", "must not be specified when serviceAccountName is not set")}},
		{"hostNetwork port mismatch", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 8080
		}, []want{inv("spec.containers[0].ports[0].hostPort", "must match `containerPort` when `hostNetwork` is true")}},
		{"mirror annotation without node", func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} },
			[]want{inv("metadata.annotations[kubernetes.io/config.mirror]", "must set spec.nodeName if mirror pod annotation is set")}},
		{"deletion cost not a number", func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.PodDeletionCost: "high"} },
			[]want{inv("metadata.annotations[controller.kubernetes.io/pod-deletion-cost]", "must be a 32bit integer")}},
		{"toleration Exists with value", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Value: "v"}}
		}, []want{inv("spec.tolerations[0].operator", "value must be empty when `operator` is 'Exists'")}},
		{"toleration without key must be Exists", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual}}
		}, []want{inv("spec.tolerations[0].operator", "operator must be Exists when `key` is empty")}},
		{"toleration seconds without NoExecute", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptrTo(int64(5))}}
		}, []want{inv("spec.tolerations[0].effect", "effect must be 'NoExecute' when `tolerationSeconds` is set")}},
		{"node affinity with no terms", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, []want{reqDetail("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", "must have at least one node selector term")}},
		{"pod affinity without topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{}}}}
		}, []want{
			reqDetail("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "can not be empty"),
			inv("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "name part must be non-empty"),
			inv("spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "name part must consist of"),
		}},
		{"topology spread maxSkew", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, []want{inv("spec.topologySpreadConstraints[0].maxSkew", "must be greater than zero")}},
		{"runAsUser negative", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptrTo(int64(-1)) },
			[]want{inv("spec.securityContext.runAsUser", "must be between 0 and 2147483647, inclusive")}},
		{"bad sysctl", func(p *corev1.Pod) { p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "Net.IPv4"}} },
			[]want{inv("spec.securityContext.sysctls[0].name", "must have at most 253 characters and match regex")}},
		{"net sysctl with hostNetwork", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 80
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"}}
		}, []want{inv("spec.securityContext.sysctls[0].name", "may not be specified when 'hostNetwork' is true")}},
		{"os unknown", func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: "plan9"} }, []want{unsupported("spec.os", `"linux", "windows"`)}},
		{"hostUsers false with hostPID", func(p *corev1.Pod) {
			p.Spec.HostUsers = ptrTo(false)
			p.Spec.HostPID = true
		}, []want{forb("spec.HostPID", "when `pod.Spec.HostUsers` is false")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}
}

func TestValidatePodPathSegmentName(t *testing.T) {
	// The generic create check runs only once the kind's own checks pass.
	p := validPod()
	p.Name = ".."
	expectErrs(t, ValidatePod(p), inv("metadata.name", "RFC 1123 subdomain"))
}

func TestValidatePodResources(t *testing.T) {
	rl := func(kv ...string) corev1.ResourceList {
		out := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return out
	}
	const r = "spec.containers[0].resources"
	tests := []struct {
		name string
		res  corev1.ResourceRequirements
		want []want
	}{
		{"requests within limits", corev1.ResourceRequirements{Limits: rl("cpu", "1", "memory", "1Gi"), Requests: rl("cpu", "500m", "memory", "1Gi")}, nil},
		{"request above limit", corev1.ResourceRequirements{Limits: rl("cpu", "500m"), Requests: rl("cpu", "1")},
			[]want{inv(r+".requests", "must be less than or equal to cpu limit of 500m")}},
		{"negative", corev1.ResourceRequirements{Requests: rl("memory", "-1")}, []want{inv(r+".requests[memory]", "must be greater than or equal to 0")}},
		{"unknown unprefixed name", corev1.ResourceRequirements{Requests: rl("gpu", "1")}, []want{
			inv(r+".requests[gpu]", "must be a standard resource type or fully qualified"),
			inv(r+".requests[gpu]", "must be a standard resource for containers"),
		}},
		{"quota name is not a container resource", corev1.ResourceRequirements{Requests: rl("pods", "1")},
			[]want{inv(r+".requests[pods]", "must be a standard resource for containers")}},
		{"extended resource", corev1.ResourceRequirements{Limits: rl("example.com/gpu", "1"), Requests: rl("example.com/gpu", "1")}, nil},
		{"extended resource fraction", corev1.ResourceRequirements{Limits: rl("example.com/gpu", "500m"), Requests: rl("example.com/gpu", "500m")}, []want{
			inv(r+".limits[example.com/gpu]", "must be an integer"),
			inv(r+".requests[example.com/gpu]", "must be an integer"),
		}},
		{"extended request without limit", corev1.ResourceRequirements{Requests: rl("example.com/gpu", "1")},
			[]want{reqDetail(r+".limits", "Limit must be set for non overcommitable resources")}},
		{"extended request below limit", corev1.ResourceRequirements{Limits: rl("example.com/gpu", "2"), Requests: rl("example.com/gpu", "1")},
			[]want{inv(r+".requests", "must be equal to example.com/gpu limit of 2")}},
		{"hugepages alone", corev1.ResourceRequirements{Limits: rl("hugepages-2Mi", "4Mi"), Requests: rl("hugepages-2Mi", "4Mi")},
			[]want{forb(r, "HugePages require cpu or memory")}},
		{"hugepages not whole pages", corev1.ResourceRequirements{Limits: rl("hugepages-2Mi", "3Mi", "memory", "1Gi"), Requests: rl("hugepages-2Mi", "3Mi", "memory", "1Gi")}, []want{
			inv(r+".limits[hugepages-2Mi]", "3Mi is not positive integer multiple of hugepages-2Mi"),
			inv(r+".requests[hugepages-2Mi]", "3Mi is not positive integer multiple of hugepages-2Mi"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec.Containers[0].Resources = tt.res
			expectErrs(t, ValidatePod(p), tt.want...)
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	allowed := "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
	tests := []struct {
		name     string
		old, new func(p *corev1.Pod)
		want     []want
	}{
		{"no change", nil, nil, nil},
		{"image", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"init container image", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox:1", ImagePullPolicy: "IfNotPresent", TerminationMessagePolicy: "File"}}
		}, func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "busybox:2" }, nil},
		{"labels and annotations", nil, func(p *corev1.Pod) {
			p.Labels = map[string]string{"tier": "web"}
			p.Annotations = map[string]string{"note": "x"}
		}, nil},
		{"image removed", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" },
			// Once as an invalid pod, once as an invalid update: as Kubernetes.
			[]want{req("spec.containers[0].image"), req("spec.containers[0].image")}},
		{"container added", nil, func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name, c.Ports = "side", nil
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []want{forb("spec.containers", "pod updates may not add or remove containers")}},
		{"port changed", nil, func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8080 }, []want{forb("spec", allowed)}},
		{"pull policy changed", nil, func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways }, []want{forb("spec", allowed)}},
		{"resources changed", nil, func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"cpu": resource.MustParse("1")}
		}, []want{forb("spec", allowed)}},
		{"activeDeadlineSeconds added", nil, func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(60)) }, nil},
		{"activeDeadlineSeconds lowered", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(60)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(30)) }, nil},
		{"activeDeadlineSeconds raised", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(30)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(60)) },
			[]want{inv("spec.activeDeadlineSeconds", "must be less than or equal to previous value")}},
		{"activeDeadlineSeconds removed", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(30)) },
			func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = nil },
			[]want{inv("spec.activeDeadlineSeconds", "must not update from a positive integer to nil value")}},
		{"toleration added", nil, func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}, nil},
		{"toleration seconds changed", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptrTo(int64(10))}}
		}, func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptrTo(int64(20)) }, nil},
		{"toleration changed", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}, func(p *corev1.Pod) { p.Spec.Tolerations[0].Key = "other" },
			[]want{forb("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")}},
		{"negative grace period set to 1", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptrTo(int64(-1)) },
			func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptrTo(int64(1)) }, nil},
		{"grace period changed", nil, func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptrTo(int64(10)) }, []want{forb("spec", allowed)}},
		{"scheduling gate removed", func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}} },
			func(p *corev1.Pod) { p.Spec.SchedulingGates = nil }, nil},
		{"scheduling gate added", nil, func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}} },
			[]want{forb("spec.schedulingGates[0].name", "only deletion is allowed, but found new scheduling gate 'example.com/a'")}},
		{"gated pod gains a node selector", func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/a"}} },
			func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }, nil},
		{"no resourceVersion", nil, func(p *corev1.Pod) { p.ResourceVersion = "" }, []want{inv("metadata.resourceVersion", "must be specified for an update")}},
		{"name changed", nil, func(p *corev1.Pod) { p.Name = "other" }, []want{inv("metadata.name", "field is immutable")}},
		{"mirror annotation added", func(p *corev1.Pod) { p.Spec.NodeName = "n1" },
			func(p *corev1.Pod) { p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"} },
			[]want{forb("metadata.annotations[kubernetes.io/config.mirror]", "may not add mirror pod annotation")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			if tt.old != nil {
				tt.old(old)
			}
			n := old.DeepCopy()
			if tt.new != nil {
				tt.new(n)
			}
			expectErrs(t, ValidatePodUpdate(n, old), tt.want...)
		})
	}
}

func TestValidatePodUpdateShowsDiff(t *testing.T) {
	old := validPod()
	n := old.DeepCopy()
	n.Spec.Containers[0].Ports[0].ContainerPort = 8080
	errs := ValidatePodUpdate(n, old)
	if len(errs) != 1 {
		t.Fatalf("errors = %v", errs)
	}
	if !strings.Contains(errs[0].Detail, "ContainerPort: 80") || !strings.Contains(errs[0].Detail, "ContainerPort: 8080") {
		t.Errorf("detail should carry the spec diff, got:\n%s", errs[0].Detail)
	}
}

func TestValidatePodStatusUpdate(t *testing.T) {
	terminated := func(code int32) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	tests := []struct {
		name     string
		old, new func(p *corev1.Pod)
		want     []want
	}{
		{"phase and IPs", nil, func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP = "10.0.0.5"
			p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}}
			p.Status.HostIP = "192.0.2.1"
			p.Status.HostIPs = []corev1.HostIP{{IP: "192.0.2.1"}}
		}, nil},
		{"nodeName changed", nil, func(p *corev1.Pod) { p.Spec.NodeName = "n2" }, []want{forb("status.nodeName", "may not be changed directly")}},
		{"two IPv4 pod IPs", nil, func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "10.0.0.6"}} },
			[]want{inv("status.podIPs", "may specify no more than one IP for each IP family")}},
		{"bad pod IP", nil, func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0"}} }, []want{inv("status.podIPs[0]", "must be a valid IP address")}},
		{"hostIP disagrees", nil, func(p *corev1.Pod) {
			p.Status.HostIP = "192.0.2.1"
			p.Status.HostIPs = []corev1.HostIP{{IP: "192.0.2.2"}}
		}, []want{inv("status.hostIPs[0].ip", "must be equal to `hostIP`")}},
		{"custom condition type", nil, func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/ready"}, {Type: "bad type"}}
		}, []want{inv("metadata.conditions[1].Type", "name part must consist of alphanumeric characters")}},
		{"Never: terminated may not run again", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated(0)}}
		}, func(p *corev1.Pod) { p.Status.ContainerStatuses[0].State = running },
			[]want{forb("status.containerStatuses[0].state", "may not be transitioned to non-terminated state")}},
		{"OnFailure: failed may restart", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated(1)}}
		}, func(p *corev1.Pod) { p.Status.ContainerStatuses[0].State = running }, nil},
		{"Always: anything may restart", func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: terminated(0)}}
		}, func(p *corev1.Pod) { p.Status.ContainerStatuses[0].State = running }, nil},
		{"Never: sidecar may restart", func(p *corev1.Pod) {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: "envoy", RestartPolicy: ptrTo(corev1.ContainerRestartPolicyAlways)}}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", State: terminated(0)}}
		}, func(p *corev1.Pod) { p.Status.InitContainerStatuses[0].State = running }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			if tt.old != nil {
				tt.old(old)
			}
			n := old.DeepCopy()
			if tt.new != nil {
				tt.new(n)
			}
			expectErrs(t, ValidatePodStatusUpdate(n, old), tt.want...)
		})
	}
}

func TestValidatePodBinding(t *testing.T) {
	tests := []struct {
		name   string
		target corev1.ObjectReference
		want   []want
	}{
		{"node", corev1.ObjectReference{Kind: "Node", Name: "n1"}, nil},
		{"kind omitted", corev1.ObjectReference{Name: "n1"}, nil},
		{"not a node", corev1.ObjectReference{Kind: "Pod", Name: "n1"}, []want{unsupported("target.kind", `supported values: "Node", "<empty>"`)}},
		{"no name", corev1.ObjectReference{Kind: "Node"}, []want{req("target.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidatePodBinding(&corev1.Binding{Target: tt.target}), tt.want...)
		})
	}
}

func TestValidatePodEphemeralContainersUpdate(t *testing.T) {
	debug := func(name, image string) corev1.EphemeralContainer {
		return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: name, Image: image, ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile},
			TargetContainerName: "app"}
	}
	const e = "spec.ephemeralContainers"
	tests := []struct {
		name     string
		old, new []corev1.EphemeralContainer
		mirror   bool
		want     []want
	}{
		{"add", nil, []corev1.EphemeralContainer{debug("debugger", "busybox:1")}, false, nil},
		{"add a second", []corev1.EphemeralContainer{debug("d1", "busybox:1")}, []corev1.EphemeralContainer{debug("d1", "busybox:1"), debug("d2", "busybox:1")}, false, nil},
		{"remove", []corev1.EphemeralContainer{debug("d1", "busybox:1")}, nil, false,
			[]want{forb(e, `existing ephemeral containers "d1" may not be removed`)}},
		{"change", []corev1.EphemeralContainer{debug("d1", "busybox:1")}, []corev1.EphemeralContainer{debug("d1", "busybox:2")}, false,
			[]want{forb(e, `existing ephemeral containers "d1" may not be changed`)}},
		{"static pod", nil, []corev1.EphemeralContainer{debug("debugger", "busybox:1")}, true,
			[]want{forb("[]", "static pods do not support ephemeral containers")}},
		{"invalid container", nil, []corev1.EphemeralContainer{debug("Debugger", "busybox:1")}, false,
			[]want{inv(e+"[0].name", "RFC 1123 label")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := validPod()
			old.Spec.EphemeralContainers = tt.old
			if tt.mirror {
				old.Spec.NodeName = "n1"
				old.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "x"}
			}
			n := old.DeepCopy()
			n.Spec.EphemeralContainers = tt.new
			expectErrs(t, ValidatePodEphemeralContainersUpdate(n, old), tt.want...)
		})
	}
}
