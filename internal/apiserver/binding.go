package apiserver

import (
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// serveBinding assigns a pod to a node (POST pods/NAME/binding), setting
// spec.nodeName and the PodScheduled condition in one write, as the
// scheduler's binding does.
func (s *Server) serveBinding(w http.ResponseWriter, r *http.Request, info requestInfo) {
	opts, err := parseWriteOptions(r)
	if err != nil {
		writeError(w, err)
		return
	}
	data, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	b := &corev1.Binding{}
	if err := s.decodeInto(r.Header.Get("Content-Type"), data, corev1.SchemeGroupVersion.WithKind("Binding"), b); err != nil {
		writeError(w, err)
		return
	}
	if b.Name != "" && b.Name != info.name {
		writeError(w, badRequest("the name of the object (%s) does not match the name on the URL (%s)", b.Name, info.name))
		return
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		writeError(w, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), info.name,
			field.ErrorList{field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"})}))
		return
	}
	if b.Target.Name == "" {
		writeError(w, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), info.name,
			field.ErrorList{field.Required(field.NewPath("target", "name"), "")}))
		return
	}
	_, _, err = s.updateObject(r.Context(), info, opts, func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(info.res.GVR().GroupResource(), info.name, errString("pod "+info.name+" is being deleted, cannot be assigned to a host"))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(info.res.GVR().GroupResource(), info.name,
				errString("pod "+info.name+" is already assigned to node \""+pod.Spec.NodeName+"\""))
		}
		pod.Spec.NodeName = b.Target.Name
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(time.Now())})
		return pod, nil
	}, nil)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

func setPodCondition(p *corev1.Pod, c corev1.PodCondition) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == c.Type {
			if p.Status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = p.Status.Conditions[i].LastTransitionTime
			}
			p.Status.Conditions[i] = c
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
}
