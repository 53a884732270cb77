// Package proxy does kube-proxy's job for berth: it programs the kernel
// (nftables) so that connections to a Service's ClusterIP:port, from pods
// and from the node, reach a ready endpoint, and are refused at once when
// there is none.
//
// Each berth instance owns one table, named after its data dir, which is
// rebuilt from scratch on start and on every change (one atomic `nft -f`
// transaction, debounced) and deleted on a clean stop. The `nft` binary is
// used rather than a netlink library: the generated script is the whole
// state, readable, golden-tested, and applied atomically by nft itself.
package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// TableName is the nftables table of the berth instance with dataDir:
// "berth-" and a hash of the absolute path, as the instance's CNI network
// and bridge are named, so two instances on one machine never share it.
func TableName(dataDir string) string {
	if abs, err := filepath.Abs(dataDir); err == nil {
		dataDir = abs
	}
	sum := sha256.Sum256([]byte(dataDir))
	return "berth-" + hex.EncodeToString(sum[:4])
}

// Runner applies rulesets; NFT is the real one, tests use a fake.
type Runner interface {
	// Apply runs an nft script as one transaction.
	Apply(ctx context.Context, script string) error
	// DeleteTable removes an ip-family table; an absent table is no error.
	DeleteTable(ctx context.Context, table string) error
}

// NFT runs the nft binary.
type NFT struct {
	// Binary defaults to "nft" from PATH.
	Binary string
}

func (n NFT) bin() (string, error) {
	b := n.Binary
	if b == "" {
		b = "nft"
	}
	p, err := exec.LookPath(b)
	if err != nil {
		return "", fmt.Errorf("the nft command is needed to program Service ClusterIPs: %w (install the nftables package: scripts/install-deps.sh, or apt-get install nftables)", err)
	}
	return p, nil
}

// Apply feeds script to `nft -f -`.
func (n NFT) Apply(ctx context.Context, script string) error {
	bin, err := n.bin()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft -f: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// DeleteTable runs `nft delete table ip TABLE`, preceded by an add so
// that an absent table is not an error.
func (n NFT) DeleteTable(ctx context.Context, table string) error {
	return n.Apply(ctx, fmt.Sprintf("add table ip %s\ndelete table ip %s\n", table, table))
}

// Config configures a Proxy. Client and Table are required.
type Config struct {
	Client kubernetes.Interface
	Table  string
	// Guard, if set, closes the API server's gateway listener to other
	// machines (see Guard).
	Guard *Guard
	// Runner defaults to NFT{}.
	Runner Runner
	// Debounce gathers a burst of changes into one rebuild (default 100ms).
	Debounce time.Duration
	Log      *slog.Logger
}

// Proxy keeps the table in line with Services and Endpoints.
type Proxy struct {
	cfg  Config
	log  *slog.Logger
	mu   sync.Mutex
	last string // the script last applied
}

// New checks cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Client == nil || cfg.Table == "" {
		return nil, errors.New("proxy: Client and Table are required")
	}
	if cfg.Runner == nil {
		cfg.Runner = NFT{}
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Proxy{cfg: cfg, log: cfg.Log.With("component", "proxy", "table", cfg.Table)}, nil
}

// Setup replaces whatever an earlier run left with a table holding no
// Services yet, only the guard. Call it before the guarded listener binds.
func (p *Proxy) Setup(ctx context.Context) error {
	return p.apply(ctx, Rules{Table: p.cfg.Table, Guard: p.cfg.Guard})
}

// Remove deletes the table. It is safe to call more than once.
func (p *Proxy) Remove() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = ""
	if err := p.cfg.Runner.DeleteTable(ctx, p.cfg.Table); err != nil {
		return fmt.Errorf("removing nftables table ip %s: %w", p.cfg.Table, err)
	}
	return nil
}

func (p *Proxy) apply(ctx context.Context, r Rules) error {
	script := Render(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	if script == p.last {
		return nil
	}
	if err := p.cfg.Runner.Apply(ctx, script); err != nil {
		return fmt.Errorf("programming Services in nftables table ip %s: %w", p.cfg.Table, err)
	}
	p.last = script
	return nil
}

// Run watches Services and Endpoints and rebuilds the table after each
// burst of changes until ctx ends; it then deletes the table. A failed
// rebuild is logged and retried with back-off; it never ends Run.
func (p *Proxy) Run(ctx context.Context) error {
	defer func() {
		if err := p.Remove(); err != nil {
			p.log.Warn("leaving the nftables table behind", "err", err)
		}
	}()
	factory := informers.NewSharedInformerFactory(p.cfg.Client, 10*time.Minute)
	svcInf := factory.Core().V1().Services()
	epInf := factory.Core().V1().Endpoints()
	kick := make(chan struct{}, 1)
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify(kick) },
		UpdateFunc: func(oldObj, newObj any) { notify(kick) },
		DeleteFunc: func(any) { notify(kick) },
	}
	r1, _ := svcInf.Informer().AddEventHandler(handler)
	r2, _ := epInf.Informer().AddEventHandler(handler)
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), r1.HasSynced, r2.HasSynced) {
		return nil
	}
	svcLister, epLister := svcInf.Lister(), epInf.Lister()
	sync := func() error {
		svcs, err := svcLister.List(labels.Everything())
		if err != nil {
			return err
		}
		ports := ServicePorts(svcs, func(ns, name string) *corev1.Endpoints {
			ep, err := epLister.Endpoints(ns).Get(name)
			if err != nil {
				return nil
			}
			return ep
		})
		return p.apply(ctx, Rules{Table: p.cfg.Table, Services: ports, Guard: p.cfg.Guard})
	}

	backoff := time.Duration(0)
	notify(kick)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		}
		// Debounce: let the burst settle, then sync once.
		t := time.NewTimer(p.cfg.Debounce + backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		drain(kick)
		if err := sync(); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			backoff = min(max(2*backoff, 500*time.Millisecond), 30*time.Second)
			p.log.Error("rebuilding Service rules failed; retrying", "err", err, "retryIn", backoff)
			notify(kick)
			continue
		}
		backoff = 0
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}
