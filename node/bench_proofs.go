package node

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// ProofsBenchReport is the outcome of BenchProofs.
type ProofsBenchReport struct {
	Records         int
	Blocks          int64
	ProofsPerSecond float64 // bundle generation by a running node
	VerifyPerSecond float64 // offline verification of a bundle
	BundleBytes     int
	VerifyHome      time.Duration // `carechain verify` of the stopped home
}

// BenchProofs writes n records into a one-validator node, measures proof
// generation and offline verification, stops the node and times VerifyHome.
func BenchProofs(ctx context.Context, n, proofs int) (ProofsBenchReport, error) {
	rep := ProofsBenchReport{Records: n}
	bn, err := startRecordsBench(ctx, "carechain-bench-proofs")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	nd, svc, admin, chainID, h := bn.node, bn.svc, bn.admin.Key, bn.chainID, bn.home
	_, drKey, _ := ed25519.GenerateKey(nil)
	dr := records.Signer{ID: "bench/dr", Key: drKey}
	pek, err := seal.GenerateKey()
	if err != nil {
		return rep, err
	}
	_, patientKey, _ := ed25519.GenerateKey(nil)
	var setup [][]byte
	for i, r := range []*tx.Register{
		{ID: dr.ID, Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician}, PublicKey: drKey.Public().(ed25519.PublicKey)},
		{ID: "patient/bench", Kind: carechain.KindPatient, PublicKey: patientKey.Public().(ed25519.PublicKey), EncryptionKey: pek.Public().Bytes()},
	} {
		raw, err := tx.Sign(admin, chainID, "bench/admin", uint64(i+1), tx.TypeRegister, r)
		if err != nil {
			return rep, err
		}
		setup = append(setup, raw)
	}
	if err := allAccepted(nd.SubmitAll(ctx, setup)); err != nil {
		return rep, err
	}
	if _, err := svc.Put(ctx, dr, "patient/bench", "lab", "b-0", benchObservation(0)); err != nil {
		return rep, err
	}
	work := make([][]byte, n-1)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n-1; i += 2 {
				raw, err := svc.PreparePut(dr, uint64(i+2), "patient/bench", "lab", fmt.Sprintf("b-%d", i+1), 1, benchObservation(i))
				if err != nil {
					errs[w] = err
					return
				}
				work[i] = raw
			}
		}()
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return rep, err
	}
	if _, err := nd.pipeline(ctx, work, 1000); err != nil {
		return rep, err
	}
	vj, err := nd.Validators(ctx)
	if err != nil {
		return rep, err
	}
	trusted, err := proof.ParseValidators(vj)
	if err != nil {
		return rep, err
	}
	// Wait for a checkpoint that covers the last record.
	var bundles []*proof.Bundle
	for {
		_, err := nd.Prove(ctx, tlog.KindRecord, ledger.RecordLogKey(fmt.Sprintf("b-%d", n-1), 1))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return rep, err
		}
		time.Sleep(10 * time.Millisecond)
	}
	begin := time.Now()
	for i := range proofs {
		b, err := nd.Prove(ctx, tlog.KindRecord, ledger.RecordLogKey(fmt.Sprintf("b-%d", (i*7919)%n), 1))
		if err != nil {
			return rep, err
		}
		bundles = append(bundles, b)
	}
	rep.ProofsPerSecond = float64(proofs) / time.Since(begin).Seconds()
	enc, _ := proof.Encode(bundles[0])
	rep.BundleBytes = len(enc)
	begin = time.Now()
	for _, b := range bundles {
		if err := proof.Verify(b, trusted); err != nil {
			return rep, err
		}
	}
	rep.VerifyPerSecond = float64(len(bundles)) / time.Since(begin).Seconds()
	if err := nd.Stop(); err != nil {
		return rep, err
	}
	begin = time.Now()
	vr, err := VerifyHome(h, nil)
	if err != nil {
		return rep, err
	}
	rep.VerifyHome, rep.Blocks = time.Since(begin), vr.Blocks
	if vr.Records != n {
		return rep, fmt.Errorf("verify saw %d records, wrote %d", vr.Records, n)
	}
	return rep, nil
}
