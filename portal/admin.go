package portal

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// The organization admin's pages: the staff and their roles, with forms
// to register a practitioner and to revoke a key; the enrolment of a
// patient with a code shown once; the organization's policies (policies.go)
// and the node's status (nodestatus.go). Each form is the transaction
// `carechain tx register` or `tx revoke` builds, signed with the admin's
// key, which this node keeps (it is in the node's keystore: sign-in opened
// it), and judged by the ledger's rules, not the portal's: the portal only
// shows what it lets an admin do.

func (p *Portal) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /portal/admin", p.secured(p.admin(p.staff)))
	mux.HandleFunc("POST /portal/admin/staff", p.secured(p.posted(p.admin(p.addStaff))))
	mux.HandleFunc("POST /portal/admin/revoke", p.secured(p.posted(p.admin(p.revokeStaff))))
	mux.HandleFunc("POST /portal/admin/roles", p.secured(p.posted(p.admin(p.setStaffRoles))))
	mux.HandleFunc("POST /portal/admin/enrol", p.secured(p.posted(p.admin(p.enrol))))
	mux.HandleFunc("GET /portal/admin/policies", p.secured(p.admin(p.policies)))
	mux.HandleFunc("POST /portal/admin/policies/role", p.secured(p.posted(p.admin(p.setRolePolicy))))
	mux.HandleFunc("POST /portal/admin/policies/approval", p.secured(p.posted(p.admin(p.setApprovalPolicy))))
	mux.HandleFunc("GET /portal/admin/node", p.secured(p.admin(p.nodeStatus)))
}

// admin is a page for signed-in organization admins only.
func (p *Portal) admin(h handler) http.HandlerFunc {
	return p.signedIn(p.only(carechain.KindAdmin, h))
}

// staffPage is an organization's people and the admin's forms.
type staffPage struct {
	Org, OrgName string
	Staff        []staffRow
	Roles        []string
	Enrols       bool // this node can keep new keys (a keystore)
	Done         string
}

type staffRow struct {
	ID, Name, Kind, Roles, Status string
	KeyVersion                    uint32
	RegisteredAt                  int64
	Revocable                     bool
}

// staffDone are the messages the admin's forms redirect with (?done=...).
var staffDone = map[string]string{
	"revoked": "The key is revoked: the ledger refuses its signatures from now on.",
	"roles":   "The new roles are on the ledger: the role policy applies them from now on.",
}

// staff lists the admin's organization's staff, admins and nodes (patients
// are not listed: they are the patients', not the organization's).
func (p *Portal) staff(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	ps, err := v.Principals(s.who.Org)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	page := staffPage{Org: s.who.Org, OrgName: s.who.Org, Enrols: p.keystore != nil, Done: staffDone[r.URL.Query().Get("done")]}
	if o, err := v.Organization(s.who.Org); err == nil && o.Name != "" {
		page.OrgName = o.Name
	}
	for _, pr := range ps {
		if pr.Kind == carechain.KindPatient {
			continue
		}
		roles := make([]string, len(pr.Roles))
		for i, role := range pr.Roles {
			roles[i] = string(role)
		}
		page.Staff = append(page.Staff, staffRow{ID: pr.ID, Name: pr.Name, Kind: string(pr.Kind), Roles: strings.Join(roles, ", "),
			Status: string(pr.Status), KeyVersion: pr.KeyVersion, RegisteredAt: pr.RegisteredAt,
			Revocable: pr.Status == carechain.StatusActive && pr.ID != s.who.ID})
	}
	for _, role := range carechain.Roles() {
		page.Roles = append(page.Roles, string(role))
	}
	p.render(w, s, http.StatusOK, "admin", "Staff of "+page.OrgName, page)
}

// enrolled is what an enrolment shows, once: the new identity and the
// code that opens its keys on this node.
type enrolled struct {
	ID, Short, Code string
	Patient         bool
	// Desk: registered at the registration desk (desk.go), with the
	// records written then; Problem says what of them was not.
	Desk    bool
	Problem string
}

// addStaff registers a practitioner of the admin's organization with the
// roles chosen: with the public key pasted (the practitioner holds the
// key), or, if none is, a key this node makes and keeps under an enrolment
// code shown once.
func (p *Portal) addStaff(w http.ResponseWriter, r *http.Request, s *session) {
	f := r.PostForm
	name := strings.TrimSpace(f.Get("id"))
	reg := tx.Register{ID: s.who.Org + "/" + name, Kind: carechain.KindPractitioner, Name: strings.TrimSpace(f.Get("name"))}
	for _, role := range f["role"] {
		reg.Roles = append(reg.Roles, carechain.Role(role))
	}
	// Checked before a key is made for it; records.Register validates the
	// whole transaction again.
	if err := carechain.ValidatePrincipalID(reg.ID); err != nil || strings.Contains(name, "/") || reg.Name == "" ||
		slices.ContainsFunc(reg.Roles, func(r carechain.Role) bool { return !r.Valid() }) {
		p.fail(w, r, s, http.StatusBadRequest, "The practitioner was not registered: give a name for the identity (lower-case letters, digits, dashes), a display name and known roles.")
		return
	}
	if _, err := p.app.Latest().Principal(reg.ID); err == nil {
		p.fail(w, r, s, http.StatusConflict, "The practitioner was not registered: "+reg.ID+" already exists (identities are never reused).")
		return
	}
	var out enrolled
	if pub := strings.TrimSpace(f.Get("pubkey")); pub != "" {
		key, err := decodePublicKey(pub)
		if err != nil {
			p.fail(w, r, s, http.StatusBadRequest, "The practitioner was not registered: "+err.Error())
			return
		}
		reg.PublicKey = key
	} else {
		var made bool
		if out, reg.PublicKey, _, made = p.newKeys(w, r, s, reg.ID, false); !made {
			return
		}
	}
	p.register(w, r, s, reg, out)
}

// enrol registers a new patient at the admin's organization, with keys this
// node makes and keeps under an enrolment code shown once: the patient
// signs in with the pseudonym and the code.
func (p *Portal) enrol(w http.ResponseWriter, r *http.Request, s *session) {
	id := carechain.NewPatientID()
	out, pub, enc, ok := p.newKeys(w, r, s, id, true)
	if !ok {
		return
	}
	p.register(w, r, s, tx.Register{ID: id, Kind: carechain.KindPatient, PublicKey: pub, EncryptionKey: enc}, out)
}

// register submits reg signed by the admin and shows what was registered,
// with its enrolment code if the node made its keys; a refusal says why.
func (p *Portal) register(w http.ResponseWriter, r *http.Request, s *session, reg tx.Register, out enrolled) {
	if !p.submitRegistration(w, r, s, reg) {
		return
	}
	out.ID, out.Short, out.Patient = reg.ID, strings.TrimPrefix(reg.ID, carechain.PatientPrefix), reg.Kind == carechain.KindPatient
	p.render(w, s, http.StatusOK, "enrolled", "Registered "+reg.ID, out)
}

// submitRegistration submits reg signed by the signed-in admin or
// registration clerk; false when it answered a refusal instead.
func (p *Portal) submitRegistration(w http.ResponseWriter, r *http.Request, s *session, reg tx.Register) bool {
	signer, ok := p.custodian.Signer(s.who.ID)
	if !ok {
		p.fail(w, r, s, http.StatusForbidden, "This node does not hold your signing key: sign in again.")
		return false
	}
	if err := p.records.Register(r.Context(), signer, reg); err != nil {
		p.adminFail(w, r, s, "registered", err)
		return false
	}
	p.logger.Info("portal registration", "registrar", s.who.ID, "principal", reg.ID, "kind", reg.Kind)
	return true
}

// newKeys makes id's signing key (and a patient's encryption key) in the
// node's keystore under a new enrolment code, which only the page shows.
func (p *Portal) newKeys(w http.ResponseWriter, r *http.Request, s *session, id string, patient bool) (enrolled, ed25519.PublicKey, []byte, bool) {
	if p.keystore == nil {
		p.fail(w, r, s, http.StatusConflict, "This node keeps no keys for new identities: register them with the carechain CLI and their own keys.")
		return enrolled{}, nil, nil, false
	}
	code := enrolmentCode()
	pass := []byte(code)
	defer clear(pass)
	pub, err := p.keystore.Create(strings.ReplaceAll(id, "/", "."), pass)
	var enc []byte
	if err == nil && patient {
		var ek *seal.PrivateKey
		if ek, err = records.CreateEncryptionKey(p.keystore, id, pass); err == nil {
			enc = ek.Public().Bytes()
		}
	}
	if err != nil {
		p.logger.Warn("portal enrolment: making keys", "principal", id, "err", err)
		p.fail(w, r, s, http.StatusConflict, "No keys could be made for "+id+": "+err.Error())
		return enrolled{}, nil, nil, false
	}
	return enrolled{Code: code}, pub, enc, true
}

// revokeStaff revokes the key the form names: the ledger lets an admin
// revoke only its own organization's staff and nodes.
func (p *Portal) revokeStaff(w http.ResponseWriter, r *http.Request, s *session) {
	signer, reason, ok := p.signedForm(w, r, s, false, "")
	if !ok {
		return
	}
	if err := p.records.RevokeKey(r.Context(), signer, tx.Revoke{ID: r.PostForm.Get("id"), Reason: reason}); err != nil {
		p.adminFail(w, r, s, "revoked", err)
		return
	}
	p.logger.Info("portal revocation", "admin", s.who.ID, "principal", r.PostForm.Get("id"))
	http.Redirect(w, r, "/portal/admin?done=revoked", http.StatusSeeOther)
}

// setStaffRoles replaces a practitioner's roles (identity.roles).
func (p *Portal) setStaffRoles(w http.ResponseWriter, r *http.Request, s *session) {
	signer, _, ok := p.signedForm(w, r, s, false, "")
	if !ok {
		return
	}
	set := tx.SetRoles{ID: r.PostForm.Get("id")}
	for _, role := range r.PostForm["new_role"] {
		set.Roles = append(set.Roles, carechain.Role(role))
	}
	if err := set.Validate(); err != nil {
		p.fail(w, r, s, http.StatusBadRequest, "Nothing was changed: "+err.Error()+".")
		return
	}
	if err := p.records.SetRoles(r.Context(), signer, set); err != nil {
		p.adminFail(w, r, s, "changed", err)
		return
	}
	p.logger.Info("portal roles change", "admin", s.who.ID, "principal", set.ID)
	http.Redirect(w, r, "/portal/admin?done=roles", http.StatusSeeOther)
}

// adminFail answers a refused admin form: the ledger's reason, or the
// request's.
func (p *Portal) adminFail(w http.ResponseWriter, r *http.Request, s *session, what string, err error) {
	var rej *ledger.Rejection
	switch {
	case errors.As(err, &rej):
		p.fail(w, r, s, http.StatusForbidden, "The ledger refused it, nothing was "+what+": "+rej.Error())
	case carechain.KindOf(err) == carechain.KindInvalid:
		p.fail(w, r, s, http.StatusBadRequest, "Nothing was "+what+": "+err.Error())
	default:
		p.failErr(w, r, s, err)
	}
}

// enrolmentCode is 100 random bits in base32, in groups of five: what
// opens a new identity's keys on this node.
func enrolmentCode() string {
	b := make([]byte, 13)
	rand.Read(b) // never fails (crypto/rand)
	c := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)[:20]
	return strings.Join([]string{c[:5], c[5:10], c[10:15], c[15:]}, "-")
}

// decodePublicKey reads an Ed25519 public key given as hex or base64.
func decodePublicKey(s string) (ed25519.PublicKey, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == ed25519.PublicKeySize {
		return b, nil
	}
	return nil, fmt.Errorf("the public key is not %d bytes in hex or base64 (carechain keys export-public prints it)", ed25519.PublicKeySize)
}
