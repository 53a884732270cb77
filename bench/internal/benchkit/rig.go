package benchkit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
)

// RigConfig says how to set up a Rig.
type RigConfig struct {
	Bin            string // path of the berth binary (the -bin flag)
	TmpPrefix      string // name prefix of the temp dir under /tmp ("bps-")
	RegistryAuth   bool   // the registry wants basic auth (see StartRegistry)
	CIDRSecondByte byte   // the benchmark's pod ranges: 10.<this>.N.0/24
	Namespace      string // where the benchmark's pods go
	UserAgent      string // of the API clients
}

// Rig is what a benchmark on a berth node runs in and against: the berth
// binary, a temp dir, a registry, and (StartNode) berth itself; with a
// stack of what to undo, newest first, when Close is called.
type Rig struct {
	Bin      string // the berth binary, absolute
	Tmp      string // the temp dir: registry, berth's data dir, the benchmark's own files
	Machine  Machine
	Registry *Registry

	cfg RigConfig
	cl  Cleanups
}

// NewRig finds the berth binary, checks the tools the benchmark needs,
// makes the temp dir, describes the machine and starts the registry. On
// error it has undone all of it; otherwise the caller must Close the rig.
func NewRig(ctx context.Context, cfg RigConfig) (*Rig, error) {
	bin, err := FindBinary(cfg.Bin)
	if err != nil {
		return nil, err
	}
	if err := CheckNodeTools(); err != nil {
		return nil, err
	}
	r := &Rig{cfg: cfg, Bin: bin}
	if err := r.setUp(ctx); err != nil {
		return nil, errors.Join(err, r.Close())
	}
	return r, nil
}

func (r *Rig) setUp(ctx context.Context) error {
	// Short: containerd's socket lives under it and unix socket paths are
	// limited to 107 bytes.
	tmp, err := os.MkdirTemp("/tmp", r.cfg.TmpPrefix)
	if err != nil {
		return err
	}
	r.Tmp = tmp
	r.Add("removing "+tmp, func() error { return os.RemoveAll(tmp) })
	r.Machine = DescribeMachine(r.Bin, tmp)
	Progress("machine: %s", r.Machine.OneLine())

	if r.cfg.RegistryAuth {
		Progress("registry: starting docker-registry on loopback, basic auth")
	} else {
		Progress("registry: starting docker-registry on loopback")
	}
	if r.Registry, err = StartRegistry(ctx, filepath.Join(tmp, "registry"), r.cfg.RegistryAuth); err != nil {
		return err
	}
	r.Add("stopping the registry", r.Registry.Stop)
	return nil
}

// StartNode picks a free pod range and starts berth on Tmp/d (see
// StartNode). The caller registers the node's teardown with Add, even
// when an error comes with a node.
func (r *Rig) StartNode(ctx context.Context) (*Node, error) {
	cidr, err := PickClusterCIDR(r.cfg.CIDRSecondByte)
	if err != nil {
		return nil, err
	}
	Progress("berth: starting %s on %s (cluster CIDR %s)", r.Bin, r.Tmp, cidr)
	return StartNode(ctx, NodeConfig{
		Bin: r.Bin, DataDir: filepath.Join(r.Tmp, "d"), CIDR: cidr, Namespace: r.cfg.Namespace, UserAgent: r.cfg.UserAgent,
	})
}

// Add registers fn to be undone by Close; what names it in Close's errors.
func (r *Rig) Add(what string, fn func() error) { r.cl.Add(what, fn) }

// Close undoes everything registered, newest first, and joins the errors.
func (r *Rig) Close() error { return r.cl.Run() }
