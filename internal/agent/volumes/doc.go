// Package volumes prepares a pod's volumes on the node the way the kubelet
// does, and returns the CRI mounts of each container.
//
// Supported volume types: emptyDir (on disk, or tmpfs for medium Memory),
// hostPath (with the kubelet's type checks), configMap, secret, downwardAPI
// and projected. The last four are written with the kubelet's atomic-writer
// layout, so that a refresh is one rename and running containers see it:
//
//	<volume>/..2026_01_02_15_04_05.123456789/<files>   the data
//	<volume>/..data -> ..2026_01_02_15_04_05.123456789 swapped by rename(2)
//	<volume>/<key>  -> ..data/<key>                    what containers open
//
// On-disk layout under the pod's directory, as the kubelet names it:
//
//	volumes/kubernetes.io~empty-dir/<name>
//	volumes/kubernetes.io~configmap/<name>
//	volumes/kubernetes.io~secret/<name>       tmpfs
//	volumes/kubernetes.io~downward-api/<name>
//	volumes/kubernetes.io~projected/<name>    tmpfs
//
// Secret and projected volumes live on tmpfs, as the kubelet's do. When
// tmpfs cannot be mounted (no CAP_SYS_ADMIN) they fall back to disk, under
// a parent directory that only root can enter, and the Manager logs it.
//
// ConfigMaps and Secrets are read one object at a time with GET, never
// listed or watched cluster-wide: a Kubernetes node authorizer allows a
// node exactly that, so the same code works against a real control plane.
// Secret values are never logged and never appear in errors.
package volumes
