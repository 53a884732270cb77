package volumes

import "fmt"

// EventReasonFailedMount is the reason of the kubelet's event for a volume
// that could not be set up.
const EventReasonFailedMount = "FailedMount"

// SetUpError is a volume of the pod that could not be prepared (a missing
// ConfigMap or Secret, a failed hostPath type check, a tmpfs that would not
// mount, an unsupported volume type). Errors that are about one
// container's mounts (subPath, a mount naming no volume) are plain errors.
//
// Error returns the cause alone, e.g. `configmap "x" not found`; Unwrap
// gives the cause, so apierrors.IsNotFound works on it.
type SetUpError struct {
	Volume string // the volume's name in pod.spec.volumes
	Err    error
}

func (e *SetUpError) Error() string { return e.Err.Error() }

func (e *SetUpError) Unwrap() error { return e.Err }

// EventMessage is the message of the kubelet's FailedMount event, e.g.
// `MountVolume.SetUp failed for volume "config" : configmap "x" not found`.
func (e *SetUpError) EventMessage() string {
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", e.Volume, e.Err)
}
