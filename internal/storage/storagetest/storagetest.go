// Package storagetest is the conformance suite for storage.Store: every
// implementation (etcd, memory) runs it from its own tests with Run.
package storagetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/storage"
)

// timeout bounds every subtest; waits inside it poll or block with deadlines.
const timeout = 30 * time.Second

// Run runs the conformance suite against the stores that newStore returns.
//
// newStore is called once per subtest and should register the store's Close
// with t.Cleanup. It may return stores over one shared backend (one etcd
// server): subtests run one after another, each writes only under its own
// key root, and Compact is only ever asked for a revision the subtest wrote.
// Some subtests assert exact revisions, so nothing else may write to the
// backend while the suite runs.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context, s storage.Store, root string)
	}{
		{"Get", testGet},
		{"List", testList},
		{"Create", testCreate},
		{"Update", testUpdate},
		{"Delete", testDelete},
		{"Revisions", testRevisions},
		{"ValuesAreCopied", testValuesAreCopied},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentCreates", testConcurrentCreates},
		{"Compact", testCompact},
		{"WatchFromNow", testWatchFromNow},
		{"WatchReplay", testWatchReplay},
		{"WatchPrefixIsolation", testWatchPrefixIsolation},
		{"WatchCompacted", testWatchCompacted},
		{"WatchCancel", testWatchCancel},
		{"WatchManyEvents", testWatchManyEvents},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			s := newStore(t)
			tc.run(t, ctx, s, keyRoot(t))
		})
	}
}

// keyRoot is a key prefix of the subtest's own, ending in "/".
func keyRoot(t *testing.T) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return "/registry/storagetest/" + name + "/"
}
