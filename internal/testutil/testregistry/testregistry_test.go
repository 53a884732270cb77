package testregistry

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestModes pushes to and pulls from each kind of registry, and checks
// that wrong credentials are refused.
func TestModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"anonymous", Options{}},
		{"basic", Options{Username: "robot$ci", Password: "p:a$s"}},
		{"token", Options{Username: "alice", Password: "pw", Token: true}},
		{"tls-basic", Options{Username: "bob", Password: "pw2", TLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Start(t, tc.opts)
			ref, _ := r.Push(t, "team/app:v1", Image{})
			opts := []name.Option{}
			if r.CAFile == "" {
				opts = append(opts, name.Insecure)
			}
			n, err := name.ParseReference(ref, opts...)
			if err != nil {
				t.Fatal(err)
			}
			tr := r.httpClient().Transport
			if r.Username != "" {
				if _, err := remote.Head(n, remote.WithTransport(tr), remote.WithAuth(&authn.Basic{Username: r.Username, Password: "wrong"})); err == nil {
					t.Error("wrong password accepted")
				}
				if _, err := remote.Head(n, remote.WithTransport(tr)); err == nil {
					t.Error("anonymous pull accepted")
				}
			}
			auth := authn.Anonymous
			if r.Username != "" {
				auth = &authn.Basic{Username: r.Username, Password: r.Password}
			}
			if _, err := remote.Head(n, remote.WithTransport(tr), remote.WithAuth(auth)); err != nil {
				t.Errorf("pull with the right credentials: %v", err)
			}
		})
	}
}
