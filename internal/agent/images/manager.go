package images

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/imageref"
)

// Image pull back-off, as the kubelet's imageBackOffPeriod and
// MaxImageBackOff: 10 s doubling to 300 s per "<pod UID>_<image>", reset
// after 2×300 s without a failure.
const (
	BackOffInitial = 10 * time.Second
	BackOffMax     = 300 * time.Second
)

// Waiting reasons (pkg/kubelet/images/types.go, k8s.io/cri-api/pkg/errors).
const (
	ReasonInvalidImageName          = "InvalidImageName"
	ReasonImageInspectError         = "ImageInspectError"
	ReasonErrImageNeverPull         = "ErrImageNeverPull"
	ReasonErrImagePull              = "ErrImagePull"
	ReasonImagePullBackOff          = "ImagePullBackOff"
	ReasonRegistryUnavailable       = "RegistryUnavailable"
	ReasonSignatureValidationFailed = "SignatureValidationFailed"
)

// Event reasons (pkg/kubelet/events/event.go).
const (
	eventPulling          = "Pulling"
	eventPulled           = "Pulled"
	eventFailed           = "Failed"
	eventBackOff          = "BackOff"
	eventNeverPull        = "ErrImageNeverPull"
	eventInspectFailed    = "InspectFailed"
	eventMissingPullSecrt = "FailedToRetrieveImagePullSecret"
)

// Config configures a Manager. Runtime and DataDir are required.
type Config struct {
	Runtime cri.Runtime
	// Secrets reads the pod's pull secrets, always in the pod's own
	// namespace. Nil: every pull secret counts as missing.
	Secrets SecretGetter
	// DataDir holds the pull records and explain records, under
	// DataDir/image_manager. Required.
	DataDir string
	// VerificationPolicy is the kubelet's
	// imagePullCredentialsVerificationPolicy: NeverVerify,
	// NeverVerifyPreloadedImages (default), NeverVerifyAllowlistedImages or
	// AlwaysVerify.
	VerificationPolicy string
	// Allowlist is preloadedImagesVerificationAllowlist: repository names
	// without tag or digest, or prefixes ending in "/*". Used only by
	// NeverVerifyAllowlistedImages.
	Allowlist []string
	Log       *slog.Logger
	// Clock drives the back-off and the pull durations (default: real time).
	Clock clock.Clock
}

// Manager ensures container images are present: pull policy, credentials
// from pull secrets, back-off and the KEP-2535 pull records. It implements
// agent.ImageEnsurer and is safe for concurrent use.
type Manager struct {
	rt      cri.Runtime
	secrets SecretGetter
	dataDir string
	policy  *verificationPolicy
	log     *slog.Logger
	clock   clock.Clock
	backoff *flowcontrol.Backoff
	store   *recordStore

	initOnce sync.Once

	mu sync.Mutex
	// prevErr is the last failure per back-off key, "<reason>: <message>",
	// for the ImagePullBackOff message.
	prevErr map[string]string
	// backoffKeys are the keys given to backoff.Next, for ForgetPod.
	backoffKeys map[string]struct{}
	// explain is the last PullAttempt per "<pod UID>_<container>".
	explain map[string]*PullAttempt
}

var _ agent.ImageEnsurer = (*Manager)(nil)

// New checks cfg and prepares DataDir/image_manager. Leftover pull intents
// are reconciled with the runtime before the first EnsureImage decides
// anything.
func New(cfg Config) (*Manager, error) {
	if cfg.Runtime == nil {
		return nil, errors.New("images: Runtime is required")
	}
	policy, err := newVerificationPolicy(cfg.VerificationPolicy, cfg.Allowlist)
	if err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	store, err := newRecordStore(cfg.DataDir, cfg.Clock)
	if err != nil {
		return nil, err
	}
	return &Manager{
		rt:          cfg.Runtime,
		secrets:     cfg.Secrets,
		dataDir:     cfg.DataDir,
		policy:      policy,
		log:         cfg.Log,
		clock:       cfg.Clock,
		backoff:     flowcontrol.NewFakeBackOff(BackOffInitial, BackOffMax, cfg.Clock),
		store:       store,
		prevErr:     map[string]string{},
		backoffKeys: map[string]struct{}{},
		explain:     map[string]*PullAttempt{},
	}, nil
}

// EnsureImage makes c's image present according to its pull policy and
// returns the image reference to create the container from. Failures carry
// the kubelet's waiting reason (agent.NewReasonError).
func (m *Manager) EnsureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandbox *runtimeapi.PodSandboxConfig, rec record.EventRecorder) (string, error) {
	m.initOnce.Do(func() { m.store.recoverIntents(ctx, m.rt, m.log) })

	policy := c.ImagePullPolicy
	if policy == "" {
		policy = imageref.DefaultPullPolicy(c.Image)
	}
	att := &PullAttempt{
		Pod:                pod.Namespace + "/" + pod.Name,
		PodUID:             string(pod.UID),
		Container:          c.Name,
		Image:              c.Image,
		Policy:             string(policy),
		PolicySource:       policySource(c),
		VerificationPolicy: m.policy.name,
		Time:               m.clock.Now(),
	}
	defer m.keepExplain(att)
	e := &ensure{m: m, ctx: ctx, pod: pod, c: c, sandbox: sandbox, rec: rec, att: att, policy: policy}
	return e.run()
}

// ensure is one EnsureImage call.
type ensure struct {
	m       *Manager
	ctx     context.Context
	pod     *corev1.Pod
	c       *corev1.Container
	sandbox *runtimeapi.PodSandboxConfig
	rec     record.EventRecorder
	att     *PullAttempt
	policy  corev1.PullPolicy

	ref   imageref.Ref
	image string // tag-completed, what the CRI gets
	spec  *runtimeapi.ImageSpec
	creds *podCredentials
}

func (e *ensure) run() (string, error) {
	c := e.c
	ref, err := imageref.Parse(c.Image)
	if err != nil {
		msg := fmt.Sprintf("Failed to apply default image tag %q: %v", c.Image, err)
		e.rec.Event(e.pod, corev1.EventTypeWarning, eventInspectFailed, msg)
		e.att.Decision = "not pulled: the image name does not parse"
		e.att.Verdict = fmt.Sprintf("The image name %q is not a valid image reference (%v); fix the container's image field.", c.Image, errors.Unwrap(err))
		return "", e.fail(ReasonInvalidImageName, msg)
	}
	e.ref = ref
	e.att.Normalized = ref.String()
	e.image = withDefaultTag(c.Image, ref)
	e.spec = &runtimeapi.ImageSpec{Image: e.image, Annotations: e.pod.Annotations, UserSpecifiedImage: c.Image}

	// Precheck: Always never inspects.
	imageRef := ""
	if e.policy != corev1.PullAlways {
		st, err := e.m.rt.ImageStatus(e.ctx, e.spec)
		if err != nil {
			// The kubelet formats the (empty) image ref here; berth names the image.
			msg := fmt.Sprintf("Failed to inspect image %q: %v", c.Image, err)
			e.rec.Event(e.pod, corev1.EventTypeWarning, eventInspectFailed, msg)
			e.att.Decision = "not pulled: the runtime could not inspect the image"
			e.att.Verdict = fmt.Sprintf("The container runtime failed to say whether %s is present: %s.", e.image, cri.Message(err))
			return "", e.fail(ReasonImageInspectError, msg)
		}
		if st != nil {
			imageRef = st.GetId()
		}
		e.att.Present, e.att.ImageRef = imageRef != "", imageRef
		if imageRef == "" && e.policy == corev1.PullNever {
			e.att.Decision = "not pulled: the image is not present and imagePullPolicy is Never"
			e.att.Verdict = fmt.Sprintf("%s is not on this node and imagePullPolicy Never forbids pulling it; load the image into the runtime or change the policy.", e.image)
			return "", e.neverPull()
		}
	}

	if imageRef != "" {
		if err := e.resolveCredentials(); err != nil {
			return "", err
		}
		must, why := e.m.store.mustAttemptPull(c.Image, e.ref, imageRef, e.creds.pullSecrets(), e.m.policy)
		if !must {
			e.rec.Eventf(e.pod, corev1.EventTypeNormal, eventPulled, "Container image %q already present on machine and can be accessed by the pod", c.Image)
			e.att.Decision = "not pulled: the image is present and " + why
			e.att.Verdict = fmt.Sprintf("%s is present and this pod may use it: %s.", e.image, why)
			return imageRef, nil
		}
		if e.policy == corev1.PullNever {
			// Deliberately the same answer as "not present": the pod must
			// not learn that the image is on the node.
			e.att.Decision = "not pulled: the image is present but " + why + "; under imagePullPolicy Never it is reported as not present (KEP-2535)"
			e.att.Verdict = fmt.Sprintf("%s is on this node, but this pod's credentials were never verified for it (%s), and imagePullPolicy Never forbids the pull that would verify them.", e.image, why)
			return "", e.neverPull()
		}
		e.att.Decision = "pull: the image is present but " + why + " (KEP-2535, " + e.m.policy.name + ")"
	} else if e.policy == corev1.PullAlways {
		e.att.Decision = "pull: imagePullPolicy is Always"
	} else {
		e.att.Decision = "pull: the image is not present"
	}
	return e.pull()
}

// neverPull is ErrImageNeverPull, with its event.
func (e *ensure) neverPull() error {
	msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", e.c.Image)
	e.rec.Event(e.pod, corev1.EventTypeWarning, eventNeverPull, msg)
	return e.fail(ReasonErrImageNeverPull, msg)
}

// fail records the outcome in the explain record and returns the error.
func (e *ensure) fail(reason, msg string) error {
	e.att.Reason, e.att.Message = reason, msg
	return agent.NewReasonError(reason, msg)
}

// resolveCredentials reads the pod's pull secrets and builds its keyring
// once per call. A malformed secret fails the pull with the error text as
// the waiting reason, as in the kubelet (no event here: the agent records
// "Error: <reason>").
func (e *ensure) resolveCredentials() error {
	if e.creds != nil {
		return nil
	}
	pc, err := e.m.podCredentials(e.ctx, e.pod, e.image)
	e.att.Secrets, e.att.Matched = pc.reports, pc.matchedKeys()
	if err != nil {
		text := err.Error()
		e.att.Decision = "not pulled: a pull secret of the pod cannot be decoded"
		e.att.Verdict = fmt.Sprintf("A pull secret of the pod is malformed, which fails every pull of the pod as in Kubernetes: %s; fix or remove the secret.", text)
		return e.fail(text, text)
	}
	e.creds = pc
	return nil
}

// pull is the kubelet's pullImage: intent, back-off, Pulling, CRI pulls,
// then Failed or Pulled.
func (e *ensure) pull() (string, error) {
	m, c := e.m, e.c
	if err := e.resolveCredentials(); err != nil {
		return "", err
	}
	if err := m.store.addIntent(c.Image); err != nil {
		msg := fmt.Sprintf("Failed to record image pull intent for container image %q: %v", c.Image, err)
		e.att.Verdict = "berth could not write its pull records: " + err.Error() + "."
		return "", e.fail(ReasonErrImagePull, msg)
	}
	var (
		succeeded bool
		imageRef  string
		used      *credential
	)
	defer func() {
		if succeeded {
			m.store.recordPulled(c.Image, e.ref, imageRef, used.pulledCredentials(), m.log)
		} else {
			m.store.dropIntent(c.Image, m.log)
		}
	}()

	key := string(e.pod.UID) + "_" + c.Image
	if m.backoff.IsInBackOffSinceUpdate(key, m.clock.Now()) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		e.rec.Event(e.pod, corev1.EventTypeNormal, eventBackOff, msg)
		m.mu.Lock()
		prev, ok := m.prevErr[key]
		last := m.explain[explainKey(e.pod.UID, c.Name)]
		m.mu.Unlock()
		if ok {
			msg += ": " + prev
		}
		e.att.Decision = fmt.Sprintf("not pulled: waiting out the pull back-off (%s) after the previous failure", m.backoff.Get(key))
		e.att.Verdict = "Waiting before the next pull attempt."
		switch {
		case last == nil || len(last.Attempts) == 0:
		case last.Reason == ReasonImagePullBackOff:
			e.att.Attempts, e.att.Verdict = last.Attempts, last.Verdict
		default:
			e.att.Attempts = last.Attempts
			e.att.Verdict = "Waiting before the next pull attempt; the last one failed: " + last.Verdict
		}
		return "", e.fail(ReasonImagePullBackOff, msg)
	}
	m.mu.Lock()
	delete(m.prevErr, key) // keeps the map from growing
	m.mu.Unlock()

	e.rec.Eventf(e.pod, corev1.EventTypeNormal, eventPulling, "Pulling image %q", c.Image)
	start := m.clock.Now()
	ref, cred, err := e.pullWithCredentials()
	if err != nil {
		if e.ctx.Err() != nil {
			// The agent is stopping: no event, no back-off.
			e.att.Verdict = "The pull was interrupted: the agent is stopping."
			return "", e.fail(ReasonErrImagePull, err.Error())
		}
		note := e.note()
		e.rec.Eventf(e.pod, corev1.EventTypeWarning, eventFailed, "Failed to pull image %q: %v%s", c.Image, err, note)
		m.backoff.Next(key, m.clock.Now())
		reason, msg := evalCRIPullErr(c.Image, err)
		msg += note
		m.mu.Lock()
		m.prevErr[key] = reason + ": " + msg
		m.backoffKeys[key] = struct{}{}
		m.mu.Unlock()
		if len(e.creds.missing) > 0 && reason == ReasonErrImagePull {
			e.rec.Eventf(e.pod, corev1.EventTypeWarning, eventMissingPullSecrt,
				"Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", strings.Join(e.creds.missing, ", "))
		}
		e.att.Verdict = failureVerdict(e.ref, e.creds, e.att.Attempts)
		m.log.Info("image pull failed", "pod", e.att.Pod, "container", c.Name, "image", c.Image, "reason", reason, "verdict", e.att.Verdict)
		return "", e.fail(reason, msg)
	}
	// The kubelet's pull duration is the CRI call; the total adds the wait
	// for a pull slot, which berth does not have, so the two are close.
	total := m.clock.Since(start).Truncate(time.Millisecond)
	pullDuration := total
	if n := len(e.att.Attempts); n > 0 {
		pullDuration = e.att.Attempts[n-1].Duration.Truncate(time.Millisecond)
	}
	size := uint64(0)
	if st, err := m.rt.ImageStatus(e.ctx, &runtimeapi.ImageSpec{Image: ref}); err == nil && st != nil {
		size = st.GetSize()
	}
	e.rec.Eventf(e.pod, corev1.EventTypeNormal, eventPulled, "Successfully pulled image %q in %v (%v including waiting). Image size: %v bytes.",
		c.Image, pullDuration, total, size)
	m.gcBackoff()
	succeeded, imageRef, used = true, ref, cred
	e.att.ImageRef = ref
	e.att.Verdict = successVerdict(e.ref, e.creds, e.att.Attempts)
	return ref, nil
}

// pullWithCredentials is the kubelet's PullImage: anonymous when no
// credential matched; otherwise each matching credential in order until one
// works, and the aggregated errors when none does. No anonymous fallback.
func (e *ensure) pullWithCredentials() (string, *credential, error) {
	if len(e.creds.matched) == 0 {
		ref, err := e.criPull(nil)
		return ref, nil, err
	}
	var errs []error
	for i := range e.creds.matched {
		cr := &e.creds.matched[i]
		ref, err := e.criPull(cr)
		if err == nil {
			return ref, cr, nil
		}
		errs = append(errs, err)
		if e.ctx.Err() != nil {
			break
		}
	}
	return "", nil, aggregate(errs)
}

// criPull is one CRI PullImage, recorded in the explain attempts. Errors
// come back with every credential value of the pod scrubbed from the text.
// pullTimeout bounds one pull attempt.
const pullTimeout = 10 * time.Minute

func (e *ensure) criPull(cr *credential) (string, error) {
	rep := AttemptReport{Result: "success"}
	var auth *runtimeapi.AuthConfig
	if cr != nil {
		auth = cr.authConfig()
		rep.CredentialKey, rep.Secret = cr.Key, cr.Source.String()
	}
	start := e.m.clock.Now()
	// A registry that accepts a connection and never answers must not hold
	// the pod's worker forever (CRI gives no progress to watch).
	pctx, cancel := context.WithTimeout(e.ctx, pullTimeout)
	ref, err := e.m.rt.PullImage(pctx, e.spec, auth, e.sandbox)
	cancel()
	rep.Duration = e.m.clock.Since(start)
	if err != nil {
		err = e.creds.scrub(err)
		rep.Result, rep.Error = "failed", err.Error()
		rep.Class = classify(cri.Message(err))
	}
	e.att.Attempts = append(e.att.Attempts, rep)
	return ref, err
}

// note is berth's addition to a failure message: which credentials were
// sent, or why none was. Never a value.
func (e *ensure) note() string {
	return " (berth: " + credentialSummary(e.ref, e.creds, e.att.Attempts) + ")"
}

// evalCRIPullErr classifies a CRI pull error as the kubelet does, by the
// runtime's own message (without berth's typed-error prefix).
func evalCRIPullErr(image string, err error) (reason, msg string) {
	text := cri.Message(err)
	switch {
	case strings.HasPrefix(text, ReasonRegistryUnavailable):
		return ReasonRegistryUnavailable, fmt.Sprintf("image pull failed for %s because the registry is unavailable%s", image, strings.TrimPrefix(text, ReasonRegistryUnavailable))
	case strings.HasPrefix(text, ReasonSignatureValidationFailed):
		return ReasonSignatureValidationFailed, fmt.Sprintf("image pull failed for %s because the signature validation failed%s", image, strings.TrimPrefix(text, ReasonSignatureValidationFailed))
	}
	return ReasonErrImagePull, err.Error()
}

// withDefaultTag is the kubelet's applyDefaultImageTag: ":<tag>" appended to
// the user's string when there is no digest and the string does not already
// end in it.
func withDefaultTag(image string, ref imageref.Ref) string {
	if ref.Digest == "" && ref.Tag != "" && !strings.HasSuffix(image, ":"+ref.Tag) {
		return image + ":" + ref.Tag
	}
	return image
}

// policySource says where the pull policy most likely came from; the API
// does not record it.
func policySource(c *corev1.Container) string {
	switch {
	case c.ImagePullPolicy == "":
		return "unset; berth applied the API default for this image's tag"
	case c.ImagePullPolicy == imageref.DefaultPullPolicy(c.Image):
		return "the API default for this image's tag (Always for :latest or no tag, else IfNotPresent), or set to the same value"
	default:
		return "set in the pod spec (or by the AlwaysPullImages admission plugin)"
	}
}

// gcBackoff drops back-off entries idle for 2×BackOffMax, as the kubelet
// does after each successful pull.
func (m *Manager) gcBackoff() {
	m.backoff.GC()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.backoffKeys {
		if m.backoff.Get(k) == 0 {
			delete(m.backoffKeys, k)
			delete(m.prevErr, k)
		}
	}
}

// Explain returns the last PullAttempt of a container, from memory.
func (m *Manager) Explain(podUID types.UID, container string) (*PullAttempt, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.explain[explainKey(podUID, container)]
	if !ok {
		return nil, false
	}
	return a.clone(), true
}

// ForgetPod drops what the manager keeps for a deleted pod: its back-off
// entries, its last failures and its explain records. Pull records are kept:
// they describe images, not pods.
func (m *Manager) ForgetPod(podUID types.UID) {
	prefix := string(podUID) + "_"
	m.mu.Lock()
	for k := range m.backoffKeys {
		if strings.HasPrefix(k, prefix) {
			m.backoff.DeleteEntry(k)
			delete(m.backoffKeys, k)
			delete(m.prevErr, k)
		}
	}
	for k := range m.explain {
		if strings.HasPrefix(k, prefix) {
			delete(m.explain, k)
		}
	}
	m.mu.Unlock()
	if m.dataDir == "" {
		return
	}
	files, _ := filepath.Glob(filepath.Join(explainDir(m.dataDir), globEscape(prefix)+"*.json"))
	for _, f := range files {
		_ = os.Remove(f)
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}
