package ledger

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// powerOf returns the power updates gives the validator with key pub, and
// whether it names it.
func powerOf(updates []abci.ValidatorUpdate, pub []byte) (int64, bool) {
	for _, u := range updates {
		if bytes.Equal(u.PubKeyBytes, pub) {
			return u.Power, true
		}
	}
	return 0, false
}

// TestLeaveIsCarriedOutAtOnce: an admin proposing its own organization's
// removal leaves in that block: its principals are revoked, its validator
// leaves the set, it no longer votes, and its node no longer peers.
func TestLeaveIsCarriedOutAtOnce(t *testing.T) {
	h := validatorWorld(t, nil)
	h.finalize(h.register("hosp-c/admin", "patient/c1", carechain.KindPatient, 70), h.register("hosp-c/admin", "hosp-c/dr", carechain.KindPractitioner, 71, carechain.RolePhysician))
	raw, id := h.propose("hosp-c/admin", &tx.GovPropose{Remove: "hosp-c", Expires: expiry()})
	resp := h.finalize(raw)
	left := h.height
	if power, ok := powerOf(resp.ValidatorUpdates, pub(123)); !ok || power != 0 || len(resp.ValidatorUpdates) != 1 {
		t.Fatalf("validator updates of the leaving block: %v", resp.ValidatorUpdates)
	}
	v := h.at(0)
	if p, err := v.GovProposal(id); err != nil || p.Status != ProposalCommitted || p.Closed != left {
		t.Fatalf("proposal: %+v %v", p, err)
	}
	if at, removed, err := v.OrgRemoved("hosp-c"); err != nil || !removed || at != left {
		t.Fatalf("OrgRemoved = %d %v %v", at, removed, err)
	}
	if rm, err := v.OrgRemoval("hosp-c"); err != nil || !rm.Left || rm.Proposal != id {
		t.Fatalf("removal: %+v %v", rm, err)
	}
	if _, err := v.Organization("hosp-c"); err != nil {
		t.Fatalf("a removed organization is still known: %v", err)
	}
	for _, id := range []string{"hosp-c/admin", "hosp-c/node", "hosp-c/dr"} {
		if p, err := v.Principal(id); err != nil || p.Status != carechain.StatusRevoked || p.RevokedAt != left {
			t.Fatalf("%s after leaving: %+v %v", id, p, err)
		}
	}
	if p, err := v.Principal("patient/c1"); err != nil || p.Status != carechain.StatusActive {
		t.Fatalf("a patient hosp-c registered: %+v %v", p, err)
	}
	if voters, n, err := v.Voters(); err != nil || !slices.Equal(voters, []string{"hosp-a", "hosp-b"}) || n != 2 {
		t.Fatalf("voters after leaving: %v %d %v", voters, n, err)
	}
	if vs, err := v.Validators(); err != nil || len(vs) != 2 || slices.ContainsFunc(vs, func(x Validator) bool { return x.Node == "hosp-c/node" }) {
		t.Fatalf("validators after leaving: %+v %v", vs, err)
	}
	if ch, err := v.ValidatorChanges(left); err != nil || len(ch) != 1 || ch[0].Power != 0 || ch[0].Proposal != id {
		t.Fatalf("validator changes: %+v %v", ch, err)
	}
	// Its validator votes on the next block (updates are in force two
	// blocks later): its node peers until then, then no more.
	if err := h.app.AdmitPeer(fmt.Sprintf("%040x", 203)); err != nil {
		t.Fatalf("the node of a validator still in the set is refused: %v", err)
	}
	h.finalize()
	h.finalize()
	if err := h.app.AdmitPeer(fmt.Sprintf("%040x", 203)); err == nil {
		t.Fatal("the node of an organization that left still peers once its validator is out")
	}
	v = h.at(0)
	if _, _, _, err := v.LogEntry("governance", identityLogKey(orgRemovedKey("hosp-c"), left)); err != nil {
		t.Fatalf("the removal is not logged: %v", err)
	}
	h.judge(h.register("hosp-c/admin", "hosp-c/dr2", carechain.KindPractitioner, 72), StageFinalize, CodeRevokedSigner, "")
	h.judge(h.register("hosp-a/admin", "hosp-c/dr2", carechain.KindPractitioner, 72), StageFinalize, CodeUnauthorized, "")
	// Its ID stays taken.
	h.judge(h.sign("hosp-a/admin", tx.TypeGovPropose, &tx.GovPropose{Join: application(t, "hosp-c", 60, 0), Expires: expiry()}), StageCheck, CodeConflict, "already exists")
}

// TestRemovalByVote: with three members, removing one takes both others
// (a majority of the two voters left once the target is set aside); the
// target's approval is refused.
func TestRemovalByVote(t *testing.T) {
	h := validatorWorld(t, nil)
	raw, id := h.propose("hosp-a/admin", &tx.GovPropose{Remove: "hosp-c", Expires: expiry()})
	if resp := h.finalize(raw); len(resp.ValidatorUpdates) != 0 {
		t.Fatalf("validator updates on proposing: %v", resp.ValidatorUpdates)
	}
	if _, removed, _ := h.at(0).OrgRemoved("hosp-c"); removed {
		t.Fatal("removed by one approval of the two voters")
	}
	if voters, n, err := h.at(0).ProposalVoters(id); err != nil || !slices.Equal(voters, []string{"hosp-a", "hosp-b"}) || n != 2 {
		t.Fatalf("voters on the removal: %v %d %v", voters, n, err)
	}
	h.judge(h.approve("hosp-c/admin", id), StageFinalize, CodeUnauthorized, "hosp-c does not vote")
	resp := h.finalize(h.approve("hosp-b/admin", id))
	if power, ok := powerOf(resp.ValidatorUpdates, pub(123)); !ok || power != 0 {
		t.Fatalf("validator updates of the removal: %v", resp.ValidatorUpdates)
	}
	if rm, err := h.at(0).OrgRemoval("hosp-c"); err != nil || rm.Left || rm.Height != h.height {
		t.Fatalf("removal: %+v %v", rm, err)
	}
	// Two members left: a removal takes the one other's approval.
	raw, _ = h.propose("hosp-a/admin", &tx.GovPropose{Remove: "hosp-b", Expires: expiry()})
	if resp := h.finalize(raw); len(resp.ValidatorUpdates) != 1 {
		t.Fatalf("removal of hosp-b by hosp-a alone: %v", resp.ValidatorUpdates)
	}
	if voters, n, _ := h.at(0).Voters(); !slices.Equal(voters, []string{"hosp-a"}) || n != 1 {
		t.Fatalf("voters: %v %d", voters, n)
	}
}

func TestRemovalRejections(t *testing.T) {
	// onlyA: hosp-a's node runs the only validator.
	onlyA := func(t *testing.T) *harness {
		return govWorldInit(t, func(g *Genesis) {
			g.ValidatorSet = true
			g.Nodes = []GenesisNode{{ID: "hosp-a/node", NodeID: fmt.Sprintf("%040x", 201), PublicKey: pub(111), ValidatorKey: pub(121)}}
		}, []abci.ValidatorUpdate{validatorUpdate(121, 10)})
	}
	three := func(t *testing.T) *harness { return validatorWorld(t, nil) }
	remove := func(h *harness, signer, org string) []byte {
		return h.sign(signer, tx.TypeGovPropose, &tx.GovPropose{Remove: org, Expires: expiry()})
	}
	cases := []struct {
		name   string
		world  func(t *testing.T) *harness
		make   func(t *testing.T, h *harness) []byte
		want   Code
		reason string
	}{
		{"the organization of the only validator leaves", onlyA,
			func(t *testing.T, h *harness) []byte { return remove(h, "hosp-a/admin", "hosp-a") }, CodeInvalid, "only validators"},
		{"the organization of the only validator is removed", onlyA,
			func(t *testing.T, h *harness) []byte { return remove(h, "hosp-b/admin", "hosp-a") }, CodeInvalid, "only validators"},
		{"a non-member", three, func(t *testing.T, h *harness) []byte { return remove(h, "hosp-a/admin", "pharm") }, CodeInvalid, `"pharm" is not a member`},
		{"an organization that left", three, func(t *testing.T, h *harness) []byte {
			h.finalize(remove(h, "hosp-c/admin", "hosp-c"))
			return remove(h, "hosp-a/admin", "hosp-c")
		}, CodeInvalid, `"hosp-c" is not a member`},
		{"an admin of an organization that left proposes", three, func(t *testing.T, h *harness) []byte {
			h.finalize(remove(h, "hosp-c/admin", "hosp-c"))
			return remove(h, "hosp-c/admin", "hosp-b")
		}, CodeRevokedSigner, "revoked"},
		{"the last member leaves", three, func(t *testing.T, h *harness) []byte {
			h.finalize(remove(h, "hosp-c/admin", "hosp-c"))
			h.finalize(remove(h, "hosp-b/admin", "hosp-b"))
			return remove(h, "hosp-a/admin", "hosp-a")
		}, CodeInvalid, "last member"},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := c.world(t)
				h.judge(c.make(t, h), stage, c.want, c.reason)
			})
		}
	}
}

// TestRemovalOnAChainThatDoesNotRecordItsValidators: an older chain knows
// no validator of the leaving organization, so it leaves without updates.
func TestRemovalOnAChainThatDoesNotRecordItsValidators(t *testing.T) {
	h := govWorld(t, nil)
	raw, _ := h.propose("hosp-c/admin", &tx.GovPropose{Remove: "hosp-c", Expires: expiry()})
	if resp := h.finalize(raw); len(resp.ValidatorUpdates) != 0 {
		t.Fatalf("validator updates: %v", resp.ValidatorUpdates)
	}
}

// TestRemovedOrganizationReadsNothingNew: once hosp-b is removed, the lab
// epoch it holds the key of is stale: no version goes into it, no new
// epoch is wrapped to hosp-b, nor is anything granted to it; a new epoch
// without it takes versions again.
func TestRemovedOrganizationReadsNothingNew(t *testing.T) {
	h, _ := consentWorld(t)
	if e, _ := h.at(0).Epoch("patient/p", "lab"); !slices.Equal(e.Readers, []string{"hosp-a", "hosp-b", "patient/p"}) {
		t.Fatalf("lab readers before the removal: %v", e.Readers)
	}
	if stale, err := h.at(0).EpochStale("patient/p", "lab"); err != nil || stale {
		t.Fatalf("EpochStale before the removal = %v, %v", stale, err)
	}
	// Two members: hosp-a's proposal is the one approval needed.
	h.finalize(h.sign("hosp-a/admin", tx.TypeGovPropose, &tx.GovPropose{Remove: "hosp-b", Expires: blockTime(h.height + 1).Add(time.Hour).Unix()}))
	v := h.at(0)
	if stale, err := v.EpochStale("patient/p", "lab"); err != nil || !stale {
		t.Fatalf("EpochStale after the removal = %v, %v", stale, err)
	}
	if rs, err := v.NextEpochReaders("patient/p", "lab", "hosp-a", blockTime(h.height).Unix()); err != nil || !slices.Equal(rs, []string{"hosp-a", "patient/p"}) {
		t.Fatalf("next epoch readers: %v %v", rs, err)
	}
	if rs, err := v.RequiredReaders("patient/p", "lab", blockTime(h.height).Unix()); err != nil || slices.Contains(rs, "hosp-b") {
		t.Fatalf("required readers: %v %v", rs, err)
	}
	all := []string{"hosp-a", "hosp-b", "patient/p"}
	for _, stage := range []Stage{StageCheck, StageFinalize} {
		h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 2, "patient/p", "lab", 1, nil)), stage, CodeStaleEpoch, "hosp-b, which was removed")
		h.judge(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 2, "patient/p", "lab", 2, all)), stage, CodeStaleEpoch, "removed from the consortium")
		h.judge(h.sign("patient/p", tx.TypeConsentGrant, &tx.ConsentGrant{Grant: readGrant("patient/p", "general")}), stage, CodeInvalid, "hosp-b was removed")
	}
	if code, log := h.blockResp(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 2, "patient/p", "lab", 2, []string{"hosp-a", "patient/p"}))); code != CodeOK {
		t.Fatalf("a new epoch without hosp-b: %v %s", code, log)
	}
	if stale, _ := h.at(0).EpochStale("patient/p", "lab"); stale {
		t.Fatal("the new epoch is stale")
	}
	if code, log := h.blockResp(h.sign("hosp-a/dr-a", tx.TypeRecordPut, put(t, "r1", 3, "patient/p", "lab", 2, nil))); code != CodeOK {
		t.Fatalf("a write into the new epoch: %v %s", code, log)
	}
}
