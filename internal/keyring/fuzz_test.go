package keyring

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// FuzzDockerConfig: any content of a pull secret builds a keyring or fails
// with an error, never panics, and no error or key carries the password.
func FuzzDockerConfig(f *testing.F) {
	const password = "pw-hunter2-do-not-print"
	for _, s := range []string{
		`{"auths":{"reg.example.com":{"username":"u","password":"` + password + `"}}}`,
		`{"auths":{"https://reg.example.com/v1/":{"auth":"dTpwdy1odW50ZXIyLWRvLW5vdC1wcmludA=="}}}`,
		`{"reg.example.com":{"auth":"dTpwdy1odW50ZXIyLWRvLW5vdC1wcmludA=="}}`,
		`{"auths":{"*.example.com:5000/path":{"auth":"!!!` + password + `"}}}`,
		`{"auths":{"reg":{"password":"` + password + `",}}}`,
		`{"auths":` + password, `[`, `null`, `{"auths":null}`, `{"auths":{"":{}}}`,
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, data string, jsonType bool) {
		sec := corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(data)}}
		if !jsonType {
			sec = corev1.Secret{Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte(data)}}
		}
		sec.Name, sec.Namespace = "pull", "default"
		k, uses, err := FromSecrets([]corev1.Secret{sec})
		if err != nil {
			if strings.Contains(err.Error(), password) {
				t.Fatalf("the error shows the password: %v", err)
			}
			return
		}
		for _, u := range uses {
			if strings.Contains(u.Reason, password) {
				t.Fatalf("the secret use shows the password: %+v", u)
			}
		}
		for _, img := range []string{"busybox", "reg.example.com/app:v1", "reg.example.com:5000/path/app"} {
			creds, err := k.Lookup(img)
			if err != nil {
				continue
			}
			for _, c := range creds {
				if s := c.String(); strings.Contains(s, password) {
					t.Fatalf("a credential prints its password: %s", s)
				}
			}
		}
	})
}
