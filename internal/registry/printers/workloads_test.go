package printers

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kptr "k8s.io/utils/ptr"
)

func TestWorkloadTables(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	created := metav1.NewTime(now.Add(-90 * time.Second))
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "img:1"}, {Name: "b", Image: "img:2"}}}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	start := metav1.NewTime(now.Add(-60 * time.Second))
	done := metav1.NewTime(now.Add(-30 * time.Second))
	tests := []struct {
		name    string
		obj     runtime.Object
		headers []string
		cells   []interface{}
	}{
		{"deployment", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: created},
			Spec:   appsv1.DeploymentSpec{Replicas: kptr.To[int32](3), Selector: sel, Template: tmpl},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
			[]string{"Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"},
			[]interface{}{"web", "2/3", int64(3), int64(2), "90s", "a,b", "img:1,img:2", "app=web"}},
		{"job complete", &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", CreationTimestamp: created},
			Spec: batchv1.JobSpec{Completions: kptr.To[int32](3), Selector: sel, Template: tmpl},
			Status: batchv1.JobStatus{Succeeded: 3, StartTime: &start, CompletionTime: &done,
				Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}},
			[]string{"Name", "Status", "Completions", "Duration", "Age", "Containers", "Images", "Selector"},
			[]interface{}{"pi", "Complete", "3/3", "30s", "90s", "a,b", "img:1,img:2", "app=web"}},
		{"job without completions, parallel", &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "q", CreationTimestamp: created},
			Spec: batchv1.JobSpec{Parallelism: kptr.To[int32](4), Template: tmpl}},
			nil, []interface{}{"q", "Running", "0/1 of 4", "", "90s", "a,b", "img:1,img:2", "<none>"}},
		{"controllerrevision", &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "db-5d", CreationTimestamp: created,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "db", Controller: kptr.To(true)}}}, Revision: 2},
			[]string{"Name", "Controller", "Revision", "Age"},
			[]interface{}{"db-5d", "statefulset.apps/db", int64(2), "90s"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table, err := Convert(tc.obj, now)
			if err != nil {
				t.Fatal(err)
			}
			if tc.headers != nil {
				var names []string
				for _, c := range table.ColumnDefinitions {
					names = append(names, c.Name)
				}
				if !reflect.DeepEqual(names, tc.headers) {
					t.Errorf("columns %q, want %q", names, tc.headers)
				}
			}
			if len(table.Rows) != 1 || !reflect.DeepEqual(table.Rows[0].Cells, tc.cells) {
				t.Errorf("cells %#v, want %#v", table.Rows, tc.cells)
			}
		})
	}
}
