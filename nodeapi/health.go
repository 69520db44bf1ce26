package nodeapi

import (
	"fmt"
	"net/http"
	"time"
)

// DefaultStallTimeout is how long transactions may wait in the mempool
// without a new block before /healthz reports the node unhealthy.
const DefaultStallTimeout = 30 * time.Second

// DefaultSubmitTimeout is how long POST /v1/txs waits for its transaction to
// commit before answering 504.
const DefaultSubmitTimeout = 30 * time.Second

// Health is the body of GET /healthz and /readyz: the node's status, the
// transactions waiting in its mempool and, when the answer is 503, why.
type Health struct {
	Status
	PendingTxs int    `json:"pending_txs"`
	Reason     string `json:"reason,omitempty"`
}

// healthz answers whether the node is live: 200, or 503 with the reason.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) { s.check(w, s.notLive) }

// readyz answers whether the node should be sent requests: 200, or 503 with
// the reason.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) { s.check(w, s.notReady) }

// check answers 200 with the node's Health, or 503 with the reason why
// returns for it.
func (s *server) check(w http.ResponseWriter, why func(h Health, waiting time.Duration) string) {
	h, err := s.health(why)
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	code := http.StatusOK
	if h.Reason != "" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

// health is the node's Health, with the reason why gives for it.
func (s *server) health(why func(h Health, waiting time.Duration) string) (Health, error) {
	st, err := s.currentStatus()
	if err != nil {
		return Health{}, err
	}
	h := Health{Status: st}
	var waiting time.Duration
	h.PendingTxs, waiting = s.chain.Pending()
	h.Reason = why(h, waiting)
	return h, nil
}

// verdict is health's answer as a check would give it: ok when it would
// answer 200.
func (s *server) verdict(why func(h Health, waiting time.Duration) string) bool {
	h, err := s.health(why)
	return err == nil && h.Reason == ""
}

// reasonSyncing is why a node catching up is not ready.
const reasonSyncing = "catching up with its peers (block sync)"

// notLive says why the node is not live, or "": transactions have waited
// longer than the stall timeout without a block (the consortium has lost its
// quorum, or this node its peers). A node catching up is live, only not
// ready: a liveness probe must not restart a node for syncing.
func (s *server) notLive(h Health, waiting time.Duration) string {
	switch {
	case h.PendingTxs > 0 && waiting > s.opts.StallTimeout:
		return fmt.Sprintf("transactions have waited %v without a new block (%d in the mempool; limit %v): the chain is not committing",
			waiting.Round(time.Second), h.PendingTxs, s.opts.StallTimeout)
	}
	return ""
}

// notReady says why the node should not be sent requests, or "": it has
// not caught up with its peers, its ledger has no committed state to answer
// from, or (if it serves records) reads of health data are stopped. The
// HTTP listener starts only after the ledger and the records service are
// up, so an answer at all means HTTP serves.
func (s *server) notReady(h Health, _ time.Duration) string {
	switch {
	case h.Syncing:
		return reasonSyncing
	case h.Height < 1:
		return "the ledger has no committed block yet"
	case s.opts.Records != nil:
		if why := s.opts.Records.ReadsStopped(); why != "" {
			return "reads of health data are stopped: " + why
		}
	}
	return ""
}
