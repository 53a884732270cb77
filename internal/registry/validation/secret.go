package validation

import (
	"encoding/json"
	"reflect"
	"sort"

	corev1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// redacted stands in for a secret value wherever Kubernetes would print
// the bad value.
const redacted = "<secret contents redacted>"

// ValidateSecret validates a secret (after defaulting, so stringData is
// already folded into data): valid key names, at most 1 MiB of values in
// total, and the keys its type requires. dockercfg and dockerconfigjson
// values must be JSON objects; their structure is the kubelet's business.
//
// No error carries a secret value: key problems name the key, the size
// problem carries no value, and JSON problems show "<secret contents
// redacted>" and the decoder's message.
func ValidateSecret(s *corev1.Secret) field.ErrorList {
	return onCreate(validateSecret(s), &s.ObjectMeta, true)
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	errs := validateMeta(&s.ObjectMeta, true, nameIsDNSSubdomain)
	dataPath := field.NewPath("data")
	total := 0
	for _, key := range sortedKeys(s.Data) {
		for _, msg := range utilvalidation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(dataPath.Key(key), key, msg))
		}
		total += len(s.Data[key])
	}
	if total > corev1.MaxSecretSize {
		errs = append(errs, field.TooLong(dataPath, "", corev1.MaxSecretSize))
	}

	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		// Only the owner is required; the token controller adds the rest.
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(metaPath.Child("annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		errs = append(errs, jsonKey(s.Data, corev1.DockerConfigKey, dataPath)...)
	case corev1.SecretTypeDockerConfigJson:
		errs = append(errs, jsonKey(s.Data, corev1.DockerConfigJsonKey, dataPath)...)
	case corev1.SecretTypeBasicAuth:
		// Either may be empty, but one of the two keys must be present.
		_, hasUser := s.Data[corev1.BasicAuthUsernameKey]
		_, hasPass := s.Data[corev1.BasicAuthPasswordKey]
		if !hasUser && !hasPass {
			errs = append(errs, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""),
				field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		if _, ok := s.Data[corev1.TLSCertKey]; !ok {
			errs = append(errs, field.Required(dataPath.Key(corev1.TLSCertKey), ""))
		}
		if _, ok := s.Data[corev1.TLSPrivateKeyKey]; !ok {
			errs = append(errs, field.Required(dataPath.Key(corev1.TLSPrivateKeyKey), ""))
		}
	}
	return errs
}

// jsonKey requires data[key] and requires it to decode as a JSON object.
func jsonKey(data map[string][]byte, key string, dataPath *field.Path) field.ErrorList {
	v, ok := data[key]
	if !ok {
		return field.ErrorList{field.Required(dataPath.Key(key), "")}
	}
	if err := json.Unmarshal(v, &map[string]any{}); err != nil {
		return field.ErrorList{field.Invalid(dataPath.Key(key), redacted, err.Error())}
	}
	return nil
}

// ValidateSecretUpdate validates a secret update: the type may not change
// (an update that omits it keeps the old one), and an immutable secret
// keeps its data and stays immutable.
func ValidateSecretUpdate(newS, oldS *corev1.Secret) field.ErrorList {
	errs := validateMetaUpdate(&newS.ObjectMeta, &oldS.ObjectMeta)
	if newS.Type == "" {
		newS.Type = oldS.Type
	}
	errs = append(errs, immutable(newS.Type, oldS.Type, field.NewPath("type"))...)
	if oldS.Immutable != nil && *oldS.Immutable {
		if newS.Immutable == nil || !*newS.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableWhenSetMsg))
		}
		if !reflect.DeepEqual(newS.Data, oldS.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableWhenSetMsg))
		}
	}
	return append(errs, validateSecret(newS)...)
}

// ValidateConfigMap validates a config map: valid keys, no key in both
// data and binaryData, at most 1 MiB in total.
func ValidateConfigMap(c *corev1.ConfigMap) field.ErrorList {
	return onCreate(validateConfigMap(c), &c.ObjectMeta, true)
}

func validateConfigMap(c *corev1.ConfigMap) field.ErrorList {
	errs := validateMeta(&c.ObjectMeta, true, nameIsDNSSubdomain)
	total := 0
	dataPath, binPath := field.NewPath("data"), field.NewPath("binaryData")
	keys := make([]string, 0, len(c.Data))
	for k := range c.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		for _, msg := range utilvalidation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(dataPath.Key(key), key, msg))
		}
		if _, dup := c.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(dataPath.Key(key), key, "duplicate of key present in binaryData"))
		}
		total += len(c.Data[key])
	}
	for _, key := range sortedKeys(c.BinaryData) {
		for _, msg := range utilvalidation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(binPath.Key(key), key, msg))
		}
		total += len(c.BinaryData[key])
	}
	if total > corev1.MaxSecretSize {
		// The empty path means "the whole object"; it prints as "[]",
		// as in Kubernetes.
		errs = append(errs, field.TooLong(field.NewPath(""), "", corev1.MaxSecretSize))
	}
	return errs
}

// ValidateConfigMapUpdate: an immutable config map keeps its data and
// binaryData and stays immutable.
func ValidateConfigMapUpdate(newC, oldC *corev1.ConfigMap) field.ErrorList {
	errs := validateMetaUpdate(&newC.ObjectMeta, &oldC.ObjectMeta)
	if oldC.Immutable != nil && *oldC.Immutable {
		if newC.Immutable == nil || !*newC.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableWhenSetMsg))
		}
		if !reflect.DeepEqual(newC.Data, oldC.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), immutableWhenSetMsg))
		}
		if !reflect.DeepEqual(newC.BinaryData, oldC.BinaryData) {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), immutableWhenSetMsg))
		}
	}
	return append(errs, validateConfigMap(newC)...)
}

// sortedKeys keeps error order stable; Kubernetes iterates the map.
func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
