package node

import (
	"context"
	"log/slog"
	"sync/atomic"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

// LevelTrace is below Debug: CometBFT's own debug chatter.
const LevelTrace = slog.LevelDebug - 4

// cometLogger routes CometBFT's logger through slog. CometBFT's info level is
// very chatty and a normal shutdown logs errors, so everything moves down one
// level: its Info is our Debug, its Error our Warn.
// While the node stops, CometBFT's errors are expected and go to Debug, and
// so do those of its peer-to-peer modules: a peer not up yet, or going
// away, is normal operation in a consortium (the node logs the number of
// connected peers at info when it changes: watchPeers).
type cometLogger struct {
	l        *slog.Logger
	stopping *atomic.Bool
	module   string
}

// quietModule reports whether module is a CometBFT module whose errors
// are about peers' connections.
func quietModule(module string) bool { return module == "p2p" || module == "pex" }

func (c cometLogger) Debug(msg string, kv ...any) {
	c.l.Log(context.Background(), LevelTrace, msg, kv...)
}
func (c cometLogger) Info(msg string, kv ...any) { c.l.Debug(msg, kv...) }
func (c cometLogger) Error(msg string, kv ...any) {
	if c.stopping.Load() || quietModule(c.module) {
		c.l.Debug(msg, kv...)
		return
	}
	c.l.Warn(msg, kv...)
}
func (c cometLogger) With(kv ...any) cmtlog.Logger {
	module := c.module
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok && k == "module" {
			module, _ = kv[i+1].(string)
		}
	}
	return cometLogger{c.l.With(kv...), c.stopping, module}
}
