package registry

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

func lookup(t *testing.T, gv schema.GroupVersion, name string) *Resource {
	t.Helper()
	r, ok := Resources().Lookup(gv.WithResource(name))
	if !ok {
		t.Fatalf("%s %s not registered", gv, name)
	}
	return r
}

func testTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

// create runs the hooks in the order the API server does.
func create(r *Resource, obj runtime.Object) []string {
	r.PrepareForCreate(obj)
	r.Default(obj)
	var msgs []string
	for _, e := range r.Validate(obj) {
		msgs = append(msgs, e.Error())
	}
	return msgs
}

func TestDeploymentDefaultsAndValidation(t *testing.T) {
	r := lookup(t, appsV1, "deployments")
	tests := []struct {
		name    string
		tmpl    map[string]string
		sel     map[string]string
		wantErr string
	}{
		{"valid", map[string]string{"app": "web"}, map[string]string{"app": "web"}, ""},
		{"selector does not match template", map[string]string{"app": "other"}, map[string]string{"app": "web"},
			"spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` does not match template `labels`"},
		{"empty selector", map[string]string{"app": "web"}, nil, "spec.selector: Required value"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
				Spec:   appsv1.DeploymentSpec{Template: testTemplate(tc.tmpl)},
				Status: appsv1.DeploymentStatus{Replicas: 7}}
			if tc.sel != nil {
				d.Spec.Selector = &metav1.LabelSelector{MatchLabels: tc.sel}
			}
			errs := create(r, d)
			if tc.wantErr == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
					d.Spec.RevisionHistoryLimit == nil || *d.Spec.RevisionHistoryLimit != 10 {
					t.Errorf("not defaulted as Kubernetes does: %+v", d.Spec)
				}
				if d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways || d.Spec.Template.Spec.Containers[0].TerminationMessagePath == "" {
					t.Errorf("pod template not defaulted: %+v", d.Spec.Template.Spec)
				}
				if d.Status.Replicas != 0 || d.Generation != 1 {
					t.Errorf("status %+v generation %d: want reset status and generation 1", d.Status, d.Generation)
				}
				return
			}
			if !strings.Contains(strings.Join(errs, "\n"), tc.wantErr) {
				t.Fatalf("errors %q do not contain %q", errs, tc.wantErr)
			}
		})
	}
}

func TestDeploymentUpdate(t *testing.T) {
	r := lookup(t, appsV1, "deployments")
	old := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "5"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: testTemplate(map[string]string{"app": "web"})}}
	create(r, old)
	old.Status.Replicas = 3

	// A spec change bumps the generation and keeps the status.
	upd := old.DeepCopy()
	upd.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	upd.Status = appsv1.DeploymentStatus{}
	r.PrepareForUpdate(upd, old)
	if upd.Generation != 2 || upd.Status.Replicas != 3 {
		t.Errorf("generation %d status %+v: want 2 and the old status", upd.Generation, upd.Status)
	}
	if errs := r.ValidateUpdate(upd, old); len(errs) > 0 {
		t.Errorf("valid update rejected: %v", errs)
	}
	// The selector is immutable.
	sel := old.DeepCopy()
	sel.Spec.Selector.MatchLabels["tier"] = "x"
	sel.Spec.Template.Labels["tier"] = "x"
	r.PrepareForUpdate(sel, old)
	errs := r.ValidateUpdate(sel, old)
	if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "spec.selector: Invalid value") || !strings.Contains(errs.ToAggregate().Error(), "field is immutable") {
		t.Errorf("selector change: got %v, want immutable", errs)
	}
	// A status write cannot change the spec.
	st := old.DeepCopy()
	st.Spec.Paused = true
	st.Status.Replicas = 4
	r.PrepareForStatusUpdate(st, old)
	if st.Spec.Paused || st.Status.Replicas != 4 {
		t.Errorf("status update: spec %+v status %+v", st.Spec, st.Status)
	}
}

func TestJobGeneratedSelector(t *testing.T) {
	r := lookup(t, batchV1, "jobs")
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: types.UID("u-1")},
		Spec: batchv1.JobSpec{Template: testTemplate(nil)}}
	j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	if errs := create(r, j); len(errs) > 0 {
		t.Fatalf("valid job rejected: %v", errs)
	}
	if j.Spec.Selector == nil || j.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] != "u-1" {
		t.Errorf("selector %+v: want the generated controller-uid selector", j.Spec.Selector)
	}
	if j.Spec.Template.Labels["job-name"] != "pi" || j.Spec.Template.Labels["batch.kubernetes.io/job-name"] != "pi" {
		t.Errorf("template labels %v", j.Spec.Template.Labels)
	}
	if j.Spec.BackoffLimit == nil || *j.Spec.BackoffLimit != 6 || j.Spec.Completions == nil || *j.Spec.Completions != 1 {
		t.Errorf("job not defaulted: %+v", j.Spec)
	}
	// restartPolicy Always is not allowed for Jobs.
	bad := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "default", UID: "u-2"},
		Spec: batchv1.JobSpec{Template: testTemplate(nil)}}
	errs := create(r, bad)
	if !strings.Contains(strings.Join(errs, "\n"), `spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`) {
		t.Errorf("restartPolicy Always: got %q", errs)
	}
}

func TestCronJobBadSchedule(t *testing.T) {
	r := lookup(t, batchV1, "cronjobs")
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"},
		Spec: batchv1.CronJobSpec{Schedule: "every minute", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: testTemplate(nil)}}}}
	cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	errs := create(r, cj)
	if !strings.Contains(strings.Join(errs, "\n"), "spec.schedule: Invalid value: \"every minute\"") {
		t.Errorf("bad schedule: got %q", errs)
	}
}

func TestDaemonSetTemplateGeneration(t *testing.T) {
	r := lookup(t, appsV1, "daemonsets")
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}},
			Template: testTemplate(map[string]string{"a": "b"})}}
	if errs := create(r, ds); len(errs) > 0 {
		t.Fatal(errs)
	}
	if ds.Annotations["deprecated.daemonset.template.generation"] != "1" {
		t.Fatalf("annotations %v: want template generation 1", ds.Annotations)
	}
	upd := ds.DeepCopy()
	upd.Spec.Template.Spec.Containers[0].Image = "x"
	r.PrepareForUpdate(upd, ds)
	if upd.Annotations["deprecated.daemonset.template.generation"] != "2" || upd.Generation != 2 {
		t.Errorf("after a template change: annotations %v generation %d", upd.Annotations, upd.Generation)
	}
}
