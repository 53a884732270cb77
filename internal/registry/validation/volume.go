package validation

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateVolumes checks unique DNS-label names and exactly one source per
// volume, and returns the valid volumes by name for the mount checks.
func validateVolumes(volumes []corev1.Volume, podMeta *metav1.ObjectMeta, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	// The claims generic ephemeral volumes will create, so a pod cannot
	// also mount one of them as an ordinary claim.
	created := map[string]bool{}
	if podMeta != nil && podMeta.Name != "" {
		for _, v := range volumes {
			if v.Ephemeral != nil {
				created[podMeta.Name+"-"+v.Name] = true
			}
		}
	}
	vols := map[string]corev1.VolumeSource{}
	for i, v := range volumes {
		p := fldPath.Index(i)
		el := validateVolumeSource(&v.VolumeSource, p, v.Name, podMeta)
		if v.Name == "" {
			el = append(el, field.Required(p.Child("name"), ""))
		} else {
			el = append(el, dns1123Label(v.Name, p.Child("name"))...)
		}
		if _, dup := vols[v.Name]; dup {
			el = append(el, field.Duplicate(p.Child("name"), v.Name))
		}
		if len(el) == 0 {
			vols[v.Name] = v.VolumeSource
		} else {
			errs = append(errs, el...)
		}
		if v.PersistentVolumeClaim != nil && created[v.PersistentVolumeClaim.ClaimName] {
			errs = append(errs, field.Invalid(p.Child("persistentVolumeClaim", "claimName"), v.PersistentVolumeClaim.ClaimName,
				"must not reference a PVC that gets created for an ephemeral volume"))
		}
	}
	return vols, errs
}

// volumeSource is one member of the VolumeSource union: its name in
// "more than 1 volume type" errors, its own path, whether it is set, and
// its checks.
type volumeSource struct {
	name, path string
	set        bool
	check      func(p *field.Path) field.ErrorList
}

func validateVolumeSource(src *corev1.VolumeSource, fldPath *field.Path, volName string, podMeta *metav1.ObjectMeta) field.ErrorList {
	req := requiredStrings
	// Kubernetes' order; the few odd names ("downwarAPI", "persistentDisk",
	// "cephfs") are its own and kept.
	sources := []volumeSource{
		{"emptyDir", "emptyDir", src.EmptyDir != nil, func(p *field.Path) field.ErrorList {
			if l := src.EmptyDir.SizeLimit; l != nil && l.Cmp(resource.Quantity{}) < 0 {
				return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
			}
			return nil
		}},
		{"hostPath", "hostPath", src.HostPath != nil, func(p *field.Path) field.ErrorList { return validateHostPath(src.HostPath, p) }},
		{"gitRepo", "gitRepo", src.GitRepo != nil, func(p *field.Path) field.ErrorList {
			return append(req(p, "repository", src.GitRepo.Repository), validateLocalDescendingPath(src.GitRepo.Directory, p.Child("directory"))...)
		}},
		{"gcePersistentDisk", "persistentDisk", src.GCEPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return append(req(p, "pdName", src.GCEPersistentDisk.PDName), partition(src.GCEPersistentDisk.Partition, p)...)
		}},
		{"awsElasticBlockStore", "awsElasticBlockStore", src.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
			return append(req(p, "volumeID", src.AWSElasticBlockStore.VolumeID), partition(src.AWSElasticBlockStore.Partition, p)...)
		}},
		{"secret", "secret", src.Secret != nil, func(p *field.Path) field.ErrorList {
			return validateKeyToPathSource(req(p, "secretName", src.Secret.SecretName), src.Secret.DefaultMode, src.Secret.Items, p)
		}},
		{"nfs", "nfs", src.NFS != nil, func(p *field.Path) field.ErrorList {
			errs := req(p, "server", src.NFS.Server, "path", src.NFS.Path)
			if !path.IsAbs(src.NFS.Path) {
				errs = append(errs, field.Invalid(p.Child("path"), src.NFS.Path, "must be an absolute path"))
			}
			return errs
		}},
		{"iscsi", "iscsi", src.ISCSI != nil, func(p *field.Path) field.ErrorList {
			errs := req(p, "targetPortal", src.ISCSI.TargetPortal, "iqn", src.ISCSI.IQN)
			if l := src.ISCSI.Lun; l < 0 || l > 255 {
				errs = append(errs, field.Invalid(p.Child("lun"), l, utilvalidation.InclusiveRangeError(0, 255)))
			}
			return errs
		}},
		{"glusterfs", "glusterfs", src.Glusterfs != nil, func(p *field.Path) field.ErrorList {
			return req(p, "endpoints", src.Glusterfs.EndpointsName, "path", src.Glusterfs.Path)
		}},
		{"flocker", "flocker", src.Flocker != nil, func(p *field.Path) field.ErrorList {
			if src.Flocker.DatasetName == "" && src.Flocker.DatasetUUID == "" {
				return field.ErrorList{field.Required(p, "one of datasetName and datasetUUID is required")}
			}
			return nil
		}},
		{"persistentVolumeClaim", "persistentVolumeClaim", src.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
			return req(p, "claimName", src.PersistentVolumeClaim.ClaimName)
		}},
		{"rbd", "rbd", src.RBD != nil, func(p *field.Path) field.ErrorList {
			errs := req(p, "image", src.RBD.RBDImage)
			if len(src.RBD.CephMonitors) == 0 {
				errs = append(field.ErrorList{field.Required(p.Child("monitors"), "")}, errs...)
			}
			return errs
		}},
		{"cinder", "cinder", src.Cinder != nil, func(p *field.Path) field.ErrorList { return req(p, "volumeID", src.Cinder.VolumeID) }},
		{"cephFS", "cephfs", src.CephFS != nil, func(p *field.Path) field.ErrorList {
			if len(src.CephFS.Monitors) == 0 {
				return field.ErrorList{field.Required(p.Child("monitors"), "")}
			}
			return nil
		}},
		{"quobyte", "quobyte", src.Quobyte != nil, func(p *field.Path) field.ErrorList {
			return req(p, "registry", src.Quobyte.Registry, "volume", src.Quobyte.Volume)
		}},
		{"downwarAPI", "downwardAPI", src.DownwardAPI != nil, func(p *field.Path) field.ErrorList {
			errs := fileMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))
			for _, f := range src.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIFile(&f, p)...)
			}
			return errs
		}},
		{"fc", "fc", src.FC != nil, func(p *field.Path) field.ErrorList {
			if len(src.FC.TargetWWNs) == 0 && len(src.FC.WWIDs) == 0 {
				return field.ErrorList{field.Required(p.Child("targetWWNs"), "must specify either targetWWNs or wwids, but not both")}
			}
			return nil
		}},
		{"flexVolume", "flexVolume", src.FlexVolume != nil, func(p *field.Path) field.ErrorList { return req(p, "driver", src.FlexVolume.Driver) }},
		{"configMap", "configMap", src.ConfigMap != nil, func(p *field.Path) field.ErrorList {
			return validateKeyToPathSource(req(p, "name", src.ConfigMap.Name), src.ConfigMap.DefaultMode, src.ConfigMap.Items, p)
		}},
		{"azureFile", "azureFile", src.AzureFile != nil, func(p *field.Path) field.ErrorList {
			return req(p, "secretName", src.AzureFile.SecretName, "shareName", src.AzureFile.ShareName)
		}},
		{"vsphereVolume", "vsphereVolume", src.VsphereVolume != nil, func(p *field.Path) field.ErrorList {
			return req(p, "volumePath", src.VsphereVolume.VolumePath)
		}},
		{"photonPersistentDisk", "photonPersistentDisk", src.PhotonPersistentDisk != nil, func(p *field.Path) field.ErrorList {
			return req(p, "pdID", src.PhotonPersistentDisk.PdID)
		}},
		{"portworxVolume", "portworxVolume", src.PortworxVolume != nil, func(p *field.Path) field.ErrorList {
			return req(p, "volumeID", src.PortworxVolume.VolumeID)
		}},
		{"azureDisk", "azureDisk", src.AzureDisk != nil, func(p *field.Path) field.ErrorList {
			return req(p, "diskName", src.AzureDisk.DiskName, "diskURI", src.AzureDisk.DataDiskURI)
		}},
		{"storageos", "storageos", src.StorageOS != nil, func(p *field.Path) field.ErrorList {
			if src.StorageOS.VolumeName == "" {
				return field.ErrorList{field.Required(p.Child("volumeName"), "")}
			}
			return dns1123Label(src.StorageOS.VolumeName, p.Child("volumeName"))
		}},
		{"projected", "projected", src.Projected != nil, func(p *field.Path) field.ErrorList {
			return append(fileMode(src.Projected.DefaultMode, p.Child("defaultMode")), validateProjectionSources(src.Projected, p)...)
		}},
		{"scaleIO", "scaleIO", src.ScaleIO != nil, func(p *field.Path) field.ErrorList {
			return req(p, "gateway", src.ScaleIO.Gateway, "system", src.ScaleIO.System, "volumeName", src.ScaleIO.VolumeName)
		}},
		{"csi", "csi", src.CSI != nil, func(p *field.Path) field.ErrorList { return validateCSIVolumeSource(src.CSI, p) }},
		{"ephemeral", "ephemeral", src.Ephemeral != nil, func(p *field.Path) field.ErrorList {
			if src.Ephemeral.VolumeClaimTemplate == nil {
				return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
			}
			// The claim is named <pod>-<volume>; it must be a valid name.
			if podMeta != nil && podMeta.Name != "" && volName != "" {
				pvc := podMeta.Name + "-" + volName
				var errs field.ErrorList
				for _, msg := range nameIsDNSSubdomain(pvc, false) {
					errs = append(errs, field.Invalid(fldPath.Child("name"), volName, fmt.Sprintf("PVC name %q: %v", pvc, msg)))
				}
				return errs
			}
			return nil
		}},
		{"image", "image", src.Image != nil, func(p *field.Path) field.ErrorList {
			return append(req(p, "reference", src.Image.Reference), validatePullPolicy(src.Image.PullPolicy, p.Child("pullPolicy"))...)
		}},
	}
	var errs field.ErrorList
	n := 0
	for _, s := range sources {
		if !s.set {
			continue
		}
		if n > 0 {
			errs = append(errs, field.Forbidden(fldPath.Child(s.name), "may not specify more than 1 volume type"))
			continue
		}
		n++
		errs = append(errs, s.check(fldPath.Child(s.path))...)
	}
	if n == 0 {
		errs = append(errs, field.Required(fldPath, "must specify a volume type"))
	}
	return errs
}

// requiredStrings takes (child, value) pairs and reports each empty value
// as Required.
func requiredStrings(p *field.Path, pairs ...string) field.ErrorList {
	var errs field.ErrorList
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			errs = append(errs, field.Required(p.Child(pairs[i]), ""))
		}
	}
	return errs
}

func partition(v int32, p *field.Path) field.ErrorList {
	if v < 0 || v > 255 {
		return field.ErrorList{field.Invalid(p.Child("partition"), v, utilvalidation.InclusiveRangeError(1, 255))}
	}
	return nil
}

func fileMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(p, *mode, fileModeErrorMsg)}
	}
	return nil
}

var hostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathBlockDev, corev1.HostPathCharDev, corev1.HostPathDirectory,
	corev1.HostPathDirectoryOrCreate, corev1.HostPathFile, corev1.HostPathFileOrCreate, corev1.HostPathSocket,
}

func validateHostPath(hp *corev1.HostPathVolumeSource, p *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(p.Child("path"), "")}
	}
	errs := pathNoBacksteps(hp.Path, p.Child("path"))
	if hp.Type != nil {
		ok := false
		for _, t := range hostPathTypes {
			ok = ok || *hp.Type == t
		}
		if !ok {
			errs = append(errs, field.NotSupported(p.Child("type"), *hp.Type, hostPathTypes))
		}
	}
	return errs
}

func validateKeyToPathSource(errs field.ErrorList, mode *int32, items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	errs = append(errs, fileMode(mode, p.Child("defaultMode"))...)
	for i := range items {
		errs = append(errs, validateKeyToPath(&items[i], p.Child("items").Index(i))...)
	}
	return errs
}

func validateKeyToPath(kp *corev1.KeyToPath, p *field.Path) field.ErrorList {
	errs := requiredStrings(p, "key", kp.Key, "path", kp.Path)
	errs = append(errs, validateLocalNonReservedPath(kp.Path, p.Child("path"))...)
	return append(errs, fileMode(kp.Mode, p.Child("mode"))...)
}

func validateDownwardAPIFile(f *corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if f.Path == "" {
		errs = append(errs, field.Required(p.Child("path"), ""))
	}
	errs = append(errs, validateLocalNonReservedPath(f.Path, p.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(f.FieldRef, volumeFieldPaths, p.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(p, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(f.ResourceFieldRef, true, p.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(p, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, fileMode(f.Mode, p.Child("mode"))...)
}

// validateProjectionSources: one source per entry and no two files at the
// same path across all of them.
func validateProjectionSources(pr *corev1.ProjectedVolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := map[string]bool{}
	claim := func(file, badValue string) {
		if file == "" {
			return
		}
		if paths[file] {
			errs = append(errs, field.Invalid(p, badValue, "conflicting duplicate paths"))
		}
		paths[file] = true
	}
	for i, s := range pr.Sources {
		sp := p.Child("sources").Index(i)
		n := 0
		if s.Secret != nil {
			n++
			errs = append(errs, requiredStrings(sp.Child("secret"), "name", s.Secret.Name)...)
			for j := range s.Secret.Items {
				errs = append(errs, validateKeyToPath(&s.Secret.Items[j], sp.Child("secret", "items").Index(j))...)
				claim(s.Secret.Items[j].Path, s.Secret.Name)
			}
		}
		if s.ConfigMap != nil {
			n++
			errs = append(errs, requiredStrings(sp.Child("configMap"), "name", s.ConfigMap.Name)...)
			for j := range s.ConfigMap.Items {
				errs = append(errs, validateKeyToPath(&s.ConfigMap.Items[j], sp.Child("configMap", "items").Index(j))...)
				claim(s.ConfigMap.Items[j].Path, s.ConfigMap.Name)
			}
		}
		if s.DownwardAPI != nil {
			n++
			for j := range s.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIFile(&s.DownwardAPI.Items[j], sp.Child("downwardAPI"))...)
				claim(s.DownwardAPI.Items[j].Path, s.DownwardAPI.Items[j].Path)
			}
		}
		if t := s.ServiceAccountToken; t != nil {
			n++
			tp := sp.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds < 10*60 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
			}
			if t.ExpirationSeconds != nil && *t.ExpirationSeconds > 1<<32 {
				errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
			}
			// Kubernetes reports the token path on the projection itself.
			if t.Path == "" {
				errs = append(errs, field.Required(p.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(t.Path, p.Child("path"))...)
			}
		}
		if b := s.ClusterTrustBundle; b != nil {
			n++
			bp := sp.Child("clusterTrustBundlePEM")
			if b.Name == nil && b.SignerName == nil {
				errs = append(errs, field.Required(bp, "either name or signerName must be specified"))
			}
			if b.Path == "" {
				errs = append(errs, field.Required(bp.Child("path"), ""))
			}
			errs = append(errs, validateLocalNonReservedPath(b.Path, bp.Child("path"))...)
			claim(b.Path, b.Path)
		}
		if s.PodCertificate != nil {
			n++
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type"))
		}
	}
	return errs
}

func validateCSIVolumeSource(csi *corev1.CSIVolumeSource, p *field.Path) field.ErrorList {
	dp := p.Child("driver")
	var errs field.ErrorList
	if csi.Driver == "" {
		errs = append(errs, field.Required(dp, ""))
	}
	if len(csi.Driver) > 63 {
		errs = append(errs, field.TooLong(dp, "", 63))
	}
	errs = append(errs, dns1123Subdomain(strings.ToLower(csi.Driver), dp)...)
	if ref := csi.NodePublishSecretRef; ref != nil {
		if ref.Name == "" {
			errs = append(errs, field.Required(p.Child("nodePublishSecretRef", "name"), ""))
		} else {
			// Kubernetes reports a bad secret name under csi.name; kept.
			errs = append(errs, nameErrors(nameIsDNSSubdomain, ref.Name, p.Child("name"))...)
		}
	}
	return errs
}

// validateLocalDescendingPath: relative and without "..".
func validateLocalDescendingPath(target string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(target) {
		errs = append(errs, field.Invalid(p, target, "must be a relative path"))
	}
	return append(errs, pathNoBacksteps(target, p)...)
}

func pathNoBacksteps(target string, p *field.Path) field.ErrorList {
	for _, part := range strings.Split(filepath.ToSlash(target), "/") {
		if part == ".." {
			return field.ErrorList{field.Invalid(p, target, "must not contain '..'")}
		}
	}
	return nil
}

// validateLocalNonReservedPath also refuses a leading "..", which the
// kubelet's atomic writer reserves for its own files.
func validateLocalNonReservedPath(target string, p *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(target, p)
	if strings.HasPrefix(target, "..") && !strings.HasPrefix(target, "../") {
		errs = append(errs, field.Invalid(p, target, "must not start with '..'"))
	}
	return errs
}

// validateVolumeMounts: each mount names an existing volume and a unique
// path. A few paths lack the mount's index in Kubernetes; kept.
func validateVolumeMounts(mounts []corev1.VolumeMount, devices map[string]string, vols map[string]corev1.VolumeSource, c *corev1.Container, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	points := map[string]bool{}
	for i, m := range mounts {
		p := fldPath.Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if _, ok := vols[m.Name]; !ok {
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		}
		if points[m.MountPath] {
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		points[m.MountPath] = true
		if _, ok := devices[m.Name]; ok {
			errs = append(errs, field.Invalid(p.Child("name"), m.Name, "must not already exist in volumeDevices"))
		}
		for _, dp := range devices {
			if dp == m.MountPath {
				errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must not already exist as a path in volumeDevices"))
				break
			}
		}
		if m.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(m.SubPath, fldPath.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(p.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateLocalDescendingPath(m.SubPathExpr, fldPath.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			errs = append(errs, validateMountPropagation(*m.MountPropagation, c, fldPath.Child("mountPropagation"))...)
		}
		errs = append(errs, validateRecursiveReadOnly(m, fldPath.Child("recursiveReadOnly"))...)
	}
	return errs
}

func validateMountPropagation(mp corev1.MountPropagationMode, c *corev1.Container, p *field.Path) field.ErrorList {
	switch mp {
	case corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone:
	default:
		return field.ErrorList{field.NotSupported(p, mp, []corev1.MountPropagationMode{corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone})}
	}
	privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
	if mp == corev1.MountPropagationBidirectional && !privileged {
		return field.ErrorList{field.Forbidden(p, "Bidirectional mount propagation is available only to privileged containers")}
	}
	return nil
}

func validateRecursiveReadOnly(m corev1.VolumeMount, p *field.Path) field.ErrorList {
	if m.RecursiveReadOnly == nil {
		return nil
	}
	var errs field.ErrorList
	switch *m.RecursiveReadOnly {
	case corev1.RecursiveReadOnlyDisabled:
	case corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible:
		if !m.ReadOnly {
			errs = append(errs, field.Forbidden(p, "may only be specified when readOnly is true"))
		}
		if m.MountPropagation != nil && *m.MountPropagation != corev1.MountPropagationNone {
			errs = append(errs, field.Forbidden(p, "may only be specified when mountPropagation is None or not specified"))
		}
	default:
		errs = append(errs, field.NotSupported(p, *m.RecursiveReadOnly, []corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible}))
	}
	return errs
}

// validateVolumeDevices: raw block devices come only from claims.
func validateVolumeDevices(devices []corev1.VolumeDevice, mounts map[string]string, vols map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths, names := map[string]bool{}, map[string]bool{}
	for i, d := range devices {
		p := fldPath.Index(i)
		src, found := vols[d.Name]
		if d.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		if names[d.Name] {
			errs = append(errs, field.Invalid(p.Child("name"), d.Name, "must be unique"))
		}
		if found && src.PersistentVolumeClaim == nil && src.Ephemeral == nil {
			errs = append(errs, field.Invalid(p.Child("name"), d.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		}
		if !found {
			errs = append(errs, field.NotFound(p.Child("name"), d.Name))
		}
		if d.DevicePath == "" {
			errs = append(errs, field.Required(p.Child("devicePath"), ""))
		}
		if paths[d.DevicePath] {
			errs = append(errs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must be unique"))
		}
		if d.DevicePath != "" && len(pathNoBacksteps(d.DevicePath, p)) > 0 {
			errs = append(errs, field.Invalid(p.Child("devicePath"), d.DevicePath, "can not contain backsteps ('..')"))
		} else {
			paths[d.DevicePath] = true
		}
		if _, ok := mounts[d.Name]; ok {
			errs = append(errs, field.Invalid(p.Child("name"), d.Name, "must not already exist in volumeMounts"))
		}
		for _, mp := range mounts {
			if mp == d.DevicePath {
				errs = append(errs, field.Invalid(p.Child("devicePath"), d.DevicePath, "must not already exist as a path in volumeMounts"))
				break
			}
		}
		if d.Name != "" {
			names[d.Name] = true
		}
	}
	return errs
}
