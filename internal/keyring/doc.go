// Package keyring turns a pod's image pull secrets into registry credentials
// and picks the ones that apply to an image, exactly as the kubelet's
// credential provider does (kubernetes/kubernetes pkg/credentialprovider:
// keyring.go, config.go, secrets/secrets.go):
//
//   - only secrets of type kubernetes.io/dockerconfigjson (data key
//     .dockerconfigjson, {"auths": {...}}) or kubernetes.io/dockercfg (data key
//     .dockercfg, {...}) are used; any other type is ignored without an error;
//   - an entry's "auth" (base64 of "user:password", padded or not) overrides
//     its username and password; a malformed entry fails the whole keyring;
//   - registry keys lose their scheme and a leading /v1/ or /v2/ path;
//   - an image matches a key when the host labels glob-match one for one, the
//     ports are equal and the key's path is a string prefix of the image's;
//   - Lookup returns the credentials of every matching key, most specific key
//     first, and falls back to the key "index.docker.io" for Docker Hub images
//     only when nothing else matched.
//
// The package is pure: no I/O, no client-go. Credentials never print their
// password, auth or tokens (String, LogValue), and errors name the secret and
// the registry key, never a value.
package keyring
