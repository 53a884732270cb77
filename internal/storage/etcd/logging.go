package etcd

import (
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// stopNoise is what etcd logs at error level, once per listener, when it is
// stopped on purpose ("http: Server closed", "use of closed network
// connection").
const stopNoise = "setting up serving from embedded etcd failed."

// quietStop returns lg without etcd's stopNoise once stopping is set.
func quietStop(lg *zap.Logger, stopping *atomic.Bool) *zap.Logger {
	return lg.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
		return stopFilter{Core: c, stopping: stopping}
	}))
}

// stopFilter drops stopNoise entries while stopping.
type stopFilter struct {
	zapcore.Core
	stopping *atomic.Bool
}

func (f stopFilter) With(fields []zapcore.Field) zapcore.Core {
	return stopFilter{Core: f.Core.With(fields), stopping: f.stopping}
}

func (f stopFilter) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if ent.Message == stopNoise && f.stopping.Load() {
		return ce
	}
	return f.Core.Check(ent, ce)
}
