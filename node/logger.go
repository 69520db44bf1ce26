package node

import (
	"context"
	"errors"
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
// so do those of its peer-to-peer and block-sync modules: a peer not up
// yet, going away, or sending what this node already has is normal
// operation in a consortium (the node logs the number of
// connected peers at info when it changes: watchPeers).
type cometLogger struct {
	l        *slog.Logger
	stopping *atomic.Bool
	module   string
}

// quietModule reports whether module is a CometBFT module whose errors
// are about peers' connections, or about what a peer sends while this node
// catches up (blocksync: "already committed block" from a slow peer).
func quietModule(module string) bool {
	return module == "p2p" || module == "pex" || module == "blocksync"
}

// quietMessage reports whether msg, an error of module, is normal operation:
// a restarted peer re-sending a transaction this node already has.
func quietMessage(module, msg string) bool {
	return module == "mempool" && msg == "Tx already received from peer"
}

// guardRefusal reports whether an error's key-values carry the restore
// guard's refusal to sign: expected while it holds (it says so itself).
func guardRefusal(kv []any) bool {
	for _, v := range kv {
		if err, ok := v.(error); ok && errors.Is(err, errGuardHolding) {
			return true
		}
	}
	return false
}

func (c cometLogger) Debug(msg string, kv ...any) {
	c.l.Log(context.Background(), LevelTrace, msg, kv...)
}
func (c cometLogger) Info(msg string, kv ...any) { c.l.Debug(msg, kv...) }
func (c cometLogger) Error(msg string, kv ...any) {
	if c.stopping.Load() || quietModule(c.module) || quietMessage(c.module, msg) || guardRefusal(kv) {
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
