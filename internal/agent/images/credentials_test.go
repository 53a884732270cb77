package images

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// Through a real client: secrets come only from the pod's namespace.
func TestSecretsFromClient(t *testing.T) {
	e := newEnv(t)
	e.requireAuth(privateImage, "alice", password)
	client := fake.NewClientset(
		dockerSecret("team", "regcred", registry, "alice", password),
		dockerSecret("other", "elsewhere", registry, "alice", password),
	)
	m := e.manager(func(c *Config) { c.Secrets = SecretsFromClient(client) })
	r := e.ensure(m, newPod("team", "p", privateImage, corev1.PullIfNotPresent, "regcred", "elsewhere"))
	if r.err != nil {
		t.Fatalf("EnsureImage() error = %v", r.err)
	}
	if diff := cmp.Diff([]string{"alice"}, pullAuths(e.rt)); diff != "" {
		t.Errorf("credentials sent (-want +got):\n%s", diff)
	}
	for _, a := range client.Actions() {
		if a.GetNamespace() != "team" || a.GetVerb() != "get" {
			t.Errorf("client action %s %s in %q, want only gets in the pod's namespace", a.GetVerb(), a.GetResource().Resource, a.GetNamespace())
		}
	}
	x, _ := m.Explain("team-p-uid", "app")
	if got := x.Secrets[1]; got.Used || got.Reason != "not found in namespace team" {
		t.Errorf("report of a secret in another namespace = %+v", got)
	}
}

func TestNoSecretGetter(t *testing.T) {
	e := newEnv(t)
	m := e.manager(func(c *Config) { c.Secrets = nil })
	r := e.ensure(m, newPod("team", "p", publicImage, corev1.PullIfNotPresent, "regcred"))
	if r.err != nil {
		t.Fatal(r.err)
	}
	x, _ := m.Explain("team-p-uid", "app")
	if len(x.Secrets) != 1 || x.Secrets[0].Reason != "the agent has no access to secrets" {
		t.Errorf("secrets = %+v", x.Secrets)
	}
}
