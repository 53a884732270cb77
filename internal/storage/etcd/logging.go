package etcd

import (
	"strings"
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
	if ent.Message == startNoise && f.Enabled(ent.Level) {
		return ce.AddCore(ent, f) // Write looks at its error
	}
	return f.Core.Check(ent, ce)
}

// startNoise is what etcd 3.6 logs at error level when its storage-version
// monitor runs before the new member's first term reached the backend
// ("missing term information"): a fresh member elected within a few 10 ms
// ticks gets there first. The monitor tries again seconds later; other
// failures of it are still logged.
const startNoise = "failed to update storage version"

func (f stopFilter) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if ent.Message == startNoise {
		for _, fl := range fields {
			if err, ok := fl.Interface.(error); ok && fl.Type == zapcore.ErrorType && strings.Contains(err.Error(), "missing term information") {
				return nil
			}
		}
	}
	return f.Core.Write(ent, fields)
}
