package registry

import (
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	jobutil "k8s.io/kubernetes/pkg/api/job"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/apps"
	appsvalidation "k8s.io/kubernetes/pkg/apis/apps/validation"
	"k8s.io/kubernetes/pkg/apis/batch"
	batchvalidation "k8s.io/kubernetes/pkg/apis/batch/validation"
	"k8s.io/kubernetes/pkg/apis/core"
	apivalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/apis/policy"
	policyvalidation "k8s.io/kubernetes/pkg/apis/policy/validation"
	"k8s.io/kubernetes/pkg/features"
	kptr "k8s.io/utils/ptr"
)

// The strategies below do what Kubernetes' registry strategies
// (pkg/registry/{apps,batch,policy}/*/strategy.go, v1.37) do for the v1
// API, on the internal types, with the same validation options. Every spec
// change bumps metadata.generation (a Deployment's annotations too, as
// rollbacks once travelled in them); status writes cannot touch the spec.

type podTemplate = core.PodTemplateSpec

func templateOpts(t, old *podTemplate) apivalidation.PodValidationOptions {
	return podutil.GetValidationOptionsFromPodTemplate(t, old)
}

var deploymentOps = kindOps[*apps.Deployment]{
	newInternal: func() *apps.Deployment { return &apps.Deployment{} },
	create: func(d *apps.Deployment) {
		d.Status = apps.DeploymentStatus{}
		d.Generation = 1
		podutil.DropDisabledTemplateFields(&d.Spec.Template, nil)
	},
	update: func(d, old *apps.Deployment) {
		d.Status = old.Status
		podutil.DropDisabledTemplateFields(&d.Spec.Template, &old.Spec.Template)
		if !equality.Semantic.DeepEqual(d.Spec, old.Spec) || !equality.Semantic.DeepEqual(d.Annotations, old.Annotations) {
			d.Generation = old.Generation + 1
		}
	},
	validate: func(d *apps.Deployment) field.ErrorList {
		return appsvalidation.ValidateDeployment(d, templateOpts(&d.Spec.Template, nil))
	},
	validateUpdate: func(d, old *apps.Deployment) field.ErrorList {
		return appsvalidation.ValidateDeploymentUpdate(d, old, templateOpts(&d.Spec.Template, &old.Spec.Template))
	},
	status: func(d, old *apps.Deployment) {
		d.Spec = old.Spec
		d.Labels = old.Labels
	},
	validateStatus: appsvalidation.ValidateDeploymentStatusUpdate,
}

var replicaSetOps = kindOps[*apps.ReplicaSet]{
	newInternal: func() *apps.ReplicaSet { return &apps.ReplicaSet{} },
	create: func(rs *apps.ReplicaSet) {
		rs.Status = apps.ReplicaSetStatus{}
		rs.Generation = 1
		podutil.DropDisabledTemplateFields(&rs.Spec.Template, nil)
	},
	update: func(rs, old *apps.ReplicaSet) {
		rs.Status = old.Status
		podutil.DropDisabledTemplateFields(&rs.Spec.Template, &old.Spec.Template)
		if !equality.Semantic.DeepEqual(rs.Spec, old.Spec) {
			rs.Generation = old.Generation + 1
		}
	},
	validate: func(rs *apps.ReplicaSet) field.ErrorList {
		return appsvalidation.ValidateReplicaSet(rs, templateOpts(&rs.Spec.Template, nil))
	},
	validateUpdate: func(rs, old *apps.ReplicaSet) field.ErrorList {
		return appsvalidation.ValidateReplicaSetUpdate(rs, old, templateOpts(&rs.Spec.Template, &old.Spec.Template))
	},
	status:         func(rs, old *apps.ReplicaSet) { rs.Spec = old.Spec },
	validateStatus: appsvalidation.ValidateReplicaSetStatusUpdate,
}

var statefulSetOps = kindOps[*apps.StatefulSet]{
	newInternal: func() *apps.StatefulSet { return &apps.StatefulSet{} },
	create: func(ss *apps.StatefulSet) {
		ss.Status = apps.StatefulSetStatus{}
		ss.Generation = 1
		podutil.DropDisabledTemplateFields(&ss.Spec.Template, nil)
	},
	update: func(ss, old *apps.StatefulSet) {
		ss.Status = old.Status
		podutil.DropDisabledTemplateFields(&ss.Spec.Template, &old.Spec.Template)
		if !equality.Semantic.DeepEqual(ss.Spec, old.Spec) {
			ss.Generation = old.Generation + 1
		}
	},
	validate: func(ss *apps.StatefulSet) field.ErrorList {
		return appsvalidation.ValidateStatefulSet(ss, appsvalidation.StatefulSetValidationOptions{
			AllowStatefulSetRecreateStrategy: utilfeature.DefaultFeatureGate.Enabled(features.StatefulSetRecreateStrategy),
		}, templateOpts(&ss.Spec.Template, nil))
	},
	validateUpdate: func(ss, old *apps.StatefulSet) field.ErrorList {
		return appsvalidation.ValidateStatefulSetUpdate(ss, old, appsvalidation.StatefulSetValidationOptions{
			// serviceName and volumeClaimTemplates are immutable: tolerate
			// what an older release accepted.
			AllowInvalidServiceName:          true,
			SkipValidateVolumeClaimTemplates: true,
			AllowStatefulSetRecreateStrategy: utilfeature.DefaultFeatureGate.Enabled(features.StatefulSetRecreateStrategy) ||
				old.Spec.UpdateStrategy.Type == apps.RecreateStatefulSetStrategyType,
		}, templateOpts(&ss.Spec.Template, &old.Spec.Template))
	},
	status:         func(ss, old *apps.StatefulSet) { ss.Spec = old.Spec },
	validateStatus: appsvalidation.ValidateStatefulSetStatusUpdate,
}

var daemonSetOps = kindOps[*apps.DaemonSet]{
	newInternal: func() *apps.DaemonSet { return &apps.DaemonSet{} },
	create: func(ds *apps.DaemonSet) {
		ds.Status = apps.DaemonSetStatus{}
		ds.Generation = 1
		if ds.Spec.TemplateGeneration < 1 {
			ds.Spec.TemplateGeneration = 1
		}
		podutil.DropDisabledTemplateFields(&ds.Spec.Template, nil)
	},
	update: func(ds, old *apps.DaemonSet) {
		podutil.DropDisabledTemplateFields(&ds.Spec.Template, &old.Spec.Template)
		ds.Status = old.Status
		// templateGeneration (kept in the deprecated.daemonset.template.generation
		// annotation in v1) counts template changes only.
		ds.Spec.TemplateGeneration = old.Spec.TemplateGeneration
		switch {
		case !equality.Semantic.DeepEqual(old.Spec.Template, ds.Spec.Template):
			ds.Spec.TemplateGeneration = old.Spec.TemplateGeneration + 1
			ds.Generation = old.Generation + 1
		case !equality.Semantic.DeepEqual(old.Spec, ds.Spec):
			ds.Generation = old.Generation + 1
		}
	},
	validate: func(ds *apps.DaemonSet) field.ErrorList {
		return appsvalidation.ValidateDaemonSet(ds, templateOpts(&ds.Spec.Template, nil))
	},
	validateUpdate: func(ds, old *apps.DaemonSet) field.ErrorList {
		opts := templateOpts(&ds.Spec.Template, &old.Spec.Template)
		opts.AllowInvalidLabelValueInSelector = opts.AllowInvalidLabelValueInSelector ||
			metav1validation.LabelSelectorHasInvalidLabelValue(old.Spec.Selector)
		return appsvalidation.ValidateDaemonSetUpdate(ds, old, opts)
	},
	status:         func(ds, old *apps.DaemonSet) { ds.Spec = old.Spec },
	validateStatus: appsvalidation.ValidateDaemonSetStatusUpdate,
}

var controllerRevisionOps = kindOps[*apps.ControllerRevision]{
	newInternal:    func() *apps.ControllerRevision { return &apps.ControllerRevision{} },
	create:         func(*apps.ControllerRevision) {},
	update:         func(_, _ *apps.ControllerRevision) {},
	validate:       appsvalidation.ValidateControllerRevisionCreate,
	validateUpdate: appsvalidation.ValidateControllerRevisionUpdate,
}

var jobOps = kindOps[*batch.Job]{
	newInternal: func() *batch.Job { return &batch.Job{} },
	create: func(j *batch.Job) {
		if j.Spec.ManualSelector == nil || !*j.Spec.ManualSelector {
			generateJobSelector(j)
		}
		j.Status = batch.JobStatus{}
		j.Generation = 1
		if !utilfeature.DefaultFeatureGate.Enabled(features.JobManagedBy) {
			j.Spec.ManagedBy = nil
		}
		jobutil.DropDisabledFields(&j.Spec, nil)
		podutil.DropDisabledTemplateFields(&j.Spec.Template, nil)
	},
	update: func(j, old *batch.Job) {
		j.Status = old.Status
		jobutil.DropDisabledFields(&j.Spec, &old.Spec)
		podutil.DropDisabledTemplateFields(&j.Spec.Template, &old.Spec.Template)
		if !equality.Semantic.DeepEqual(j.Spec, old.Spec) {
			j.Generation = old.Generation + 1
		}
	},
	validate: func(j *batch.Job) field.ErrorList {
		return batchvalidation.ValidateJobCreate(j, jobValidationOptions(j, nil))
	},
	validateUpdate: func(j, old *batch.Job) field.ErrorList {
		return batchvalidation.ValidateJobUpdate(j, old, jobValidationOptions(j, old))
	},
	status: func(j, old *batch.Job) { j.Spec = old.Spec },
	validateStatus: func(j, old *batch.Job) field.ErrorList {
		return batchvalidation.ValidateJobUpdateStatus(j, old, jobStatusValidationOptions(j, old))
	},
}

// generateJobSelector labels the template with the job's name and uid and
// selects the uid, so a Job's pods are its own (Kubernetes' generated
// selector; a user label already there is left for validation to judge).
func generateJobSelector(j *batch.Job) {
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for _, k := range []string{batch.LegacyJobNameLabel, batch.JobNameLabel} {
		if _, ok := j.Spec.Template.Labels[k]; !ok {
			j.Spec.Template.Labels[k] = j.Name
		}
	}
	for _, k := range []string{batch.LegacyControllerUidLabel, batch.ControllerUidLabel} {
		if _, ok := j.Spec.Template.Labels[k]; !ok {
			j.Spec.Template.Labels[k] = string(j.UID)
		}
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &metav1.LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := j.Spec.Selector.MatchLabels[batch.ControllerUidLabel]; !ok {
		j.Spec.Selector.MatchLabels[batch.ControllerUidLabel] = string(j.UID)
	}
}

func jobValidationOptions(j, old *batch.Job) batchvalidation.JobValidationOptions {
	var oldTemplate *podTemplate
	if old != nil {
		oldTemplate = &old.Spec.Template
	}
	opts := batchvalidation.JobValidationOptions{
		PodValidationOptions:  templateOpts(&j.Spec.Template, oldTemplate),
		RequirePrefixedLabels: true,
	}
	if old == nil {
		return opts
	}
	opts.AllowInvalidLabelValueInSelector = opts.AllowInvalidLabelValueInSelector ||
		metav1validation.LabelSelectorHasInvalidLabelValue(old.Spec.Selector)
	suspended := kptr.Deref(old.Spec.Suspend, false)
	notStarted := old.Status.StartTime == nil
	// Scheduling directives may change only on a suspended Job that never
	// ran (or is suspended with no active pods, with the newer gates).
	opts.AllowMutableSchedulingDirectives = suspended && notStarted
	mutableTemplate := suspended && (notStarted || batchvalidation.IsConditionTrue(old.Status.Conditions, batch.JobSuspended)) &&
		old.Status.Active == 0
	if utilfeature.DefaultFeatureGate.Enabled(features.MutablePodResourcesForSuspendedJobs) {
		opts.AllowMutablePodResources = mutableTemplate
	}
	if utilfeature.DefaultFeatureGate.Enabled(features.MutableSchedulingDirectivesForSuspendedJobs) {
		opts.AllowMutableSchedulingDirectives = mutableTemplate
	}
	_, hadName := old.Spec.Template.Labels[batch.JobNameLabel]
	_, hadUID := old.Spec.Template.Labels[batch.ControllerUidLabel]
	opts.RequirePrefixedLabels = hadName && hadUID
	return opts
}

// jobStatusValidationOptions: with JobManagedBy (on by default) Kubernetes
// checks the status transitions a Job's controller makes, each rule only
// when the fields it looks at changed.
func jobStatusValidationOptions(j, old *batch.Job) batchvalidation.JobStatusValidationOptions {
	if !utilfeature.DefaultFeatureGate.Enabled(features.JobManagedBy) {
		return batchvalidation.JobStatusValidationOptions{}
	}
	changed := func(a, b bool) bool { return a != b }
	cond := func(jb *batch.Job, t batch.JobConditionType) bool {
		return batchvalidation.IsConditionTrue(jb.Status.Conditions, t)
	}
	indexed := kptr.Deref(j.Spec.CompletionMode, batch.NonIndexedCompletion) == batch.IndexedCompletion
	finished := changed(batchvalidation.IsJobFinished(old), batchvalidation.IsJobFinished(j))
	complete := changed(batchvalidation.IsJobComplete(old), batchvalidation.IsJobComplete(j))
	failed := changed(batchvalidation.IsJobFailed(old), batchvalidation.IsJobFailed(j))
	failureTarget := changed(cond(old, batch.JobFailureTarget), cond(j, batch.JobFailureTarget))
	successMet := changed(cond(old, batch.JobSuccessCriteriaMet), cond(j, batch.JobSuccessCriteriaMet))
	completedIdx := old.Status.CompletedIndexes != j.Status.CompletedIndexes
	failedIdx := !kptr.Equal(old.Status.FailedIndexes, j.Status.FailedIndexes)
	active := old.Status.Active != j.Status.Active
	start := !kptr.Equal(old.Status.StartTime, j.Status.StartTime)
	completion := !kptr.Equal(old.Status.CompletionTime, j.Status.CompletionTime)
	uncounted := !equality.Semantic.DeepEqual(old.Status.UncountedTerminatedPods, j.Status.UncountedTerminatedPods)
	ready := !kptr.Equal(old.Status.Ready, j.Status.Ready)
	terminating := !kptr.Equal(old.Status.Terminating, j.Status.Terminating)
	zeroSuspended := kptr.Equal(j.Spec.Suspend, kptr.To(true)) && kptr.Equal(j.Spec.Completions, kptr.To[int32](0))
	resuming := cond(old, batch.JobSuspended) && batchvalidation.IsConditionFalse(j.Status.Conditions, batch.JobSuspended)
	return batchvalidation.JobStatusValidationOptions{
		RejectDecreasingSucceededCounter:             !indexed || !kptr.Equal(j.Spec.Completions, j.Spec.Parallelism),
		RejectDecreasingFailedCounter:                true,
		RejectDisablingTerminalCondition:             true,
		RejectInvalidCompletedIndexes:                completedIdx,
		RejectInvalidFailedIndexes:                   failedIdx,
		RejectCompletedIndexesForNonIndexedJob:       completedIdx,
		RejectFailedIndexesForNoBackoffLimitPerIndex: failedIdx,
		RejectFailedIndexesOverlappingCompleted:      failedIdx || completedIdx,
		RejectFailedJobWithoutFailureTarget:          failed || failedIdx,
		RejectCompleteJobWithoutSuccessCriteriaMet:   complete || successMet,
		RejectFinishedJobWithActivePods:              finished || active,
		RejectFinishedJobWithoutStartTime:            (finished || start) && !zeroSuspended,
		RejectFinishedJobWithUncountedTerminatedPods: finished || uncounted,
		RejectStartTimeUpdateForUnsuspendedJob:       start && !resuming,
		RejectCompletionTimeBeforeStartTime:          start || completion,
		RejectMutatingCompletionTime:                 true,
		RejectNotCompleteJobWithCompletionTime:       complete || completion,
		RejectCompleteJobWithoutCompletionTime:       complete || completion,
		RejectCompleteJobWithFailedCondition:         complete || failed,
		RejectCompleteJobWithFailureTargetCondition:  complete || failureTarget,
		RejectMoreReadyThanActivePods:                ready || active,
		RejectFinishedJobWithTerminatingPods:         finished || terminating,
	}
}

var cronJobOps = kindOps[*batch.CronJob]{
	newInternal: func() *batch.CronJob { return &batch.CronJob{} },
	create: func(cj *batch.CronJob) {
		cj.Status = batch.CronJobStatus{}
		cj.Generation = 1
		jobutil.DropDisabledFields(&cj.Spec.JobTemplate.Spec, nil)
		podutil.DropDisabledTemplateFields(&cj.Spec.JobTemplate.Spec.Template, nil)
	},
	update: func(cj, old *batch.CronJob) {
		cj.Status = old.Status
		jobutil.DropDisabledFields(&cj.Spec.JobTemplate.Spec, &old.Spec.JobTemplate.Spec)
		podutil.DropDisabledTemplateFields(&cj.Spec.JobTemplate.Spec.Template, &old.Spec.JobTemplate.Spec.Template)
		if !equality.Semantic.DeepEqual(cj.Spec, old.Spec) {
			cj.Generation = old.Generation + 1
		}
	},
	validate: func(cj *batch.CronJob) field.ErrorList {
		return batchvalidation.ValidateCronJobCreate(cj, templateOpts(&cj.Spec.JobTemplate.Spec.Template, nil))
	},
	validateUpdate: func(cj, old *batch.CronJob) field.ErrorList {
		return batchvalidation.ValidateCronJobUpdate(cj, old,
			templateOpts(&cj.Spec.JobTemplate.Spec.Template, &old.Spec.JobTemplate.Spec.Template))
	},
	status:         func(cj, old *batch.CronJob) { cj.Spec = old.Spec },
	validateStatus: func(_, _ *batch.CronJob) field.ErrorList { return nil },
}

var podDisruptionBudgetOps = kindOps[*policy.PodDisruptionBudget]{
	newInternal: func() *policy.PodDisruptionBudget { return &policy.PodDisruptionBudget{} },
	create: func(p *policy.PodDisruptionBudget) {
		p.Status = policy.PodDisruptionBudgetStatus{}
		p.Generation = 1
	},
	update: func(p, old *policy.PodDisruptionBudget) {
		p.Status = old.Status
		if !equality.Semantic.DeepEqual(old.Spec, p.Spec) {
			p.Generation = old.Generation + 1
		}
	},
	validate: func(p *policy.PodDisruptionBudget) field.ErrorList {
		return policyvalidation.ValidatePodDisruptionBudget(p, policyvalidation.PodDisruptionBudgetValidationOptions{})
	},
	validateUpdate: func(p, old *policy.PodDisruptionBudget) field.ErrorList {
		return policyvalidation.ValidatePodDisruptionBudget(p, policyvalidation.PodDisruptionBudgetValidationOptions{
			AllowInvalidLabelValueInSelector: old.Spec.Selector != nil &&
				metav1validation.LabelSelectorHasInvalidLabelValue(old.Spec.Selector),
		})
	},
	status: func(p, old *policy.PodDisruptionBudget) { p.Spec = old.Spec },
	validateStatus: func(p, old *policy.PodDisruptionBudget) field.ErrorList {
		return policyvalidation.ValidatePodDisruptionBudgetStatusUpdate(p.Status, old.Status, field.NewPath("status"), policyV1)
	},
}
