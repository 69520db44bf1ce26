package ledger

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Record state. A record is a chain of versions of one FHIR resource of one
// patient; versions are append-only. Ciphertexts are stored as submitted: the
// ledger never holds a key that opens them. It checks the structure of key
// wraps (who they are for), not their contents, which only readers can open.

// EpochState is the current epoch of a patient's category and who holds its key.
type EpochState struct {
	Epoch   uint32   `cbor:"1,keyasint" json:"epoch"`
	Readers []string `cbor:"2,keyasint" json:"readers"` // sorted: patient IDs and organization IDs
}

// StoredGrant is a consent grant with ledger metadata.
type StoredGrant struct {
	consent.Grant `cbor:"1,keyasint"`
	Emergency     bool   `cbor:"2,keyasint" json:"emergency,omitempty"`
	SealedReason  []byte `cbor:"3,keyasint" json:"-"` // an emergency access's reason, sealed to the patient
	Height        int64  `cbor:"4,keyasint" json:"height"`
}

// Grants are a patient's stored grants.
type Grants []StoredGrant

// Plain returns the grants as consent evaluates them.
func (gs Grants) Plain() []consent.Grant {
	out := make([]consent.Grant, len(gs))
	for i, g := range gs {
		out[i] = g.Grant
	}
	return out
}

// Find returns the grant with id, or nil.
func (gs Grants) Find(id string) *StoredGrant {
	for i := range gs {
		if gs[i].ID == id {
			return &gs[i]
		}
	}
	return nil
}

// IsEmergency reports whether grant id is an emergency (break-glass) grant.
func (gs Grants) IsEmergency(id string) bool {
	g := gs.Find(id)
	return g != nil && g.Emergency
}

func recordKey(id string) string { return "record/" + id }

// RecordLogKey names a record version in the Merkle log.
func RecordLogKey(id string, version uint64) string { return fmt.Sprintf("%s/%d", id, version) }
func versionKey(id string, v uint64) string {
	return fmt.Sprintf("version/%s/%020d", id, v)
}
func patientRecordKey(patient, id string) string { return "patient-record/" + patient + "/" + id }
func epochKey(patient, category string) string   { return "epoch/" + patient + "/" + category }
func authorsKey(patient, category string) string {
	return "authors/" + patient + "/" + category
}
func wrapKey(patient, category string, epoch uint32, reader string) string {
	return fmt.Sprintf("wrap/%s/%s/%010d/%s", patient, category, epoch, reader)
}
func grantKey(patient, id string) string { return "grant/" + patient + "/" + id }
func emergencyKey(patient string) string { return "emergency/" + patient }

// readerOf names the reader that holds a grantee's keys (consent's rule).
func readerOf(r reader, g consent.Grantee) (string, error) {
	return g.Reader(func(id string) (*carechain.Principal, error) { return getPrincipal(r, id) })
}

// readerKey returns the HPKE public key of a reader (a patient or an organization).
func readerKey(r reader, id string) ([]byte, error) {
	if strings.HasPrefix(id, carechain.PatientPrefix) {
		p, err := getPrincipal(r, id)
		if err != nil {
			return nil, err
		}
		return p.EncryptionKey, nil
	}
	o, err := getOrg(r, id)
	if err != nil {
		return nil, err
	}
	return o.EncryptionKey, nil
}

func grantsOf(r reader, patient string) (Grants, error) {
	return scanValues[StoredGrant](r, "grant/"+patient+"/")
}

// requiredReaders is who must hold the key of a patient's category: the
// patient, every organization that wrote in it, the readers named by active
// read grants covering it, and the organizations holding it in escrow for the
// patient's emergency rule; never an organization removed from the
// consortium (removal.go).
func requiredReaders(r reader, patient, category string, now int64) ([]string, error) {
	return readersWithout(r, patient, category, now, Without{})
}

// Without names what to leave out when computing the readers a category
// will need: a grant about to be revoked (and the grant about to replace
// it), a delegate about to be removed, an emergency rule about to be cleared.
type Without struct {
	Grant       string         // a grant ID
	Replacement *consent.Grant // a grant that takes Grant's place in the same transaction
	Delegate    string         // a delegate's principal ID
	Emergency   bool           // the patient's emergency rule (its escrow organizations)
}

// readersWithout is requiredReaders as it will be once w is gone.
func readersWithout(r reader, patient, category string, now int64, w Without) ([]string, error) {
	set := map[string]bool{patient: true}
	var authors []string
	if err := getCBOR(r, authorsKey(patient, category), &authors); err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	for _, o := range authors {
		set[o] = true
	}
	grants, err := grantsOf(r, patient)
	if err != nil {
		return nil, err
	}
	plain := grants.Plain()
	if w.Replacement != nil {
		plain = append(plain, *w.Replacement)
	}
	for _, g := range plain {
		if g.ID == w.Grant || !g.NeedsKeys(category, now) {
			continue
		}
		rd, err := readerOf(r, g.Grantee)
		if err != nil {
			return nil, err
		}
		set[rd] = true
	}
	var escrow []string
	if !w.Emergency {
		escrow, err = escrowOrgs(r, patient, category)
	}
	if err != nil {
		return nil, err
	}
	for _, o := range escrow {
		set[o] = true
	}
	prefix := "delegate/" + patient + "/"
	err = scanKeys(r, prefix, func(k string) {
		if d := strings.TrimPrefix(k, prefix); d != w.Delegate {
			set[d] = true
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return withoutRemoved(r, out)
}

// withoutRemoved is readers without the organizations removed from the
// consortium: nothing written after a removal is sealed to its keys.
func withoutRemoved(r reader, readers []string) ([]string, error) {
	out := make([]string, 0, len(readers))
	for _, rd := range readers {
		removed, err := isRemovedReader(r, rd)
		if err != nil {
			return nil, err
		}
		if !removed {
			out = append(out, rd)
		}
	}
	return out, nil
}

// escrowOrgs are the organizations (with encryption keys) that a patient's
// emergency rule admits, for a category it covers.
func escrowOrgs(r reader, patient, category string) ([]string, error) {
	var rule consent.EmergencyRule
	if err := getCBOR(r, emergencyKey(patient), &rule); errors.Is(err, ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	if !rule.Covers(category) {
		return nil, nil
	}
	orgs, err := scanValues[carechain.Organization](r, orgKey(""))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range orgs {
		if len(o.EncryptionKey) > 0 && rule.Admits(o.Type) {
			out = append(out, o.ID)
		}
	}
	return withoutRemoved(r, out)
}

func getEpoch(r reader, patient, category string) (EpochState, error) {
	var e EpochState
	err := getCBOR(r, epochKey(patient, category), &e)
	if errors.Is(err, ErrNotFound) {
		return EpochState{}, nil
	}
	return e, err
}

// startEpoch checks that ne wraps the next epoch's key to exactly want, and stores it.
func startEpoch(b *store.Block, patient string, cur EpochState, ne *tx.NewEpoch, want []string) *Rejection {
	if ne.Epoch != cur.Epoch+1 {
		return reject(CodeStaleEpoch, "category %s of %s is at epoch %d: a new epoch must be %d", ne.Category, patient, cur.Epoch, cur.Epoch+1)
	}
	var got []string
	for _, w := range ne.Wraps {
		got = append(got, w.Reader)
	}
	slices.Sort(got)
	for _, rd := range got {
		if removed, err := isRemovedReader(b, rd); err != nil {
			return reject(CodeInternal, "%v", err)
		} else if removed {
			return reject(CodeStaleEpoch, "epoch %d of %s/%s is wrapped to %s, which was removed from the consortium: wrap it to %v", ne.Epoch, patient, ne.Category, rd, want)
		}
	}
	if !slices.Equal(got, want) {
		return reject(CodeStaleEpoch, "epoch %d of %s/%s must be wrapped to exactly %v, got %v", ne.Epoch, patient, ne.Category, want, got)
	}
	for _, rd := range want {
		if k, err := readerKey(b, rd); err != nil || len(k) == 0 {
			return reject(CodeInvalid, "reader %s has no encryption key", rd)
		}
	}
	for _, w := range ne.Wraps {
		if rej := checkWrapCurrent(b, w.Reader, w.Wrapped); rej != nil {
			return rej
		}
	}
	for _, w := range ne.Wraps {
		if err := b.Set(wrapKey(patient, ne.Category, ne.Epoch, w.Reader), w.Wrapped); err != nil {
			return reject(CodeInternal, "%v", err)
		}
	}
	if err := setCBOR(b, epochKey(patient, ne.Category), EpochState{Epoch: ne.Epoch, Readers: want}); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func init() {
	handle(tx.TypeRecordPut, (*App).applyRecordPut)
	handle(tx.TypeRecordBatch, (*App).applyRecordBatch)
}

// applyRecordBatch writes every version of a batch, or none (the caller's
// child block is dropped on rejection).
func (a *App) applyRecordBatch(b *store.Block, c *checked, body *tx.RecordBatch) *Rejection {
	for i := range body.Puts {
		if rej := a.applyRecordPut(b, c, &body.Puts[i]); rej != nil {
			return reject(rej.Code, "entry %d: %s", i, rej.Msg)
		}
	}
	return nil
}

func (a *App) applyRecordPut(b *store.Block, c *checked, r *tx.RecordPut) *Rejection {
	return a.putRecord(b, c.signer, c.now, r, "")
}

// putRecord writes r as a version authored by signer. proposal, if set, is
// the approved amendment that commits it; otherwise an edit of a locked
// record, or of one whose owner has an approval policy, is refused. The
// steps run in a fixed order, so each failure has one code.
func (a *App) putRecord(b *store.Block, signer *carechain.Principal, now int64, r *tx.RecordPut, proposal string) *Rejection {
	if rej := checkBasedOn(b, r); rej != nil { // orders.go: a closed order is a conflict, whoever writes
		return rej
	}
	if rej := refuseMerged(b, r.Patient); rej != nil { // merge.go: a replaced patient gets no new versions
		return rej
	}
	if rej := a.mayWrite(b, signer, now, r); rej != nil {
		return rej
	}
	head, rej := nextHead(b, signer, r, proposal)
	if rej != nil {
		return rej
	}
	if rej := writeEpoch(b, signer, now, r); rej != nil {
		return rej
	}
	if signer.Kind != carechain.KindPatient { // the patient always holds the keys
		if rej := addAuthor(b, r.Patient, r.Category, signer.Org); rej != nil {
			return rej
		}
	}
	if r.Deleted && r.Version == 1 {
		return reject(CodeInvalid, "record %s does not exist: nothing to delete", r.RecordID)
	}
	if rej := book(b, signer, now, r); rej != nil { // booking.go
		return rej
	}
	if rej := dispense(b, r); rej != nil { // dispensing.go
		return rej
	}
	if rej := a.mayName(b, signer, now, r); rej != nil { // orders.go
		return rej
	}
	if rej := applyOrder(b, signer, now, r); rej != nil { // orders.go
		return rej
	}
	if rej := addResult(b, signer, now, r); rej != nil { // orders.go
		return rej
	}
	if rej := putBlob(b, r); rej != nil { // blobs.go
		return rej
	}
	head.Latest, head.Deleted = r.Version, r.Deleted
	if proposal != "" {
		head.Locked = true // from now on, every change needs an approved proposal
	}
	authorOrg := signer.Org
	if signer.Kind == carechain.KindPatient {
		authorOrg = "" // a patient writes for no organization
	}
	v := carechain.RecordVersion{
		RecordID: r.RecordID, Version: r.Version, Patient: r.Patient, Category: r.Category, ResourceType: r.ResourceType,
		Author: signer.ID, AuthorOrg: authorOrg, Height: b.Height(), Time: now, Epoch: r.Epoch,
		CiphertextHash: r.CiphertextHash, Ciphertext: r.Ciphertext, WrappedKey: r.WrappedKey, Deleted: r.Deleted,
		Proposal: proposal, Blob: blobOf(r),
	}
	if err := setCBOR(b, recordKey(r.RecordID), head); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setLogged(b, versionKey(r.RecordID, r.Version), v, tlog.KindRecord, RecordLogKey(r.RecordID, r.Version)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := b.Set(patientRecordKey(r.Patient, r.RecordID), []byte{1}); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// mayWrite checks that signer may write r: the patient, of themselves, in
// the patient-reported category (mayWriteOwn); else a practitioner, in any
// other known category, for a registered patient with an encryption key,
// and, deny by default, of the patient's registering organization or
// holding a write grant, and in a role its organization's role policy lets
// write the category (unless the grant names the signer personally:
// consent.Evaluator.Decide).
func (a *App) mayWrite(b *store.Block, signer *carechain.Principal, now int64, r *tx.RecordPut) *Rejection {
	if signer.Kind == carechain.KindPatient {
		return mayWriteOwn(b, signer, r)
	}
	if r.Category == carechain.CategoryPatientReported {
		return reject(CodeUnauthorized, "%s records are written by their patient only", r.Category)
	}
	patient, err := getPrincipal(b, r.Patient)
	if errors.Is(err, ErrNotFound) || (err == nil && patient.Kind != carechain.KindPatient) {
		return reject(CodeInvalid, "%q is not a registered patient", r.Patient)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if len(patient.EncryptionKey) == 0 {
		return reject(CodeInvalid, "patient %s has no encryption key registered", r.Patient)
	}
	if !categoryKnown(b, r.Category) {
		return reject(CodeInvalid, "unknown category %q", r.Category)
	}
	var extra []consent.Grant
	if og := orderWriteGrant(b, signer, r); og != nil { // orders.go
		extra = append(extra, *og)
	}
	d, err := a.decide(b, patient, consent.Request{
		Requester: signer, Patient: r.Patient, RecordID: r.RecordID, Category: r.Category,
		ResourceType: r.ResourceType, Action: consent.ActionWrite, Purpose: consent.PurposeTreatment, Time: now,
	}, extra...)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if !d.Allowed {
		return reject(CodeDenied, "%s may not write records of %s: %s", signer.ID, r.Patient, d.Reason)
	}
	return nil
}

// decide is the consent decision on req, a practitioner's request about
// patient: the patient's grants and extra, the requester's organization's
// role policy, and whether it registered the patient.
func (a *App) decide(b *store.Block, patient *carechain.Principal, req consent.Request, extra ...consent.Grant) (consent.Decision, error) {
	grants, err := grantsOf(b, req.Patient)
	if err != nil {
		return consent.Decision{}, err
	}
	policy, err := a.rolePolicy(b, req.Requester.Org)
	if err != nil {
		return consent.Decision{}, err
	}
	own := ""
	if req.Requester.Org == patient.Org {
		own = "the patient's registering organization"
	}
	req.Credentials = consentCredentials(b, req.Requester.ID, req.Time) // judged at block time
	return a.evaluator.Decide(append(grants.Plain(), extra...), req, policy, own), nil
}

// nextHead returns the head r extends: a new one for version 1 of a new
// record, else the current head, which r must follow exactly.
func nextHead(b *store.Block, signer *carechain.Principal, r *tx.RecordPut, proposal string) (carechain.RecordHead, *Rejection) {
	var head carechain.RecordHead
	switch err := getCBOR(b, recordKey(r.RecordID), &head); {
	case errors.Is(err, ErrNotFound):
		if r.Version != 1 {
			return head, reject(CodeInvalid, "record %s does not exist: the first version is 1", r.RecordID)
		}
		// Its owner: the author's organization, or a patient themselves.
		return carechain.RecordHead{RecordID: r.RecordID, Patient: r.Patient, Category: r.Category, ResourceType: r.ResourceType, Owner: consent.ReaderOf(signer)}, nil
	case err != nil:
		return head, reject(CodeInternal, "%v", err)
	}
	if rej := mayChange(signer, &head); rej != nil {
		return head, rej
	}
	if proposal == "" {
		if rej := needsApproval(b, &head); rej != nil {
			return head, rej
		}
	}
	switch {
	case head.Patient != r.Patient || head.Category != r.Category || head.ResourceType != r.ResourceType:
		return head, reject(CodeConflict, "record %s is a %s of another patient or category", r.RecordID, head.ResourceType)
	case r.Version != head.Latest+1:
		return head, reject(CodeStaleVersion, "record %s is at version %d: the next version is %d", r.RecordID, head.Latest, head.Latest+1)
	case r.Deleted && head.Deleted:
		return head, reject(CodeConflict, "record %s is already deleted", r.RecordID)
	}
	return head, nil
}

// writeEpoch checks the epoch r is written under: the current one, which
// the author must be able to read (through their organization, or a patient
// with their own key), or the next one, started by r and wrapped to
// everyone who must read it.
func writeEpoch(b *store.Block, signer *carechain.Principal, now int64, r *tx.RecordPut) *Rejection {
	author := consent.ReaderOf(signer)
	cur, err := getEpoch(b, r.Patient, r.Category)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if r.NewEpoch != nil {
		want, err := nextEpochReaders(b, r.Patient, r.Category, author, now, cur)
		if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		return startEpoch(b, r.Patient, cur, r.NewEpoch, want)
	}
	if cur.Epoch == 0 || r.Epoch != cur.Epoch {
		return reject(CodeStaleEpoch, "category %s of %s is at epoch %d: write under it or start epoch %d", r.Category, r.Patient, cur.Epoch, cur.Epoch+1)
	}
	if !slices.Contains(cur.Readers, author) {
		return reject(CodeInvalid, "the key of epoch %d is not wrapped to %s: start a new epoch that covers the patient and the author's organization", cur.Epoch, author)
	}
	if rd, err := staleReader(b, r.Patient, r.Category, cur); err != nil {
		return reject(CodeInternal, "%v", err)
	} else if rd != "" {
		if removed, _ := isRemovedReader(b, rd); removed {
			return reject(CodeStaleEpoch, "the key of epoch %d of %s/%s is wrapped to %s, which was removed from the consortium: start epoch %d", cur.Epoch, r.Patient, r.Category, rd, cur.Epoch+1)
		}
		return reject(CodeStaleEpoch, "the key of epoch %d of %s/%s is wrapped to a key %s has replaced: start epoch %d", cur.Epoch, r.Patient, r.Category, rd, cur.Epoch+1)
	}
	return nil
}

// nextEpochReaders is who the epoch after cur of a patient's category is
// wrapped to when a write by author (a reader) starts it: the required
// readers, the author and cur's readers. Nobody loses a key by a write:
// only a revoke, or the reader's removal from the consortium, shrinks the
// readers.
func nextEpochReaders(r reader, patient, category, author string, now int64, cur EpochState) ([]string, error) {
	want, err := requiredReaders(r, patient, category, now)
	if err != nil {
		return nil, err
	}
	kept, err := withoutRemoved(r, append([]string{author}, cur.Readers...))
	if err != nil {
		return nil, err
	}
	return consent.AddReaders(want, kept...), nil
}

// addAuthor records org as an author of the patient's category: authors
// always hold its keys.
func addAuthor(b *store.Block, patient, category, org string) *Rejection {
	var authors []string
	if err := getCBOR(b, authorsKey(patient, category), &authors); err != nil && !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	if slices.Contains(authors, org) {
		return nil
	}
	if err := setCBOR(b, authorsKey(patient, category), consent.AddReaders(authors, org)); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// categoryKnown reports whether the chain has category. On a chain not yet
// migrated to patient-entered data, patient-reported is known already: the
// next block adds it (migratePatientReported) before it judges anything, so
// CheckTx judges by that, not refusing patients' writes meanwhile.
func categoryKnown(r reader, category string) bool {
	if category == carechain.CategoryPatientReported {
		if _, err := r.Get(patientReportedKey); errors.Is(err, store.ErrNotFound) {
			return true
		}
	}
	var cats []string
	if err := getCBOR(r, categoriesKey, &cats); err != nil {
		return false
	}
	return slices.Contains(cats, category)
}

// checkEncryptionKey validates an HPKE public key given at registration or rotation.
func checkEncryptionKey(k []byte) *Rejection {
	if len(k) == 0 {
		return nil
	}
	if _, err := seal.ParsePublicKey(k); err != nil {
		return reject(CodeInvalid, "encryption key: %v", err)
	}
	return nil
}
