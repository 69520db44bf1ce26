package node

import (
	"bytes"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
)

// TestPeerChurnIsNotAWarning: CometBFT's errors about peers' connections
// (a peer not up yet, a peer going away) are debug messages; its other
// errors stay warnings.
func TestPeerChurnIsNotAWarning(t *testing.T) {
	var buf bytes.Buffer
	l := cometLogger{l: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), stopping: &atomic.Bool{}}
	l.With("module", "p2p").With("peer", "x").Error("Error dialing peer", "err", "connection refused")
	l.With("module", "pex").Error("Stopping peer for error", "err", "EOF")
	l.With("module", "blocksync").Error("failed to add block", "err", "already committed block #7")
	l.With("module", "mempool").Error("Tx already received from peer", "tx", "ab")
	if buf.Len() != 0 {
		t.Fatalf("peer churn logged at info or above: %s", buf.String())
	}
	l.With("module", "mempool").Error("could not check tx")
	l.With("module", "consensus").Error("CONSENSUS FAILURE!!!")
	if n := strings.Count(buf.String(), "level=WARN"); n != 2 {
		t.Fatalf("other mempool and consensus errors are not both warnings: %q", buf.String())
	}
}
