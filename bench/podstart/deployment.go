package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

const deploymentName = "bench-deploy"

// deployment creates one Deployment of n replicas of the benchmark's pod
// and measures from the create call until its status reports n ready
// replicas (the deployment, replicaset and binder controllers included:
// Kubernetes' own), then deletes it and waits until its pods are gone.
func (b *berth) deployment(ctx context.Context, n int) (time.Duration, error) {
	deploys := b.e.API.AppsV1().Deployments(namespace)
	took, err := b.timeDeployment(ctx, func() error {
		_, err := deploys.Create(ctx, benchDeployment(b.img.Ref(imageTag), n), metav1.CreateOptions{})
		return err
	}, func(d *appsv1.Deployment) bool { return d.Status.ReadyReplicas == int32(n) })
	if err != nil {
		return 0, err
	}
	benchkit.Progress("berth: deployment of %d replicas ready %s after its create call; deleting it", n, benchkit.Dur(took))
	return took, b.deleteDeployment(ctx)
}

// rollingUpdate creates a Deployment of n replicas with maxSurge 1 and
// maxUnavailable 1, waits until it is ready (not measured), then changes
// its template and measures until every replica is updated and available
// and no old one is left.
func (b *berth) rollingUpdate(ctx context.Context, n int) (time.Duration, error) {
	deploys := b.e.API.AppsV1().Deployments(namespace)
	d := benchDeployment(b.img.Ref(imageTag), n)
	one := intstr.FromInt32(1)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &one}}
	if _, err := b.timeDeployment(ctx, func() error {
		_, err := deploys.Create(ctx, d, metav1.CreateOptions{})
		return err
	}, func(d *appsv1.Deployment) bool { return d.Status.ReadyReplicas == int32(n) }); err != nil {
		return 0, err
	}
	var gen int64
	b.minAvailable = int32(n)
	took, err := b.timeDeployment(ctx, func() error {
		patch := []byte(`{"spec":{"template":{"metadata":{"annotations":{"bench/rollout":"2"}}}}}`)
		got, err := deploys.Patch(ctx, deploymentName, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err == nil {
			gen = got.Generation
		}
		return err
	}, func(d *appsv1.Deployment) bool {
		st := d.Status
		if st.AvailableReplicas < b.minAvailable {
			b.minAvailable = st.AvailableReplicas
		}
		return gen != 0 && st.ObservedGeneration >= gen && st.UpdatedReplicas == int32(n) &&
			st.AvailableReplicas == int32(n) && st.Replicas == int32(n)
	})
	if err != nil {
		return 0, err
	}
	benchkit.Progress("berth: rolling update of %d replicas (maxSurge 1, maxUnavailable 1) done %s after the template change, "+
		"never fewer than %d available; deleting it", n, benchkit.Dur(took), b.minAvailable)
	if b.minAvailable < int32(n)-1 {
		return 0, fmt.Errorf("rolling update: only %d of %d replicas available at one point, below what maxUnavailable 1 allows", b.minAvailable, n)
	}
	return took, b.deleteDeployment(ctx)
}

func benchDeployment(image string, n int) *appsv1.Deployment {
	sel := map[string]string{"app": deploymentName}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deploymentName},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(n)),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: benchPod("", image).Spec},
		},
	}
}

// timeDeployment runs act and measures from its start until the watch
// shows the Deployment in a state done accepts.
func (b *berth) timeDeployment(ctx context.Context, act func() error, done func(*appsv1.Deployment) bool) (time.Duration, error) {
	w, err := b.e.Watch.AppsV1().Deployments(namespace).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", deploymentName).String()})
	if err != nil {
		return 0, fmt.Errorf("watching deployments: %w", err)
	}
	defer w.Stop()
	start := time.Now()
	if err := act(); err != nil {
		return 0, fmt.Errorf("deployment %s: %w", deploymentName, err)
	}
	timeout := time.After(startTimeout)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, fmt.Errorf("deployment %s: the watch ended", deploymentName)
			}
			if got, isDeploy := ev.Object.(*appsv1.Deployment); isDeploy && ev.Type != watch.Deleted && done(got) {
				return time.Since(start), nil
			}
		case <-timeout:
			return 0, fmt.Errorf("deployment %s: not done within %v", deploymentName, startTimeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// deleteDeployment deletes the Deployment (Background) and waits until the
// garbage collector has removed its pods.
func (b *berth) deleteDeployment(ctx context.Context) error {
	sel := map[string]string{"app": deploymentName}
	if err := b.e.API.AppsV1().Deployments(namespace).Delete(ctx, deploymentName,
		metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		return fmt.Errorf("deleting deployment %s: %w", deploymentName, err)
	}
	deadline := time.Now().Add(goneTimeout)
	for {
		pods, err := b.pods.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
		if err == nil && len(pods.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("deployment %s: pods still there %v after its deletion", deploymentName, goneTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rolloutReplicas is the size of the rolling-update measurement (the
// issue's: 10 replicas, maxSurge 1, maxUnavailable 1).
const rolloutReplicas = 10
