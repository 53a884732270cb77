package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

const alreadyPresent = `Normal Pulled Container image "` + privateImage + `" already present on machine and can be accessed by the pod`

// privateSetup is image_credential_pulls.go's setup: a pod with a secret
// pulls a private image (IfNotPresent) on the node.
func privateSetup(t *testing.T, mod ...func(*Config)) (*env, *Manager) {
	t.Helper()
	e := newEnv(t)
	e.requireAuth(privateImage, "alice", password)
	e.addSecret(dockerSecret("team", "regcred", registry, "alice", password))
	m := e.manager(mod...)
	if r := e.ensure(m, newPod("team", "owner", privateImage, corev1.PullIfNotPresent, "regcred")); r.err != nil {
		t.Fatalf("setup pull: %v", r.err)
	}
	e.rt.ResetCalls()
	return e, m
}

func TestEnsureSecretPulledImages(t *testing.T) {
	type outcome struct {
		reason    string // "" = runs
		pulls     []string
		wantEvent string
	}
	neverMsg := `Container image "` + privateImage + `" is not present with pull policy of Never`
	tests := []struct {
		name    string
		secrets []*corev1.Secret // added before the pod
		pod     *corev1.Pod
		want    outcome
	}{
		{
			name: "pod without pull secret cannot access previously pulled private image (IfNotPresent)",
			pod:  newPod("team", "nosecret", privateImage, corev1.PullIfNotPresent),
			want: outcome{reason: "ErrImagePull", pulls: []string{"<anonymous>"}},
		},
		{
			name: "pod without pull secret cannot access previously pulled private image (Never)",
			pod:  newPod("team", "nosecret", privateImage, corev1.PullNever),
			want: outcome{reason: "ErrImageNeverPull", wantEvent: "Warning ErrImageNeverPull " + neverMsg},
		},
		{
			name:    "pod with invalid pull secret cannot access previously pulled private image (IfNotPresent)",
			secrets: []*corev1.Secret{dockerSecret("team", "somerepo", "somerepo.com", "alice", password)},
			pod:     newPod("team", "invalid", privateImage, corev1.PullIfNotPresent, "somerepo"),
			want:    outcome{reason: "ErrImagePull", pulls: []string{"<anonymous>"}},
		},
		{
			name:    "pod with invalid pull secret cannot access previously pulled private image (Never)",
			secrets: []*corev1.Secret{dockerSecret("team", "somerepo", "somerepo.com", "alice", password)},
			pod:     newPod("team", "invalid", privateImage, corev1.PullNever, "somerepo"),
			want:    outcome{reason: "ErrImageNeverPull"},
		},
		{
			name: "pod with the same pull secret can access previously pulled image (IfNotPresent)",
			pod:  newPod("team", "same", privateImage, corev1.PullIfNotPresent, "regcred"),
			want: outcome{wantEvent: alreadyPresent},
		},
		{
			name: "pod with the same pull secret can access previously pulled image (Never)",
			pod:  newPod("team", "same", privateImage, corev1.PullNever, "regcred"),
			want: outcome{wantEvent: alreadyPresent},
		},
		{
			name:    "pod with the same credentials in a different secret can access previously pulled image",
			secrets: []*corev1.Secret{dockerSecret("other-team", "copy", registry, "alice", password)},
			pod:     newPod("other-team", "copy", privateImage, corev1.PullNever, "copy"),
			want:    outcome{wantEvent: alreadyPresent},
		},
		{
			name:    "pod with different valid-looking credentials must pull with them",
			secrets: []*corev1.Secret{dockerSecret("other-team", "mine", registry, "bob", "bobs-password")},
			pod:     newPod("other-team", "other", privateImage, corev1.PullIfNotPresent, "mine"),
			want:    outcome{reason: "ErrImagePull", pulls: []string{"bob"}},
		},
		{
			name:    "same secret whose content changed since still counts",
			secrets: []*corev1.Secret{dockerSecret("team", "regcred", registry, "alice", "rotated-password")},
			pod:     newPod("team", "rotated", privateImage, corev1.PullIfNotPresent, "regcred"),
			want:    outcome{wantEvent: alreadyPresent},
		},
		{
			name: "Always pulls even with the same secret",
			pod:  newPod("team", "always", privateImage, corev1.PullAlways, "regcred"),
			want: outcome{pulls: []string{"alice"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, m := privateSetup(t)
			for _, s := range tc.secrets {
				e.addSecret(s)
			}
			r := e.ensure(m, tc.pod)
			if r.reason != tc.want.reason {
				t.Errorf("reason = %q (%s), want %q", r.reason, r.message, tc.want.reason)
			}
			if tc.want.reason == "ErrImageNeverPull" && r.message != neverMsg {
				t.Errorf("message = %q, want %q (presence hidden)", r.message, neverMsg)
			}
			if diff := cmp.Diff(tc.want.pulls, pullAuths(e.rt)); diff != "" {
				t.Errorf("pulls (-want +got):\n%s", diff)
			}
			if tc.want.wantEvent != "" && !hasEvent(r.events, tc.want.wantEvent) {
				t.Errorf("events = %q, want %q", r.events, tc.want.wantEvent)
			}
			a, _ := m.Explain(tc.pod.UID, "app")
			if a == nil || a.Decision == "" || a.Verdict == "" {
				t.Fatalf("explain = %+v", a)
			}
			if strings.Contains(a.Decision, "regcred") && tc.pod.Namespace != "team" {
				t.Errorf("decision %q names another namespace's secret", a.Decision)
			}
		})
	}
}

func TestSameCredentialsInAnotherSecretAreRemembered(t *testing.T) {
	e, m := privateSetup(t)
	e.addSecret(dockerSecret("other-team", "copy", registry, "alice", password))
	if r := e.ensure(m, newPod("other-team", "copy", privateImage, corev1.PullIfNotPresent, "copy")); r.err != nil {
		t.Fatal(r.err)
	}
	recs, err := PulledRecords(e.dir)
	if err != nil || len(recs) != 1 {
		t.Fatalf("PulledRecords() = %+v, %v", recs, err)
	}
	entry := recs[0].CredentialMapping["registry.example.com/private/app"]
	var names []string
	for _, s := range entry.KubernetesSecrets {
		names = append(names, s.Namespace+"/"+s.Name)
		if s.CredentialHash == "" || s.UID == "" {
			t.Errorf("secret entry %+v lacks hash or uid", s)
		}
	}
	if diff := cmp.Diff([]string{"other-team/copy", "team/regcred"}, names); diff != "" {
		t.Errorf("record secrets (-want +got):\n%s", diff)
	}
	if entry.KubernetesSecrets[0].CredentialHash != entry.KubernetesSecrets[1].CredentialHash {
		t.Error("the same login hashed differently")
	}
}

func TestAnonymousPullsAreShared(t *testing.T) {
	e := newEnv(t)
	e.addSecret(dockerSecret("team", "regcred", registry, "alice", password))
	m := e.manager()
	if r := e.ensure(m, newPod("team", "first", publicImage, corev1.PullIfNotPresent)); r.err != nil {
		t.Fatal(r.err)
	}
	e.rt.ResetCalls()
	for _, pod := range []*corev1.Pod{
		newPod("team", "plain", publicImage, corev1.PullIfNotPresent),
		newPod("other", "never", publicImage, corev1.PullNever),
		newPod("team", "withsecret", publicImage, corev1.PullIfNotPresent, "regcred"),
	} {
		r := e.ensure(m, pod)
		if r.err != nil || !hasReason(r.events, "Pulled") {
			t.Errorf("%s: %v, events %q", pod.Name, r.err, r.events)
		}
	}
	if n := e.rt.CallCount("PullImage"); n != 0 {
		t.Errorf("PullImage calls = %d, want 0", n)
	}
	recs, _ := PulledRecords(e.dir)
	if len(recs) != 1 || !recs[0].CredentialMapping["registry.example.com/public/tool"].NodePodsAccessible {
		t.Errorf("records = %+v, want nodePodsAccessible", recs)
	}
}

func TestPreloadedImages(t *testing.T) {
	tests := []struct {
		policy    string
		allowlist []string
		wantPull  bool
	}{
		{policy: "", wantPull: false}, // default NeverVerifyPreloadedImages
		{policy: NeverVerifyPreloadedImages, wantPull: false},
		{policy: NeverVerify, wantPull: false},
		{policy: AlwaysVerify, wantPull: true},
		{policy: NeverVerifyAllowlistedImages, allowlist: []string{"registry.example.com/private/*"}, wantPull: false},
		{policy: NeverVerifyAllowlistedImages, allowlist: []string{"registry.example.com/private/app"}, wantPull: false},
		{policy: NeverVerifyAllowlistedImages, allowlist: []string{"registry.example.com/other/*"}, wantPull: true},
	}
	for _, tc := range tests {
		t.Run(tc.policy+strings.Join(tc.allowlist, ","), func(t *testing.T) {
			e := newEnv(t)
			e.requireAuth(privateImage, "alice", password)
			e.rt.AddImage(privateImage)
			m := e.manager(func(c *Config) { c.VerificationPolicy, c.Allowlist = tc.policy, tc.allowlist })
			r := e.ensure(m, newPod("team", "p", privateImage, corev1.PullIfNotPresent))
			pulled := e.rt.CallCount("PullImage") > 0
			if pulled != tc.wantPull {
				t.Errorf("pulled = %t, want %t (events %q)", pulled, tc.wantPull, r.events)
			}
			if !tc.wantPull && !hasEvent(r.events, alreadyPresent) {
				t.Errorf("events = %q, want %q", r.events, alreadyPresent)
			}
		})
	}
}

func TestVerificationPolicyAfterAPrivatePull(t *testing.T) {
	tests := []struct {
		policy    string
		allowlist []string
		wantPull  bool
	}{
		{policy: NeverVerifyPreloadedImages, wantPull: true},
		{policy: NeverVerify, wantPull: false},
		{policy: AlwaysVerify, wantPull: true},
		{policy: NeverVerifyAllowlistedImages, allowlist: []string{"registry.example.com/private/*"}, wantPull: false},
		{policy: NeverVerifyAllowlistedImages, allowlist: []string{"busybox"}, wantPull: true},
	}
	for _, tc := range tests {
		t.Run(tc.policy+strings.Join(tc.allowlist, ","), func(t *testing.T) {
			e, m := privateSetup(t, func(c *Config) { c.VerificationPolicy, c.Allowlist = tc.policy, tc.allowlist })
			e.ensure(m, newPod("team", "nosecret", privateImage, corev1.PullIfNotPresent))
			if pulled := e.rt.CallCount("PullImage") > 0; pulled != tc.wantPull {
				t.Errorf("pulled = %t, want %t", pulled, tc.wantPull)
			}
		})
	}
}

func TestRecordsSurviveARestart(t *testing.T) {
	e, _ := privateSetup(t)
	m := e.manager() // same data dir: berth restarted
	if r := e.ensure(m, newPod("team", "nosecret", privateImage, corev1.PullIfNotPresent)); r.reason != "ErrImagePull" {
		t.Errorf("pod without secret after restart: reason = %q, want ErrImagePull", r.reason)
	}
	if r := e.ensure(m, newPod("team", "never", privateImage, corev1.PullNever)); r.reason != "ErrImageNeverPull" {
		t.Errorf("Never pod without secret after restart: reason = %q, want ErrImageNeverPull", r.reason)
	}
	e.rt.ResetCalls()
	r := e.ensure(m, newPod("team", "same", privateImage, corev1.PullIfNotPresent, "regcred"))
	if r.err != nil || !hasEvent(r.events, alreadyPresent) || e.rt.CallCount("PullImage") != 0 {
		t.Errorf("pod with the secret after restart: %v, events %q, pulls %d", r.err, r.events, e.rt.CallCount("PullImage"))
	}
}

func TestLeftoverIntentsBecomeRecords(t *testing.T) {
	e := newEnv(t)
	e.requireAuth(privateImage, "alice", password)
	m := e.manager()
	// A pull that was in flight when berth stopped: the intent is on disk
	// and the image made it into the runtime.
	if err := m.store.addIntent(privateImage); err != nil {
		t.Fatal(err)
	}
	// Another intent whose image never arrived stays an intent.
	if err := m.store.addIntent("registry.example.com/private/other:1"); err != nil {
		t.Fatal(err)
	}
	id := e.rt.AddImage(privateImage)

	m2 := e.manager()
	r := e.ensure(m2, newPod("team", "nosecret", privateImage, corev1.PullIfNotPresent))
	if r.reason != "ErrImagePull" {
		t.Errorf("pod without secret: reason = %q, want ErrImagePull (the recovered record has no credentials)", r.reason)
	}
	intents, _ := filepath.Glob(filepath.Join(e.dir, "image_manager", "pulling", "sha256-*"))
	if len(intents) != 1 || filepath.Base(intents[0]) != fileName("registry.example.com/private/other:1") {
		t.Errorf("intents = %q, want only the absent image's", intents)
	}
	recs, err := PulledRecords(e.dir)
	if err != nil || len(recs) != 1 || recs[0].ImageRef != id {
		t.Fatalf("PulledRecords() = %+v, %v; want one record for %s", recs, err, id)
	}
	if len(recs[0].CredentialMapping) != 0 {
		t.Errorf("recovered record credentials = %+v, want none", recs[0].CredentialMapping)
	}
	// The files are the documented ones.
	if _, err := os.Stat(filepath.Join(e.dir, "image_manager", "pulled", fileName(id))); err != nil {
		t.Error(err)
	}
}

func TestPendingIntentMeansPulledByBerth(t *testing.T) {
	e := newEnv(t)
	m := e.manager()
	e.rt.AddImage(publicImage)
	if err := m.store.addIntent(publicImage); err != nil {
		t.Fatal(err)
	}
	// An intent without a record (the pull is still running): not preloaded.
	e.ensure(m, newPod("team", "p", publicImage, corev1.PullIfNotPresent))
	if e.rt.CallCount("PullImage") != 1 {
		t.Errorf("PullImage calls = %d, want 1", e.rt.CallCount("PullImage"))
	}
}

func TestRecordFormat(t *testing.T) {
	e, _ := privateSetup(t)
	recs, err := PulledRecords(e.dir)
	if err != nil || len(recs) != 1 {
		t.Fatalf("PulledRecords() = %+v, %v", recs, err)
	}
	r := recs[0]
	if r.Kind != "ImagePulledRecord" || r.APIVersion != "kubelet.config.k8s.io/v1beta1" || r.LastUpdatedTime.IsZero() {
		t.Errorf("record header = %+v", r)
	}
	want := map[string]ImagePullCredentials{"registry.example.com/private/app": {KubernetesSecrets: []ImagePullSecret{{
		UID: "team-regcred-secret-uid", Namespace: "team", Name: "regcred",
		CredentialHash: (&credential{Credential: keyringCred("alice", password)}).hash(),
	}}}}
	if diff := cmp.Diff(want, r.CredentialMapping); diff != "" {
		t.Errorf("credentialMapping (-want +got):\n%s", diff)
	}
}
