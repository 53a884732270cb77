package etcd_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/etcd"
	"github.com/berth-dev/berth/internal/storage/storagetest"
)

// startTimeout bounds the start of an embedded server in tests.
const startTimeout = 20 * time.Second

// startEmbedded starts a quiet embedded etcd on dir, closed at the test's end.
func startEmbedded(t *testing.T, dir string) *etcd.Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	e, err := etcd.StartEmbedded(ctx, etcd.EmbeddedConfig{Dir: dir, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func TestConformance(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := etcd.New(e.Client())
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestConformanceLocalClient: the store over the in-process client (no
// gRPC), as berth's server uses its embedded etcd.
func TestConformanceLocalClient(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := etcd.New(e.LocalClient())
		t.Cleanup(func() { s.Close() })
		return s
	})
}
