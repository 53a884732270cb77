package validation

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth-dev/berth/internal/registry/defaults"
)

// want describes one expected error: its type, its exact field path and a
// substring of its detail ("" to skip the detail).
type want struct {
	typ    field.ErrorType
	field  string
	detail string
}

func req(f string) want                 { return want{field.ErrorTypeRequired, f, ""} }
func inv(f, detail string) want         { return want{field.ErrorTypeInvalid, f, detail} }
func forb(f, detail string) want        { return want{field.ErrorTypeForbidden, f, detail} }
func unsupported(f, detail string) want { return want{field.ErrorTypeNotSupported, f, detail} }
func dup(f string) want                 { return want{field.ErrorTypeDuplicate, f, ""} }
func notFound(f string) want            { return want{field.ErrorTypeNotFound, f, ""} }
func tooLong(f string) want             { return want{field.ErrorTypeTooLong, f, ""} }
func reqDetail(f, detail string) want   { return want{field.ErrorTypeRequired, f, detail} }
func (w want) String() string           { return fmt.Sprintf("%s %s %q", w.field, w.typ, w.detail) }
func (w want) matches(e *field.Error) bool {
	return e.Type == w.typ && e.Field == w.field && strings.Contains(e.Detail, w.detail)
}

// expectErrs requires exactly the wanted errors, in any order.
func expectErrs(t *testing.T, got field.ErrorList, wants ...want) {
	t.Helper()
	used := make([]bool, len(got))
	missing := []want{}
	for _, w := range wants {
		found := false
		for i, e := range got {
			if !used[i] && w.matches(e) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	var extra []string
	for i, e := range got {
		if !used[i] {
			extra = append(extra, e.Error())
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("missing: %v\nunexpected: %q", missing, extra)
	}
}

// validPod is a defaulted pod that passes validation; cases mutate it.
func validPod() *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "app", Image: "nginx:1.27",
				Ports:        []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data"}},
		},
	}
	defaults.Pod(p)
	return p
}

func ptrTo[T any](v T) *T { return &v }
