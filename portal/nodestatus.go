package portal

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/carechain/carechain/proof"
)

// NodeInfo is what the admin's node status page and the auditor's page
// ask of the node beyond its ledger (node.Node has it).
type NodeInfo interface {
	// Peers are the node IDs of the connected peers.
	Peers() []string
	// Checkpoint is the signed checkpoint at height (0: the newest).
	Checkpoint(ctx context.Context, height int64) (proof.Checkpoint, error)
}

// nodePage is the node's status, as /v1/status, /readyz and /metrics give
// it, for people.
type nodePage struct {
	ChainID, AppHash, Node string
	Height                 int64
	Validators             []validatorRow
	TotalPower             int64
	Peers                  []string
	PeersKnown             bool
	Checkpoint             *checkpointRow
	CheckpointProblem      string
	PendingEvents          int
	ReadsStopped           string
}

type validatorRow struct {
	Key, Node string
	Power     int64
	Since     int64
}

type checkpointRow struct {
	Height int64
	Time   time.Time
}

// nodeStatus shows the height, the validators with their voting power, the
// peers, the last signed checkpoint and the access-log backlog.
func (p *Portal) nodeStatus(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	c, err := p.app.LastCommit()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := nodePage{ChainID: v.ChainID(), Height: c.Height, AppHash: hex.EncodeToString(c.AppHash), Node: p.records.Node(),
		PendingEvents: p.records.Pending(), ReadsStopped: p.records.ReadsStopped()}
	vals, err := v.Validators()
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	for _, val := range vals {
		page.Validators = append(page.Validators, validatorRow{Key: hex.EncodeToString(val.PublicKey)[:16] + "…", Node: cmpOr(val.Node, "(named by no node principal)"),
			Power: val.Power, Since: val.Height})
		page.TotalPower += val.Power
	}
	if p.node != nil {
		page.Peers, page.PeersKnown = p.node.Peers(), true
		page.Checkpoint, page.CheckpointProblem = p.lastCheckpoint(r.Context())
	}
	p.render(w, s, http.StatusOK, "node", "Node status", page)
}

// lastCheckpoint is the newest signed checkpoint's height and time, or why
// there is none.
func (p *Portal) lastCheckpoint(ctx context.Context) (*checkpointRow, string) {
	cp, err := p.node.Checkpoint(ctx, 0)
	if err != nil {
		return nil, err.Error()
	}
	var sh struct {
		Header struct {
			Time time.Time `json:"time"`
		} `json:"header"`
	}
	if err := json.Unmarshal(cp.Header, &sh); err != nil {
		return nil, "the checkpoint's signed header cannot be read: " + err.Error()
	}
	return &checkpointRow{Height: cp.Height, Time: sh.Header.Time}, ""
}
