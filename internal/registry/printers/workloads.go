package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Tables of the workload kinds, with the columns and cells of Kubernetes'
// pkg/printers/internalversion (printDeployment, printReplicaSet, …).

func convertWorkload(obj runtime.Object, now time.Time) ([]metav1.TableColumnDefinition, []metav1.TableRow, bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return deploymentColumns(), one(o, deploymentRow, now), true
	case *appsv1.DeploymentList:
		return deploymentColumns(), each(o.Items, deploymentRow, now), true
	case *appsv1.ReplicaSet:
		return replicaSetColumns(), one(o, replicaSetRow, now), true
	case *appsv1.ReplicaSetList:
		return replicaSetColumns(), each(o.Items, replicaSetRow, now), true
	case *appsv1.StatefulSet:
		return statefulSetColumns(), one(o, statefulSetRow, now), true
	case *appsv1.StatefulSetList:
		return statefulSetColumns(), each(o.Items, statefulSetRow, now), true
	case *appsv1.DaemonSet:
		return daemonSetColumns(), one(o, daemonSetRow, now), true
	case *appsv1.DaemonSetList:
		return daemonSetColumns(), each(o.Items, daemonSetRow, now), true
	case *appsv1.ControllerRevision:
		return controllerRevisionColumns(), one(o, controllerRevisionRow, now), true
	case *appsv1.ControllerRevisionList:
		return controllerRevisionColumns(), each(o.Items, controllerRevisionRow, now), true
	case *batchv1.Job:
		return jobColumns(), one(o, jobRow, now), true
	case *batchv1.JobList:
		return jobColumns(), each(o.Items, jobRow, now), true
	case *batchv1.CronJob:
		return cronJobColumns(), one(o, cronJobRow, now), true
	case *batchv1.CronJobList:
		return cronJobColumns(), each(o.Items, cronJobRow, now), true
	case *policyv1.PodDisruptionBudget:
		return pdbColumns(), one(o, pdbRow, now), true
	case *policyv1.PodDisruptionBudgetList:
		return pdbColumns(), each(o.Items, pdbRow, now), true
	}
	return nil, nil, false
}

func containersCol() metav1.TableColumnDefinition {
	return col("Containers", "string", "", "Names of each container in the template.", 1)
}

func imagesCol() metav1.TableColumnDefinition {
	return col("Images", "string", "", "Images referenced by each container in the template.", 1)
}

func deploymentColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Ready", "string", "", "Number of the pod with ready state", 0),
		col("Up-to-date", "string", "", appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"], 0),
		col("Available", "string", "", appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"], 0),
		ageCol(), containersCol(), imagesCol(),
		col("Selector", "string", "", appsv1.DeploymentSpec{}.SwaggerDoc()["selector"], 1),
	}
}

func replicaSetColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Desired", "integer", "", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"], 0),
		col("Current", "integer", "", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"], 0),
		col("Ready", "integer", "", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"], 0),
		ageCol(), containersCol(), imagesCol(),
		col("Selector", "string", "", appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"], 1),
	}
}

func statefulSetColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Ready", "string", "", "Number of the pod with ready state", 0),
		ageCol(), containersCol(), imagesCol(),
	}
}

func daemonSetColumns() []metav1.TableColumnDefinition {
	st := appsv1.DaemonSetStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Desired", "integer", "", st["desiredNumberScheduled"], 0),
		col("Current", "integer", "", st["currentNumberScheduled"], 0),
		col("Ready", "integer", "", st["numberReady"], 0),
		col("Up-to-date", "integer", "", st["updatedNumberScheduled"], 0),
		col("Available", "integer", "", st["numberAvailable"], 0),
		col("Node Selector", "string", "", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"], 0),
		ageCol(), containersCol(), imagesCol(),
		col("Selector", "string", "", appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"], 1),
	}
}

func controllerRevisionColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Controller", "string", "", "Controller of the object", 0),
		col("Revision", "string", "", appsv1.ControllerRevision{}.SwaggerDoc()["revision"], 0),
		ageCol(),
	}
}

func jobColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Status", "string", "", "Status of the job.", 0),
		col("Completions", "string", "", batchv1.JobStatus{}.SwaggerDoc()["succeeded"], 0),
		col("Duration", "string", "", "Time required to complete the job.", 0),
		ageCol(), containersCol(), imagesCol(),
		col("Selector", "string", "", batchv1.JobSpec{}.SwaggerDoc()["selector"], 1),
	}
}

func cronJobColumns() []metav1.TableColumnDefinition {
	spec, st := batchv1.CronJobSpec{}.SwaggerDoc(), batchv1.CronJobStatus{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Schedule", "string", "", spec["schedule"], 0),
		col("Timezone", "string", "", spec["timeZone"], 0),
		col("Suspend", "boolean", "", spec["suspend"], 0),
		col("Active", "integer", "", st["active"], 0),
		col("Last Schedule", "string", "", st["lastScheduleTime"], 0),
		ageCol(), containersCol(), imagesCol(),
		col("Selector", "string", "", batchv1.JobSpec{}.SwaggerDoc()["selector"], 1),
	}
}

func pdbColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Min Available", "string", "", "The minimum number of pods that must be available.", 0),
		col("Max Unavailable", "string", "", "The maximum number of pods that may be unavailable.", 0),
		col("Allowed Disruptions", "integer", "", "Calculated number of pods that may be disrupted at this time.", 0),
		ageCol(),
	}
}

// containerCells joins the template's container names and images.
func containerCells(cs []corev1.Container) (string, string) {
	names, images := make([]string, len(cs)), make([]string, len(cs))
	for i, c := range cs {
		names[i], images[i] = c.Name, c.Image
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

func deref(p *int32) int64 {
	if p == nil {
		return 0
	}
	return int64(*p)
}

func deploymentRow(d *appsv1.Deployment, now time.Time) metav1.TableRow {
	sel := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		sel = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return metav1.TableRow{Cells: []interface{}{d.Name,
		fmt.Sprintf("%d/%d", int64(d.Status.ReadyReplicas), deref(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age(d.CreationTimestamp, now),
		names, images, sel}}
}

func replicaSetRow(rs *appsv1.ReplicaSet, now time.Time) metav1.TableRow {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return metav1.TableRow{Cells: []interface{}{rs.Name, deref(rs.Spec.Replicas), int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas), age(rs.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(rs.Spec.Selector)}}
}

func statefulSetRow(ss *appsv1.StatefulSet, now time.Time) metav1.TableRow {
	names, images := containerCells(ss.Spec.Template.Spec.Containers)
	return metav1.TableRow{Cells: []interface{}{ss.Name,
		fmt.Sprintf("%d/%d", int64(ss.Status.ReadyReplicas), deref(ss.Spec.Replicas)), age(ss.CreationTimestamp, now), names, images}}
}

func daemonSetRow(ds *appsv1.DaemonSet, now time.Time) metav1.TableRow {
	st := ds.Status
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return metav1.TableRow{Cells: []interface{}{ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled),
		int64(st.NumberReady), int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector), age(ds.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(ds.Spec.Selector)}}
}

func controllerRevisionRow(cr *appsv1.ControllerRevision, now time.Time) metav1.TableRow {
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		controller = strings.ToLower(gv.WithKind(ref.Kind).GroupKind().String()) + "/" + ref.Name
	}
	return metav1.TableRow{Cells: []interface{}{cr.Name, controller, cr.Revision, age(cr.CreationTimestamp, now)}}
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func jobRow(j *batchv1.Job, now time.Time) metav1.TableRow {
	var completions string
	switch {
	case j.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	case deref(j.Spec.Parallelism) > 1:
		completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, deref(j.Spec.Parallelism))
	default:
		completions = fmt.Sprintf("%d/1", j.Status.Succeeded)
	}
	var dur string
	switch {
	case j.Status.StartTime == nil:
	case j.Status.CompletionTime == nil:
		dur = duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
	default:
		dur = duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
	status := "Running"
	switch {
	case jobCondition(j, batchv1.JobComplete):
		status = "Complete"
	case jobCondition(j, batchv1.JobFailed):
		status = "Failed"
	case j.DeletionTimestamp != nil:
		status = "Terminating"
	case jobCondition(j, batchv1.JobSuspended):
		status = "Suspended"
	case jobCondition(j, batchv1.JobFailureTarget):
		status = "FailureTarget"
	case jobCondition(j, batchv1.JobSuccessCriteriaMet):
		status = "SuccessCriteriaMet"
	}
	names, images := containerCells(j.Spec.Template.Spec.Containers)
	return metav1.TableRow{Cells: []interface{}{j.Name, status, completions, dur, age(j.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(j.Spec.Selector)}}
}

func cronJobRow(cj *batchv1.CronJob, now time.Time) metav1.TableRow {
	last := "<none>"
	if cj.Status.LastScheduleTime != nil {
		last = age(*cj.Status.LastScheduleTime, now)
	}
	tz := "<none>"
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	suspend := "<unset>"
	if cj.Spec.Suspend != nil {
		suspend = "False"
		if *cj.Spec.Suspend {
			suspend = "True"
		}
	}
	names, images := containerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
	return metav1.TableRow{Cells: []interface{}{cj.Name, cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last,
		age(cj.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector)}}
}

func pdbRow(p *policyv1.PodDisruptionBudget, now time.Time) metav1.TableRow {
	minA, maxU := "N/A", "N/A"
	if p.Spec.MinAvailable != nil {
		minA = p.Spec.MinAvailable.String()
	}
	if p.Spec.MaxUnavailable != nil {
		maxU = p.Spec.MaxUnavailable.String()
	}
	return metav1.TableRow{Cells: []interface{}{p.Name, minA, maxU, int64(p.Status.DisruptionsAllowed), age(p.CreationTimestamp, now)}}
}
