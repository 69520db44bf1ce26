package demo

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

// The demo's clinical study: BioMed Research Institute (the sponsor)
// registers StudyID, whose ethics board is City General Hospital, reading
// the "lab" category of the patients who join, with a CEL eligibility
// criterion on fasting glucose, and commits its randomization seed (the
// SHA-256 of StudySeed, published: the demo's allocation protects nothing); patient
// StudyPatient (fasting glucose 122 mg/dL) joins and enrols themself, the
// criteria run over their records decrypted on this node; then BioMed
// proposes amendment 2 (a secondary endpoint added), which awaits the
// ethics board. So a patient can join
// and withdraw on the portal's Studies page, City General's admin decide
// the amendment on Study amendments, and BioMed's admin see the study on
// Sponsored studies. Seeded once: a chain that has the study keeps it.
const (
	StudyID          = "glyco-1"
	StudyTitle       = "Glycemic control with Quorvex in adults"
	StudySponsor     = "biomed"
	StudyEthicsBoard = "city-general"
	StudyAmendReason = "Weight change is a safety signal of the drug class"
	StudySeed        = "demo randomization seed of glyco-1"
)

// StudyPatient is the demo patient enrolled in the demo study.
var StudyPatient = PatientID(14)

// StudyProtocol is the demo study's protocol version 1.
func StudyProtocol() study.Protocol {
	doc, plan := sha256.Sum256([]byte("demo protocol "+StudyID)), sha256.Sum256([]byte("demo analysis plan "+StudyID))
	return study.Protocol{DocumentHash: doc[:], AnalysisPlanHash: plan[:],
		Endpoints:      []study.Endpoint{{ID: "fpg-6m", Kind: study.Primary, Description: "Fasting plasma glucose change at 6 months"}},
		Arms:           []study.Arm{{ID: "drug", Description: "Quorvex 10 mg daily"}, {ID: "placebo", Description: "Placebo"}},
		Eligibility:    "Adults with a fasting glucose of 100 mg/dL or more",
		Criteria:       []study.Criterion{{ID: "glucose", Expr: `"2345-7" in observations && observations["2345-7"] >= 100.0`}},
		DataCategories: []string{"lab"}}
}

// SeedStudy registers the demo study and its pending amendment, unless
// the study is registered.
func SeedStudy(ctx context.Context, svc *records.Service, chain Chain, ks *keystore.Store) error {
	v, err := chain.App().View(0)
	if err != nil {
		return err
	}
	if _, err := v.Study(StudyID); err == nil {
		return nil
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	sponsor, err := unlockSigner(ks, AdminID(StudySponsor))
	if err != nil {
		return err
	}
	p := StudyProtocol()
	if err := svc.RegisterStudy(ctx, sponsor, tx.StudyRegister{ID: StudyID, Title: StudyTitle, EthicsBoard: StudyEthicsBoard, Protocol: p}); err != nil {
		return fmt.Errorf("demo study: %w", err)
	}
	if err := enrolDemoPatient(ctx, svc, ks, sponsor, &p); err != nil {
		return err
	}
	p.Endpoints = append(p.Endpoints, study.Endpoint{ID: "weight-6m", Kind: study.Secondary, Description: "Body weight change at 6 months"})
	if err := svc.AmendStudy(ctx, sponsor, tx.StudyAmend{Study: StudyID, Version: 2, Protocol: p, Reason: StudyAmendReason}); err != nil {
		return fmt.Errorf("demo study amendment: %w", err)
	}
	return nil
}

// enrolDemoPatient commits the demo study's seed and has StudyPatient
// consent to the study (as the portal's Join does) and enrol themself.
func enrolDemoPatient(ctx context.Context, svc *records.Service, ks *keystore.Store, sponsor records.Signer, p *study.Protocol) error {
	seed := sha256.Sum256([]byte(StudySeed))
	hash := sha256.Sum256(seed[:])
	if err := svc.CommitStudySeed(ctx, sponsor, StudyID, hash[:]); err != nil {
		return fmt.Errorf("demo study seed: %w", err)
	}
	patient, err := unlockSigner(ks, StudyPatient)
	if err != nil {
		return err
	}
	g := consent.Grant{Patient: StudyPatient, Grantee: consent.Grantee{Org: StudySponsor}, Categories: p.DataCategories,
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeResearch},
		NotBefore: time.Now().Unix(), Study: StudyID}
	if _, err := svc.Grant(ctx, patient, g); err != nil {
		return fmt.Errorf("demo study consent: %w", err)
	}
	if _, err := svc.Enrol(ctx, patient, StudyID, StudyPatient); err != nil {
		return fmt.Errorf("demo study enrolment: %w", err)
	}
	return nil
}
