package ledger

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// govWorld is a consortium of hosp-a, hosp-b and hosp-c (edit, if set,
// changes its genesis further) whose blocks are timed by the wall clock, as
// CheckTx judges expiries.
func govWorld(t *testing.T, edit func(*Genesis)) *harness {
	return govWorldInit(t, edit, nil)
}

// govWorldInit is govWorld with vals as CometBFT's genesis validators.
func govWorldInit(t *testing.T, edit func(*Genesis), vals []abci.ValidatorUpdate) *harness {
	h := newHarnessInit(t, func(g *Genesis) {
		c := g.Organizations[1]
		c.ID, c.Name, c.EncryptionKey = "hosp-c", "Hospital C", encKey(t, 3).Public().Bytes()
		c.Admins = []GenesisAdmin{{ID: "hosp-c/admin", PublicKey: pub(3)}}
		g.Organizations = append(g.Organizations, c)
		if edit != nil {
			edit(g)
		}
	}, vals)
	h.keys["hosp-c/admin"] = key(3)
	h.shift = time.Since(blockTime(0))
	return h
}

// expiry is an expiry an hour from now.
func expiry() int64 { return time.Now().Add(time.Hour).Unix() }

// application is org's signed application: its admin's key is key(seed),
// its node's key(seed+1) with node ID seed in hex, and, if power > 0, the
// validator key key(seed+2) with that power.
func application(t *testing.T, org string, seed byte, power int64) *tx.OrgApplication {
	t.Helper()
	app := &tx.OrgApplication{
		Org:   carechain.Organization{ID: org, Name: "Pharmacy", Type: carechain.OrgPharmacy, EncryptionKey: encKey(t, seed).Public().Bytes()},
		Admin: tx.JoinPrincipal{ID: org + "/admin", PublicKey: pub(seed)},
		Node:  &tx.JoinNode{JoinPrincipal: tx.JoinPrincipal{ID: org + "/node", PublicKey: pub(seed + 1)}, NodeID: fmt.Sprintf("%040x", seed)},
	}
	if power > 0 {
		app.Node.Validator = &tx.JoinValidator{PublicKey: pub(seed + 2), Power: power}
	}
	if err := tx.SignApplication(chainID, app, key(seed), key(seed+2)); err != nil {
		t.Fatal(err)
	}
	return app
}

func (h *harness) propose(signer string, body *tx.GovPropose) ([]byte, string) {
	raw := h.sign(signer, tx.TypeGovPropose, body)
	return raw, GovProposalID(sha(raw))
}

func (h *harness) approve(signer, id string) []byte {
	return h.sign(signer, tx.TypeGovApprove, &tx.GovApprove{Proposal: id})
}

// finalize commits a block of txs, checks they were all accepted, and
// returns FinalizeBlock's response.
func (h *harness) finalize(txs ...[]byte) *abci.FinalizeBlockResponse {
	h.t.Helper()
	h.height++
	resp, err := h.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: h.height, Txs: txs, Time: blockTime(h.height).Add(h.shift)})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		h.t.Fatal(err)
	}
	for i, r := range resp.TxResults {
		if r.Code != uint32(CodeOK) {
			h.t.Fatalf("tx %d of block %d: %v %s", i, h.height, Code(r.Code), r.Log)
		}
	}
	return resp
}

func TestGovernancePolicyFromGenesis(t *testing.T) {
	h := govWorld(t, nil)
	st, err := h.at(0).Governance()
	if err != nil || st.Version != 0 || len(st.Policy.Voters) != 0 || st.Policy.Threshold != 0 {
		t.Fatalf("default policy: %+v %v", st, err)
	}
	if strings.Contains(dumpState(t, h.app), governanceKey) {
		t.Fatal("a genesis without a governance policy wrote one: older chains' genesis state would change")
	}
	if voters, n, err := h.at(0).Voters(); err != nil || !slices.Equal(voters, []string{"hosp-a", "hosp-b", "hosp-c"}) || n != 2 {
		t.Fatalf("default voters %v, threshold %d, %v", voters, n, err)
	}
	h = govWorld(t, func(g *Genesis) {
		g.Governance = &tx.GovernancePolicy{Voters: []string{"hosp-a", "hosp-b"}, Threshold: 2}
	})
	if voters, n, err := h.at(0).Voters(); err != nil || !slices.Equal(voters, []string{"hosp-a", "hosp-b"}) || n != 2 {
		t.Fatalf("genesis voters %v, threshold %d, %v", voters, n, err)
	}
	if st, _ := h.at(0).Governance(); st.Version != 1 {
		t.Fatalf("genesis policy version %d", st.Version)
	}
	for _, p := range []tx.GovernancePolicy{{Voters: []string{"hosp-x"}}, {Voters: []string{"hosp-a"}, Threshold: 2}, {Threshold: 4}, {Voters: []string{"hosp-a", "hosp-a"}}} {
		g := Genesis{Organizations: []GenesisOrg{FoundingOrg(carechain.Organization{ID: "hosp-a", Type: carechain.OrgHospital}, GenesisAdmin{ID: "hosp-a/admin", PublicKey: pub(1)})}, Governance: &p}
		if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "governance") {
			t.Errorf("genesis policy %+v: %v", p, err)
		}
	}
}

// TestJoinByVote: the approval that meets the default policy (2 of 3)
// registers the organization, its admin and node, and returns the
// validator update from exactly its block; the new organization then votes.
func TestJoinByVote(t *testing.T) {
	h := govWorld(t, nil)
	raw, id := h.propose("hosp-a/admin", &tx.GovPropose{Join: application(t, "pharm", 60, 10), Expires: expiry()})
	if resp := h.finalize(raw); len(resp.ValidatorUpdates) != 0 {
		t.Fatalf("validator updates on proposing: %v", resp.ValidatorUpdates)
	}
	if p, err := h.at(0).GovProposal(id); err != nil || p.Status != ProposalOpen || len(p.Approvals) != 1 || p.Approvals[0].Org != "hosp-a" {
		t.Fatalf("open proposal: %+v %v", p, err)
	}
	if _, err := h.at(0).Principal("pharm/admin"); err == nil {
		t.Fatal("registered before the policy was met")
	}
	resp := h.finalize(h.approve("hosp-b/admin", id))
	if u := resp.ValidatorUpdates; len(u) != 1 || u[0].Power != 10 || u[0].PubKeyType != "ed25519" || !bytes.Equal(u[0].PubKeyBytes, pub(62)) {
		t.Fatalf("validator updates of the approving block: %v", resp.ValidatorUpdates)
	}
	approved := h.height
	v := h.at(0)
	if p, _ := v.GovProposal(id); p.Status != ProposalCommitted || p.Closed != approved {
		t.Fatalf("carried-out proposal: %+v", p)
	}
	if o, err := v.Organization("pharm"); err != nil || o.Type != carechain.OrgPharmacy {
		t.Fatalf("organization: %+v %v", o, err)
	}
	for _, id := range []string{"pharm/admin", "pharm/node"} {
		if p, err := v.Principal(id); err != nil || p.Status != carechain.StatusActive || p.Org != "pharm" || p.RegisteredAt != approved {
			t.Fatalf("%s: %+v %v", id, p, err)
		}
	}
	if err := h.app.AdmitPeer(fmt.Sprintf("%040x", 60)); err != nil {
		t.Fatalf("the joined node is refused as a peer: %v", err)
	}
	if vs, err := v.ValidatorChanges(approved); err != nil || len(vs) != 1 || vs[0].Node != "pharm/node" || vs[0].Proposal != id {
		t.Fatalf("validator changes: %+v %v", vs, err)
	}
	if _, err := v.RolePolicy("pharm"); err != nil {
		t.Fatalf("the joined organization's role policy: %v", err)
	}
	// The new admin works and votes: 4 members, 3 approvals carry.
	h.keys["pharm/admin"] = key(60)
	raw, id2 := h.propose("pharm/admin", &tx.GovPropose{Join: application(t, "lab-x", 70, 0), Expires: expiry()})
	if resp := h.finalize(raw, h.register("pharm/admin", "pharm/dr-p", carechain.KindPractitioner, 65, carechain.RolePharmacist), h.approve("hosp-a/admin", id2)); len(resp.ValidatorUpdates) != 0 {
		t.Fatalf("updates after the join: %v", resp.ValidatorUpdates)
	}
	if _, err := h.at(0).Organization("lab-x"); err == nil {
		t.Fatal("2 of 4 approvals carried the proposal")
	}
	if resp := h.finalize(h.approve("hosp-c/admin", id2)); len(resp.ValidatorUpdates) != 0 {
		t.Fatalf("a join without a validator updated validators: %v", resp.ValidatorUpdates)
	}
	if _, err := h.at(0).Principal("lab-x/node"); err != nil {
		t.Fatalf("3 of 4 approvals: %v", err)
	}
}

// TestGovernancePolicyChangeIsAVote: the policy changes when a majority
// approves; from then on it decides who votes and how many carry.
func TestGovernancePolicyChangeIsAVote(t *testing.T) {
	h := govWorld(t, nil)
	raw, id := h.propose("hosp-c/admin", &tx.GovPropose{Policy: &tx.GovernancePolicy{Voters: []string{"hosp-a"}, Threshold: 1}, Expires: expiry()})
	h.finalize(raw)
	if st, _ := h.at(0).Governance(); st.Version != 0 {
		t.Fatalf("policy changed on proposing: %+v", st)
	}
	h.finalize(h.approve("hosp-b/admin", id))
	if st, _ := h.at(0).Governance(); st.Version != 1 || !slices.Equal(st.Policy.Voters, []string{"hosp-a"}) {
		t.Fatalf("policy after the vote: %+v", st)
	}
	if _, _, _, err := h.at(0).LogEntry("governance", "policy@v1"); err != nil {
		t.Fatalf("policy change not logged: %v", err)
	}
	// hosp-c may still propose (a member vouches), but only hosp-a's approval counts.
	raw, id = h.propose("hosp-c/admin", &tx.GovPropose{Join: application(t, "pharm", 60, 5), Expires: expiry()})
	h.finalize(raw)
	h.judge(h.approve("hosp-b/admin", id), StageFinalize, CodeUnauthorized, "hosp-b does not vote under governance policy v1")
	if resp := h.finalize(h.approve("hosp-a/admin", id)); len(resp.ValidatorUpdates) != 1 {
		t.Fatalf("validator updates: %v", resp.ValidatorUpdates)
	}
}

func TestGovernanceRejections(t *testing.T) {
	restricted := func(g *Genesis) { g.Governance = &tx.GovernancePolicy{Voters: []string{"hosp-a", "hosp-b"}} }
	badProof := func(t *testing.T) *tx.OrgApplication {
		app := application(t, "pharm", 60, 10)
		app.Org.Name = "Another Pharmacy" // after signing
		return app
	}
	badValidatorProof := func(t *testing.T) *tx.OrgApplication {
		app := application(t, "pharm", 60, 10)
		app.Node.Validator.Proof = app.AdminProof
		return app
	}
	resigned := func(t *testing.T, edit func(*tx.OrgApplication)) *tx.OrgApplication {
		app := application(t, "pharm", 60, 10)
		edit(app)
		if err := tx.SignApplication(chainID, app, key(60), key(62)); err != nil {
			t.Fatal(err)
		}
		return app
	}
	join := func(app *tx.OrgApplication) *tx.GovPropose { return &tx.GovPropose{Join: app, Expires: expiry()} }
	open := func(h *harness) string { // hosp-a proposes pharm
		raw, id := h.propose("hosp-a/admin", join(application(h.t.(*testing.T), "pharm", 60, 10)))
		h.finalize(raw)
		return id
	}
	cases := []struct {
		name   string
		edit   func(*Genesis)
		make   func(t *testing.T, h *harness) []byte
		want   Code
		reason string
	}{
		{"a practitioner proposes", nil, func(t *testing.T, h *harness) []byte {
			h.finalize(h.register("hosp-a/admin", "hosp-a/dr", carechain.KindPractitioner, 20, carechain.RolePhysician))
			return h.sign("hosp-a/dr", tx.TypeGovPropose, join(application(t, "pharm", 60, 10)))
		}, CodeUnauthorized, "only admins of member organizations"},
		{"a non-voting member approves", restricted, func(t *testing.T, h *harness) []byte { return h.approve("hosp-c/admin", open(h)) },
			CodeUnauthorized, "hosp-c does not vote"},
		{"a second approval of one organization", nil, func(t *testing.T, h *harness) []byte { return h.approve("hosp-a/admin", open(h)) },
			CodeConflict, "hosp-a already approved"},
		{"an approval of a carried-out proposal", nil, func(t *testing.T, h *harness) []byte {
			id := open(h)
			h.finalize(h.approve("hosp-b/admin", id))
			return h.approve("hosp-c/admin", id)
		}, CodeInvalid, "was carried out"},
		{"an unknown proposal", nil, func(t *testing.T, h *harness) []byte { return h.approve("hosp-a/admin", "gov-000000000000") },
			CodeInvalid, "no governance proposal"},
		{"a member's organization id", nil, func(t *testing.T, h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeGovPropose, join(resigned(t, func(a *tx.OrgApplication) {
				a.Org.ID, a.Admin.ID, a.Node.ID = "hosp-b", "hosp-b/admin2", "hosp-b/node"
			})))
		}, CodeConflict, `organization "hosp-b" already exists`},
		{"a registered admin key", nil, func(t *testing.T, h *harness) []byte {
			app := application(t, "pharm", 60, 10)
			app.Admin.PublicKey = pub(2)
			if err := tx.SignApplication(chainID, app, key(2), key(62)); err != nil {
				t.Fatal(err)
			}
			return h.sign("hosp-a/admin", tx.TypeGovPropose, join(app))
		}, CodeConflict, "already in use"},
		{"a registered node id", func(g *Genesis) {
			g.Nodes = []GenesisNode{{ID: "hosp-a/node", NodeID: fmt.Sprintf("%040x", 60), PublicKey: pub(90)}}
		}, func(t *testing.T, h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeGovPropose, join(application(t, "pharm", 60, 10)))
		}, CodeConflict, "node id"},
		{"a validator key already applied for", nil, func(t *testing.T, h *harness) []byte {
			id := open(h)
			h.finalize(h.approve("hosp-b/admin", id))
			app := application(t, "pharm", 60, 10)
			app.Org.ID, app.Admin.ID, app.Admin.PublicKey, app.Node.ID, app.Node.PublicKey, app.Node.NodeID = "pharm2", "pharm2/admin", pub(80), "pharm2/node", pub(81), fmt.Sprintf("%040x", 80)
			if err := tx.SignApplication(chainID, app, key(80), key(62)); err != nil {
				t.Fatal(err)
			}
			return h.sign("hosp-a/admin", tx.TypeGovPropose, join(app))
		}, CodeConflict, "validator key is already in use"},
		{"an admin proof over other content", nil, func(t *testing.T, h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeGovPropose, join(badProof(t)))
		}, CodeBadSignature, "admin key's proof"},
		{"a validator proof by another key", nil, func(t *testing.T, h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeGovPropose, join(badValidatorProof(t)))
		}, CodeBadSignature, "validator key's proof"},
		{"an encryption key that is not one", nil, func(t *testing.T, h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeGovPropose, join(resigned(t, func(a *tx.OrgApplication) { a.Org.EncryptionKey = []byte("not a key") })))
		}, CodeInvalid, "encryption key"},
		{"an admin key of the wrong size", nil, func(t *testing.T, h *harness) []byte {
			app := application(t, "pharm", 60, 10)
			app.Admin.PublicKey = app.Admin.PublicKey[:31]
			return h.sign("hosp-a/admin", tx.TypeGovPropose, join(app))
		}, CodeInvalid, "public key is 31 bytes"},
		{"an expiry past the limit", nil, func(t *testing.T, h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeGovPropose, &tx.GovPropose{Join: application(t, "pharm", 60, 10), Expires: time.Now().Add(tx.MaxGovTTL + time.Hour).Unix()})
		}, CodeInvalid, "expires in the future"},
		{"a policy naming a non-member", nil, func(t *testing.T, h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeGovPropose, &tx.GovPropose{Policy: &tx.GovernancePolicy{Voters: []string{"pharm"}}, Expires: expiry()})
		}, CodeInvalid, `voter "pharm" is not a member`},
		{"both a join and a policy", nil, func(t *testing.T, h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeGovPropose, &tx.GovPropose{Join: application(t, "pharm", 60, 10), Policy: &tx.GovernancePolicy{}, Expires: expiry()})
		}, CodeInvalid, "exactly one of join, policy, remove, validator and upgrade"},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := govWorld(t, c.edit)
				h.judge(c.make(t, h), stage, c.want, c.reason)
			})
		}
	}
}

// TestExpiredProposalCannotBeApproved: expiry is judged at the block time,
// in FinalizeBlock. CheckTx reads no clock and runs no rule of the type: it
// admits an approval the wall clock says is late.
func TestExpiredProposalCannotBeApproved(t *testing.T) {
	h := govWorld(t, nil)
	h.shift -= 2 * time.Hour // blocks two hours behind the wall clock
	raw, id := h.propose("hosp-a/admin", &tx.GovPropose{Join: application(t, "pharm", 60, 10), Expires: time.Now().Add(-time.Hour).Unix()})
	h.finalize(raw)
	approve := h.approve("hosp-b/admin", id)
	if c := h.check(approve); c != CodeOK {
		t.Fatalf("CheckTx = %v, want ok: expiry is the block's to judge", c)
	}
	h.shift += 2 * time.Hour
	h.judge(approve, StageFinalize, CodeInvalid, "expired")
}

// TestJoinRecheckedWhenCarriedOut: two applications for one organization ID
// may be open together; once one is carried out, the approval that would
// carry the other is refused and changes nothing.
func TestJoinRecheckedWhenCarriedOut(t *testing.T) {
	h := govWorld(t, nil)
	first, id1 := h.propose("hosp-a/admin", &tx.GovPropose{Join: application(t, "pharm", 60, 10), Expires: expiry()})
	second, id2 := h.propose("hosp-b/admin", &tx.GovPropose{Join: application(t, "pharm", 70, 10), Expires: expiry()})
	h.finalize(first, second)
	if resp := h.finalize(h.approve("hosp-c/admin", id1)); len(resp.ValidatorUpdates) != 1 {
		t.Fatalf("validator updates: %v", resp.ValidatorUpdates)
	}
	// pharm is a member now: 3 of 4 approvals carry.
	h.finalize(h.approve("hosp-c/admin", id2))
	h.judge(h.approve("hosp-a/admin", id2), StageFinalize, CodeConflict, `organization "pharm" already exists`)
	if p, _ := h.at(0).Principal("pharm/admin"); !p.PublicKey.Equal(pub(60)) {
		t.Fatalf("pharm's admin: %+v", p)
	}
}
