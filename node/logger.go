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
// While the node stops, CometBFT's errors are expected and go to Debug.
type cometLogger struct {
	l        *slog.Logger
	stopping *atomic.Bool
}

func (c cometLogger) Debug(msg string, kv ...any) {
	c.l.Log(context.Background(), LevelTrace, msg, kv...)
}
func (c cometLogger) Info(msg string, kv ...any) { c.l.Debug(msg, kv...) }
func (c cometLogger) Error(msg string, kv ...any) {
	if c.stopping.Load() {
		c.l.Debug(msg, kv...)
		return
	}
	c.l.Warn(msg, kv...)
}
func (c cometLogger) With(kv ...any) cmtlog.Logger {
	return cometLogger{c.l.With(kv...), c.stopping}
}
