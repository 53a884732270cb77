package keyring

import (
	"bytes"
	"fmt"
	"go/parser"
	"go/token"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// secretValues are planted in secrets and must never come out in text.
// The user name too: some registries take a token as the user name.
var secretValues = []string{"Sup3rS3cret", "AUTHVALUE", "IDTOKEN", "REGTOKEN", "424242", "robot$ci"}

func assertNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, v := range secretValues {
		if strings.Contains(text, v) {
			t.Errorf("%s = %q, contains secret value %q", what, text, v)
		}
	}
	// The base64 of a planted password would be just as bad.
	if strings.Contains(text, b64("robot$ci:Sup3rS3cret")) {
		t.Errorf("%s = %q, contains an auth value", what, text)
	}
}

func TestCredentialNeverPrintsSecrets(t *testing.T) {
	c := Credential{
		Username:      "robot$ci",
		Password:      "Sup3rS3cret",
		Auth:          "AUTHVALUE",
		IdentityToken: "IDTOKEN",
		RegistryToken: "REGTOKEN",
		ServerAddress: "harbor.example.com",
		Source:        types.NamespacedName{Namespace: "team-a", Name: "harbor"},
		Key:           "harbor.example.com",
	}
	if got, want := c.String(), "harbor.example.com (secret team-a/harbor)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		assertNoSecret(t, "Sprintf("+verb+")", fmt.Sprintf(verb, c))
		assertNoSecret(t, "Sprintf("+verb+") of a slice", fmt.Sprintf(verb, []Credential{c}))
		assertNoSecret(t, "Sprintf("+verb+") of a pointer", fmt.Sprintf(verb, &c))
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		slog.New(h).Info("pulling", "credential", c, "credentials", []Credential{c})
	}
	assertNoSecret(t, "slog output", buf.String())
	if !strings.Contains(buf.String(), "team-a/harbor") {
		t.Errorf("slog output = %q, want it to name the secret", buf.String())
	}
}

func TestErrorsNeverPrintSecrets(t *testing.T) {
	docs := []string{
		// syntax errors right at a secret value: json would quote the character
		`{"auths":{"r.io":{"password":"x", Sup3rS3cret}}}`,
		`{"auths":{"r.io":{"password":Sup3rS3cret}}}`,
		// a type error on a number
		`{"auths":{"r.io":{"password":424242}}}`,
		`{"auths":{"r.io":{"password":-424242e400}}}`,
		// auth that decodes to a bare token
		`{"auths":{"r.io":{"auth":"` + b64("Sup3rS3cret") + `"}}}`,
		// auth that is not base64
		`{"auths":{"r.io":{"auth":"Sup3rS3cret!!"}}}`,
		// a top-level array
		`["Sup3rS3cret"]`,
	}
	for _, doc := range docs {
		_, uses, err := FromSecrets([]corev1.Secret{jsonSecretRaw(doc)})
		if err == nil {
			t.Errorf("FromSecrets(%s) error = nil, want an error", doc)
			continue
		}
		assertNoSecret(t, "error", err.Error())
		assertNoSecret(t, "error %+v", fmt.Sprintf("%+v", err))
		for _, u := range uses {
			assertNoSecret(t, "SecretUse", fmt.Sprintf("%+v", u))
		}
		if !strings.Contains(err.Error(), "ns/raw") {
			t.Errorf("FromSecrets(%s) error = %q, want it to name the secret ns/raw", doc, err)
		}
		// A character quoted by encoding/json, e.g. "'S'", is a byte of the secret.
		if strings.Contains(err.Error(), "'S'") {
			t.Errorf("FromSecrets(%s) error = %q, quotes a byte of the document", doc, err)
		}
	}
}

// The keyring is a leaf: pure, no client-go or gRPC (style rule 10).
func TestImportAllowlist(t *testing.T) {
	allowed := map[string]bool{
		"k8s.io/api/core/v1":                           true,
		"k8s.io/apimachinery/pkg/types":                true,
		"github.com/berth-dev/berth/internal/imageref": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !strings.Contains(path, ".") {
				continue // standard library
			}
			if !allowed[path] {
				t.Errorf("%s imports %q; the keyring must stay a pure leaf package", name, path)
			}
		}
	}
}
