package agent

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/kubernetes/pkg/kubelet/util/format"
	"k8s.io/kubernetes/pkg/security/apparmor"
	"k8s.io/kubernetes/pkg/securitycontext"
)

// The CRI security context is built as the kubelet builds it
// (pkg/kubelet/kuberuntime/security_context.go, helpers.go): the effective
// context is the container's over the pod's (pkg/securitycontext, taken
// from Kubernetes), then the image's user, seccomp, AppArmor, namespaces,
// fsGroup and supplemental groups, no_new_privs and the /proc masks.

// seccompDir is the kubelet's --seccomp-profile-root (<root-dir>/seccomp):
// a Localhost profile names a file relative to it.
func (a *Agent) seccompDir() string { return filepath.Join(a.cfg.DataDir, "seccomp") }

// verifyRunAsNonRoot is the kubelet's check, with its messages: the pod
// waits in CreateContainerConfigError with it.
func verifyRunAsNonRoot(pod *corev1.Pod, c *corev1.Container, uid *int64, username string) error {
	sc := securitycontext.DetermineEffectiveSecurityContext(pod, c)
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		return nil
	}
	if sc.RunAsUser != nil {
		if *sc.RunAsUser == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", format.Pod(pod), c.Name)
		}
		return nil
	}
	switch {
	case uid == nil && username != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", username, format.Pod(pod), c.Name)
	case uid != nil && *uid == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", format.Pod(pod), c.Name)
	case uid != nil:
		if errs := validation.IsValidUserID(*uid); len(errs) > 0 {
			return fmt.Errorf("container has runAsNonRoot and image has an invalid user id (%d). (Must be 1-(%d)): %s (pod: %q, container: %s)",
				*uid, math.MaxInt32, strings.Join(errs, "; "), format.Pod(pod), c.Name)
		}
	}
	return nil
}

// containerSecurityContext is the kubelet's determineEffectiveSecurityContext.
func (a *Agent) containerSecurityContext(pod *corev1.Pod, c *corev1.Container, uid *int64, username string) (*runtimeapi.LinuxContainerSecurityContext, error) {
	eff := securitycontext.DetermineEffectiveSecurityContext(pod, c)
	sc := &runtimeapi.LinuxContainerSecurityContext{}
	if eff != nil {
		sc.Capabilities = runtimeCapabilities(eff.Capabilities)
		if o := eff.SELinuxOptions; o != nil {
			sc.SelinuxOptions = &runtimeapi.SELinuxOption{User: o.User, Role: o.Role, Type: o.Type, Level: o.Level}
		}
		if eff.RunAsUser != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *eff.RunAsUser}
		}
		if eff.RunAsGroup != nil {
			sc.RunAsGroup = &runtimeapi.Int64Value{Value: *eff.RunAsGroup}
		}
		if eff.Privileged != nil {
			sc.Privileged = *eff.Privileged
		}
		if eff.ReadOnlyRootFilesystem != nil {
			sc.ReadonlyRootfs = *eff.ReadOnlyRootFilesystem
		}
	}
	var err error
	if sc.Seccomp, err = seccompProfile(pod.Spec.SecurityContext, c.SecurityContext, a.seccompDir()); err != nil {
		return nil, err
	}
	if sc.Apparmor, sc.ApparmorProfile, err = appArmorProfile(pod, c); err != nil {
		return nil, err
	}
	if sc.RunAsUser == nil {
		if uid != nil {
			sc.RunAsUser = &runtimeapi.Int64Value{Value: *uid}
		}
		sc.RunAsUsername = username
	}
	sc.NamespaceOptions = namespaceOptions(pod)
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.FSGroup != nil {
			sc.SupplementalGroups = append(sc.SupplementalGroups, *psc.FSGroup)
		}
		sc.SupplementalGroups = append(sc.SupplementalGroups, psc.SupplementalGroups...)
		if p := psc.SupplementalGroupsPolicy; p != nil {
			v, ok := runtimeapi.SupplementalGroupsPolicy_value[string(*p)]
			if !ok {
				return nil, fmt.Errorf("unsupported supplementalGroupsPolicy: %s", *p)
			}
			sc.SupplementalGroupsPolicy = runtimeapi.SupplementalGroupsPolicy(v)
		}
	}
	if eff != nil {
		sc.NoNewPrivs = securitycontext.AddNoNewPrivileges(eff)
		sc.MaskedPaths = securitycontext.ConvertToRuntimeMaskedPaths(eff.ProcMount)
		sc.ReadonlyPaths = securitycontext.ConvertToRuntimeReadonlyPaths(eff.ProcMount)
	} else {
		sc.MaskedPaths = securitycontext.ConvertToRuntimeMaskedPaths(nil)
		sc.ReadonlyPaths = securitycontext.ConvertToRuntimeReadonlyPaths(nil)
	}
	return sc, nil
}

func runtimeCapabilities(caps *corev1.Capabilities) *runtimeapi.Capability {
	if caps == nil {
		return nil
	}
	out := &runtimeapi.Capability{AddCapabilities: make([]string, 0, len(caps.Add)), DropCapabilities: make([]string, 0, len(caps.Drop))}
	for _, c := range caps.Add {
		out.AddCapabilities = append(out.AddCapabilities, string(c))
	}
	for _, c := range caps.Drop {
		out.DropCapabilities = append(out.DropCapabilities, string(c))
	}
	return out
}

// seccompProfile is the kubelet's getSeccompProfile with --seccomp-default
// off: the container's field, else the pod's, else Unconfined.
func seccompProfile(psc *corev1.PodSecurityContext, csc *corev1.SecurityContext, root string) (*runtimeapi.SecurityProfile, error) {
	var p *corev1.SeccompProfile
	switch {
	case csc != nil && csc.SeccompProfile != nil:
		p = csc.SeccompProfile
	case psc != nil && psc.SeccompProfile != nil:
		p = psc.SeccompProfile
	}
	if p == nil {
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, nil
	}
	switch p.Type {
	case corev1.SeccompProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, nil
	case corev1.SeccompProfileTypeLocalhost:
		if p.LocalhostProfile == nil || *p.LocalhostProfile == "" {
			return nil, errors.New("localhostProfile must be set if seccompProfile type is Localhost.")
		}
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost,
			LocalhostRef: filepath.Join(root, *p.LocalhostProfile)}, nil
	}
	return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, nil
}

// appArmorProfile is the kubelet's getAppArmorProfile.
func appArmorProfile(pod *corev1.Pod, c *corev1.Container) (*runtimeapi.SecurityProfile, string, error) {
	p := apparmor.GetProfile(pod, c)
	if p == nil {
		return nil, "", nil
	}
	switch p.Type {
	case corev1.AppArmorProfileTypeRuntimeDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}, corev1.DeprecatedAppArmorBetaProfileRuntimeDefault, nil
	case corev1.AppArmorProfileTypeUnconfined:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}, corev1.DeprecatedAppArmorBetaProfileNameUnconfined, nil
	case corev1.AppArmorProfileTypeLocalhost:
		if p.LocalhostProfile == nil {
			return nil, "", errors.New("missing localhost apparmor profile name")
		}
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost, LocalhostRef: *p.LocalhostProfile},
			corev1.DeprecatedAppArmorBetaProfileNamePrefix + *p.LocalhostProfile, nil
	}
	return nil, "", fmt.Errorf("unknown apparmor profile type: %q", p.Type)
}

// sandboxSecurity is the kubelet's generatePodSandboxLinuxConfig security
// part: the pod's user, groups and sysctls; the pause container always
// runs under the runtime's default seccomp profile.
func sandboxSecurity(pod *corev1.Pod, lc *runtimeapi.LinuxPodSandboxConfig) error {
	lc.SecurityContext.Seccomp = &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	psc := pod.Spec.SecurityContext
	if psc == nil {
		return nil
	}
	if len(psc.Sysctls) > 0 {
		lc.Sysctls = map[string]string{}
		for _, s := range psc.Sysctls {
			lc.Sysctls[s.Name] = s.Value
		}
	}
	if psc.RunAsUser != nil {
		lc.SecurityContext.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
	}
	if psc.RunAsGroup != nil {
		lc.SecurityContext.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
	}
	if psc.FSGroup != nil {
		lc.SecurityContext.SupplementalGroups = append(lc.SecurityContext.SupplementalGroups, *psc.FSGroup)
	}
	lc.SecurityContext.SupplementalGroups = append(lc.SecurityContext.SupplementalGroups, psc.SupplementalGroups...)
	if p := psc.SupplementalGroupsPolicy; p != nil {
		v, ok := runtimeapi.SupplementalGroupsPolicy_value[string(*p)]
		if !ok {
			return fmt.Errorf("unsupported supplementalGroupsPolicy: %s", *p)
		}
		lc.SecurityContext.SupplementalGroupsPolicy = runtimeapi.SupplementalGroupsPolicy(v)
	}
	if o := psc.SELinuxOptions; o != nil {
		lc.SecurityContext.SelinuxOptions = &runtimeapi.SELinuxOption{User: o.User, Role: o.Role, Type: o.Type, Level: o.Level}
	}
	return nil
}
