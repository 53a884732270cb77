package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agent/hooks"
	"github.com/berth-dev/berth/internal/agent/prober"
	"github.com/berth-dev/berth/internal/cri"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/kubernetes/pkg/security/apparmor"
)

// Config is what the agent needs. Client, Runtime, NodeName and DataDir
// are required.
type Config struct {
	Client   kubernetes.Interface
	Runtime  cri.Runtime
	NodeName string
	DataDir  string // pod logs and files live under DataDir/pods
	PodCIDR  string
	// NodeIP is status.hostIP (default: the first non-loopback IPv4).
	NodeIP string
	// ClusterDNS is the kubelet's --cluster-dns: the nameservers of
	// ClusterFirst pods (the kube-dns ClusterIP). Empty: ClusterFirst pods
	// fall back to Default with a MissingClusterDNS event, as the kubelet.
	ClusterDNS []string
	// KubeletPort is published in Node.status.daemonEndpoints (streaming).
	KubeletPort int
	// Images ensures a container's image is present (pull policy,
	// credentials, back-off). Default: a manager over Runtime.
	Images ImageEnsurer
	// Volumes prepares volumes (emptyDir, configMap, secret, …); nil: none.
	Volumes VolumeMounter
	Log     *slog.Logger
}

// Agent is the node agent. Create it with New, start it with Run.
type Agent struct {
	cfg         Config
	log         *slog.Logger
	nodeIP      string
	kubeletPort int
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	pods        listerscorev1.PodLister
	ready       chan struct{}
	volumes     VolumeMounter
	probes      *prober.Manager
	hooks       hookRunner
	// hooksDir keeps the hooks' run records (berth explain hooks).
	hooksDir string
	// secrets holds each container's secret-sourced env values, by pod
	// and container name, to mask hook output.
	secrets map[types.UID]map[string][]string
	// services and nodes feed the container environment (service links,
	// allocatable for resourceFieldRef); see env.go.
	services       listerscorev1.ServiceLister
	servicesSynced cache.InformerSynced
	// servicesDone is servicesSynced as a channel, waited for before the
	// first sync: a container created before the Services are known would
	// fail with CreateContainerConfigError until they are.
	servicesDone cache.DoneChecker
	nodes        listerscorev1.NodeLister

	// images caches each image's user and ENV by image ID.
	images imageConfigCache
	// records writes env records off the critical path, in order.
	records recordQueue
	// runSince is when Run began: a pod created later than that (by more
	// than the API's one-second timestamps and some skew) has nothing in the runtime
	// that this agent did not put there.
	runSince time.Time

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	backoff *backoff
	// lastPLEG is each container's state at the previous relist.
	lastPLEG map[string]string
	// rtName is the runtime's name for container IDs ("containerd").
	rtName string
	// appArmor checks pods' AppArmor profiles against the host (admit.go).
	appArmor apparmor.Validator
}

// runtimeName is the CRI runtime's name, asked once.
func (a *Agent) runtimeName(ctx context.Context) string {
	a.mu.Lock()
	name := a.rtName
	a.mu.Unlock()
	if name != "" {
		return name
	}
	name = "containerd"
	if v, err := a.cfg.Runtime.Version(ctx); err == nil && v.RuntimeName != "" {
		name = v.RuntimeName
		a.mu.Lock()
		a.rtName = name
		a.mu.Unlock()
	}
	return name
}

// New validates cfg.
func New(cfg Config) (*Agent, error) {
	if cfg.Client == nil || cfg.Runtime == nil || cfg.NodeName == "" || cfg.DataDir == "" {
		return nil, errors.New("agent: Client, Runtime, NodeName and DataDir are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	a := &Agent{cfg: cfg, log: cfg.Log, nodeIP: cfg.NodeIP, kubeletPort: cfg.KubeletPort,
		ready: make(chan struct{}), workers: map[types.UID]*podWorker{}, backoff: newBackoff(), lastPLEG: map[string]string{}}
	a.volumes = cfg.Volumes
	a.appArmor = apparmor.NewValidator()
	pm, err := prober.New(prober.Config{Runtime: cfg.Runtime, KubeletVersion: KubeletVersion, Log: cfg.Log,
		OnChange: func(uid types.UID) {
			a.mu.Lock()
			w := a.workers[uid]
			a.mu.Unlock()
			if w != nil {
				w.poke()
			}
		}})
	if err != nil {
		return nil, err
	}
	a.probes = pm
	a.hooksDir = hooks.DirIn(cfg.DataDir)
	a.hooks = hooks.New(hooks.Config{Runtime: cfg.Runtime, UserAgent: "kube-lifecycle/" + kubeletMinor(), Dir: a.hooksDir, Log: cfg.Log})
	if a.nodeIP == "" {
		a.nodeIP = hostIP()
	}
	if cfg.Images == nil {
		a.cfg.Images = &simpleImages{rt: cfg.Runtime}
	}
	return a, nil
}

// hookRunner runs lifecycle hooks and keeps their records.
type hookRunner interface {
	Run(ctx context.Context, req hooks.Request) hooks.Result
	Forget(podUID types.UID)
}

// kubeletMinor is "<major>.<minor>" of KubeletVersion, for User-Agents.
func kubeletMinor() string {
	v := strings.TrimPrefix(KubeletVersion, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return v
	}
	return parts[0] + "." + parts[1]
}

// Ready is closed once the node is registered and pods are being synced.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Run registers the node and syncs pods until ctx ends. Containers keep
// running after Run returns: a later Run adopts them.
func (a *Agent) Run(ctx context.Context) error {
	a.runSince = time.Now()
	a.broadcaster = record.NewBroadcaster(record.WithContext(ctx))
	a.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.cfg.Client.CoreV1().Events("")})
	defer a.broadcaster.Shutdown()
	a.recorder = a.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName})
	a.probes.SetRecorder(a.recorder)
	probeCtx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	go func() { _ = a.probes.Run(probeCtx) }()
	rot := &logRotator{rt: a.cfg.Runtime, maxSize: logMaxSize, maxFiles: logMaxFiles, now: time.Now, warn: a.log.Warn}
	go func() { _ = rot.Run(probeCtx, logMonitorInterval) }()

	for {
		if err := a.registerNode(ctx); err == nil {
			break
		} else if ctx.Err() != nil {
			return nil
		} else {
			a.log.Warn("node registration failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	factory := informers.NewSharedInformerFactoryWithOptions(a.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
		}))
	podInformer := factory.Core().V1().Pods()
	a.pods = podInformer.Lister()
	go a.runEviction(probeCtx, evictionInterval)
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { a.enqueue(obj) },
		UpdateFunc: func(old, obj any) {
			o, ok1 := old.(*corev1.Pod)
			n, ok2 := obj.(*corev1.Pod)
			if ok1 && ok2 {
				// Status-only changes (mostly the agent's own writes) need
				// no sync, as in the kubelet, where they are mere reconciles.
				if !podChanged(o, n) {
					return
				}
				if o.DeletionTimestamp == nil && n.DeletionTimestamp != nil {
					a.terminateUID(n.UID, n.Namespace, n.Name)
					return
				}
			}
			a.enqueue(obj)
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				a.terminateUID(p.UID, p.Namespace, p.Name)
			}
		},
	})
	factory.Start(ctx.Done())
	stopEnvInformers := a.startEnvInformers(ctx)
	defer stopEnvInformers()
	// WaitFor, not WaitForCacheSync: no 100 ms polling before the node is ready.
	if !cache.WaitFor(ctx, "", podInformer.Informer().HasSyncedChecker(), a.servicesDone) {
		return nil
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.heartbeat(ctx) }()
	go func() { defer wg.Done(); a.relistLoop(ctx) }()
	close(a.ready)
	<-ctx.Done()
	factory.Shutdown()
	wg.Wait() // no relist can start a worker from here on
	a.stopWorkers()
	a.records.wait()
	return nil
}

func (a *Agent) enqueue(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.syncUID(pod.UID, pod.Namespace, pod.Name)
}

// syncUID asks the pod's worker to sync, starting the worker if needed.
func (a *Agent) syncUID(uid types.UID, namespace, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.workers[uid]
	if !ok {
		w = newPodWorker(a, uid, namespace, name)
		a.workers[uid] = w
		go w.run()
	}
	w.poke()
}

// terminateUID tells the pod's worker the pod is being deleted, which
// cancels what it is doing and begins termination at once.
func (a *Agent) terminateUID(uid types.UID, namespace, name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.workers[uid]
	if !ok {
		w = newPodWorker(a, uid, namespace, name)
		a.workers[uid] = w
		go w.run()
	}
	w.terminateNow()
}

func (a *Agent) workerDone(uid types.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.workers, uid)
}

func (a *Agent) stopWorkers() {
	a.mu.Lock()
	ws := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		ws = append(ws, w)
	}
	a.mu.Unlock()
	for _, w := range ws {
		w.stop()
	}
}

// podDir is where a pod's logs and agent-written files live.
func (a *Agent) podDir(pod *corev1.Pod) string {
	return a.podDirOf(pod.Namespace, pod.Name, pod.UID)
}

func (a *Agent) podDirOf(namespace, name string, uid types.UID) string {
	return filepath.Join(a.cfg.DataDir, "pods", fmt.Sprintf("%s_%s_%s", namespace, name, uid))
}

// GetPod returns a pod bound to this node from the informer cache, for the
// kubelet endpoint.
func (a *Agent) GetPod(namespace, name string) (*corev1.Pod, error) {
	select {
	case <-a.ready:
	default:
		return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
	}
	return a.pods.Pods(namespace).Get(name)
}

// podChanged reports whether anything but status changed.
func podChanged(old, pod *corev1.Pod) bool {
	return !equality.Semantic.DeepEqual(old.Spec, pod.Spec) ||
		!equality.Semantic.DeepEqual(old.Labels, pod.Labels) ||
		!equality.Semantic.DeepEqual(old.Annotations, pod.Annotations) ||
		!equality.Semantic.DeepEqual(old.DeletionTimestamp, pod.DeletionTimestamp) ||
		!equality.Semantic.DeepEqual(old.DeletionGracePeriodSeconds, pod.DeletionGracePeriodSeconds) ||
		old.UID != pod.UID || gateConditionsChanged(old, pod)
}

// gateConditionsChanged: another controller set a readiness gate's
// condition, which the Ready condition depends on.
func gateConditionsChanged(old, pod *corev1.Pod) bool {
	for _, rg := range pod.Spec.ReadinessGates {
		o, n := findCondition(old.Status.Conditions, rg.ConditionType), findCondition(pod.Status.Conditions, rg.ConditionType)
		if (o == nil) != (n == nil) || (o != nil && o.Status != n.Status) {
			return true
		}
	}
	return false
}
