package volumes

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/client-go/kubernetes"
)

// The kubelet's managers report a missing object with these resources, so
// its messages read `configmap "x" not found` and `secret "x" not found`.
var (
	configMapResource = schema.GroupResource{Resource: "configmap"}
	secretResource    = schema.GroupResource{Resource: "secret"}
)

// sources reads the ConfigMaps and Secrets that volumes and env refer to.
// A missing object is an apierrors NotFound worded like the kubelet's.
type sources interface {
	configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// clientSources GETs each object from the API server.
type clientSources struct {
	client kubernetes.Interface
	tokens *tokenCache // nil: serviceAccountToken sources are skipped
}

func (s clientSources) configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	cm, err := s.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(configMapResource, name)
	}
	if err != nil {
		return nil, fmt.Errorf("getting configmap %s/%s: %w", namespace, name, err)
	}
	return cm, nil
}

func (s clientSources) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	sec, err := s.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(secretResource, name)
	}
	if err != nil {
		return nil, fmt.Errorf("getting secret %s/%s: %w", namespace, name, err)
	}
	return sec, nil
}

// memoSources reads each object once: one refresh round asks the API server
// once per object however many pods and volumes share it.
type memoSources struct {
	next sources
	mu   sync.Mutex
	cms  map[string]memo[*corev1.ConfigMap]
	secs map[string]memo[*corev1.Secret]
}

type memo[T any] struct {
	obj T
	err error
}

func newMemoSources(next sources) *memoSources {
	return &memoSources{next: next, cms: map[string]memo[*corev1.ConfigMap]{}, secs: map[string]memo[*corev1.Secret]{}}
}

func (s *memoSources) configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	key := namespace + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.cms[key]; ok {
		return m.obj, m.err
	}
	obj, err := s.next.configMap(ctx, namespace, name)
	s.cms[key] = memo[*corev1.ConfigMap]{obj, err}
	return obj, err
}

func (s *memoSources) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := namespace + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.secs[key]; ok {
		return m.obj, m.err
	}
	obj, err := s.next.secret(ctx, namespace, name)
	s.secs[key] = memo[*corev1.Secret]{obj, err}
	return obj, err
}

// defaultMode is the mode of files without their own: the volume's
// defaultMode, or 0644 (the API default) when the pod was never defaulted.
func defaultMode(m *int32) int32 {
	if m == nil {
		return 0o644
	}
	return *m
}

func isOptional(b *bool) bool { return b != nil && *b }

// getConfigMap returns the ConfigMap, an empty one when it is missing and
// optional, or the kubelet's error.
func getConfigMap(ctx context.Context, src sources, namespace, name string, optional bool) (*corev1.ConfigMap, error) {
	cm, err := src.configMap(ctx, namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}, nil
		}
		return nil, err
	}
	return cm, nil
}

func getSecret(ctx context.Context, src sources, namespace, name string, optional bool) (*corev1.Secret, error) {
	s, err := src.secret(ctx, namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}, nil
		}
		return nil, err
	}
	return s, nil
}

// configMapPayload is the kubelet's configmap.MakePayload: every key of
// data and binaryData when items is empty, else each item's key at its
// path; a missing item key fails unless the source is optional.
func configMapPayload(items []corev1.KeyToPath, cm *corev1.ConfigMap, mode int32, optional bool) (payload, error) {
	p := make(payload, len(cm.Data)+len(cm.BinaryData))
	if len(items) == 0 {
		for k, v := range cm.Data {
			p[k] = fileProjection{Data: []byte(v), Mode: mode}
		}
		for k, v := range cm.BinaryData {
			p[k] = fileProjection{Data: v, Mode: mode}
		}
		return p, nil
	}
	for _, it := range items {
		var data []byte
		if s, ok := cm.Data[it.Key]; ok {
			data = []byte(s)
		} else if b, ok := cm.BinaryData[it.Key]; ok {
			data = b
		} else {
			if optional {
				continue
			}
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = *it.Mode
		}
		p[it.Path] = fileProjection{Data: data, Mode: m}
	}
	return p, nil
}

// secretPayload is the kubelet's secret.MakePayload.
func secretPayload(items []corev1.KeyToPath, s *corev1.Secret, mode int32, optional bool) (payload, error) {
	p := make(payload, len(s.Data))
	if len(items) == 0 {
		for k, v := range s.Data {
			p[k] = fileProjection{Data: v, Mode: mode}
		}
		return p, nil
	}
	for _, it := range items {
		data, ok := s.Data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("references non-existent secret key: %s", it.Key)
		}
		m := mode
		if it.Mode != nil {
			m = *it.Mode
		}
		p[it.Path] = fileProjection{Data: data, Mode: m}
	}
	return p, nil
}

// projectedPayload merges the sources of a projected volume, later sources
// winning on the same path, and joins the errors of all failing sources,
// as the kubelet does. Sources berth cannot serve (serviceAccountToken,
// clusterTrustBundle, podCertificate) are passed to skipped.
func projectedPayload(ctx context.Context, src sources, pod *corev1.Pod, vs *corev1.ProjectedVolumeSource,
	alloc corev1.ResourceList, skipped func(kind, path string)) (payload, error) {
	mode := defaultMode(vs.DefaultMode)
	p := payload{}
	var errs []error
	for _, s := range vs.Sources {
		var part payload
		var err error
		switch {
		case s.Secret != nil:
			opt := isOptional(s.Secret.Optional)
			var sec *corev1.Secret
			if sec, err = getSecret(ctx, src, pod.Namespace, s.Secret.Name, opt); err == nil {
				part, err = secretPayload(s.Secret.Items, sec, mode, opt)
			}
		case s.ConfigMap != nil:
			opt := isOptional(s.ConfigMap.Optional)
			var cm *corev1.ConfigMap
			if cm, err = getConfigMap(ctx, src, pod.Namespace, s.ConfigMap.Name, opt); err == nil {
				part, err = configMapPayload(s.ConfigMap.Items, cm, mode, opt)
			}
		case s.DownwardAPI != nil:
			part, err = downwardAPIPayload(s.DownwardAPI.Items, pod, mode, alloc)
		case s.ServiceAccountToken != nil:
			if !canProjectTokens(src) {
				skipped("serviceAccountToken", s.ServiceAccountToken.Path)
				continue
			}
			part, err = tokenPayload(ctx, src, pod, s.ServiceAccountToken, mode)
		case s.ClusterTrustBundle != nil:
			skipped("clusterTrustBundle", s.ClusterTrustBundle.Path)
		case s.PodCertificate != nil:
			skipped("podCertificate", s.PodCertificate.CredentialBundlePath)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for k, v := range part {
			p[k] = v
		}
	}
	if len(errs) > 0 {
		return nil, utilerrors.NewAggregate(errs)
	}
	return p, nil
}
