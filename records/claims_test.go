package records_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// newClaimsWorld is a two-node consortium of a hospital and an insurer:
// node0 is hosp-a's (its clerk hosp-a/clerk), node1 is ins's (its admin
// and its node key, which adjudicates). Patient p1 is registered by hosp-a.
func newClaimsWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, signers: map[string]records.Signer{}, orgKeys: map[string]*seal.PrivateKey{}}
	g := w.genesis([]carechain.Organization{{ID: "hosp-a", Name: "Hospital A", Type: carechain.OrgHospital}, {ID: "ins", Name: "Insurer", Type: carechain.OrgInsurer}})
	orgs := []string{"hosp-a", "ins"}
	homes, err := node.Testnet(t.TempDir(), node.TestnetOptions{Validators: 2, ChainID: chainID, Genesis: g,
		Node: func(i int, h node.Home) (ledger.GenesisNode, error) {
			s := records.Signer{ID: fmt.Sprintf("%s/node%d", orgs[i], i), Key: newKey(t)}
			w.signers[s.ID] = s
			id, err := h.NodeID()
			return ledger.GenesisNode{ID: s.ID, NodeID: id, PublicKey: s.Key.Public().(ed25519.PublicKey)}, err
		},
		Tune: func(_ int, c *node.Config) { c.TimeoutCommit = node.Duration(10 * time.Millisecond) }})
	if err != nil {
		t.Fatal(err)
	}
	w.homes = homes
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, h := range homes {
		n, err := node.Start(ctx, h, node.StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Stop() })
		w.nodes = append(w.nodes, n)
	}
	for i, n := range w.nodes {
		if err := n.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		kr := &records.Keyring{}
		kr.Add(orgs[i], w.orgKeys[orgs[i]])
		svc, err := records.New(n, kr, records.Options{Node: fmt.Sprintf("node%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		w.svc = append(w.svc, svc)
	}
	clerk := records.Signer{ID: "hosp-a/clerk", Key: newKey(t)}
	w.signers[clerk.ID] = clerk
	w.submit("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: clerk.ID, Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RoleRegistrationClerk}, PublicKey: clerk.Key.Public().(ed25519.PublicKey)})
	w.patientK, _ = seal.GenerateKey()
	w.patient = records.Signer{ID: "patient/p1", Key: newKey(t)}
	w.submit("hosp-a/clerk", tx.TypeRegister, &tx.Register{ID: w.patient.ID, Kind: carechain.KindPatient,
		PublicKey: w.patient.Key.Public().(ed25519.PublicKey), EncryptionKey: w.patientK.Public().Bytes()})
	return w
}

// claimJSON is a Claim of p1 under coverage, of one item, with a marker in its display.
func claimJSON(use, coverage, code, price, date, marker string, preAuth ...string) []byte {
	ref := ""
	if len(preAuth) > 0 {
		ref = `,"preAuthRef":["` + strings.Join(preAuth, `","`) + `"]`
	}
	return []byte(fmt.Sprintf(`{"resourceType":"Claim","status":"active","use":%q,
	  "type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/claim-type","code":"professional"}]},
	  "patient":{"reference":"Patient/p1"},"created":%q,"provider":{"reference":"Organization/hosp-a"},"priority":{"coding":[{"code":"normal"}]},
	  "insurance":[{"sequence":1,"focal":true,"coverage":{"reference":"Coverage/%s"}%s}],
	  "item":[{"sequence":1,"productOrService":{"coding":[{"system":"cpt","code":%q,"display":%q}]},"servicedDate":%q,
	    "quantity":{"value":1},"unitPrice":{"value":%s,"currency":"EUR"}}]}`, use, date, coverage, ref, code, marker, date, price))
}

// publishAndCover publishes plan gold's rules on the insurer's node and
// records p1's Coverage cov-1 under it on the hospital's, and waits for
// the insurer's node to hold it.
func (w *world) publishAndCover(ctx context.Context, rules []byte) {
	w.t.Helper()
	if _, err := w.svc[1].PublishRules(ctx, w.signers["ins/admin"], "gold", rules); err != nil {
		w.t.Fatal(err)
	}
	out, err := w.svc[0].Put(ctx, w.signers["hosp-a/clerk"], records.PutItem{Patient: w.patient.ID, Category: "billing", RecordID: "cov-1", Resource: []byte(`{"resourceType":"Coverage","status":"active",
	  "beneficiary":{"reference":"Patient/p1"},"payor":[{"reference":"Organization/ins"}],"class":[{"type":{"coding":[{"code":"plan"}]},"value":"gold"}]}`)})
	if err != nil {
		w.t.Fatal(err)
	}
	w.waitHeight(1, out.Height)
}

// waitAdjudicated waits, block by block, until node i holds claim id's adjudication.
func (w *world) waitAdjudicated(i int, id string) *ledger.Adjudication {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		v := w.nodes[i].App().Latest()
		if a, err := v.Adjudication(id); err == nil {
			return a
		}
		if err := w.nodes[i].WaitHeight(ctx, v.Height()+1); err != nil {
			w.t.Fatalf("claim %s never adjudicated on node%d: %v", id, i, err)
		}
	}
}

// TestClaimAdjudicatedByInsurerNode: the insurer's node adjudicates on its
// own, the hospital's node re-runs it and agrees, a rules change applies
// from its height on, and no node's files hold the claim in plain.
func TestClaimAdjudicatedByInsurerNode(t *testing.T) {
	w := newClaimsWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rules := func(capCT int64) []byte {
		return []byte(fmt.Sprintf(`{"currency":"EUR","copay":1000,"coinsurance":20,"benefits":[
		 {"system":"cpt","code":"70450","maxUnitPrice":%d,"priorAuth":true},{"system":"cpt","code":"99213","maxUnitPrice":10000}]}`, capCT))
	}
	w.publishAndCover(ctx, rules(50000))
	clerk := w.signers["hosp-a/clerk"]
	adjudicator, stop := context.WithCancel(ctx)
	defer stop()
	go w.svc[1].RunAdjudicator(adjudicator, w.signers["ins/node1"], 20*time.Millisecond)

	markers := []string{"CLAIMMARKER-preauth-4c1d", "CLAIMMARKER-ct-9f2e", "CLAIMMARKER-visit-7a0b"}
	pa, err := w.svc[0].SubmitClaim(ctx, clerk, "pa-1", claimJSON("preauthorization", "cov-1", "70450", "400.00", "2026-12-01", markers[0]))
	if err != nil {
		t.Fatal(err)
	}
	w.waitAdjudicated(0, pa.ID)
	c1, err := w.svc[0].SubmitClaim(ctx, clerk, "claim-1", claimJSON("claim", "cov-1", "70450", "600.00", "2026-12-02", markers[1], "pa-1"))
	if err != nil {
		t.Fatal(err)
	}
	if a := w.waitAdjudicated(0, c1.ID); a.Signer != "ins/node1" || a.Outcome != claims.OutcomeApproved || a.RulesVersion != 1 {
		t.Fatalf("adjudication %+v", a)
	}
	// the hospital's node re-runs it and agrees: 500.00 eligible, 10.00 co-pay, 20% of 490.00
	ver, err := w.svc[0].VerifyAdjudication(ctx, clerk.ID, c1.ID)
	if err != nil || !ver.Agrees || ver.Posted.Benefit != 39200 || ver.Posted.PatientPays != 20800 {
		t.Fatalf("re-run on the hospital's node: %+v %v", ver, err)
	}
	// a rules change applies from its height on
	if _, err := w.svc[1].PublishRules(ctx, w.signers["ins/admin"], "gold", rules(30000)); err != nil {
		t.Fatal(err)
	}
	w.waitHeight(0, w.nodes[1].App().Latest().Height())
	pa2, err := w.svc[0].SubmitClaim(ctx, clerk, "pa-2", claimJSON("preauthorization", "cov-1", "70450", "400.00", "2026-12-05", markers[2]))
	if err != nil {
		t.Fatal(err)
	}
	if a := w.waitAdjudicated(0, pa2.ID); a.RulesVersion != 2 {
		t.Fatalf("a claim after the change adjudicated under version %d", a.RulesVersion)
	}
	ver2, err := w.svc[0].VerifyAdjudication(ctx, clerk.ID, pa2.ID)
	if err != nil || !ver2.Agrees || ver2.Posted.Eligible != 30000 {
		t.Fatalf("claim under v2: %+v %v", ver2, err)
	}
	if ver, err := w.svc[0].VerifyAdjudication(ctx, clerk.ID, c1.ID); err != nil || !ver.Agrees || ver.Recomputed.RulesVersion != 1 {
		t.Fatalf("claim-1 re-run after the change: %+v %v", ver, err)
	}
	// the patient reads their explanation of benefit with their own key
	w.svc[0].Keys().Add(w.patient.ID, w.patientK)
	if doc, err := w.svc[0].ReadClaim(ctx, w.patient.ID, c1.ID, "ExplanationOfBenefit"); err != nil || doc.Result.PatientPays != 20800 {
		t.Fatalf("the patient's EOB: %v", err)
	}
	// the insurer node's reads of the claim are in the patient's access log
	stop()
	if err := w.svc[1].Flush(ctx, w.signers["ins/node1"]); err != nil {
		t.Fatal(err)
	}
	w.waitHeight(0, w.nodes[1].App().Latest().Height())
	events, err := w.svc[0].AuditLog(w.patient.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(events, func(e records.Event) bool {
		return e.Requester == "ins/node1" && e.RecordID == c1.ID && e.ResourceType == "Claim" && e.Decision == carechain.DecisionAllow && e.Purpose == "billing"
	}) {
		t.Fatalf("the insurer node's read of %s is not in the access log: %+v", c1.ID, events)
	}
	noMarkersOnDisk(t, w, markers)
}
