package images

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestUserNameNeverShown: some registries take a token as the user name,
// so it is as secret as the password. Neither may appear in a waiting
// message, an event, a log line, the explain record or the pull records
// on disk, for a failed and then a successful pull.
func TestUserNameNeverShown(t *testing.T) {
	const user, wrong = "tok-3f9a1c77e2", "typo-Pw-1"
	e := newEnv(t)
	e.requireAuth(privateImage, user, password)
	e.addSecret(dockerSecret("team", "regcred", registry, user, wrong))
	m := e.manager()
	pod := newPod("team", "p", privateImage, corev1.PullIfNotPresent, "regcred")
	var texts []string
	r := e.ensure(m, pod)
	texts = append(texts, r.reason, r.message)
	texts = append(texts, r.events...)
	if a, ok := m.Explain(pod.UID, "app"); ok {
		b, _ := json.Marshal(a)
		texts = append(texts, string(b))
	}
	e.addSecret(dockerSecret("team", "regcred", registry, user, password))
	e.clk.Step(BackOffInitial)
	r = e.ensure(m, pod)
	if r.err != nil {
		t.Fatalf("pull with the right password: %v", r.err)
	}
	texts = append(texts, r.events...)
	if a, ok := m.Explain(pod.UID, "app"); ok {
		b, _ := json.Marshal(a)
		texts = append(texts, string(b))
	}
	texts = append(texts, e.logs.String())
	_ = filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				texts = append(texts, string(b))
			}
		}
		return nil
	})
	for _, text := range texts {
		for _, secret := range []string{user, password, wrong} {
			if strings.Contains(text, secret) {
				t.Errorf("%q appears in %q", secret, text)
			}
		}
	}
	if !strings.Contains(strings.Join(texts, "\n"), "team/regcred") {
		t.Error("the texts do not name the secret at all")
	}
}
