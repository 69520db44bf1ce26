package consent

import (
	"fmt"
	"slices"
	"strings"

	"github.com/carechain/carechain"
)

// Minimum necessary inside an organization. A patient's consent says which
// organizations and people may see their records; an organization's
// RolePolicy says which of its staff may, by role: a registration clerk of
// the hospital that wrote a mental-health diagnosis must not read it "for
// billing". Access by a practitioner needs both (Evaluator.Decide); a grant
// that names the practitioner personally overrides the policy, for them only.

// RoleRule is what holders of one role may do: read records of the listed
// categories (AnyCategory: all) for the listed purposes, and write records of
// the listed categories (a write has no purpose of use). A GrantOnly
// rule allows only under a patient's grant: the organization's own access
// (to what it wrote, or to its registered patients) does not count.
type RoleRule struct {
	Role      carechain.Role `cbor:"1,keyasint" json:"role"`
	Read      []string       `cbor:"2,keyasint" json:"read,omitempty"`
	Write     []string       `cbor:"3,keyasint" json:"write,omitempty"`
	Purposes  []Purpose      `cbor:"4,keyasint" json:"purposes"`
	GrantOnly bool           `cbor:"5,keyasint,omitempty" json:"grant_only,omitempty"`
}

// RolePolicy is an organization's role policy. A role without a rule may do
// nothing (deny by default). BreakGlass lists the roles that may invoke a
// patient's emergency rule; the patient's rule must admit the role too.
type RolePolicy struct {
	Rules      []RoleRule       `cbor:"1,keyasint" json:"rules"`
	BreakGlass []carechain.Role `cbor:"2,keyasint" json:"break_glass,omitempty"`
}

// Record categories of the default role policy (ledger.DefaultCategories).
var (
	// clinicalCategories are what clinicians need: everything but billing and
	// administration, including who the patient is.
	clinicalCategories = []string{"allergy", "demographics", "general", "imaging", "lab", "medication", "mental-health", "vital-signs"}
	// clinicianReads adds what patients report about themselves, which only
	// patients write (the ledger refuses anyone else's write in it).
	clinicianReads   = append(slices.Clone(clinicalCategories), carechain.CategoryPatientReported)
	clerkCategories  = []string{"administrative", "billing", "demographics"}
	clinicalPurposes = []Purpose{PurposeTreatment, PurposeEmergency, PurposeSecondOpinion}
)

// DefaultRolePolicy is the policy `carechain init` and the demo give every
// organization, and that a chain written before role policies existed gets
// when it first runs a carechain that has them:
//
//   - clinicians (physicians, nurses, specialists, radiologists, heads of
//     department and of radiology): clinical categories, for treatment,
//     emergency and second opinions, and read patient-reported data for
//     the same purposes;
//   - registration clerks: demographics, administrative and billing, for
//     treatment and billing;
//   - lab technicians: laboratory results, and who the patient is;
//   - pharmacists: medication and allergies; claims officers: billing;
//     hospital authorities: administrative records;
//   - researchers: any category for research, but only under a patient's
//     grant (GrantOnly); auditors: no records.
//
// Break-glass is open to physicians and nurses.
func DefaultRolePolicy() RolePolicy {
	clinician := func(r carechain.Role) RoleRule {
		return RoleRule{Role: r, Read: clinicianReads, Write: clinicalCategories, Purposes: clinicalPurposes}
	}
	return RolePolicy{
		Rules: []RoleRule{
			clinician(carechain.RolePhysician), clinician(carechain.RoleNurse), clinician(carechain.RoleSpecialist),
			clinician(carechain.RoleRadiologist), clinician(carechain.RoleHeadOfRadiology), clinician(carechain.RoleHeadOfDepartment),
			{Role: carechain.RoleRegistrationClerk, Read: clerkCategories, Write: clerkCategories, Purposes: []Purpose{PurposeTreatment, PurposeBilling}},
			{Role: carechain.RoleLabTechnician, Read: []string{"demographics", "lab"}, Write: []string{"lab"}, Purposes: []Purpose{PurposeTreatment}},
			{Role: carechain.RolePharmacist, Read: []string{"allergy", "demographics", "medication"}, Write: []string{"medication"}, Purposes: []Purpose{PurposeTreatment}},
			{Role: carechain.RoleClaimsOfficer, Read: []string{"administrative", "billing", "demographics"}, Write: []string{"billing"}, Purposes: []Purpose{PurposeBilling}},
			{Role: carechain.RoleHospitalAuthority, Read: []string{"administrative"}, Write: []string{"administrative"}, Purposes: []Purpose{PurposeTreatment, PurposeBilling}},
			{Role: carechain.RoleResearcher, Read: []string{AnyCategory}, Purposes: []Purpose{PurposeResearch}, GrantOnly: true},
		},
		BreakGlass: []carechain.Role{carechain.RolePhysician, carechain.RoleNurse},
	}
}

// Validate checks the policy on its own: known roles, each with one rule,
// known purposes, bounded lists. The ledger checks the categories exist.
func (p *RolePolicy) Validate() error {
	if len(p.Rules) > maxListLen {
		return fmt.Errorf("role policy: at most %d rules", maxListLen)
	}
	seen := map[carechain.Role]bool{}
	for i, r := range p.Rules {
		switch {
		case !r.Role.Valid():
			return fmt.Errorf("role policy: rule %d: unknown role %q", i, r.Role)
		case seen[r.Role]:
			return fmt.Errorf("role policy: role %s has two rules", r.Role)
		case len(r.Purposes) == 0 && (len(r.Read) > 0 || len(r.Write) > 0):
			return fmt.Errorf("role policy: rule for %s names no purpose", r.Role)
		}
		seen[r.Role] = true
		if err := checkEnums("purposes", r.Purposes, 0); err != nil {
			return fmt.Errorf("role policy: rule for %s: %w", r.Role, err)
		}
		for _, cats := range [][]string{r.Read, r.Write} {
			if err := checkStrings("categories", cats); err != nil {
				return fmt.Errorf("role policy: rule for %s: %w", r.Role, err)
			}
		}
	}
	if err := checkEnums("break-glass roles", p.BreakGlass, 0); err != nil {
		return fmt.Errorf("role policy: %w", err)
	}
	return nil
}

// Categories lists every category the policy names, except AnyCategory.
func (p *RolePolicy) Categories() []string {
	var out []string
	for _, r := range p.Rules {
		for _, c := range slices.Concat(r.Read, r.Write) {
			if c != AnyCategory && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Permits reports whether some role who holds may do action on records of
// category for purpose, under a patient's grant (granted) or through the
// organization's own access; if not, the reason says so.
func (p *RolePolicy) Permits(who *carechain.Principal, action Action, category string, purpose Purpose, granted bool) (bool, string) {
	if p == nil {
		return false, fmt.Sprintf("%s has no role policy: its staff may do nothing", who.Org)
	}
	for _, r := range p.Rules {
		cats, forPurpose := r.Read, slices.Contains(r.Purposes, purpose)
		if action == ActionWrite {
			cats, forPurpose = r.Write, true
		}
		if who.HasRole(r.Role) && CoversCategory(cats, category) && forPurpose && (granted || !r.GrantOnly) {
			return true, ""
		}
	}
	how := "without a patient's grant"
	if granted {
		how = "even with a grant"
	}
	what := fmt.Sprintf("read %s records for %s", category, purpose)
	if action == ActionWrite {
		what = fmt.Sprintf("write %s records", category)
	}
	return false, fmt.Sprintf("the role policy of %s lets no role of %s (%s) %s %s", who.Org, who.ID, rolesOf(who), what, how)
}

// MayBreakGlass reports whether the policy lets who invoke emergency access.
func (p *RolePolicy) MayBreakGlass(who *carechain.Principal) bool {
	return p != nil && slices.ContainsFunc(p.BreakGlass, who.HasRole)
}

func rolesOf(p *carechain.Principal) string {
	if len(p.Roles) == 0 {
		return "no roles"
	}
	s := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// Decide is the whole access decision for req: the patient's consent and the
// requester's organization's role policy (nil: none, deny its staff).
//
// own, if not empty, is why the requester's organization may act without a
// grant (it wrote the record; it registered the patient); it counts only for
// practitioners. A grant that names the requester personally allows on its
// own: the patient chose that person, so the organization's policy does not
// apply. Every other allowance of a practitioner also needs the role policy.
func (e *Evaluator) Decide(grants []Grant, req Request, policy *RolePolicy, own string) Decision {
	p := req.Requester
	named := slices.DeleteFunc(slices.Clone(grants), func(g Grant) bool { return p == nil || g.Grantee.Principal != p.ID })
	if d := e.Evaluate(named, req); d.Allowed {
		return d
	}
	if p == nil || p.Kind != carechain.KindPractitioner {
		return e.Evaluate(grants, req)
	}
	permits := func(granted bool) (bool, string) {
		return policy.Permits(p, req.Action, req.Category, req.Purpose, granted)
	}
	var ownDenial string
	if own != "" && p.Status == carechain.StatusActive {
		ok, why := permits(false)
		if ok {
			return Decision{Allowed: true, Reason: own}
		}
		ownDenial = why
	}
	d := e.Evaluate(grants, req)
	if !d.Allowed {
		if ownDenial != "" {
			return Decision{GrantID: d.GrantID, Reason: ownDenial}
		}
		return d
	}
	if ok, why := permits(true); !ok {
		return Decision{GrantID: d.GrantID, Reason: why}
	}
	return d
}
