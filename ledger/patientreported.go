package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// Patient-entered data. A patient writes records of themselves, in the
// category carechain.CategoryPatientReported only, and changes only the
// records they wrote; nobody else writes in that category. So everything in
// it is patient-authored, and nothing patient-authored is anywhere else.
// Clinicians read it as any other category: under the patient's consent and
// their organization's role policy (the default lets clinicians read it).
//
// Already-committed blocks keep their outcomes. Before this rule every
// record.put signed by a patient was refused by CheckTx on every node, so
// none entered a mempool and no proposer following the protocol put one in
// a block. And no chain had the category patient-reported unless its genesis
// named one of its own (DefaultCategories did not, and no migration added
// it): a put into it was refused as an unknown category, whoever signed it.

// patientReportedKey marks a state whose chain has the patient-reported
// category and the role policies that read it: set at genesis, or by the
// migration of a chain that began without them (migratePatientReported).
const patientReportedKey = "param/patient-reported"

// mayWriteOwn checks that patient may write r: a record of themselves, in
// the patient-reported category, with their encryption key registered (the
// epoch keys they write under are wrapped to it). That they change only
// records they wrote is nextHead's rule.
func mayWriteOwn(r reader, patient *carechain.Principal, put *tx.RecordPut) *Rejection {
	switch {
	case put.Patient != patient.ID:
		return reject(CodeUnauthorized, "%s may not write records of %s: a patient writes records of themselves only", patient.ID, put.Patient)
	case put.Category != carechain.CategoryPatientReported:
		return reject(CodeUnauthorized, "a patient writes in the %s category only, not %s", carechain.CategoryPatientReported, put.Category)
	case !categoryKnown(r, put.Category):
		return reject(CodeInvalid, "unknown category %q", put.Category)
	case len(patient.EncryptionKey) == 0:
		return reject(CodeInvalid, "patient %s has no encryption key registered", patient.ID)
	}
	return nil
}

// mayChange refuses a change of head by someone who may not make it: a
// patient changes only the records they wrote, and nobody else changes
// those.
func mayChange(signer *carechain.Principal, head *carechain.RecordHead) *Rejection {
	switch {
	case signer.Kind == carechain.KindPatient && head.Owner != signer.ID:
		return reject(CodeUnauthorized, "record %s was not written by %s: a patient changes only the records they wrote", head.RecordID, signer.ID)
	case signer.Kind != carechain.KindPatient && head.PatientAuthored():
		return reject(CodeUnauthorized, "record %s was written by its patient: only they change it", head.RecordID)
	}
	return nil
}

// migratePatientReported brings a chain that began before patient-entered
// data to it, in the first block a carechain with it finalizes: the
// category patient-reported joins the chain's, and every organization whose
// role policy in force is the default from before (consent.DefaultRolePolicy
// without that category) gets today's default, which lets clinicians read
// it. An organization that wrote its own policy keeps it: its admins decide
// who reads patient-reported data. It runs in consensus, after
// migrateRolePolicies, so every node migrates at the same height. It
// returns the organizations whose policy it replaced, not nil, or nil if the
// chain was migrated already.
func migratePatientReported(b *store.Block) ([]string, error) {
	if _, err := b.Get(patientReportedKey); err == nil || !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var cats []string
	if err := getCBOR(b, categoriesKey, &cats); err != nil {
		return nil, fmt.Errorf("migrate to patient-reported records: %w", err)
	}
	if err := setCBOR(b, categoriesKey, withCategories(cats, []string{carechain.CategoryPatientReported})); err != nil {
		return nil, err
	}
	def := consent.DefaultRolePolicy()
	before, err := tx.Marshal(withoutCategory(def, carechain.CategoryPatientReported))
	if err != nil {
		return nil, err
	}
	migrated := []string{}
	orgs, err := orgIDs(b)
	if err != nil {
		return nil, err
	}
	for _, org := range orgs {
		var st RolePolicyState
		if err := getCBOR(b, rolePolicyKey(org), &st); errors.Is(err, ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		enc, err := tx.Marshal(st.Policy)
		if err != nil {
			return nil, fmt.Errorf("role policy of %s: %w", org, err)
		}
		if !bytes.Equal(enc, before) {
			continue
		}
		if err := putRolePolicy(b, org, def); err != nil {
			return nil, err
		}
		migrated = append(migrated, org)
	}
	return migrated, b.Set(patientReportedKey, []byte{1})
}

// withoutCategory is p with category taken out of every rule's lists.
func withoutCategory(p consent.RolePolicy, category string) consent.RolePolicy {
	out := consent.RolePolicy{Rules: make([]consent.RoleRule, len(p.Rules)), BreakGlass: p.BreakGlass}
	is := func(c string) bool { return c == category }
	for i, r := range p.Rules {
		r.Read = slices.DeleteFunc(slices.Clone(r.Read), is)
		r.Write = slices.DeleteFunc(slices.Clone(r.Write), is)
		out.Rules[i] = r
	}
	return out
}
