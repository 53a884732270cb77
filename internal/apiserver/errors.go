package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// writeError answers with err as a metav1.Status, the shape every
// Kubernetes client decodes. Errors that are not API errors become 500s
// whose message is the error text.
func writeError(w http.ResponseWriter, err error) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		status = apierrors.NewInternalError(err)
	}
	st := status.Status()
	st.Kind, st.APIVersion = "Status", "v1"
	st.Status = metav1.StatusFailure
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
		st.Code = int32(code)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(st)
}

func badRequest(format string, args ...any) error {
	return apierrors.NewBadRequest(fmt.Sprintf(format, args...))
}

func notFound(gr schema.GroupResource, name string) error {
	return apierrors.NewNotFound(gr, name)
}

func methodNotSupported(gr schema.GroupResource, action string) error {
	return apierrors.NewMethodNotSupported(gr, action)
}

// statusErr is an APIStatus for the few errors apimachinery has no helper for.
type statusErr struct {
	code   int
	reason metav1.StatusReason
	msg    string
}

func (e *statusErr) Error() string { return e.msg }

func (e *statusErr) Status() metav1.Status {
	return metav1.Status{Status: metav1.StatusFailure, Code: int32(e.code), Reason: e.reason, Message: e.msg,
		Details: &metav1.StatusDetails{}}
}
