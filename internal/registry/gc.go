package registry

import batchv1 "k8s.io/api/batch/v1"

// OrphansByDefault reports whether deleting an object of r without a
// propagation policy orphans its dependents. Kubernetes keeps this for
// batch/v1 Jobs (their pods survive a policy-less delete); every other
// resource deletes its dependents in the background.
func OrphansByDefault(r *Resource) bool {
	return r.GVR() == batchv1.SchemeGroupVersion.WithResource("jobs")
}
