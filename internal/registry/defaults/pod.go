package defaults

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/berth-dev/berth/internal/imageref"
)

// Pod fills the empty fields of a pod as Kubernetes' v1 defaulting does
// (SetObjectDefaults_Pod): pod-level defaults, every container, init
// container and ephemeral container, their probes, hooks, ports and
// downward-API selectors, and every volume.
//
// It also keeps spec.serviceAccount (deprecated) and spec.serviceAccountName
// in sync the way the v1<->internal conversion does: serviceAccountName wins
// when both are set, and serviceAccount always mirrors it on the way out.
func Pod(p *corev1.Pod) {
	if p == nil {
		return
	}
	spec := &p.Spec

	// A negative grace period is stored as 1 (only on pods, not templates):
	// old clients sent -1 to mean "as short as possible".
	if g := spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	}

	// Requests default to limits before anything else: the copied values are
	// then rounded like every other quantity. Only pods get this, never pod
	// templates, which is why Kubernetes does it here and not per container.
	for i := range spec.Containers {
		requestsFromLimits(&spec.Containers[i].Resources)
	}
	for i := range spec.InitContainers {
		requestsFromLimits(&spec.InitContainers[i].Resources)
	}
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = boolPtr(corev1.DefaultEnableServiceLinks)
	}
	if spec.HostNetwork {
		// With the host's network the container port is the host port.
		hostNetworkPorts(spec.Containers)
		hostNetworkPorts(spec.InitContainers)
	}

	podSpec(spec)
	for i := range spec.Volumes {
		volume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		container(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		container(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		container((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	resourceList(spec.Overhead)
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for i := range list {
			resourceList(list[i].AllocatedResources)
			if r := list[i].Resources; r != nil {
				resourceList(r.Limits)
				resourceList(r.Requests)
			}
		}
	}

	// Conversion, not defaulting, but a client sees it on every read.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
}

// podSpec is SetDefaults_PodSpec: the fields every pod spec (pods and
// templates alike) gets.
func podSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = int64Ptr(corev1.DefaultTerminationGracePeriodSeconds)
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
}

// requestsFromLimits copies each limit without a matching request into the
// requests, so a container that only sets limits is scheduled (and gets a
// QoS class) as if it had asked for exactly that much.
func requestsFromLimits(r *corev1.ResourceRequirements) {
	if r.Limits == nil {
		return
	}
	if r.Requests == nil {
		r.Requests = make(corev1.ResourceList, len(r.Limits))
	}
	for name, q := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = q.DeepCopy()
		}
	}
}

func hostNetworkPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			port := &containers[i].Ports[j]
			if port.HostPort == 0 {
				port.HostPort = port.ContainerPort
			}
		}
	}
}

// container is SetDefaults_Container plus the generated defaults of
// everything a container holds. Ephemeral containers share it: their common
// part has the same layout as a Container.
func container(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		// Derived from the tag at this moment and never re-derived later:
		// once stored, the field is no longer empty (k8s-semantics §1.3).
		c.ImagePullPolicy = imageref.DefaultPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil {
			fieldRef(vf.FieldRef)
			if vf.FileKeyRef != nil && vf.FileKeyRef.Optional == nil {
				// +default=false in the API types.
				vf.FileKeyRef.Optional = boolPtr(false)
			}
		}
	}
	resourceList(c.Resources.Limits)
	resourceList(c.Resources.Requests)
	probe(c.LivenessProbe)
	probe(c.ReadinessProbe)
	probe(c.StartupProbe)
	if lc := c.Lifecycle; lc != nil {
		if lc.PostStart != nil {
			httpGet(lc.PostStart.HTTPGet)
		}
		if lc.PreStop != nil {
			httpGet(lc.PreStop.HTTPGet)
		}
	}
}

// probe is SetDefaults_Probe plus the handler defaults. Zero means "unset"
// for these int32 fields, so an explicit 0 becomes the default too.
func probe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	httpGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		// +default="": the empty service name asks for the server's
		// overall health.
		p.GRPC.Service = strPtr("")
	}
}

// volume is SetDefaults_Volume plus the defaults of each volume source.
func volume(v *corev1.Volume) {
	if ptr.AllPtrFieldsNil(&v.VolumeSource) {
		// A volume that names no source is an emptyDir.
		v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}
	src := &v.VolumeSource
	if src.Image != nil && src.Image.PullPolicy == "" {
		// ImageVolume is on by default from 1.35; the same tag rule as
		// containers applies.
		src.Image.PullPolicy = imageref.DefaultPullPolicy(src.Image.Reference)
	}
	if src.HostPath != nil && src.HostPath.Type == nil {
		t := corev1.HostPathUnset
		src.HostPath.Type = &t
	}
	if src.Secret != nil && src.Secret.DefaultMode == nil {
		src.Secret.DefaultMode = int32Ptr(corev1.SecretVolumeSourceDefaultMode)
	}
	if src.ConfigMap != nil && src.ConfigMap.DefaultMode == nil {
		src.ConfigMap.DefaultMode = int32Ptr(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if d := src.DownwardAPI; d != nil {
		if d.DefaultMode == nil {
			d.DefaultMode = int32Ptr(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		for i := range d.Items {
			fieldRef(d.Items[i].FieldRef)
		}
	}
	if pr := src.Projected; pr != nil {
		if pr.DefaultMode == nil {
			pr.DefaultMode = int32Ptr(corev1.ProjectedVolumeSourceDefaultMode)
		}
		for i := range pr.Sources {
			s := &pr.Sources[i]
			if s.DownwardAPI != nil {
				for j := range s.DownwardAPI.Items {
					fieldRef(s.DownwardAPI.Items[j].FieldRef)
				}
			}
			if s.ServiceAccountToken != nil && s.ServiceAccountToken.ExpirationSeconds == nil {
				s.ServiceAccountToken.ExpirationSeconds = int64Ptr(60 * 60)
			}
		}
	}
	legacyVolumeSources(src)
	if e := src.Ephemeral; e != nil && e.VolumeClaimTemplate != nil {
		spec := &e.VolumeClaimTemplate.Spec
		if spec.VolumeMode == nil {
			m := corev1.PersistentVolumeFilesystem
			spec.VolumeMode = &m
		}
		resourceList(spec.Resources.Limits)
		resourceList(spec.Resources.Requests)
	}
}

// legacyVolumeSources fills the declarative (+default) fields of the in-tree
// storage drivers. berth cannot mount them, but a client that reads a pod
// back must see what Kubernetes would have stored.
func legacyVolumeSources(src *corev1.VolumeSource) {
	if s := src.ISCSI; s != nil && s.ISCSIInterface == "" {
		s.ISCSIInterface = "default"
	}
	if s := src.RBD; s != nil {
		if s.RBDPool == "" {
			s.RBDPool = "rbd"
		}
		if s.RadosUser == "" {
			s.RadosUser = "admin"
		}
		if s.Keyring == "" {
			s.Keyring = "/etc/ceph/keyring"
		}
	}
	if s := src.AzureDisk; s != nil {
		if s.CachingMode == nil {
			m := corev1.AzureDataDiskCachingReadWrite
			s.CachingMode = &m
		}
		if s.Kind == nil {
			k := corev1.AzureSharedBlobDisk
			s.Kind = &k
		}
		if s.FSType == nil {
			s.FSType = strPtr("ext4")
		}
		if s.ReadOnly == nil {
			s.ReadOnly = boolPtr(false)
		}
	}
	if s := src.ScaleIO; s != nil {
		if s.StorageMode == "" {
			s.StorageMode = "ThinProvisioned"
		}
		if s.FSType == "" {
			s.FSType = "xfs"
		}
	}
}
