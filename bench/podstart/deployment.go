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
	sel := map[string]string{"app": deploymentName}
	tmpl := benchPod("", b.img.Ref(imageTag))
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: deploymentName},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(n)),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: tmpl.Spec},
		},
	}
	w, err := b.e.Watch.AppsV1().Deployments(namespace).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", deploymentName).String()})
	if err != nil {
		return 0, fmt.Errorf("watching deployments: %w", err)
	}
	defer w.Stop()
	start := time.Now()
	if _, err := deploys.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return 0, fmt.Errorf("creating deployment %s: %w", deploymentName, err)
	}
	timeout := time.After(startTimeout)
	var took time.Duration
wait:
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, fmt.Errorf("deployment %s: the watch ended", deploymentName)
			}
			if got, isDeploy := ev.Object.(*appsv1.Deployment); isDeploy && ev.Type != watch.Deleted && got.Status.ReadyReplicas == int32(n) {
				took = time.Since(start)
				break wait
			}
		case <-timeout:
			return 0, fmt.Errorf("deployment %s: not %d ready replicas within %v", deploymentName, n, startTimeout)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	benchkit.Progress("berth: deployment of %d replicas ready %s after its create call; deleting it", n, benchkit.Dur(took))
	if err := deploys.Delete(ctx, deploymentName, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)}); err != nil {
		return 0, fmt.Errorf("deleting deployment %s: %w", deploymentName, err)
	}
	deadline := time.Now().Add(goneTimeout)
	for {
		pods, err := b.pods.List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
		if err == nil && len(pods.Items) == 0 {
			return took, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("deployment %s: pods still there %v after its deletion", deploymentName, goneTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
