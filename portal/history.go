package portal

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tlog"
)

// A record's version history: who signed each version, the approvals of a
// version an approved correction committed, and for each a "verified"
// mark that the browser computes (static/verify.js) from the proof bundle
// the node serves, against the validator set pinned in the browser.
// History and proofs go to those records.MayProve allows (the patient,
// those who may read the record, auditors); each is an access event.

// Proofs makes the proof bundles of log entries (node.Node does).
type Proofs interface {
	// ProveTrusting proves the log entry (kind, key) for a verifier
	// who trusts the validator set in force at trustedHeight (0: the
	// first block's).
	ProveTrusting(ctx context.Context, trustedHeight int64, kind, key string) (*proof.Bundle, error)
}

// historyPage is one record's versions.
type historyPage struct {
	RecordID string
	Versions []historyRow
}

type historyRow struct {
	Version   uint64
	LogKey    string // the version's log entry, which its proof proves
	Author    string
	Time      time.Time
	Deleted   bool
	Proposal  string
	Approvals []string // who approved the correction that committed it
}

// history shows the versions of record {id}.
func (p *Portal) history(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	v := p.app.Latest()
	head, err := v.Record(id)
	if err == nil {
		err = p.mayProve(r, s, ledger.RecordLogKey(id, head.Latest))
	}
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	versions, err := v.RecordVersions(id)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := historyPage{RecordID: id}
	for _, rv := range versions {
		row := historyRow{Version: rv.Version, LogKey: ledger.RecordLogKey(id, rv.Version), Author: principalLabel(v, rv.Author),
			Time: time.Unix(rv.Time, 0).UTC(), Deleted: rv.Deleted, Proposal: rv.Proposal}
		if rv.Proposal != "" {
			pr, err := v.Proposal(rv.Proposal)
			if err != nil {
				p.failErr(w, r, s, err)
				return
			}
			for _, a := range pr.Approvals {
				row.Approvals = append(row.Approvals, principalLabel(v, a.Signer))
			}
		}
		page.Versions = append(page.Versions, row)
	}
	p.render(w, s, http.StatusOK, "history", "Versions of "+id, page)
}

// mayProve asks records.MayProve whether the signed-in person may have the
// proof of the record version logged under key (logged either way).
func (p *Portal) mayProve(r *http.Request, s *session, key string) error {
	return p.records.MayProve(r.Context(), records.ProofRequest{Requester: s.who.ID, Source: r.RemoteAddr,
		Kind: tlog.KindRecord, Key: key, Purpose: purpose})
}

// proofOf serves the proof bundle of version {version} of record {id}.
func (p *Portal) proofOf(w http.ResponseWriter, r *http.Request, s *session) {
	version, err := strconv.ParseUint(r.PathValue("version"), 10, 64)
	if err != nil || version == 0 {
		p.fail(w, r, s, http.StatusBadRequest, "A version is a positive integer.")
		return
	}
	key := ledger.RecordLogKey(r.PathValue("id"), version)
	var b *proof.Bundle
	if err = p.mayProve(r, s, key); err == nil {
		b, err = p.proofs.ProveTrusting(r.Context(), 0, tlog.KindRecord, key)
	}
	var out []byte
	if err == nil {
		out, err = proof.Encode(b)
	}
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}
