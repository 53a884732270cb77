package main

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// namespace holds every object the benchmark creates.
const namespace = "bench-api"

// unscheduled is a scheduler name nobody answers to.
const unscheduled = "bench-api-unscheduled"

func podName(i int) string { return fmt.Sprintf("web-%05d", i) }

func configMapName(worker, i int) string { return fmt.Sprintf("cm-%02d-%06d", worker, i) }

// pod is what a small web deployment's pod looks like: one container with
// an image, environment (plain and downward API), ports, resources and a
// readiness probe, and the usual labels.
func pod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: podName(i),
			Labels: map[string]string{
				"app.kubernetes.io/name":      "web",
				"app.kubernetes.io/component": "frontend",
				"app.kubernetes.io/version":   "1.27.3",
				"shard":                       strconv.Itoa(i % 10),
			},
			Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
		},
		Spec: corev1.PodSpec{
			// No scheduler acts on these pods (berth's binder, like
			// kube-scheduler, only takes its own): the benchmark measures
			// the API server alone on both sides, not a scheduler's
			// status updates and events.
			SchedulerName: unscheduled,
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "registry.example.com/shop/web:1.27.3",
				Args:  []string{"--listen=:8080", "--metrics=:9090"},
				Ports: []corev1.ContainerPort{
					{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
					{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
				},
				Env: []corev1.EnvVar{
					{Name: "LOG_LEVEL", Value: "info"},
					{Name: "DATABASE_URL", Value: "postgres://shop@db.shop.svc:5432/shop?sslmode=disable"},
					{Name: "CACHE_TTL", Value: "30s"},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("100m"),
						corev1.ResourceMemory: resource.MustParse("128Mi"),
					},
					Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
						Path: "/healthz", Port: intstr.FromString("http"),
					}},
					PeriodSeconds: 5,
				},
			}},
		},
	}
}

// configMap is a small application configuration.
func configMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:   name,
			Labels: map[string]string{"app.kubernetes.io/name": "web"},
		},
		Data: map[string]string{
			"LOG_LEVEL": "info",
			"app.properties": "listen=:8080\nmetrics=:9090\ncache.ttl=30s\n" +
				"db.url=postgres://shop@db.shop.svc:5432/shop\nfeature.checkout-v2=true\n",
		},
	}
}
