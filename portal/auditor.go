package portal

import (
	"net/http"

	"github.com/carechain/carechain/proof"
)

// The auditor's page, open to anyone, signed in or not: a proof bundle
// file (what `carechain proof` writes, what the version history checks) is
// checked in the browser by static/verify.js, with static/audit.js, against
// a validator set the auditor pastes or the one pinned in the browser; and
// so is the node's newest checkpoint, served here as JSON. Nothing of the
// file leaves the browser. A checkpoint is public: it carries hashes and
// validators' signatures, no health data (GET /v1/checkpoint serves it as
// a signed note).

func (p *Portal) auditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/audit", p.secured(p.auditPage))
	if p.node != nil {
		mux.HandleFunc("GET /portal/audit/checkpoint", p.secured(p.auditCheckpoint))
	}
}

// auditPage is the page: the form, and where audit.js shows the outcomes.
func (p *Portal) auditPage(w http.ResponseWriter, r *http.Request) {
	p.render(w, p.session(r), http.StatusOK, "audit", "Check a proof", struct{ Checkpoint bool }{p.node != nil})
}

// auditCheckpoint serves the node's newest signed checkpoint as JSON, in
// the shape of a proof bundle's "checkpoint".
func (p *Portal) auditCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := p.node.Checkpoint(r.Context(), 0)
	var out []byte
	if err == nil {
		out, err = proof.Encode(cp)
	}
	if err != nil {
		http.Error(w, "no checkpoint: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}
