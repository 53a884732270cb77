package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func hostnamePod(name, hostname, subdomain string, fqdn *bool) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns1"},
		Spec: corev1.PodSpec{Hostname: hostname, Subdomain: subdomain, SetHostnameAsFQDN: fqdn}}
}

func TestPodHostname(t *testing.T) {
	const domain = "sub.ns1.svc.cluster.local"
	long := strings.Repeat("a", 70)
	dashAt63 := strings.Repeat("b", 62) + "-" + "cdefg"  // [:63] ends in '-'
	dotsAt63 := strings.Repeat("c", 61) + ".-" + "defgh" // [:63] ends in ".-"
	exact63 := strings.Repeat("d", 63)
	// hostname + "." + domain is 64 (allowed) or 65 (too long) characters.
	fqdn64 := strings.Repeat("e", 64-1-len(domain))
	fqdn65 := strings.Repeat("f", 65-1-len(domain))
	tests := []struct {
		name                 string
		pod                  *corev1.Pod
		wantHost, wantDomain string
		wantErr              string
	}{
		{"pod name", hostnamePod("web-0", "", "", nil), "web-0", "", ""},
		{"spec.hostname", hostnamePod("web-0", "myhost", "", nil), "myhost", "", ""},
		{"subdomain", hostnamePod("web-0", "", "sub", nil), "web-0", domain, ""},
		{"hostname and subdomain", hostnamePod("web-0", "myhost", "sub", nil), "myhost", domain, ""},
		{"invalid hostname", hostnamePod("web-0", "My_Host", "", nil), "", "",
			`pod Hostname "My_Host" is not a valid DNS label: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		{"63 characters kept", hostnamePod(exact63, "", "", nil), exact63, "", ""},
		{"long pod name truncated to 63", hostnamePod(long, "", "", nil), long[:63], "", ""},
		{"truncation drops a trailing dash", hostnamePod(dashAt63, "", "", nil), strings.Repeat("b", 62), "", ""},
		{"truncation drops trailing dots and dashes", hostnamePod(dotsAt63, "", "", nil), strings.Repeat("c", 61), "", ""},
		{"long name with subdomain", hostnamePod(long, "", "sub", nil), long[:63], domain, ""},
		{"FQDN", hostnamePod("web-0", "", "sub", ptr.To(true)), "web-0." + domain, domain, ""},
		{"FQDN false", hostnamePod("web-0", "", "sub", ptr.To(false)), "web-0", domain, ""},
		{"FQDN without subdomain", hostnamePod("web-0", "", "", ptr.To(true)), "web-0", "", ""},
		{"FQDN of 64 characters", hostnamePod(fqdn64, "", "sub", ptr.To(true)), fqdn64 + "." + domain, domain, ""},
		{"FQDN of 65 characters", hostnamePod(fqdn65, "", "sub", ptr.To(true)), "", "",
			"failed to construct FQDN from pod hostname and cluster domain, FQDN " + fqdn65 + "." + domain +
				" is too long (64 characters is the max, 65 characters requested)"},
		{"FQDN of a truncated name", hostnamePod(long, "", "sub", ptr.To(true)), "", "",
			"failed to construct FQDN from pod hostname and cluster domain, FQDN " + long[:63] + "." + domain +
				" is too long (64 characters is the max, 89 characters requested)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, dom, err := podHostname(tt.pod)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v\nwant %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if host != tt.wantHost || dom != tt.wantDomain {
				t.Errorf("podHostname = %q, %q; want %q, %q", host, dom, tt.wantHost, tt.wantDomain)
			}
		})
	}
}

const hostsHeader = "# Kubernetes-managed hosts file.\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"fe00::0\tip6-mcastprefix\n" +
	"fe00::1\tip6-allnodes\n" +
	"fe00::2\tip6-allrouters\n"

func TestHostsFile(t *testing.T) {
	aliases := []corev1.HostAlias{
		{IP: "192.0.2.1", Hostnames: []string{"foo.local", "bar.local"}},
		{IP: "2001:db8::1", Hostnames: []string{"v6.local"}},
	}
	withAliases := func(p *corev1.Pod) *corev1.Pod { p.Spec.HostAliases = aliases; return p }
	aliasBlock := "\n# Entries added by HostAliases.\n192.0.2.1\tfoo.local\tbar.local\n2001:db8::1\tv6.local\n"
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"plain", hostnamePod("web-0", "", "", nil), hostsHeader + "10.88.0.7\tweb-0\n"},
		{"hostname", hostnamePod("web-0", "h", "", nil), hostsHeader + "10.88.0.7\th\n"},
		{"subdomain", hostnamePod("web-0", "", "sub", nil),
			hostsHeader + "10.88.0.7\tweb-0.sub.ns1.svc.cluster.local\tweb-0\n"},
		{"subdomain and FQDN hostname", hostnamePod("web-0", "", "sub", ptr.To(true)),
			hostsHeader + "10.88.0.7\tweb-0.sub.ns1.svc.cluster.local\tweb-0\n"},
		{"hostAliases", withAliases(hostnamePod("web-0", "", "", nil)), hostsHeader + "10.88.0.7\tweb-0\n" + aliasBlock},
		{"subdomain and hostAliases", withAliases(hostnamePod("web-0", "h", "sub", nil)),
			hostsHeader + "10.88.0.7\th.sub.ns1.svc.cluster.local\th\n" + aliasBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := hostsFile(tt.pod, "10.88.0.7")
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("hostsFile =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	if _, err := hostsFile(hostnamePod("web-0", "Bad_Host", "", nil), "10.88.0.7"); err == nil {
		t.Error("hostsFile with an invalid hostname: no error")
	}
}

// TestHostsFileDottedPodName: pod names are DNS subdomains and may contain
// dots. The kubelet writes the hostname it computed ("a.b") next to the
// domain; hostsFile cuts the hostname at its first dot (meant to undo
// setHostnameAsFQDN) and so writes the wrong names.
func TestHostsFileDottedPodName(t *testing.T) {
	got, err := hostsFile(hostnamePod("web.v1", "", "sub", nil), "10.88.0.7")
	if err != nil {
		t.Fatal(err)
	}
	want := hostsHeader + "10.88.0.7\tweb.v1.sub.ns1.svc.cluster.local\tweb.v1\n"
	if string(got) != want {
		t.Errorf("hostsFile =\n%s\nwant (kubelet)\n%s", got, want)
	}
}

func TestNamespaceOptions(t *testing.T) {
	const (
		pod  = runtimeapi.NamespaceMode_POD
		ctr  = runtimeapi.NamespaceMode_CONTAINER
		node = runtimeapi.NamespaceMode_NODE
	)
	tests := []struct {
		name          string
		spec          corev1.PodSpec
		net, pid, ipc runtimeapi.NamespaceMode
	}{
		{"default", corev1.PodSpec{}, pod, ctr, pod},
		{"hostNetwork", corev1.PodSpec{HostNetwork: true}, node, ctr, pod},
		{"hostPID", corev1.PodSpec{HostPID: true}, pod, node, pod},
		{"hostIPC", corev1.PodSpec{HostIPC: true}, pod, ctr, node},
		{"shareProcessNamespace", corev1.PodSpec{ShareProcessNamespace: ptr.To(true)}, pod, pod, pod},
		{"shareProcessNamespace false", corev1.PodSpec{ShareProcessNamespace: ptr.To(false)}, pod, ctr, pod},
		{"hostPID wins over shareProcessNamespace", corev1.PodSpec{HostPID: true, ShareProcessNamespace: ptr.To(true)}, pod, node, pod},
		{"all host", corev1.PodSpec{HostNetwork: true, HostPID: true, HostIPC: true}, node, node, node},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := namespaceOptions(&corev1.Pod{Spec: tt.spec})
			if ns.Network != tt.net || ns.Pid != tt.pid || ns.Ipc != tt.ipc {
				t.Errorf("namespaceOptions = net %s pid %s ipc %s; want net %s pid %s ipc %s",
					ns.Network, ns.Pid, ns.Ipc, tt.net, tt.pid, tt.ipc)
			}
		})
	}
}

func resources(req, lim corev1.ResourceList) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: req, Limits: lim}
}

func cpu(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
}

func TestLinuxContainerConfigResources(t *testing.T) {
	a := newTestAgent(t)
	tests := []struct {
		name                  string
		res                   corev1.ResourceRequirements
		shares, period, quota int64
		memory                int64
	}{
		{"no resources", resources(nil, nil), 2, 0, 0, 0},
		{"250m request", resources(cpu("250m"), nil), 256, 0, 0, 0},
		{"1 cpu request", resources(cpu("1"), nil), 1024, 0, 0, 0},
		{"2.5 cpu request", resources(cpu("2500m"), nil), 2560, 0, 0, 0},
		{"1m request: minimum shares", resources(cpu("1m"), nil), 2, 0, 0, 0},
		{"0 request: minimum shares", resources(cpu("0"), nil), 2, 0, 0, 0},
		{"500m limit", resources(cpu("500m"), cpu("500m")), 512, 100000, 50000, 0},
		{"2 cpu limit", resources(cpu("1"), cpu("2")), 1024, 100000, 200000, 0},
		{"1m limit: minimum quota 1ms", resources(cpu("1m"), cpu("1m")), 2, 100000, 1000, 0},
		{"memory limit", resources(nil, corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}), 2, 0, 0, 134217728},
		{"memory request only", resources(corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}, nil), 2, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			c := &corev1.Container{Name: "c", Resources: tt.res}
			r := a.linuxContainerConfig(pod, c).Resources
			if r.CpuShares != tt.shares || r.CpuPeriod != tt.period || r.CpuQuota != tt.quota || r.MemoryLimitInBytes != tt.memory {
				t.Errorf("shares %d period %d quota %d memory %d; want %d %d %d %d",
					r.CpuShares, r.CpuPeriod, r.CpuQuota, r.MemoryLimitInBytes, tt.shares, tt.period, tt.quota, tt.memory)
			}
		})
	}
}

// TestLinuxContainerConfigZeroCPULimit: the kubelet's milliCPUToQuota
// returns 0 (no quota) for a zero CPU limit; linuxContainerConfig raises 0
// to the 1 ms minimum and so throttles the container to 1% of a CPU.
func TestLinuxContainerConfigZeroCPULimit(t *testing.T) {
	a := newTestAgent(t)
	c := &corev1.Container{Name: "c", Resources: resources(nil, cpu("0"))}
	if q := a.linuxContainerConfig(&corev1.Pod{}, c).Resources.CpuQuota; q != 0 {
		t.Errorf("cpu limit 0: CpuQuota = %d, want 0 (unlimited, as the kubelet)", q)
	}
}

func TestLinuxContainerConfigOOMScore(t *testing.T) {
	a := newTestAgent(t)
	tests := []struct {
		qos  corev1.PodQOSClass
		want int64
	}{
		{corev1.PodQOSGuaranteed, 0}, // the kubelet would ask for -997
		{corev1.PodQOSBurstable, 500},
		{corev1.PodQOSBestEffort, 1000},
	}
	for _, tt := range tests {
		pod := &corev1.Pod{Status: corev1.PodStatus{QOSClass: tt.qos}}
		got := a.linuxContainerConfig(pod, &corev1.Container{Name: "c"}).Resources.OomScoreAdj
		if got != tt.want {
			t.Errorf("%s: OomScoreAdj = %d, want %d", tt.qos, got, tt.want)
		}
		if got < 0 {
			t.Errorf("%s: negative OomScoreAdj %d", tt.qos, got)
		}
	}
}

func TestLinuxContainerConfigSecurityContext(t *testing.T) {
	a := newTestAgent(t)
	pod := &corev1.Pod{Spec: corev1.PodSpec{HostIPC: true, SecurityContext: &corev1.PodSecurityContext{
		RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](2000), SupplementalGroups: []int64{3000, 3001}}}}

	sc, err := a.containerSecurityContext(pod, &corev1.Container{Name: "c"}, ptr.To[int64](0), "")
	if err != nil {
		t.Fatal(err)
	}
	if sc.RunAsUser.GetValue() != 1000 || sc.RunAsGroup.GetValue() != 2000 || !slices.Equal(sc.SupplementalGroups, []int64{3000, 3001}) {
		t.Errorf("pod-level fallback: user %v group %v groups %v", sc.RunAsUser, sc.RunAsGroup, sc.SupplementalGroups)
	}
	if sc.NamespaceOptions.GetIpc() != runtimeapi.NamespaceMode_NODE {
		t.Errorf("namespace options not the pod's: %v", sc.NamespaceOptions)
	}
	if sc.Privileged || sc.ReadonlyRootfs || sc.NoNewPrivs || sc.Capabilities != nil {
		t.Errorf("defaults: %v", sc)
	}

	c := &corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{
		RunAsUser: ptr.To[int64](0), ReadOnlyRootFilesystem: ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
	}}
	if sc, err = a.containerSecurityContext(pod, c, ptr.To[int64](1), ""); err != nil {
		t.Fatal(err)
	}
	if sc.RunAsUser.GetValue() != 0 || sc.RunAsUser == nil {
		t.Errorf("container runAsUser 0 must win over the pod's 1000: %v", sc.RunAsUser)
	}
	if sc.RunAsGroup.GetValue() != 2000 {
		t.Errorf("runAsGroup = %v, want the pod's 2000", sc.RunAsGroup)
	}
	if sc.Privileged || !sc.ReadonlyRootfs || !sc.NoNewPrivs {
		t.Errorf("privileged %v readonly %v noNewPrivs %v", sc.Privileged, sc.ReadonlyRootfs, sc.NoNewPrivs)
	}
	if !slices.Equal(sc.Capabilities.GetAddCapabilities(), []string{"NET_ADMIN"}) || !slices.Equal(sc.Capabilities.GetDropCapabilities(), []string{"ALL"}) {
		t.Errorf("capabilities = %v", sc.Capabilities)
	}
}

// TestContainerHashIsStable: containerHash keys the crash-loop back-off
// (backoffKey) and the sync works on a fresh DeepCopy of the pod each
// time, so equal specs must hash alike. Hashing "%#v" prints the addresses
// of pointer fields (securityContext, probes, a sidecar's restartPolicy,
// …), so the key changes every sync and the back-off never applies.
func TestContainerHashIsStable(t *testing.T) {
	plain := corev1.Container{Name: "c", Image: "busybox", Command: []string{"sh"}}
	if containerHash(&plain) != containerHash(plain.DeepCopy()) {
		t.Fatal("a container without pointer fields hashes differently after DeepCopy")
	}
	other := plain
	other.Image = "busybox:2"
	if containerHash(&plain) == containerHash(&other) {
		t.Error("different images hash alike")
	}
	for name, c := range map[string]corev1.Container{
		"securityContext": {Name: "c", Image: "busybox", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1)}},
		"livenessProbe": {Name: "c", Image: "busybox", LivenessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}},
		"sidecar restartPolicy": {Name: "c", Image: "busybox", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
		k1 := backoffKey(pod, &pod.DeepCopy().Spec.Containers[0])
		k2 := backoffKey(pod, &pod.DeepCopy().Spec.Containers[0])
		if k1 != k2 {
			t.Errorf("%s: the back-off key of an unchanged container differs between two syncs: %s vs %s", name, k1, k2)
		}
	}
}

func TestSandboxConfig(t *testing.T) {
	a := newTestAgent(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "u1",
		Labels: map[string]string{"app": "web", labelPodName: "spoofed"}, Annotations: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{Hostname: "h", Subdomain: "sub", DNSPolicy: corev1.DNSNone,
			Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{
				{ContainerPort: 80, HostPort: 8080},
				{ContainerPort: 53, HostPort: 5353, Protocol: corev1.ProtocolUDP, HostIP: "127.0.0.1"},
				{ContainerPort: 9090}, // no hostPort: no mapping
			}, SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}}}
	cfg, err := a.sandboxConfig(pod, 2)
	if err != nil {
		t.Fatal(err)
	}
	md := cfg.Metadata
	if md.Name != "web" || md.Namespace != "ns1" || md.Uid != "u1" || md.Attempt != 2 {
		t.Errorf("metadata = %v", md)
	}
	if cfg.Hostname != "h" {
		t.Errorf("hostname = %q, want h", cfg.Hostname)
	}
	if want := filepath.Join(a.cfg.DataDir, "pods", "ns1_web_u1", "logs"); cfg.LogDirectory != want {
		t.Errorf("log directory = %q, want %q", cfg.LogDirectory, want)
	} else if st, err := os.Stat(want); err != nil || !st.IsDir() {
		t.Errorf("log directory not created: %v", err)
	}
	if cfg.Labels[labelPodName] != "web" || cfg.Labels[labelPodUID] != "u1" || cfg.Labels[labelManaged] != "true" || cfg.Labels["app"] != "web" {
		t.Errorf("labels = %v", cfg.Labels)
	}
	if cfg.Linux.CgroupParent != "/berth/podu1" || !cfg.Linux.SecurityContext.Privileged {
		t.Errorf("linux = %v", cfg.Linux)
	}
	if len(cfg.PortMappings) != 2 || cfg.PortMappings[0].HostPort != 8080 || cfg.PortMappings[0].Protocol != runtimeapi.Protocol_TCP ||
		cfg.PortMappings[1].Protocol != runtimeapi.Protocol_UDP || cfg.PortMappings[1].HostIp != "127.0.0.1" {
		t.Errorf("port mappings = %v", cfg.PortMappings)
	}

	pod.Spec.HostNetwork = true
	if cfg, err := a.sandboxConfig(pod, 0); err != nil || cfg.Hostname != "" {
		t.Errorf("hostNetwork: hostname %q, err %v; want empty", cfg.GetHostname(), err)
	}
	pod.Spec.Hostname = "Bad_Host"
	if _, err := a.sandboxConfig(pod, 0); err == nil {
		t.Error("invalid hostname: no error")
	}
}
