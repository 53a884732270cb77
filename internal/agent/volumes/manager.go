package volumes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DefaultResync is how often Run re-reads the sources of tracked volumes
// when Config.Resync is zero.
const DefaultResync = 10 * time.Second

// Config is what the Manager needs. Client is required.
type Config struct {
	// Client reads ConfigMaps and Secrets, with GET, from each pod's own
	// namespace.
	Client kubernetes.Interface
	// Log receives set-up, refresh and clean-up messages; never a secret's
	// value. Default: discard.
	Log *slog.Logger
	// Resync is how often Run refreshes configMap, secret, projected and
	// downwardAPI volumes. Default: DefaultResync.
	Resync time.Duration
	// Allocatable is the node's allocatable resources: a downwardAPI
	// limits.* file of a container without that limit shows it, and it
	// bounds memory-backed volumes. Default: this host's CPUs, memory and
	// root file system size.
	Allocatable corev1.ResourceList
	// ProjectTokens writes projected serviceAccountToken sources with
	// tokens from the TokenRequest API, renewed before they expire
	// (tokens.go). False: such sources are skipped with a log line.
	ProjectTokens bool
}

// Manager prepares pods' volumes and keeps their configMap, secret,
// projected and downwardAPI volumes up to date. It implements the agent's
// VolumeMounter. Create it with New; it is safe for concurrent use.
type Manager struct {
	src    sources
	log    *slog.Logger
	resync time.Duration
	alloc  corev1.ResourceList
	mnt    mounter
	now    func() time.Time

	tmpfsWarn sync.Once
	kick      chan struct{}

	mu    sync.Mutex
	pods  map[types.UID]*podVolumes
	dirty map[types.UID]bool // pods whose downward API inputs changed
}

// podVolumes is what the Manager knows of one pod. mu serialises the
// pod's file system work (set-up, refresh, clean-up).
type podVolumes struct {
	uid    types.UID
	podDir string

	mu      sync.Mutex
	pod     *corev1.Pod // latest seen; read and replaced under Manager.mu
	removed bool
	// written is, per volume, the digest of the payload last projected.
	written map[string]string
	// lastErr is, per volume, the last refresh error (logged once).
	lastErr map[string]string
	// noted is the skipped projections already logged, per volume/kind.
	noted map[string]bool
	// prepared holds the host paths Prepare set up, by volume, for the
	// next Mounts call to take without setting them up again; preparedAt
	// and preparedRV say when and for which version of the pod.
	prepared   map[string]string
	preparedAt time.Time
	preparedRV string
}

// preparedFresh is how long volumes Prepare set up count as just set up.
const preparedFresh = 5 * time.Second

// New validates cfg.
func New(cfg Config) (*Manager, error) {
	if cfg.Client == nil {
		return nil, errors.New("volumes: Client is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Allocatable == nil {
		cfg.Allocatable = hostAllocatable()
	}
	return &Manager{
		src:    clientSources{client: cfg.Client, tokens: tokenSourceFor(cfg)},
		log:    cfg.Log,
		resync: cfg.Resync,
		alloc:  cfg.Allocatable,
		mnt:    kernelMounter{},
		now:    time.Now,
		kick:   make(chan struct{}, 1),
		pods:   map[types.UID]*podVolumes{},
		dirty:  map[types.UID]bool{},
	}, nil
}

// Mounts sets up every volume of the pod, as the kubelet does before its
// first container, and returns the CRI mounts of c. It is called before
// each container is created; volumes already set up are refreshed in
// place (emptyDir content is kept). podDir is the pod's own directory.
//
// A volume that cannot be set up gives a *SetUpError (the kubelet's
// FailedMount); a bad mount of c (subPath, unknown volume) a plain error.
// Mounts also starts tracking the pod for Run, as Track does.
func (m *Manager) Mounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podDir string) ([]*runtimeapi.Mount, error) {
	return m.MountsWithEnv(ctx, pod, c, podDir, nil)
}

// MountsWithEnv is Mounts with the container's environment (its pod
// variables, as envvars builds them) for subPathExpr; nil: built here from
// the pod's status, without Service links.
func (m *Manager) MountsWithEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podDir string, env map[string]string) ([]*runtimeapi.Mount, error) {
	if podDir == "" {
		return nil, errors.New("volumes: empty pod directory")
	}
	st := m.track(pod, podDir)
	st.mu.Lock()
	defer st.mu.Unlock()

	// Volumes Prepare set up with the sandbox a moment ago are taken as
	// they are, once: the kubelet, too, sets volumes up before the
	// sandbox and creates the first containers on them; Run refreshes
	// them afterwards.
	prepared := st.prepared
	if prepared != nil && (m.now().Sub(st.preparedAt) > preparedFresh || st.preparedRV != pod.ResourceVersion) {
		prepared = nil
	}
	st.prepared = nil
	paths := make(map[string]string, len(pod.Spec.Volumes))
	vols := make(map[string]*corev1.Volume, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, ok := prepared[v.Name]
		if !ok {
			var err error
			if p, err = m.setUp(ctx, m.src, st, pod, v); err != nil {
				m.log.Warn("volume set-up failed", "pod", podRef(pod), "volume", v.Name, "err", err)
				return nil, &SetUpError{Volume: v.Name, Err: err}
			}
		}
		paths[v.Name] = p
		vols[v.Name] = v
	}

	mounts := make([]*runtimeapi.Mount, 0, len(c.VolumeMounts))
	for i, vm := range c.VolumeMounts {
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("cannot find volume %q to mount into container %q", vm.Name, c.Name)
		}
		hostPath := paths[vm.Name]
		subPath := vm.SubPath
		if vm.SubPathExpr != "" {
			if env == nil {
				var err error
				if env, err = containerEnv(ctx, m.src, pod, c, m.alloc, podDir); err != nil {
					return nil, err
				}
			}
			var err error
			if subPath, err = expandSubPathExpr(vm.SubPathExpr, env); err != nil {
				return nil, err
			}
		}
		if subPath != "" {
			var err error
			if hostPath, err = m.subPath(hostPath, subPath, vm.Name, c.Name, subPathTarget(podDir, vm.Name, c.Name, i)); err != nil {
				return nil, err
			}
		}
		mounts = append(mounts, &runtimeapi.Mount{
			ContainerPath:     vm.MountPath,
			HostPath:          hostPath,
			Readonly:          vm.ReadOnly || alwaysReadOnly(v),
			RecursiveReadOnly: vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly == corev1.RecursiveReadOnlyEnabled,
		})
	}
	return mounts, nil
}

// Prepare sets up every volume of the pod, as the kubelet does before it
// creates the sandbox, so that the next Mounts of the pod (its first
// container, within a few seconds, same pod version) need not do it again.
// It returns the first set-up error; Mounts then tries again and reports.
func (m *Manager) Prepare(ctx context.Context, pod *corev1.Pod, podDir string) error {
	if podDir == "" {
		return errors.New("volumes: empty pod directory")
	}
	st := m.track(pod, podDir)
	st.mu.Lock()
	defer st.mu.Unlock()
	paths := make(map[string]string, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		p, err := m.setUp(ctx, m.src, st, pod, v)
		if err != nil {
			return &SetUpError{Volume: v.Name, Err: err}
		}
		paths[v.Name] = p
	}
	st.prepared, st.preparedAt, st.preparedRV = paths, m.now(), pod.ResourceVersion
	return nil
}

// Track records the latest version of a pod whose volumes live in podDir,
// so that Run refreshes them (downwardAPI files follow label and
// annotation changes). Call it on every pod sync, including for pods
// adopted after a restart, whose containers Mounts never saw. Pods whose
// volumes were never set up are not written to.
func (m *Manager) Track(pod *corev1.Pod, podDir string) { m.track(pod, podDir) }

// Untrack stops refreshing the pod's volumes; its files stay until
// Cleanup.
func (m *Manager) Untrack(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pods, uid)
	delete(m.dirty, uid)
}

func (m *Manager) track(pod *corev1.Pod, podDir string) *podVolumes {
	podDir = filepath.Clean(podDir)
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.pods[pod.UID]
	if !ok || st.podDir != podDir {
		st = &podVolumes{uid: pod.UID, podDir: podDir, written: map[string]string{}, lastErr: map[string]string{}, noted: map[string]bool{}}
		m.pods[pod.UID] = st
	} else if downwardInputsChanged(st.pod, pod) {
		m.dirty[pod.UID] = true
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
	st.pod = pod.DeepCopy()
	return st
}

// currentPod is the latest pod given to Track or Mounts.
func (m *Manager) currentPod(st *podVolumes) *corev1.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	return st.pod
}

// downwardInputsChanged reports whether a downwardAPI file of the pod may
// now read differently.
func downwardInputsChanged(old, cur *corev1.Pod) bool {
	if old == nil || !hasDownwardAPI(cur) {
		return false
	}
	if !maps.Equal(old.Labels, cur.Labels) || !maps.Equal(old.Annotations, cur.Annotations) {
		return true
	}
	resources := func(p *corev1.Pod) []corev1.ResourceRequirements {
		var r []corev1.ResourceRequirements
		for _, c := range p.Spec.InitContainers {
			r = append(r, c.Resources)
		}
		for _, c := range p.Spec.Containers {
			r = append(r, c.Resources)
		}
		return r
	}
	return !apiequality.Semantic.DeepEqual(resources(old), resources(cur))
}

func hasDownwardAPI(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.DownwardAPI != nil {
			return true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.DownwardAPI != nil {
					return true
				}
			}
		}
	}
	return false
}

// alwaysReadOnly: the kubelet mounts API data volumes read-only whatever
// the volumeMount says.
func alwaysReadOnly(v *corev1.Volume) bool {
	return v.ConfigMap != nil || v.Secret != nil || v.DownwardAPI != nil || v.Projected != nil
}

// sourceKind names the volume's type as the pod spec does, e.g.
// "persistentVolumeClaim".
func sourceKind(v *corev1.Volume) string {
	rv := reflect.ValueOf(v.VolumeSource)
	rt := rv.Type()
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			return name
		}
	}
	return "unknown"
}

func podRef(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }
