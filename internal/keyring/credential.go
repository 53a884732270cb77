package keyring

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"k8s.io/apimachinery/pkg/types"
)

// Credential is one registry login, in the shape CRI's AuthConfig takes.
//
// Pull secrets fill only Username and Password: Kubernetes decodes "auth"
// into those two and does not read "identitytoken", "registrytoken" or
// "serveraddress" from secrets. The other fields exist for credentials from
// other sources (node config, credential providers).
type Credential struct {
	Username      string
	Password      string
	Auth          string
	IdentityToken string
	RegistryToken string
	ServerAddress string

	// Source is the secret the credential came from; never its data.
	Source types.NamespacedName
	// Key is the normalised registry key the credential is stored under,
	// e.g. "index.docker.io" for "https://index.docker.io/v1/".
	Key string
}

// String describes the credential without any secret value, user name
// included (some registries take a token as the user name):
// `key (secret ns/name)`.
func (c Credential) String() string {
	return fmt.Sprintf("%s (secret %s)", c.Key, c.Source)
}

// GoString keeps %#v from printing the password: it prints what String does.
func (c Credential) GoString() string { return "keyring.Credential{" + c.String() + "}" }

// Format makes every fmt verb, %+v and %#v included, print String; without it
// %+v would print the struct's fields, password and all.
func (c Credential) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(c.GoString()))
		return
	}
	_, _ = f.Write([]byte(c.String()))
}

// MarshalJSON writes what LogValue logs, so that a credential inside a slice
// or struct handed to a JSON logger or record does not leak its password.
func (c Credential) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Key    string `json:"key"`
		Secret string `json:"secret"`
	}{c.Key, c.Source.String()})
}

// LogValue logs the registry key and the secret; never the user name,
// password, auth or tokens.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("key", c.Key),
		slog.String("secret", c.Source.String()),
	)
}

var (
	_ fmt.Stringer   = Credential{}
	_ fmt.GoStringer = Credential{}
	_ fmt.Formatter  = Credential{}
	_ slog.LogValuer = Credential{}
	_ json.Marshaler = Credential{}
)
