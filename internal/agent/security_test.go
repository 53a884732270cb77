package agent

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func secPod(psc *corev1.PodSecurityContext, csc *corev1.SecurityContext) (*corev1.Pod, *corev1.Container) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{SecurityContext: psc, Containers: []corev1.Container{{Name: "app", SecurityContext: csc}}}}
	return pod, &pod.Spec.Containers[0]
}

func TestVerifyRunAsNonRoot(t *testing.T) {
	root, user := int64(0), int64(1000)
	for _, tc := range []struct {
		name     string
		psc      *corev1.PodSecurityContext
		csc      *corev1.SecurityContext
		uid      *int64
		username string
		want     string
	}{
		{name: "not asked", uid: &root},
		{name: "root image", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}, uid: &root,
			want: `container has runAsNonRoot and image will run as root (pod: "web_ns(u1)", container: app)`},
		{name: "pod-level, root image", psc: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, uid: &root,
			want: `container has runAsNonRoot and image will run as root (pod: "web_ns(u1)", container: app)`},
		{name: "container allows root over pod", psc: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
			csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(false)}, uid: &root},
		{name: "runAsUser 0", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(0))}, uid: &user,
			want: `container's runAsUser breaks non-root policy (pod: "web_ns(u1)", container: app)`},
		{name: "runAsUser overrides root image", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(5))}, uid: &root},
		{name: "named user", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}, username: "nobody",
			want: `container has runAsNonRoot and image has non-numeric user (nobody), cannot verify user is non-root (pod: "web_ns(u1)", container: app)`},
		{name: "non-root image", csc: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}, uid: &user},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, c := secPod(tc.psc, tc.csc)
			err := verifyRunAsNonRoot(pod, c, tc.uid, tc.username)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContainerSecurityContext(t *testing.T) {
	a := &Agent{cfg: Config{DataDir: "/data"}}
	root := int64(0)
	pod, c := secPod(&corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(3000)),
		FSGroup: ptr.To(int64(2000)), SupplementalGroups: []int64{4000},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		&corev1.SecurityContext{RunAsUser: ptr.To(int64(1001)), ReadOnlyRootFilesystem: ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To("prof.json")},
			AppArmorProfile:          &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}})
	sc, err := a.containerSecurityContext(pod, c, &root, "")
	if err != nil {
		t.Fatal(err)
	}
	if sc.RunAsUser.GetValue() != 1001 || sc.RunAsGroup.GetValue() != 3000 || !sc.ReadonlyRootfs || !sc.NoNewPrivs || sc.Privileged {
		t.Errorf("user/group/rootfs/nnp: %v", sc)
	}
	if got := sc.SupplementalGroups; len(got) != 2 || got[0] != 2000 || got[1] != 4000 {
		t.Errorf("supplemental groups %v, want fsGroup then the pod's", got)
	}
	if got := sc.Capabilities; strings.Join(got.AddCapabilities, ",") != "NET_ADMIN" || strings.Join(got.DropCapabilities, ",") != "ALL" {
		t.Errorf("capabilities %v", got)
	}
	if sc.Seccomp.ProfileType != runtimeapi.SecurityProfile_Localhost || sc.Seccomp.LocalhostRef != "/data/seccomp/prof.json" {
		t.Errorf("seccomp %v (the container's Localhost under <data-dir>/seccomp)", sc.Seccomp)
	}
	if sc.Apparmor.GetProfileType() != runtimeapi.SecurityProfile_RuntimeDefault || sc.ApparmorProfile != "runtime/default" {
		t.Errorf("apparmor %v %q", sc.Apparmor, sc.ApparmorProfile)
	}
	if len(sc.MaskedPaths) == 0 || len(sc.ReadonlyPaths) == 0 {
		t.Errorf("the default /proc masks are missing: %v %v", sc.MaskedPaths, sc.ReadonlyPaths)
	}

	// Nothing set: the image's user, Unconfined seccomp, privilege
	// escalation allowed, default masks.
	pod, c = secPod(nil, nil)
	uid := int64(65534)
	sc, err = a.containerSecurityContext(pod, c, &uid, "")
	if err != nil {
		t.Fatal(err)
	}
	if sc.RunAsUser.GetValue() != 65534 || sc.NoNewPrivs || sc.Seccomp.ProfileType != runtimeapi.SecurityProfile_Unconfined || sc.Apparmor != nil || len(sc.MaskedPaths) == 0 {
		t.Errorf("defaults: %v", sc)
	}
	// Privileged: no_new_privs stays off, masks off.
	pod, c = secPod(nil, &corev1.SecurityContext{Privileged: ptr.To(true)})
	sc, _ = a.containerSecurityContext(pod, c, &root, "")
	if !sc.Privileged || sc.NoNewPrivs {
		t.Errorf("privileged: %v", sc)
	}
	// Unmasked /proc.
	pod, c = secPod(nil, &corev1.SecurityContext{ProcMount: ptr.To(corev1.UnmaskedProcMount)})
	sc, _ = a.containerSecurityContext(pod, c, &root, "")
	if len(sc.MaskedPaths) != 0 || len(sc.ReadonlyPaths) != 0 {
		t.Errorf("unmasked procMount: %v %v", sc.MaskedPaths, sc.ReadonlyPaths)
	}
	// A Localhost seccomp profile without a name.
	pod, c = secPod(&corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}, nil)
	if _, err := a.containerSecurityContext(pod, c, &root, ""); err == nil || err.Error() != "localhostProfile must be set if seccompProfile type is Localhost." {
		t.Errorf("localhost without a profile: %v", err)
	}
}

func TestSandboxSecurity(t *testing.T) {
	pod, _ := secPod(&corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), FSGroup: ptr.To(int64(2000)),
		Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}}}, nil)
	lc := &runtimeapi.LinuxPodSandboxConfig{SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{}}
	if err := sandboxSecurity(pod, lc); err != nil {
		t.Fatal(err)
	}
	if lc.Sysctls["net.ipv4.ip_unprivileged_port_start"] != "0" || lc.SecurityContext.RunAsUser.GetValue() != 1000 ||
		len(lc.SecurityContext.SupplementalGroups) != 1 || lc.SecurityContext.Seccomp.ProfileType != runtimeapi.SecurityProfile_RuntimeDefault {
		t.Errorf("sandbox %v", lc)
	}
}

func TestAgentRunAsNonRootRootImage(t *testing.T) {
	w := newWorld(t)
	w.rt.SetImageUser(testImage, nil, "") // no User: root
	w.startAgent()
	pod := w.createPod(newTestPod("nonroot", corev1.RestartPolicyAlways, corev1.Container{Name: "app", Image: testImage,
		SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}}))
	got := w.waitPod(pod, "CreateContainerConfigError", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CreateContainerConfigError"
	})
	want := `container has runAsNonRoot and image will run as root (pod: "nonroot_` + pod.Namespace + `(` + string(pod.UID) + `)", container: app)`
	if msg := containerStatus(got, "app").State.Waiting.Message; msg != want {
		t.Errorf("message %q, want %q", msg, want)
	}
	if n := len(w.calls("CreateContainer")); n != 0 {
		t.Errorf("%d containers created", n)
	}
	w.waitEvent(pod, "Failed: Error: "+want)

	// A numeric non-root image user passes, and is the container's user.
	// (Another image: the agent caches an image's user by image ID, which
	// names an immutable config.)
	uid := int64(1000)
	const nonRootImage = "busybox:nonroot"
	w.rt.AddImage(nonRootImage)
	w.rt.SetImageUser(nonRootImage, &uid, "")
	pod2 := w.createPod(newTestPod("nonroot-ok", corev1.RestartPolicyAlways, corev1.Container{Name: "app", Image: nonRootImage,
		SecurityContext: &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}}))
	ctr := w.runningContainer(pod2.UID, "app")
	cfg, _ := w.rt.ContainerConfig(ctr.Id)
	if cfg.GetLinux().GetSecurityContext().GetRunAsUser().GetValue() != 1000 {
		t.Errorf("runAsUser %v, want the image's 1000", cfg.GetLinux().GetSecurityContext().GetRunAsUser())
	}
}

func TestAdmitPod(t *testing.T) {
	withSysctl := func(name string, hostNet bool) *corev1.Pod {
		pod, _ := secPod(&corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: name, Value: "1"}}}, nil)
		pod.Spec.HostNetwork = hostNet
		return pod
	}
	for _, tc := range []struct {
		name         string
		pod          *corev1.Pod
		reason, want string
	}{
		{name: "safe", pod: withSysctl("net.ipv4.tcp_syncookies", false)},
		{name: "safe with slashes", pod: withSysctl("net/ipv4/ip_unprivileged_port_start", false)},
		{name: "unsafe", pod: withSysctl("kernel.msgmax", false), reason: "SysctlForbidden", want: `forbidden sysctl: "kernel.msgmax" not allowlisted`},
		{name: "net with host network", pod: withSysctl("net.ipv4.tcp_syncookies", true), reason: "SysctlForbidden",
			want: `forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host Net enabled`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, msg, ok := admitPod(tc.pod, nil)
			if ok != (tc.reason == "") || reason != tc.reason || msg != tc.want {
				t.Errorf("got %v %q %q, want %q %q", ok, reason, msg, tc.reason, tc.want)
			}
		})
	}
}

func TestAgentRejectsUnsafeSysctl(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	p := newTestPod("sysctl", corev1.RestartPolicyAlways)
	p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax", Value: "1"}}}
	pod := w.createPod(p)
	got := w.waitPod(pod, "rejected", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	want := `forbidden sysctl: "kernel.msgmax" not allowlisted`
	if got.Status.Reason != "SysctlForbidden" || got.Status.Message != "Pod was rejected: "+want {
		t.Errorf("reason %q message %q", got.Status.Reason, got.Status.Message)
	}
	w.waitEvent(pod, "SysctlForbidden: "+want)
	if n := len(w.calls("RunPodSandbox")); n != 0 {
		t.Errorf("%d sandboxes created for a rejected pod", n)
	}
}
