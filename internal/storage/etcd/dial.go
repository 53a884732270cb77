package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/logutil"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// dialTimeout bounds one connection attempt; the caller's ctx bounds Dial.
const dialTimeout = 5 * time.Second

// Dial connects to an external etcd cluster (berth's --etcd-servers), e.g.
// []string{"http://10.0.0.1:2379"}, and checks that it answers a
// linearizable read (so a quorum is up) before ctx ends. The client lives
// until its Close, not until ctx ends. Errors are logged to stderr.
func Dial(ctx context.Context, endpoints []string) (*clientv3.Client, error) {
	return DialTLS(ctx, endpoints, nil)
}

// DialTLS is Dial over TLS with tlsCfg (CA and client certificate, as
// kube-apiserver's --etcd-cafile/--etcd-certfile/--etcd-keyfile); nil
// tlsCfg is Dial.
func DialTLS(ctx context.Context, endpoints []string, tlsCfg *tls.Config) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, errors.New("etcd: dialing: no endpoints")
	}
	client, err := newClient(ctx, endpoints, nil, tlsCfg)
	if err != nil {
		return nil, err
	}
	if _, err := client.Get(ctx, "\x00", clientv3.WithCountOnly()); err != nil {
		_ = closeClient(client)
		return nil, fmt.Errorf("etcd: dialing %v: %w", endpoints, err)
	}
	return client, nil
}

// errorLogger is etcd's default logger at error level without its
// sampler, whose counters take 448 KiB of heap for good and have nothing to
// thin out among errors.
func errorLogger() (*zap.Logger, error) {
	cfg := logutil.DefaultZapLoggerConfig
	cfg.Level = zap.NewAtomicLevelAt(zap.ErrorLevel)
	cfg.Sampling = nil
	return cfg.Build()
}

// newClient returns a client for endpoints logging to lg (nil: errors only,
// to stderr). It does not wait for a connection.
func newClient(ctx context.Context, endpoints []string, lg *zap.Logger, tlsCfg *tls.Config) (*clientv3.Client, error) {
	if lg == nil {
		var err error
		if lg, err = errorLogger(); err != nil {
			return nil, fmt.Errorf("etcd: creating the client logger: %w", err)
		}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          dialTimeout,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		Context:              context.WithoutCancel(ctx),
		Logger:               lg.Named("etcd-client"),
		TLS:                  tlsCfg,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connecting to %v: %w", endpoints, err)
	}
	return client, nil
}
