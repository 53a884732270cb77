package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// Labels and annotations as berth's agent writes them on CRI objects
// (internal/agent/labels.go), so the floor's sandboxes and containers carry
// the same metadata.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	// labelManaged marks what berth's agent owns. The floor sets it to
	// "false": berth's agent, running next to the floor on the same
	// containerd, removes "true" sandboxes of pods its API does not have.
	labelManaged      = "berth.dev/managed"
	floorManagedValue = "false"

	annoRestartCount        = "io.kubernetes.container.restartCount"
	annoTerminationPath     = "io.kubernetes.container.terminationMessagePath"
	annoTerminationPolicy   = "io.kubernetes.container.terminationMessagePolicy"
	annoContainerHash       = "io.kubernetes.container.hash"
	annoTerminationHostPath = "berth.dev/termination-message-host-path"
	annoInitContainer       = "berth.dev/init-container"
)

// floor starts pods on berth's containerd the way berth's agent does, with
// nothing around the CRI calls: no API, no watch, no status.
type floor struct {
	e       *env
	handler string // CRI runtime handler ("runc", "crun")
	dir     string // pod directories (logs, /etc/hosts, termination log), like berth's
	image   benchkit.Image
	imageID string
	dns     *runtimeapi.DNSConfig
	pods    []*floorPod // every pod started, for cleanup
	// like is what the floor copies from the container config berth sent
	// for its first pod: what depends on the API (service-link variables,
	// the service account token) and the security defaults.
	like berthLike

	diffs    []string // where the floor's configs differ from berth's
	compared int      // how many fields were compared
	cmpErr   error    // why they could not be compared
}

// floorPod is one pod's identity.
type floorPod struct {
	name, uid, dir string
	sandboxID      string
}

// newFloor prepares the floor on the image berth pulled.
func newFloor(ctx context.Context, e *env, img benchkit.Image, dir, handler string, sent *sentConfig) (*floor, error) {
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := e.CRI.ImageStatus(ictx, &runtimeapi.ImageSpec{Image: img.Ref(imageTag)})
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, fmt.Errorf("image %s is not in containerd after berth ran it", img.Ref(imageTag))
	}
	return &floor{e: e, handler: handler, dir: dir, image: img, imageID: st.Id, dns: resolvConf(), like: likeBerth(sent)}, nil
}

// cleanup removes whatever the floor still runs (after an error or
// Ctrl-C; teardown would get it too, this is just earlier).
func (f *floor) cleanup(ctx context.Context) {
	for _, p := range f.pods {
		_ = f.removePod(ctx, p)
	}
}

// warmUp runs a first pod, not measured (as on berth, the first sandbox of
// a run pays for things the measurements should not: a fresh connection,
// the first CNI add), and compares its configs, read back from containerd,
// with what berth sent (f.diffs).
func (f *floor) warmUp(ctx context.Context, berthSent *sentConfig, berthErr error) (podTiming, error) {
	benchkit.Progress("floor on %s: first pod (not measured)", f.handler)
	p := f.newPod("floor-warm-up")
	warm, err := f.startPod(ctx, p)
	if err != nil {
		return warm, err
	}
	if berthSent == nil {
		f.cmpErr = fmt.Errorf("berth's configs could not be read back: %w", berthErr)
	} else if mine, err := readSentConfig(ctx, f.e, p.uid); err != nil {
		f.cmpErr = err
	} else {
		f.diffs, f.compared = compareConfigs(berthSent, mine)
	}
	return warm, f.removePod(ctx, p)
}

// one measures pod i of the one-at-a-time run, then removes it (not
// measured).
func (f *floor) one(ctx context.Context, i int) (podTiming, error) {
	p := f.newPod(fmt.Sprintf("floor-seq-%03d", i))
	t, err := f.startPod(ctx, p)
	if err != nil {
		return t, err
	}
	runtimeTimes(ctx, f.e.CRI, &t)
	return t, f.removePod(ctx, p)
}

// burst starts n pods at once, then removes them.
func (f *floor) burst(ctx context.Context, n int) ([]podTiming, time.Duration, error) {
	pods := make([]*floorPod, n)
	for i := range pods {
		pods[i] = f.newPod(fmt.Sprintf("floor-burst-%03d", i))
	}
	ts := make([]podTiming, n)
	err := together(ctx, n, func(ctx context.Context, i int) error {
		t, err := f.startPod(ctx, pods[i])
		ts[i] = t
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	all := span(ts)
	for i := range ts {
		runtimeTimes(ctx, f.e.CRI, &ts[i])
	}
	benchkit.Progress("floor on %s: all %d running %s after the first RunPodSandbox call; removing them", f.handler, n, benchkit.Dur(all))
	err = together(ctx, n, func(ctx context.Context, i int) error { return f.removePod(ctx, pods[i]) })
	return ts, all, err
}

func (f *floor) newPod(name string) *floorPod {
	uid := newUID()
	f.e.AddUID("floor", uid)
	name = f.handler + "-" + name
	p := &floorPod{name: name, uid: uid, dir: filepath.Join(f.dir, "pods", namespace+"_"+name+"_"+uid)}
	f.pods = append(f.pods, p)
	return p
}

// startPod is the floor of one pod start: what berth's agent sends, in the
// order it sends it. A call, once made, is not cancelled by Ctrl-C (ctx is
// checked between calls): a RunPodSandbox abandoned half-way leaves a
// network namespace, iptables rules and a shim behind that containerd no
// longer knows about.
func (f *floor) startPod(ctx context.Context, p *floorPod) (podTiming, error) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	t := podTiming{name: p.name, uid: p.uid, start: time.Now()}
	sbCfg, err := f.sandboxConfig(p)
	if err != nil {
		return t, err
	}
	if p.sandboxID, err = f.e.CRI.RunPodSandbox(cctx, sbCfg, f.handler); err != nil {
		return t, fmt.Errorf("RunPodSandbox %s: %w", p.name, err)
	}
	t.sandboxed = time.Now()
	if err := ctx.Err(); err != nil {
		return t, err
	}
	st, err := f.e.CRI.PodSandboxStatus(cctx, p.sandboxID)
	if err != nil {
		return t, fmt.Errorf("PodSandboxStatus %s: %w", p.name, err)
	}
	cCfg, err := f.containerConfig(p, st.GetNetwork().GetIp())
	if err != nil {
		return t, err
	}
	if err := ctx.Err(); err != nil {
		return t, err
	}
	id, err := f.e.CRI.CreateContainer(cctx, p.sandboxID, cCfg, sbCfg)
	if err != nil {
		return t, fmt.Errorf("CreateContainer %s: %w", p.name, err)
	}
	if err := f.e.CRI.StartContainer(cctx, id); err != nil {
		return t, fmt.Errorf("StartContainer %s: %w", p.name, err)
	}
	t.running = time.Now()
	return t, nil
}

// removePod stops and removes the sandbox (and with it the container), as
// berth's agent does when a pod goes, and the pod's directory. Not
// cancelled by Ctrl-C either (see startPod).
func (f *floor) removePod(ctx context.Context, p *floorPod) error {
	if p.sandboxID == "" {
		return nil
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := f.e.CRI.StopPodSandbox(cctx, p.sandboxID); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", p.name, err)
	}
	if err := f.e.CRI.RemovePodSandbox(cctx, p.sandboxID); err != nil {
		return fmt.Errorf("RemovePodSandbox %s: %w", p.name, err)
	}
	p.sandboxID = ""
	return os.RemoveAll(p.dir)
}

// sandboxConfig mirrors the agent's (internal/agent/config.go) for
// benchPod: hostname, log directory, ClusterFirst DNS, the
// pod's labels, cgroup parent /berth/pod<uid>, network and IPC shared by
// the pod, PID per container.
func (f *floor) sandboxConfig(p *floorPod) (*runtimeapi.PodSandboxConfig, error) {
	logDir := filepath.Join(p.dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	seccomp := f.like.sandboxSeccomp
	if seccomp == nil { // berth's config unread: what every kubelet sends
		seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	}
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: p.name, Namespace: namespace, Uid: p.uid},
		Hostname:     p.name,
		LogDirectory: logDir,
		DnsConfig:    f.dns,
		Labels: map[string]string{labelPodName: p.name, labelPodNamespace: namespace, labelPodUID: p.uid,
			labelManaged: floorManagedValue, "app": "podstart"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: "/berth/pod" + p.uid,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: namespaceOptions(),
				Seccomp:          seccomp,
			},
		},
	}, nil
}

func namespaceOptions() *runtimeapi.NamespaceOption {
	return &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER,
		Ipc: runtimeapi.NamespaceMode_POD}
}

// containerConfig mirrors the agent's for benchPod's container: the
// kubelet-managed /etc/hosts and termination-log mounts (files written
// first, as the agent does), labels and annotations, log path, best-effort
// resources.
func (f *floor) containerConfig(p *floorPod, podIP string) (*runtimeapi.ContainerConfig, error) {
	c := benchPod(p.name, f.image.Ref(imageTag)).Spec.Containers[0]
	c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	c.ImagePullPolicy = corev1.PullIfNotPresent
	var mounts []*runtimeapi.Mount
	if f.like.tokenPath != "" {
		// The projected service account volume: the same three files,
		// written atomically the way the agent's volume manager does.
		dir := filepath.Join(p.dir, "volumes", "kubernetes.io~projected", f.like.tokenDir)
		data := filepath.Join(dir, "..data")
		if err := os.MkdirAll(data, 0o755); err != nil {
			return nil, err
		}
		for name, content := range map[string]string{"token": strings.Repeat("t", 900), "ca.crt": strings.Repeat("c", 1100), "namespace": namespace} {
			if err := os.WriteFile(filepath.Join(data, name), []byte(content), 0o644); err != nil {
				return nil, err
			}
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: f.like.tokenPath, HostPath: dir, Readonly: true})
	}
	if podIP != "" {
		hosts := filepath.Join(p.dir, "etc-hosts")
		content := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
			"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
			podIP + "\t" + p.name + "\n"
		if err := os.WriteFile(hosts, []byte(content), 0o644); err != nil {
			return nil, err
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: hosts})
	}
	cdir := filepath.Join(p.dir, "containers", c.Name)
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return nil, err
	}
	termPath := filepath.Join(cdir, "termination-log-0")
	if err := os.WriteFile(termPath, nil, 0o666); err != nil {
		return nil, err
	}
	_ = os.Chmod(termPath, 0o666)
	mounts = append(mounts, &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: termPath})

	h := fnv.New32a()
	fmt.Fprintf(h, "%#v", c)
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: c.Name},
		Image:    &runtimeapi.ImageSpec{Image: f.imageID, UserSpecifiedImage: c.Image},
		Command:  c.Command,
		Envs:     f.like.envs,
		Mounts:   mounts,
		Labels: map[string]string{labelPodName: p.name, labelPodNamespace: namespace, labelPodUID: p.uid,
			labelContainerName: c.Name, labelManaged: floorManagedValue},
		Annotations: map[string]string{
			annoRestartCount: "0", annoContainerHash: strconv.FormatUint(uint64(h.Sum32()), 16),
			annoTerminationPath: c.TerminationMessagePath, annoTerminationPolicy: string(c.TerminationMessagePolicy),
			annoTerminationHostPath: termPath, annoInitContainer: "false",
			"io.kubernetes.pod.terminationGracePeriod": f.like.grace,
		},
		LogPath: filepath.Join(c.Name, "0.log"),
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources: &runtimeapi.LinuxContainerResources{CpuShares: 2, OomScoreAdj: 1000},
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(),
				MaskedPaths: f.like.masked, ReadonlyPaths: f.like.readonly, Seccomp: f.like.seccomp, RunAsUser: f.like.runAsUser},
		},
	}, nil
}

// resolvConf is the resolver configuration berth gives a ClusterFirst
// pod of the namespace: the kube-dns ClusterIP (10.96.0.10 for the default
// service CIDR), the cluster search list then the node's, ndots:5.
func resolvConf() *runtimeapi.DNSConfig {
	cfg := &runtimeapi.DNSConfig{
		Servers:  []string{"10.96.0.10"},
		Searches: []string{namespace + ".svc.cluster.local", "svc.cluster.local", "cluster.local"},
		Options:  []string{"ndots:5"},
	}
	fh, err := os.Open("/etc/resolv.conf")
	if err != nil {
		return cfg
	}
	defer fh.Close()
	var host []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 1 && fields[0] == "search" {
			host = host[:0]
			for _, d := range fields[1:] {
				if d != "." {
					host = append(host, strings.TrimSuffix(d, "."))
				}
			}
		}
	}
	for _, d := range host {
		if !slices.Contains(cfg.Searches, d) {
			cfg.Searches = append(cfg.Searches, d)
		}
	}
	return cfg
}

// newUID is a random version-4 UUID, like the API server's pod UIDs.
func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// berthLike holds the parts of berth's container config the floor copies.
type berthLike struct {
	envs             []*runtimeapi.KeyValue
	masked, readonly []string
	seccomp          *runtimeapi.SecurityProfile
	// sandboxSeccomp is the pause container's profile: RuntimeDefault from
	// berth, as from the kubelet (generatePodSandboxLinuxConfig forces it).
	sandboxSeccomp *runtimeapi.SecurityProfile
	// runAsUser is the container's user from the image (0 for busybox),
	// which berth sends as the kubelet does.
	runAsUser *runtimeapi.Int64Value
	tokenPath string // the service account volume's mount path, "" if none
	tokenDir  string // its directory's name (kube-api-access-xxxxx)
	grace     string
}

// profileOf reads a CRI SecurityProfile from its JSON: an object without
// profile_type is RuntimeDefault (the enum's zero value, left out of the
// JSON), a missing one nil.
func profileOf(v any) *runtimeapi.SecurityProfile {
	sp, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	p := &runtimeapi.SecurityProfile{}
	if t, ok := sp["profile_type"].(float64); ok {
		p.ProfileType = runtimeapi.SecurityProfile_ProfileType(int32(t))
	}
	if r, ok := sp["localhost_ref"].(string); ok {
		p.LocalhostRef = r
	}
	return p
}

// likeBerth reads berth's container config as containerd returned it
// (JSON of the CRI request); zero when berth's could not be read.
func likeBerth(sent *sentConfig) berthLike {
	var l berthLike
	if sent == nil {
		return l
	}
	c := sent.container
	if envs, ok := c["envs"].([]any); ok {
		for _, e := range envs {
			m, _ := e.(map[string]any)
			k, _ := m["key"].(string)
			v, _ := m["value"].(string)
			l.envs = append(l.envs, &runtimeapi.KeyValue{Key: k, Value: []byte(v)})
		}
	}
	strs := func(v any) []string {
		var out []string
		if a, ok := v.([]any); ok {
			for _, x := range a {
				if s, ok := x.(string); ok {
					out = append(out, s)
				}
			}
		}
		return out
	}
	linux, _ := c["linux"].(map[string]any)
	sc, _ := linux["security_context"].(map[string]any)
	l.masked, l.readonly = strs(sc["masked_paths"]), strs(sc["readonly_paths"])
	l.seccomp = profileOf(sc["seccomp"])
	if u, ok := sc["run_as_user"].(map[string]any); ok {
		v, _ := u["value"].(float64)
		l.runAsUser = &runtimeapi.Int64Value{Value: int64(v)}
	}
	sbLinux, _ := sent.sandbox["linux"].(map[string]any)
	sbSC, _ := sbLinux["security_context"].(map[string]any)
	l.sandboxSeccomp = profileOf(sbSC["seccomp"])
	if ms, ok := c["mounts"].([]any); ok {
		for _, m := range ms {
			mm, _ := m.(map[string]any)
			if cp, _ := mm["container_path"].(string); strings.HasSuffix(cp, "/serviceaccount") {
				l.tokenPath = cp
				hp, _ := mm["host_path"].(string)
				l.tokenDir = filepath.Base(hp)
			}
		}
	}
	ann, _ := c["annotations"].(map[string]any)
	l.grace, _ = ann["io.kubernetes.pod.terminationGracePeriod"].(string)
	return l
}
