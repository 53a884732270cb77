package benchkit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/cri"
)

const (
	// NodeReadyTimeout is how long a berth server with its agent gets to
	// write its kubeconfig: containerd's start and the pause image import
	// included.
	NodeReadyTimeout = 2 * time.Minute
	teardownTimeout  = 3 * time.Minute
)

// NodeConfig says what berth to start and how to talk to it.
type NodeConfig struct {
	Bin       string // the berth binary
	DataDir   string // its --data-dir; short: containerd's socket lives under it
	CIDR      string // its --cluster-cidr (see PickClusterCIDR)
	Namespace string // where the benchmark's pods go
	UserAgent string // the API clients'
}

// Node is berth running with its agent and containerd, with what the
// benchmark talks to it with.
type Node struct {
	NodeConfig
	Server         *Server
	Clients                    // berth's API
	CRI            *cri.Client // berth's containerd, through the same CRI client berth's agent uses
	Sock           string      // containerd's socket
	ContainerdPID  int         // berth's containerd child; 0 when not found
	RuntimeVersion string      // containerd's name and version, from CRI

	mu     sync.Mutex
	uids   map[string][]string // pod UIDs used, by owner ("berth", "floor"): their cgroups are removed at the end
	bridge string              // the CNI bridge, once a pod made it
}

// StartNode starts berth and connects to its API and to its containerd.
// On error the returned node (if not nil) still needs Teardown.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	srv, err := StartServer(ctx, cfg.Bin, cfg.DataDir, NodeReadyTimeout, "--cluster-cidr", cfg.CIDR)
	if err != nil {
		return nil, err
	}
	n := &Node{NodeConfig: cfg, Server: srv, Sock: filepath.Join(cfg.DataDir, "containerd", "containerd.sock")}
	n.ContainerdPID = ChildOf(srv.Pid(), "containerd")
	if n.Clients, err = NewClients(srv.Kubeconfig, cfg.UserAgent); err != nil {
		return n, err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if n.CRI, err = cri.Dial(dctx, "unix://"+n.Sock); err != nil {
		return n, fmt.Errorf("connecting to berth's containerd: %w", err)
	}
	v, err := n.CRI.Version(dctx)
	if err != nil {
		return n, err
	}
	n.RuntimeVersion = v.RuntimeName + " " + v.RuntimeVersion
	return n, nil
}

// AddUID notes a pod UID whose cgroups Teardown removes; owner ("berth",
// "floor") names who ran it in Teardown's report.
func (n *Node) AddUID(owner, uid string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.uids == nil {
		n.uids = map[string][]string{}
	}
	n.uids[owner] = append(n.uids[owner], uid)
}

// NoteBridge remembers the CNI bridge serving the pod range (it exists
// once a pod ran), so that Teardown can remove it.
func (n *Node) NoteBridge() {
	if name := bridgeFor(n.CIDR); name != "" {
		n.mu.Lock()
		n.bridge = name
		n.mu.Unlock()
	}
}

// Teardown removes everything, in an order that leaves nothing behind:
// the benchmark's pods through the API (so the agent stops them as it
// should), then whatever sandbox is left in the runtime, then beforeStop
// (if not nil: what else the benchmark left in the runtime), then the
// server (its containerd with it), then the CNI bridge and the pods'
// cgroups, which outlive both. The data dir itself is the caller's.
func (n *Node) Teardown(beforeStop func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), teardownTimeout)
	defer cancel()
	var errs []error
	if n.API != nil {
		Progress("cleanup: deleting berth's pods")
		if err := DeleteAllPods(ctx, n.API, n.Namespace); err != nil {
			errs = append(errs, err)
		}
	}
	if n.CRI != nil {
		if err := removeAllSandboxes(ctx, n.CRI); err != nil {
			errs = append(errs, err)
		}
		if beforeStop != nil {
			if err := beforeStop(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		n.CRI.Close()
	}
	Progress("cleanup: stopping berth (SIGTERM)")
	var early *EarlyExitError
	if _, err := n.Server.Stop(); err != nil && !errors.As(err, &early) {
		errs = append(errs, fmt.Errorf("berth server %w; its log:\n%s", err, n.Server.LogTail()))
	}
	if err := n.stopContainerd(); err != nil {
		errs = append(errs, err)
	}
	if err := n.removeBridge(); err != nil {
		errs = append(errs, err)
	}
	n.removeCgroups()
	return errors.Join(errs...)
}

// stopContainerd makes sure berth's containerd went with the server
// (berth stops it), since pods no longer run there; it kills it if not.
func (n *Node) stopContainerd() error {
	if n.ContainerdPID <= 0 {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for Alive(n.ContainerdPID, "containerd") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !Alive(n.ContainerdPID, "containerd") {
		return nil
	}
	_ = syscall.Kill(n.ContainerdPID, syscall.SIGKILL)
	return fmt.Errorf("berth's containerd (pid %d) outlived the server; killed", n.ContainerdPID)
}

// removeBridge deletes the CNI bridge the pods used: the bridge plugin
// creates it and nothing removes it once the pods and the server are gone.
func (n *Node) removeBridge() error {
	n.mu.Lock()
	name := n.bridge
	n.mu.Unlock()
	if name == "" {
		name = bridgeFor(n.CIDR)
	}
	if name == "" || bridgeFor(n.CIDR) != name {
		return nil
	}
	return deleteLink(name)
}

// removeCgroups removes the pods' cgroup directories, and reports, per
// owner, how many pods had left any.
func (n *Node) removeCgroups() {
	n.mu.Lock()
	uids := maps.Clone(n.uids)
	n.mu.Unlock()
	for _, owner := range slices.Sorted(maps.Keys(uids)) {
		if left := removePodCgroups(uids[owner]); left > 0 {
			Progress("cleanup: %s left the cgroup directories (/sys/fs/cgroup/*/berth/pod<uid>) of %d of its %d pods; removed",
				owner, left, len(uids[owner]))
		}
	}
}
