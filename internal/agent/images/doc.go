// Package images is the node agent's image manager: it makes a container's
// image present the way the kubelet does (pkg/kubelet/images, with the
// KubeletEnsureSecretPulledImages gate on, as in Kubernetes 1.35–1.37), and
// it remembers why, for `berth explain pull`.
//
// For each container start, Manager.EnsureImage:
//
//  1. completes the tag on the user's string (busybox → busybox:latest; the
//     CRI gets that string, not the normalised docker.io/library/… form);
//     an unparsable name is InvalidImageName with an InspectFailed event;
//  2. asks the runtime whether the image is present, except under
//     imagePullPolicy Always, which never inspects; Never with no image is
//     ErrImageNeverPull;
//  3. for a present image, decides with the pull records (KEP-2535) whether
//     the pod may use it without pulling: a pod whose credentials were not
//     verified for the image must pull it with its own credentials, and under
//     Never it is told the image is not present;
//  4. pulls: pull intent on disk, per-pod-and-image back-off (10 s doubling
//     to 300 s), the pod's pull secrets from its own namespace turned into a
//     keyring (internal/keyring), every matching credential tried in
//     order with no anonymous fallback once one matched, and a pulled record
//     naming the credential that worked.
//
// Events, waiting reasons and messages are the kubelet's, word for word.
// Where the kubelet says nothing useful, berth appends one clearly separated
// note to the failure message and the Failed event, e.g.
//
//	Failed to pull image "ghcr.io/team/app:1": … 401 Unauthorized (berth: tried credential robot@ghcr.io from secret team/ghcr)
//
// and keeps a PullAttempt per container (in memory and as JSON under
// DataDir/image_manager/explain) that `berth explain pull` prints: the
// secrets considered, the registry keys that matched, every credential sent
// (user name and secret, never a password, auth or token) and a one-sentence
// verdict that classifies the registry's answer.
//
// FailedToRetrieveImagePullSecret follows Kubernetes 1.37 (kubernetes#138432):
// it is emitted only when a pull failed with ErrImagePull while some of the
// pod's pull secrets could not be read, not on every sync. The explain record
// reports missing secrets on every attempt.
//
// Files under DataDir/image_manager:
//
//	pulling/sha256-<hex of the image string>  ImagePullIntent, while a pull is in flight
//	pulled/sha256-<hex of the image ID>       ImagePulledRecord: which credentials pulled it
//	explain/<pod UID>_<container>.json        the last PullAttempt
//
// Intents left by a crash whose image is present are turned into records
// without credentials (so every pod must verify) before the first decision.
// An image present in the runtime with neither record nor intent was not
// pulled by berth: it is preloaded, and exempt from verification under the
// default policy NeverVerifyPreloadedImages.
package images
