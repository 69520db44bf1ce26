package ledger

import (
	"errors"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Practitioners' credentials. An organization that issues credentials — a
// licensing body, or a hospital's credentialing office acting for the
// hospital — does so through its admin or a credentialing officer
// (credential.issue), to a registered practitioner of any organization;
// the same organization revokes it (credential.revoke) with a reason. A
// revocation applies from the height that commits it, an expiry from its
// time: consent conditions see only the credentials valid at the time
// they are judged (block time for writes, the read's time for reads).
//
// Credentials are public, like staff registrations: they name no
// patient. Neither transaction type existed before: earlier blocks replay
// unchanged.

func init() {
	handle(tx.TypeCredentialIssue, (*App).applyCredentialIssue)
	handle(tx.TypeCredentialRevoke, (*App).applyCredentialRevoke)
}

func credentialKey(id string) string { return "credential/" + id }
func practitionerCredentialKey(practitioner, id string) string {
	return "practitioner-credential/" + practitioner + "/" + id
}

// issuesCredentials reports whether organizations of type t issue credentials.
func issuesCredentials(t carechain.OrgType) bool {
	return t == carechain.OrgLicensing || t == carechain.OrgHospital
}

// mayCredential checks that s speaks for an organization that issues
// credentials: its admin or a credentialing officer.
func mayCredential(r reader, s *carechain.Principal, what string) *Rejection {
	org, err := getOrg(r, s.Org)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if !issuesCredentials(org.Type) || s.Kind != carechain.KindAdmin &&
		!(s.Kind == carechain.KindPractitioner && s.HasRole(carechain.RoleCredentialingOfficer)) {
		return reject(CodeUnauthorized, "%s may not %s credentials: a licensing body's or a hospital's admin or credentialing officer may", s.ID, what)
	}
	return nil
}

func (a *App) applyCredentialIssue(b *store.Block, c *checked, ci *tx.CredentialIssue) *Rejection {
	s := c.signer
	if rej := mayCredential(b, s, "issue"); rej != nil {
		return rej
	}
	p, err := getPrincipal(b, ci.Practitioner)
	if errors.Is(err, ErrNotFound) || err == nil && (p.Kind != carechain.KindPractitioner || p.Status != carechain.StatusActive) {
		return reject(CodeInvalid, "%q is not an active registered practitioner", ci.Practitioner)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := getCBOR(b, credentialKey(ci.ID), &carechain.Credential{}); err == nil {
		return reject(CodeConflict, "credential %s exists", ci.ID)
	} else if !errors.Is(err, ErrNotFound) {
		return reject(CodeInternal, "%v", err)
	}
	cr := carechain.Credential{ID: ci.ID, Practitioner: ci.Practitioner, Kind: ci.Kind, Value: ci.Value, IssuerOrg: s.Org, Issuer: s.ID,
		ValidFrom: ci.ValidFrom, Expiry: ci.Expiry, Height: b.Height(), IssuedAt: c.now}
	if err := setLogged(b, credentialKey(ci.ID), cr, tlog.KindCredential, identityLogKey(ci.ID, b.Height())); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if err := setCBOR(b, practitionerCredentialKey(ci.Practitioner, ci.ID), ci.ID); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

func (a *App) applyCredentialRevoke(b *store.Block, c *checked, cv *tx.CredentialRevoke) *Rejection {
	s := c.signer
	var cr carechain.Credential
	if err := getCBOR(b, credentialKey(cv.ID), &cr); errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "credential %s does not exist", cv.ID)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if rej := mayCredential(b, s, "revoke"); rej != nil {
		return rej
	}
	if s.Org != cr.IssuerOrg {
		return reject(CodeUnauthorized, "%s may not revoke credential %s: only its issuer %s may", s.ID, cr.ID, cr.IssuerOrg)
	}
	if cr.RevokedAt != 0 {
		return reject(CodeConflict, "credential %s was revoked at height %d", cr.ID, cr.RevokedAt)
	}
	cr.RevokedAt, cr.RevokedTime, cr.RevokedBy, cr.RevokeReason = b.Height(), c.now, s.ID, cv.Reason
	if err := setLogged(b, credentialKey(cr.ID), cr, tlog.KindCredential, identityLogKey(cr.ID, b.Height())); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// Credential returns a credential (ErrNotFound if none).
func (v *View) Credential(id string) (*carechain.Credential, error) {
	return getCredential(v, id)
}

func getCredential(r reader, id string) (*carechain.Credential, error) {
	var cr carechain.Credential
	if err := getCBOR(r, credentialKey(id), &cr); err != nil {
		return nil, err
	}
	return &cr, nil
}

// Credentials lists a practitioner's credentials, by id, whatever their state.
func (v *View) Credentials(practitioner string) ([]*carechain.Credential, error) {
	return credentialsOf(v, practitioner)
}

// AllCredentials lists every credential, by id: for the issuers' lists,
// not for consensus.
func (v *View) AllCredentials() ([]*carechain.Credential, error) {
	list, err := scanValues[carechain.Credential](v, credentialKey(""))
	out := make([]*carechain.Credential, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out, err
}

func credentialsOf(r reader, practitioner string) ([]*carechain.Credential, error) {
	prefix := practitionerCredentialKey(practitioner, "")
	var ids []string
	if err := scanKeys(r, prefix, func(k string) { ids = append(ids, k[len(prefix):]) }); err != nil {
		return nil, err
	}
	out := make([]*carechain.Credential, 0, len(ids))
	for _, id := range ids {
		cr, err := getCredential(r, id)
		if err != nil {
			return nil, err
		}
		out = append(out, cr)
	}
	return out, nil
}

// ConsentCredentials returns a consent.Request's Credentials for
// practitioner: their credentials judged at unix time now, read only when
// a condition asks for them.
func (v *View) ConsentCredentials(practitioner string, now int64) func() ([]consent.Credential, error) {
	return consentCredentials(v, practitioner, now)
}

func consentCredentials(r reader, practitioner string, now int64) func() ([]consent.Credential, error) {
	return func() ([]consent.Credential, error) {
		crs, err := credentialsOf(r, practitioner)
		if err != nil {
			return nil, err
		}
		out := make([]consent.Credential, len(crs))
		for i, cr := range crs {
			_, why := cr.Status(now)
			out[i] = consent.Credential{ID: cr.ID, Kind: string(cr.Kind), Value: cr.Value, Issuer: cr.IssuerOrg, Invalid: why}
		}
		return out, nil
	}
}

// holdsCredential reports whether practitioner holds a credential of the
// kind and value term t requires, valid at unix time now. A state read
// that fails counts as not holding it: the approval is refused, never
// wrongly granted.
func holdsCredential(r reader, practitioner string, t tx.Term, now int64) bool {
	kind, value, _ := t.CredentialOf()
	crs, err := credentialsOf(r, practitioner)
	if err != nil {
		return false
	}
	for _, cr := range crs {
		if st, _ := cr.Status(now); st == carechain.CredentialActive && cr.Kind == kind && cr.Value == value {
			return true
		}
	}
	return false
}
