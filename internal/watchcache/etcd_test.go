package watchcache_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/etcd"
	"github.com/berth-dev/berth/internal/storage/storagetest"
	"github.com/berth-dev/berth/internal/watchcache"
)

// TestConformanceOverEtcd: the cache over a real (embedded) etcd, as berth
// runs it, holds to the storage contract; as a sole writer and, as over an
// external etcd, not.
func TestConformanceOverEtcd(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	e, err := etcd.StartEmbedded(ctx, etcd.EmbeddedConfig{Dir: t.TempDir(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	for _, sole := range []bool{false, true} {
		t.Run(fmt.Sprintf("SoleWriter=%v", sole), func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store {
				c, err := watchcache.New(t.Context(), etcd.New(e.Client()), watchcache.Options{SoleWriter: sole})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			})
		})
	}
}
