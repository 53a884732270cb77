package etcd

import (
	"errors"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestLogFilter(t *testing.T) {
	tests := []struct {
		name     string
		msg      string
		err      error
		stopping bool
		logged   bool
	}{
		{"storage version before the first term", startNoise, errors.New("cannot detect storage schema version: missing term information"), false, false},
		{"storage version, another failure", startNoise, errors.New("disk I/O error"), false, true},
		{"listener closed while stopping", stopNoise, errors.New("use of closed network connection"), true, false},
		{"listener failed while running", stopNoise, errors.New("address in use"), false, true},
		{"anything else", "raft failed", errors.New("x"), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.ErrorLevel)
			var stopping atomic.Bool
			stopping.Store(tc.stopping)
			quietStop(zap.New(core), &stopping).Error(tc.msg, zap.Error(tc.err))
			if got := logs.Len() == 1; got != tc.logged {
				t.Errorf("logged = %v, want %v", got, tc.logged)
			}
		})
	}
}
