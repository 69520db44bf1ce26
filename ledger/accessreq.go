package ledger

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Access requests (tx.AccessRequest, tx.AccessAnswer): an active
// practitioner asks an active patient for access; the patient, or a
// delegate, answers once. A request opens nothing: access comes only from
// the patient's own consent.grant. A practitioner has at most one open
// request per patient, so a request cannot be repeated to flood the
// patient's list.

func init() {
	handle(tx.TypeAccessRequest, (*App).applyAccessRequest)
	handle(tx.TypeAccessAnswer, (*App).applyAccessAnswer)
}

// AccessRequest is a stored access request. Status is "open", or the
// answer (tx.AnswerGranted, tx.AnswerDeclined).
type AccessRequest struct {
	ID           string            `cbor:"1,keyasint" json:"id"`
	Patient      string            `cbor:"2,keyasint" json:"patient"`
	Requester    string            `cbor:"3,keyasint" json:"requester"`
	Categories   []string          `cbor:"4,keyasint" json:"categories"`
	Purposes     []consent.Purpose `cbor:"5,keyasint" json:"purposes"`
	SealedReason []byte            `cbor:"6,keyasint" json:"-"` // sealed to the patient
	Time         int64             `cbor:"7,keyasint" json:"time"`
	Status       string            `cbor:"8,keyasint" json:"status"`
	GrantID      string            `cbor:"9,keyasint,omitempty" json:"grant_id,omitempty"`
	AnsweredAt   int64             `cbor:"10,keyasint,omitempty" json:"answered_at,omitempty"`
}

// RequestOpen is the status of a request not answered yet.
const RequestOpen = "open"

// AccessRequestID is the ID the ledger gives the access.request
// transaction with hash h.
func AccessRequestID(h [32]byte) string { return "q-" + hex.EncodeToString(h[:6]) }

func accessRequestKey(patient, id string) string { return "accessreq/" + patient + "/" + id }

func (a *App) applyAccessRequest(b *store.Block, c *checked, body *tx.AccessRequest) *Rejection {
	if c.signer.Kind != carechain.KindPractitioner || c.signer.Status != carechain.StatusActive {
		return reject(CodeUnauthorized, "only an active practitioner requests access")
	}
	if p, err := getPrincipal(b, body.Patient); err != nil || p.Kind != carechain.KindPatient || p.Status != carechain.StatusActive {
		return reject(CodeInvalid, "%s is not an active patient", body.Patient)
	}
	for _, cat := range body.Categories {
		if !categoryKnown(b, cat) {
			return reject(CodeInvalid, "unknown category %q", cat)
		}
	}
	reqs, err := accessRequestsOf(b, body.Patient)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	for _, r := range reqs {
		if r.Requester == c.signer.ID && r.Status == RequestOpen {
			return reject(CodeConflict, "%s has an open request (%s) to %s already", c.signer.ID, r.ID, body.Patient)
		}
	}
	r := AccessRequest{ID: AccessRequestID(c.Hash), Patient: body.Patient, Requester: c.signer.ID, Categories: body.Categories,
		Purposes: body.Purposes, SealedReason: body.SealedReason, Time: c.now, Status: RequestOpen}
	if err := setLogged(b, accessRequestKey(r.Patient, r.ID), r, tlog.KindConsent, r.ID); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyAccessAnswer(b *store.Block, c *checked, body *tx.AccessAnswer) *Rejection {
	if rej := actsFor(b, c.signer, body.Patient); rej != nil {
		return rej
	}
	var r AccessRequest
	if err := getCBOR(b, accessRequestKey(body.Patient, body.RequestID), &r); errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "%s has no access request %s", body.Patient, body.RequestID)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if r.Status != RequestOpen {
		return reject(CodeConflict, "access request %s was answered already (%s)", r.ID, r.Status)
	}
	if body.GrantID != "" {
		if _, err := b.Get(grantKey(body.Patient, body.GrantID)); err != nil {
			return reject(CodeInvalid, "%s has no grant %s", body.Patient, body.GrantID)
		}
	}
	r.Status, r.GrantID, r.AnsweredAt = body.Answer, body.GrantID, c.now
	if err := setLogged(b, accessRequestKey(r.Patient, r.ID), r, tlog.KindConsent, r.ID); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// accessRequestsOf is patient's access requests, in ID order.
func accessRequestsOf(r reader, patient string) ([]AccessRequest, error) {
	out, err := scanValues[AccessRequest](r, accessRequestKey(patient, ""))
	if err != nil {
		return nil, fmt.Errorf("access requests of %s: %w", patient, err)
	}
	return out, nil
}

// AccessRequests returns patient's access requests, in ID order.
func (v *View) AccessRequests(patient string) ([]AccessRequest, error) {
	return accessRequestsOf(v, patient)
}
