package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/etcd"
)

// TestFullDatabaseRecovers: a full quota is a clear storage.ErrNoSpace, and
// once objects are deleted, berth reclaims the space and writes resume.
func TestFullDatabaseRecovers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	e, err := etcd.StartEmbedded(ctx, etcd.EmbeddedConfig{Dir: t.TempDir(), Logger: zap.NewNop(),
		QuotaBackendBytes: 8 << 20, SpaceCheckInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := etcd.New(e.Client())
	value := []byte(strings.Repeat("x", 256<<10))
	var written []string
	var full error
	for i := 0; i < 200 && full == nil; i++ {
		key := fmt.Sprintf("/registry/configmaps/default/cm%d", i)
		if _, err := s.Create(ctx, key, value); err != nil {
			full = err
			break
		}
		written = append(written, key)
	}
	if !errors.Is(full, storage.ErrNoSpace) || !strings.Contains(full.Error(), "delete objects") {
		t.Fatalf("writing past an 8 MiB quota: %v, want storage.ErrNoSpace saying what to do", full)
	}
	if len(written) == 0 {
		t.Fatal("nothing was written before the quota was reached")
	}
	for _, key := range written {
		if _, _, err := s.Delete(ctx, key, 0); err != nil {
			t.Fatalf("deleting %s in a full database: %v", key, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, err := s.Create(ctx, "/registry/configmaps/default/after", []byte("ok"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes did not resume after space was freed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTTLExpires: a key written with a TTL is deleted after it, with a
// DELETED event; one written again without a TTL stays.
func TestTTLExpires(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e, err := etcd.StartEmbedded(ctx, etcd.EmbeddedConfig{Dir: t.TempDir(), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	s := etcd.New(e.Client())
	events, err := s.Watch(ctx, "/registry/events/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateWithTTL(ctx, "/registry/events/default/e1", []byte("1"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	rev, err := s.CreateWithTTL(ctx, "/registry/events/default/kept", []byte("1"), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, "/registry/events/default/kept", []byte("2"), rev); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-events:
			if ev.Type == storage.EventDeleted {
				if ev.Key != "/registry/events/default/e1" {
					t.Fatalf("deleted %s, want only e1", ev.Key)
				}
				if _, err := s.Get(ctx, "/registry/events/default/kept"); err != nil {
					t.Fatalf("the key rewritten without a TTL: %v", err)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("the key with a 2s TTL did not expire")
		}
	}
}
