package etcd

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.etcd.io/etcd/server/v3/storage/backend"
	"go.uber.org/zap"
)

// Defaults of EmbeddedConfig.
//
// Auto-compaction keeps the last 10000 revisions (etcd checks every five
// minutes) rather than compacting by time like the kube-apiserver's 5m loop:
// the history then stays bounded however busy the node is, and a client
// whose watch dropped during a quiet hour can still resume instead of
// relisting after a 410 Gone.
const (
	DefaultName                    = "berth"
	DefaultAutoCompactionMode      = "revision"
	DefaultAutoCompactionRetention = "10000"
)

// etcd maps its database with a 10 GiB initial size so that it never has
// to remap; bbolt then grows the file in 16 MiB steps, and etcd's
// MAP_POPULATE reads all of it into memory at every start: a node's few
// hundred KiB of objects cost 16 MiB of RSS and page cache. At 0 the map
// starts at the file's size and doubles as it grows (a remap per
// doubling, each waiting for the open read transactions), so the file and
// what is resident stay close to the data. etcd reads this default when a
// server starts; nothing sets it per server.
func init() { backend.InitialMmapSize = 0 }

// EmbeddedConfig configures an embedded etcd server.
type EmbeddedConfig struct {
	// Dir is the data dir (required); etcd keeps its WAL and database under
	// Dir/member. Writes are fsynced before they are acknowledged.
	Dir string
	// Name is the member name (default DefaultName).
	Name string
	// AutoCompactionMode is "revision" (default) or "periodic".
	AutoCompactionMode string
	// AutoCompactionRetention is how many revisions to keep in "revision"
	// mode (default "10000"), or a duration such as "5m" in "periodic"
	// mode; "0" disables auto-compaction.
	AutoCompactionRetention string
	// Logger receives the server's and the client's logs (default: errors
	// only, to stderr). zap.NewNop() silences them.
	Logger *zap.Logger
	// SocketDir, if set, is where the client endpoint listens: a unix
	// socket (SocketDir/etcd.sock) in a directory made 0700, so that only
	// this process's user reaches the store (no loopback port that any
	// local user or hostNetwork pod could dial). Empty: a loopback port.
	SocketDir string
	// QuotaBackendBytes is etcd's database quota (0: etcd's 2 GiB). When
	// it is reached, writes fail with storage.ErrNoSpace until space is
	// freed: berth then compacts and defragments etcd and clears its alarm.
	QuotaBackendBytes int64
	// SpaceCheckInterval is how often a full database is checked for
	// freed space (default 5s).
	SpaceCheckInterval time.Duration
}

// SocketName is the client socket's file name under SocketDir.
const SocketName = "etcd.sock"

// Embedded is an etcd server running in this process, listening on
// loopback ports chosen by the OS, with a client connected to it.
type Embedded struct {
	etcd      *embed.Etcd
	client    *clientv3.Client
	local     *clientv3.Client // calls the server in process, without gRPC
	endpoints []string

	stopping  *atomic.Bool // set by Close: etcd's stop noise is not logged
	quota     int64
	stopSpace context.CancelFunc
	spaceDone chan struct{}
	lg        *zap.Logger
	closeOnce sync.Once
	closeErr  error
}

// StartEmbedded starts etcd on cfg.Dir (created if missing; data already
// there is kept) and returns once it serves requests, or fails when ctx ends
// first. Several servers can run at once, on different dirs.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	stopping := new(atomic.Bool)
	ecfg, lg, err := embedConfig(cfg, stopping)
	if err != nil {
		return nil, err
	}
	e, err := embed.StartEtcd(ecfg)
	if err != nil {
		return nil, fmt.Errorf("etcd: starting embedded server in %s: %w", cfg.Dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		stopping.Store(true)
		e.Close()
		return nil, fmt.Errorf("etcd: starting embedded server in %s: %w", cfg.Dir, err)
	case <-ctx.Done():
		stopping.Store(true)
		e.Close()
		return nil, fmt.Errorf("etcd: waiting for embedded server in %s: %w", cfg.Dir, context.Cause(ctx))
	}

	endpoints := make([]string, 0, len(e.Clients))
	for _, l := range e.Clients {
		if cfg.SocketDir != "" {
			endpoints = append(endpoints, "unix://"+l.Addr().String())
			continue
		}
		endpoints = append(endpoints, "http://"+l.Addr().String())
	}
	client, err := newClient(ctx, endpoints, lg, nil)
	if err != nil {
		stopping.Store(true)
		e.Close()
		return nil, err
	}
	quota := cfg.QuotaBackendBytes
	if quota <= 0 {
		quota = 2 << 30 // etcd's default
	}
	em := &Embedded{etcd: e, client: client, local: v3client.New(e.Server), endpoints: endpoints, stopping: stopping,
		quota: quota, lg: lg, spaceDone: make(chan struct{})}
	interval := cfg.SpaceCheckInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	spaceCtx, stop := context.WithCancel(context.Background())
	em.stopSpace = stop
	go em.reclaimSpace(spaceCtx, interval)
	return em, nil
}

// reclaimSpace recovers from a full database. etcd raises a NOSPACE alarm
// when its quota is reached and keeps refusing writes, even after keys are
// deleted, until the space is reclaimed and the alarm disarmed, which an
// operator does by hand for kube-apiserver's etcd. berth owns its etcd: once
// something was deleted (the revision moved), it compacts all history (open
// watches then resume with a relist), defragments, and disarms the alarm if
// the database is back under 90% of the quota.
func (e *Embedded) reclaimSpace(ctx context.Context, interval time.Duration) {
	defer close(e.spaceDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	var tried int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		alarms, err := e.client.AlarmList(ctx)
		if err != nil || len(alarms.Alarms) == 0 {
			continue
		}
		var nospace []*etcdserverpb.AlarmMember
		for _, a := range alarms.Alarms {
			if a.Alarm == etcdserverpb.AlarmType_NOSPACE {
				nospace = append(nospace, a)
			}
		}
		if len(nospace) == 0 {
			continue
		}
		st, err := e.client.Status(ctx, e.endpoints[0])
		if err != nil || st.Header.Revision == tried {
			continue
		}
		tried = st.Header.Revision
		if _, err := e.client.Compact(ctx, st.Header.Revision, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
			e.lg.Warn("etcd is full: compacting failed", zap.Error(err))
			continue
		}
		if _, err := e.client.Defragment(ctx, e.endpoints[0]); err != nil {
			e.lg.Warn("etcd is full: defragmenting failed", zap.Error(err))
			continue
		}
		st, err = e.client.Status(ctx, e.endpoints[0])
		quota := e.quota
		if err == nil && st.DbSizeQuota > 0 {
			quota = st.DbSizeQuota
		}
		if err != nil || st.DbSize >= quota/10*9 {
			continue
		}
		for _, a := range nospace {
			if _, err := e.client.AlarmDisarm(ctx, (*clientv3.AlarmMember)(a)); err != nil {
				e.lg.Warn("etcd: disarming the NOSPACE alarm failed", zap.Error(err))
			}
		}
	}
}

// embedConfig turns cfg into etcd's configuration.
func embedConfig(cfg EmbeddedConfig, stopping *atomic.Bool) (*embed.Config, *zap.Logger, error) {
	if cfg.Dir == "" {
		return nil, nil, errors.New("etcd: embedded server: no data dir")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.AutoCompactionMode == "" {
		cfg.AutoCompactionMode = DefaultAutoCompactionMode
	}
	if cfg.AutoCompactionRetention == "" {
		cfg.AutoCompactionRetention = DefaultAutoCompactionRetention
	}
	lg := cfg.Logger
	if lg == nil {
		var err error
		if lg, err = errorLogger(); err != nil {
			return nil, nil, fmt.Errorf("etcd: creating the server logger: %w", err)
		}
	}

	ecfg := embed.NewConfig()
	ecfg.Name = cfg.Name
	ecfg.Dir = cfg.Dir
	// Port 0: the OS picks free ports, read back from the listeners. Peers
	// never connect to a single member, so its advertised peer URL keeps
	// port 0, and stays the same across restarts.
	loopback := []url.URL{{Scheme: "http", Host: "127.0.0.1:0"}}
	ecfg.ListenClientUrls, ecfg.AdvertiseClientUrls = loopback, loopback
	if cfg.SocketDir != "" {
		if err := os.MkdirAll(cfg.SocketDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("etcd: creating the socket dir: %w", err)
		}
		// MkdirAll keeps the mode of an existing dir: tighten it.
		if err := os.Chmod(cfg.SocketDir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("etcd: securing the socket dir: %w", err)
		}
		sock := []url.URL{{Scheme: "unix", Path: filepath.Join(cfg.SocketDir, SocketName)}}
		// The advertised URL is only published (a single member has no
		// one to tell), and etcd insists on host:port there.
		ecfg.ListenClientUrls = sock
	}
	ecfg.ListenPeerUrls, ecfg.AdvertisePeerUrls = loopback, loopback
	ecfg.InitialCluster = cfg.Name + "=" + loopback[0].String()
	// The gateway dials the configured client address, which is port 0.
	ecfg.EnableGRPCGateway = false
	// A lone member elects itself: with etcd's 100 ms tick that takes ~0.5 s
	// of every start (ticks until the campaign, then the publish), with a
	// 10 ms tick ~50 ms. There are no peers whose heartbeats could be late.
	ecfg.TickMs, ecfg.ElectionMs = 10, 100
	ecfg.QuotaBackendBytes = cfg.QuotaBackendBytes
	ecfg.AutoCompactionMode = cfg.AutoCompactionMode
	ecfg.AutoCompactionRetention = cfg.AutoCompactionRetention
	ecfg.Logger = "zap"
	ecfg.LogLevel = "error"
	ecfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(quietStop(lg.Named("etcd"), stopping))
	return ecfg, lg, nil
}

// Client returns the client connected to the server; Close closes it.
func (e *Embedded) Client() *clientv3.Client { return e.client }

// LocalClient returns a client that calls the server in process (etcd's
// v3client: no gRPC, no socket), for the process's own reads, writes and
// watches; Close closes it. Maintenance calls go through Client.
func (e *Embedded) LocalClient() *clientv3.Client { return e.local }

// Endpoints returns the client URLs, e.g. "http://127.0.0.1:41234".
func (e *Embedded) Endpoints() []string { return append([]string(nil), e.endpoints...) }

// Err returns a channel that receives a fatal server error while running;
// it is closed after Close.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close closes the client, then stops the server cleanly: in-flight
// requests finish and the database is flushed. It is safe to call twice.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.stopSpace()
		<-e.spaceDone
		// The client first: its open watches would hold the server's
		// graceful stop for its whole timeout.
		e.closeErr = errors.Join(closeClient(e.local), closeClient(e.client))
		e.stopping.Store(true)
		e.etcd.Close()
	})
	return e.closeErr
}
