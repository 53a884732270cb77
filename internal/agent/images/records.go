package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/imageref"
)

// The records have the shape of the kubelet's (kubelet.config.k8s.io/v1beta1
// ImagePullIntent and ImagePulledRecord).
const (
	recordAPIVersion = "kubelet.config.k8s.io/v1beta1"
	kindIntent       = "ImagePullIntent"
	kindPulled       = "ImagePulledRecord"
)

// writeRecordWhileMatchingLimit caps how many secrets a record collects
// from pods that merely matched it (the kubelet's limit).
const writeRecordWhileMatchingLimit = 100

// ImagePullIntent is written before a pull and removed after it.
type ImagePullIntent struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	// Image is the container's image string as written in the pod spec.
	Image string `json:"image"`
}

// ImagePulledRecord says, per image ID, with which credentials each
// repository name was pulled.
type ImagePulledRecord struct {
	Kind            string    `json:"kind"`
	APIVersion      string    `json:"apiVersion"`
	LastUpdatedTime time.Time `json:"lastUpdatedTime"`
	// ImageRef is the runtime's image ID.
	ImageRef string `json:"imageRef"`
	// CredentialMapping is keyed by the normalised repository name
	// ("docker.io/library/busybox").
	CredentialMapping map[string]ImagePullCredentials `json:"credentialMapping,omitempty"`
}

// ImagePullCredentials are the credentials that pulled a repository.
type ImagePullCredentials struct {
	KubernetesSecrets []ImagePullSecret `json:"kubernetesSecrets,omitempty"`
	// NodePodsAccessible: pulled without pod credentials; every pod may use it.
	NodePodsAccessible bool `json:"nodePodsAccessible,omitempty"`
}

// ImagePullSecret is one secret whose credential pulled (or was verified
// for) an image. CredentialHash is the hex SHA-256 of the credential's JSON.
type ImagePullSecret struct {
	UID            string `json:"uid"`
	Namespace      string `json:"namespace"`
	Name           string `json:"name"`
	CredentialHash string `json:"credentialHash"`
}

// PulledRecords reads every pulled record under dataDir (Config.DataDir),
// for `berth explain`.
func PulledRecords(dataDir string) ([]ImagePulledRecord, error) {
	dir := filepath.Join(dataDir, "image_manager", "pulled")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []ImagePulledRecord
	var errs []error
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), "sha256-") {
			continue
		}
		var r ImagePulledRecord
		if err := readJSON(filepath.Join(dir, e.Name()), &r); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// recordStore keeps the intents and records on disk. One mutex serialises
// every read-modify-write; the files are small.
type recordStore struct {
	dir   string // DataDir/image_manager
	clock clock.PassiveClock

	mu      sync.Mutex
	intents map[string]int // image → pulls in flight
}

func newRecordStore(dataDir string, clk clock.PassiveClock) (*recordStore, error) {
	if dataDir == "" {
		return nil, errors.New("images: DataDir is required")
	}
	dir := filepath.Join(dataDir, "image_manager")
	for _, sub := range []string{"pulling", "pulled", "explain"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
	}
	return &recordStore{dir: dir, clock: clk, intents: map[string]int{}}, nil
}

// fileName avoids ':' and '/' in names: "sha256-<hex of s>".
func fileName(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + hex.EncodeToString(sum[:])
}

func (s *recordStore) intentPath(image string) string {
	return filepath.Join(s.dir, "pulling", fileName(image))
}

func (s *recordStore) pulledPath(imageRef string) string {
	return filepath.Join(s.dir, "pulled", fileName(imageRef))
}

// addIntent writes the intent for image and counts the pull in flight.
func (s *recordStore) addIntent(image string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := writeJSON(s.intentPath(image), ImagePullIntent{Kind: kindIntent, APIVersion: recordAPIVersion, Image: image}); err != nil {
		return err
	}
	s.intents[image]++
	return nil
}

// dropIntent ends one pull of image; the file goes with the last one.
func (s *recordStore) dropIntent(image string, log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropIntentLocked(image, log)
}

func (s *recordStore) dropIntentLocked(image string, log *slog.Logger) {
	if s.intents[image] > 1 {
		s.intents[image]--
		return
	}
	if err := os.Remove(s.intentPath(image)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		log.Error("removing image pull intent", "image", image, "err", err)
		return
	}
	delete(s.intents, image)
}

// recordPulled merges the credentials that pulled image into the record of
// imageRef and ends the intent. When the record cannot be written the
// intent stays, so that the image still counts as pulled by berth.
func (s *recordStore) recordPulled(image string, ref imageref.Ref, imageRef string, creds *ImagePullCredentials, log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if imageRef == "" {
		s.dropIntentLocked(image, log)
		return
	}
	if err := s.writePulledLocked(ref.Repository(), imageRef, creds); err != nil {
		log.Error("writing image pulled record", "image", image, "imageRef", imageRef, "err", err)
		return
	}
	s.dropIntentLocked(image, log)
}

// readPulledLocked returns nil, nil when there is no record.
func (s *recordStore) readPulledLocked(imageRef string) (*ImagePulledRecord, error) {
	var r ImagePulledRecord
	err := readJSON(s.pulledPath(imageRef), &r)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// writePulledLocked creates or merges the record. nil creds create a record
// without any credential (pulled under unknown circumstances: every pod
// must verify) and leave an existing record alone.
func (s *recordStore) writePulledLocked(repo, imageRef string, creds *ImagePullCredentials) error {
	r, err := s.readPulledLocked(imageRef)
	if err != nil {
		r = nil // a damaged record is replaced
	}
	if r == nil {
		r = &ImagePulledRecord{Kind: kindPulled, APIVersion: recordAPIVersion, ImageRef: imageRef, CredentialMapping: map[string]ImagePullCredentials{}}
		if creds != nil {
			r.CredentialMapping[repo] = *creds
		}
	} else if !mergeCredentials(r, repo, creds) {
		return nil
	}
	r.LastUpdatedTime = s.clock.Now().UTC()
	return writeJSON(s.pulledPath(imageRef), r)
}

// mergeCredentials adds creds to the repo's entry and reports a change.
// Anonymous access wins over secrets; secrets are unique per
// (namespace, name, uid), the newer hash replacing the older.
func mergeCredentials(r *ImagePulledRecord, repo string, creds *ImagePullCredentials) bool {
	if creds == nil || (!creds.NodePodsAccessible && len(creds.KubernetesSecrets) == 0) {
		return false
	}
	if r.CredentialMapping == nil {
		r.CredentialMapping = map[string]ImagePullCredentials{}
	}
	cur, ok := r.CredentialMapping[repo]
	switch {
	case !ok:
		r.CredentialMapping[repo] = *creds
		return true
	case cur.NodePodsAccessible:
		return false
	case creds.NodePodsAccessible:
		r.CredentialMapping[repo] = ImagePullCredentials{NodePodsAccessible: true}
		return true
	}
	changed := false
	for _, n := range creds.KubernetesSecrets {
		i := slices.IndexFunc(cur.KubernetesSecrets, func(o ImagePullSecret) bool {
			return o.Namespace == n.Namespace && o.Name == n.Name && o.UID == n.UID
		})
		switch {
		case i < 0:
			cur.KubernetesSecrets = append(cur.KubernetesSecrets, n)
			changed = true
		case cur.KubernetesSecrets[i].CredentialHash != n.CredentialHash:
			cur.KubernetesSecrets[i].CredentialHash = n.CredentialHash
			changed = true
		}
	}
	if !changed {
		return false
	}
	slices.SortFunc(cur.KubernetesSecrets, func(a, b ImagePullSecret) int {
		return strings.Compare(a.Namespace+"\x00"+a.Name+"\x00"+a.UID, b.Namespace+"\x00"+b.Name+"\x00"+b.UID)
	})
	r.CredentialMapping[repo] = cur
	return true
}

// mustAttemptPull is the kubelet's MustAttemptImagePull for a present image:
// whether the pod has to pull it (with its own credentials) to prove access,
// and why, in words fit for `berth explain`. The words never name another
// pod's secret.
func (s *recordStore) mustAttemptPull(image string, ref imageref.Ref, imageRef string, podSecrets []ImagePullSecret, policy *verificationPolicy) (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.readPulledLocked(imageRef)
	if err != nil {
		return true, fmt.Sprintf("berth could not read its pull record (%v)", err)
	}
	pulledByBerth := r != nil || s.intents[image] > 0
	if !pulledByBerth {
		if _, err := os.Stat(s.intentPath(image)); err == nil {
			pulledByBerth = true
		}
	}
	if !policy.requireVerification(ref, pulledByBerth) {
		return false, policy.exemption()
	}
	if r == nil {
		return true, "berth has no record of the credentials that pulled it"
	}
	repo := ref.Repository()
	entry, ok := r.CredentialMapping[repo]
	if !ok {
		return true, "berth has no record of the credentials that pulled it as " + repo
	}
	if entry.NodePodsAccessible {
		return false, "it was pulled without credentials, so every pod on the node may use it"
	}
	if len(entry.KubernetesSecrets) == 0 {
		return true, "the credentials of its earlier pull are unknown"
	}
	for _, ps := range podSecrets {
		for _, cs := range entry.KubernetesSecrets {
			sameHash := cs.CredentialHash != "" && ps.CredentialHash == cs.CredentialHash
			sameSecret := ps.UID == cs.UID && ps.Namespace == cs.Namespace && ps.Name == cs.Name
			switch {
			case sameHash && sameSecret:
				return false, fmt.Sprintf("the pod's secret %s/%s was verified for it", ps.Namespace, ps.Name)
			case sameHash:
				s.rememberLocked(repo, imageRef, ps, len(entry.KubernetesSecrets))
				return false, fmt.Sprintf("the pod's secret %s/%s holds the same credentials that were verified for it", ps.Namespace, ps.Name)
			case sameSecret:
				s.rememberLocked(repo, imageRef, ps, len(entry.KubernetesSecrets))
				return false, fmt.Sprintf("the pod's secret %s/%s was verified for it (its content changed since)", ps.Namespace, ps.Name)
			}
		}
	}
	if len(podSecrets) == 0 {
		return true, "it was pulled with credentials and this pod has none for " + ref.Domain
	}
	return true, "it was pulled with credentials other than this pod's"
}

// rememberLocked adds a matching secret to the record, as the kubelet does,
// so that it keeps matching after the other secret is gone.
func (s *recordStore) rememberLocked(repo, imageRef string, ps ImagePullSecret, have int) {
	if have >= writeRecordWhileMatchingLimit {
		return
	}
	_ = s.writePulledLocked(repo, imageRef, &ImagePullCredentials{KubernetesSecrets: []ImagePullSecret{ps}})
}

// recoverIntents turns the intents a crash left behind into records when
// their image is present (with no credentials: every pod must verify), as
// the kubelet does at start. Intents whose image is absent stay.
func (s *recordStore) recoverIntents(ctx context.Context, rt cri.Runtime, log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := filepath.Join(s.dir, "pulling")
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Error("listing image pull intents", "err", err)
		return
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		var in ImagePullIntent
		if err := readJSON(path, &in); err != nil {
			log.Error("reading image pull intent", "file", path, "err", err)
			continue
		}
		ref, err := imageref.Parse(in.Image)
		if err != nil {
			_ = os.Remove(path)
			continue
		}
		st, err := rt.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: withDefaultTag(in.Image, ref)})
		if err != nil || st == nil || st.GetId() == "" {
			continue
		}
		if err := s.writePulledLocked(ref.Repository(), st.GetId(), nil); err != nil {
			log.Error("writing image pulled record", "image", in.Image, "err", err)
			continue
		}
		_ = os.Remove(path)
		log.Info("recovered an interrupted image pull", "image", in.Image, "imageRef", st.GetId())
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeJSON replaces path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}
