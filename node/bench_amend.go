package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// AmendBenchReport is the outcome of BenchAmend.
type AmendBenchReport struct {
	Proposals          int
	ProposeToCommitP50 time.Duration // one proposal, four signers approving one after another
	ProposeToCommitP99 time.Duration
	ApprovalsPerSecond float64 // with proposals in parallel
}

// BenchAmend measures multi-party approval on one node: proposal-to-commit
// latency with four signers (all-of: hospital authority, head of radiology,
// specialist, patient) approving in turn, and approvals per second with
// `parallel` proposals in flight.
func BenchAmend(ctx context.Context, proposals, parallel int) (AmendBenchReport, error) {
	rep := AmendBenchReport{Proposals: proposals}
	bn, err := startRecordsBench(ctx, "carechain-bench-amend")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	svc := bn.svc
	signer := func(id string) records.Signer {
		_, k, _ := ed25519.GenerateKey(nil)
		return records.Signer{ID: id, Key: k}
	}
	rad, auth, head, spec, pat := signer("bench/rad"), signer("bench/authority"), signer("bench/head"), signer("bench/spec"), signer("patient/bench")
	pek, err := seal.GenerateKey()
	if err != nil {
		return rep, err
	}
	var regs [][]byte
	for i, r := range []struct {
		s    records.Signer
		role carechain.Role
	}{{rad, carechain.RoleRadiologist}, {auth, carechain.RoleHospitalAuthority}, {head, carechain.RoleHeadOfRadiology}, {spec, carechain.RoleSpecialist}, {pat, ""}} {
		reg := &tx.Register{ID: r.s.ID, Kind: carechain.KindPractitioner, Roles: []carechain.Role{r.role}, PublicKey: r.s.Key.Public().(ed25519.PublicKey)}
		if r.role == "" {
			reg = &tx.Register{ID: r.s.ID, Kind: carechain.KindPatient, PublicKey: r.s.Key.Public().(ed25519.PublicKey), EncryptionKey: pek.Public().Bytes()}
		}
		raw, err := tx.Sign(bn.admin.Key, bn.chainID, bn.admin.ID, uint64(i+1), tx.TypeRegister, reg)
		if err != nil {
			return rep, err
		}
		regs = append(regs, raw)
	}
	if err := allAccepted(bn.node.SubmitAll(ctx, regs)); err != nil {
		return rep, err
	}
	report := func(i int, text string) []byte {
		return fmt.Appendf(nil, `{"resourceType":"DiagnosticReport","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"36643-5"}]},
"subject":{"reference":"Patient/bench"},"conclusion":"%s %d"}`, text, i)
	}
	items := make([]records.PutItem, proposals)
	for i := range items {
		items[i] = records.PutItem{Patient: pat.ID, Category: "imaging", RecordID: fmt.Sprintf("xr-%d", i), Resource: report(i, "No acute findings.")}
	}
	for start := 0; start < len(items); start += tx.MaxBatch {
		if _, err := svc.PutBatch(ctx, rad, items[start:min(start+tx.MaxBatch, len(items))]); err != nil {
			return rep, err
		}
	}
	if err := svc.SetPolicy(ctx, bn.admin, tx.AmendPolicy{Org: "bench", Category: "imaging", Rule: tx.Rule{Kind: tx.AllOf, Terms: []tx.Term{
		{Role: carechain.RoleHospitalAuthority, Org: "bench"}, {Role: carechain.RoleHeadOfRadiology, Org: "bench"}, {Role: carechain.RoleSpecialist, Org: "bench"}, {Patient: true}}}}); err != nil {
		return rep, err
	}
	amend := func(i int) (time.Duration, error) {
		t0 := time.Now()
		id, err := svc.Propose(ctx, rad, fmt.Sprintf("xr-%d", i), report(i, "Corrected:"), "correction", time.Hour)
		if err != nil {
			return 0, err
		}
		for _, s := range []records.Signer{auth, head, spec, pat} {
			if err := svc.Approve(ctx, s, id); err != nil {
				return 0, err
			}
		}
		return time.Since(t0), nil
	}
	// Latency: one at a time.
	sequential := min(20, proposals/2)
	var lat []time.Duration
	for i := range sequential {
		d, err := amend(i)
		if err != nil {
			return rep, err
		}
		lat = append(lat, d)
	}
	slices.Sort(lat)
	rep.ProposeToCommitP50, rep.ProposeToCommitP99 = lat[len(lat)/2], lat[len(lat)*99/100]
	// Throughput: the rest in parallel.
	var wg sync.WaitGroup
	errs := make([]error, parallel)
	begin := time.Now()
	for w := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := sequential + w; i < proposals; i += parallel {
				if _, err := amend(i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return rep, err
	}
	rep.ApprovalsPerSecond = float64(4*(proposals-sequential)) / time.Since(begin).Seconds()
	return rep, nil
}
