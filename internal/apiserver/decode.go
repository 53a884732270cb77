package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/registry"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	serjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"sigs.k8s.io/yaml"
)

// maxBodyBytes is the Kubernetes API server's request size limit.
const maxBodyBytes = 3 * 1024 * 1024

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, badRequest("reading request body: %v", err)
	}
	if len(data) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	return data, nil
}

func isProtobuf(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.TrimSpace(mt) == "application/vnd.kubernetes.protobuf"
}

// toJSON converts a YAML body to JSON; JSON passes through unchanged.
// Duplicate fields in YAML are strict-decoding errors like in Kubernetes.
func toJSON(contentType string, data []byte) ([]byte, error) {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.TrimSpace(mt)
	if mt == "application/yaml" || mt == "application/apply-patch+yaml" {
		j, err := yaml.YAMLToJSONStrict(data)
		if err != nil {
			return nil, err
		}
		return j, nil
	}
	return data, nil
}

// fieldValidation returns the fieldValidation directive; Kubernetes
// defaults to Warn when the parameter is absent.
func fieldValidation(r *http.Request) (string, error) {
	v := r.URL.Query().Get("fieldValidation")
	switch v {
	case "":
		return metav1.FieldValidationWarn, nil
	case metav1.FieldValidationIgnore, metav1.FieldValidationWarn, metav1.FieldValidationStrict:
		return v, nil
	}
	return "", badRequest("fieldValidation must be one of %q, %q or %q, got %q",
		metav1.FieldValidationIgnore, metav1.FieldValidationWarn, metav1.FieldValidationStrict, v)
}

// decodeObject decodes a JSON body into res's type, applying the field
// validation directive to unknown and duplicate fields: Strict fails,
// Warn returns them as warnings, Ignore drops them.
func (s *Server) decodeObject(res *registry.Resource, data []byte, directive string) (runtime.Object, []string, error) {
	return s.decodeObjectAs(res, "application/json", data, directive)
}

// decodeObjectAs is decodeObject for a body of the given content type:
// JSON, YAML or Kubernetes protobuf (which kubectl uses for typed
// requests such as `kubectl create namespace`).
func (s *Server) decodeObjectAs(res *registry.Resource, contentType string, data []byte, directive string) (runtime.Object, []string, error) {
	ser := s.decoders.strictJSON
	if isProtobuf(contentType) {
		ser = s.decoders.protobuf
	}
	into := res.New()
	gvk := res.GVK()
	obj, actual, err := ser.Decode(data, &gvk, into)
	var warnings []string
	if err != nil {
		if !runtime.IsStrictDecodingError(err) {
			return nil, nil, cannotHandle(res, err)
		}
		if strict, ok := runtime.AsStrictDecodingError(err); ok {
			switch directive {
			case metav1.FieldValidationStrict:
				return nil, nil, cannotHandle(res, err)
			case metav1.FieldValidationWarn:
				for _, e := range strict.Errors() {
					warnings = append(warnings, e.Error())
				}
			}
		}
	}
	if actual != nil && (actual.Kind != res.Kind || actual.GroupVersion() != res.GroupVersion) {
		if actual.GroupVersion() != res.GroupVersion {
			return nil, nil, badRequest("the API version in the data (%s) does not match the expected API version (%s)",
				actual.GroupVersion(), res.GroupVersion)
		}
		return nil, nil, badRequest("the kind in the data (%s) does not match the expected kind (%s)", actual.Kind, res.Kind)
	}
	if obj == nil {
		obj = into
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	return obj, warnings, nil
}

// decoders are the request body decoders, built once: building one
// encodes its options as an identifier, a cost on every write otherwise.
// They hold no per-request state.
type decoders struct {
	strictJSON, json, protobuf runtime.Decoder
}

func newDecoders(scheme *runtime.Scheme) decoders {
	return decoders{
		strictJSON: serjson.NewSerializerWithOptions(serjson.DefaultMetaFactory, scheme, scheme, serjson.SerializerOptions{Strict: true}),
		json:       serjson.NewSerializerWithOptions(serjson.DefaultMetaFactory, scheme, scheme, serjson.SerializerOptions{}),
		protobuf:   protobuf.NewSerializer(scheme, scheme),
	}
}

func cannotHandle(res *registry.Resource, err error) error {
	return badRequest("%s in version %q cannot be handled as a %s: %v", res.Kind, res.GroupVersion.Version, res.Kind, err)
}

// decodeInto decodes a body into a given meta type (DeleteOptions, Binding).
func (s *Server) decodeInto(contentType string, data []byte, gvk schema.GroupVersionKind, into runtime.Object) error {
	ser := s.decoders.json
	if isProtobuf(contentType) {
		ser = s.decoders.protobuf
	}
	if _, _, err := ser.Decode(data, &gvk, into); err != nil {
		return badRequest("decoding %s: %v", gvk.Kind, err)
	}
	return nil
}
