package agent

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/agent/envvars"
	"github.com/berth-dev/berth/internal/agent/volumes"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// startEnvInformers starts the Service and Node informers the container
// environment needs (the kubelet's serviceLister and nodeLister), and
// returns what stops them. Pods do not wait for them: until Services are
// listed once, containers wait with envvars.ErrServicesNotSynced, as on a
// kubelet. The Node informer watches this node only, as the kubelet's
// does: the Node authorizer lets a node read its own Node object and no
// other (AuthorizeNodeWithSelectors: on by default since Kubernetes 1.32).
func (a *Agent) startEnvInformers(ctx context.Context) (shutdown func()) {
	f := informers.NewSharedInformerFactory(a.cfg.Client, 0)
	svc := f.Core().V1().Services()
	a.services, a.servicesSynced, a.servicesDone = svc.Lister(), svc.Informer().HasSynced, svc.Informer().HasSyncedChecker()
	own := informers.NewSharedInformerFactoryWithOptions(a.cfg.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector(metav1.ObjectNameField, a.cfg.NodeName).String()
	}))
	a.nodes = own.Core().V1().Nodes().Lister()
	f.Start(ctx.Done())
	own.Start(ctx.Done())
	return func() { f.Shutdown(); own.Shutdown() }
}

// containerEnv builds a container's environment with envvars (Kubernetes'
// order and precedence, service links, downward API) and records it with
// its origins for `berth explain env`. podIP is the sandbox's IP; a
// hostNetwork pod gets the node's.
func (a *Agent) containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIP string, imageEnv []string) (*envvars.Env, error) {
	in := envvars.Input{Pod: pod, Container: c, NodeIPs: []string{a.nodeIP},
		Sources: clientSources{a}, ImageEnv: imageEnv}
	if podIP != "" {
		in.PodIPs = []string{podIP}
	}
	if pod.Spec.HostNetwork {
		in.PodIPs = in.NodeIPs
	}
	if a.servicesDone != nil && !a.servicesSynced() {
		// The first pods of a start can get here before the Services'
		// first list: wait for it a little rather than fail the container
		// with the kubelet's "services have not yet been read" error.
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cache.WaitFor(wctx, "services", a.servicesDone)
		cancel()
	}
	if a.services != nil && a.servicesSynced != nil && a.servicesSynced() {
		in.ServicesSynced = true
		svcs, err := a.services.List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("failed to list services when setting up env vars")
		}
		in.Services = svcs
	}
	if needsNode(c) {
		in.Allocatable = a.allocatable(ctx)
	}
	podDir := a.podDir(pod)
	in.VolumePath = func(name string) (string, bool) { return volumes.VolumePath(pod, podDir, name) }
	env, err := envvars.Build(ctx, in)
	if err != nil {
		return nil, err
	}
	rec := envvars.NewRecord(pod.Namespace, pod.Name, string(pod.UID), c.Name, env, time.Now())
	// The record (written with fsync) is for explain env; the container
	// need not wait for it. The queue keeps writes and removals in order.
	key := pod.Namespace + "/" + pod.Name
	a.records.do(func() {
		if err := envvars.WriteRecord(a.cfg.DataDir, rec); err != nil {
			a.log.Warn("writing the env record", "pod", key, "container", c.Name, "err", err)
		}
	})
	return env, nil
}

// needsNode: only resourceFieldRef reads the Node.
func needsNode(c *corev1.Container) bool {
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
			return true
		}
	}
	return false
}

// allocatable is the Node's status.allocatable, from the informer or else
// the API (the kubelet's getNodeAnyWay); nil when neither has it.
func (a *Agent) allocatable(ctx context.Context) corev1.ResourceList {
	if a.nodes != nil {
		if n, err := a.nodes.Get(a.cfg.NodeName); err == nil {
			return n.Status.Allocatable
		}
	}
	n, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return n.Status.Allocatable
}

// clientSources reads ConfigMaps and Secrets with GET, as the kubelet's
// Get-based managers do.
type clientSources struct{ a *Agent }

// A missing object reads `configmap "x" not found` (singular), as the
// kubelet's managers say it.
func (s clientSources) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	cm, err := s.a.cfg.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmap"}, name)
	}
	return cm, err
}

func (s clientSources) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	sec, err := s.a.cfg.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secret"}, name)
	}
	return sec, err
}

// execLimit is the kernel's limit on exec's arguments and environment
// (fs/exec.c): a quarter of the stack limit, at least 128 KiB, at most
// 6 MiB. Containers inherit the runtime's stack limit, which is ours.
func execLimit() int {
	const minLimit, maxLimit = 128 << 10, 6 << 20
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_STACK, &rl); err != nil {
		return 2 << 20
	}
	if rl.Cur == ^uint64(0) || rl.Cur/4 > maxLimit {
		return maxLimit
	}
	return max(int(rl.Cur/4), minLimit)
}

// recordQueue runs record writes and removals one after the other, in the
// order they were asked for, off the pods' critical path.
type recordQueue struct {
	mu   sync.Mutex
	tail chan struct{} // closed when the last queued job is done
}

func (q *recordQueue) do(job func()) {
	q.mu.Lock()
	prev, done := q.tail, make(chan struct{})
	q.tail = done
	q.mu.Unlock()
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		job()
	}()
}

// wait returns once every job queued so far is done.
func (q *recordQueue) wait() {
	q.mu.Lock()
	t := q.tail
	q.mu.Unlock()
	if t != nil {
		<-t
	}
}
