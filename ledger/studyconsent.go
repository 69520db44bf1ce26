package ledger

import (
	"errors"
	"slices"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/store"
)

// eConsent: a patient's consent to a study is a consent grant (consent.go)
// naming the study (consent.Grant.Study). The ledger holds it to the
// study's registered terms, those of the protocol in force: read, for
// research, by the sponsor organization, over exactly the protocol's data
// categories, ending no later than its data period. Revoking it is
// withdrawing: the keys of those categories rotate as for any revocation,
// so nothing the patient records afterwards reaches the sponsor, and the
// grant keeps the withdrawal's height, under which what was recorded before
// stays readable to the study (consent.Grant.WithdrawnHeight). Each study
// consent is indexed at "study-consent/<study>/<grant>" with its patient,
// for enrolment (enrolment.go).

func studyConsentKey(study, grant string) string { return "study-consent/" + study + "/" + grant }

// checkStudyConsent refuses a study consent whose terms are not its
// study's, and indexes one that is. A grant naming no study passes as it
// always did.
func checkStudyConsent(b *store.Block, g *consent.Grant) *Rejection {
	if g.Study == "" {
		return nil
	}
	st, err := getStudy(b, g.Study)
	if errors.Is(err, ErrNotFound) {
		return reject(CodeInvalid, "study %s is not registered", g.Study)
	} else if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	var v StudyVersion
	if err := getCBOR(b, studyVersionKey(st.ID, st.Version), &v); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	p := &v.Protocol
	cats := slices.Sorted(slices.Values(g.Categories))
	switch {
	case len(p.DataCategories) == 0:
		return reject(CodeInvalid, "study %s version %d registers no data categories: it takes no consent", st.ID, st.Version)
	case g.Grantee != consent.Grantee{Org: st.Sponsor}:
		return reject(CodeInvalid, "a consent to study %s is to its sponsor %s", st.ID, st.Sponsor)
	case !slices.Equal(cats, slices.Sorted(slices.Values(p.DataCategories))):
		return reject(CodeInvalid, "a consent to study %s covers its data categories %v, no more and no fewer", st.ID, p.DataCategories)
	case p.DataUntil != 0 && (g.NotAfter == 0 || g.NotAfter > p.DataUntil):
		return reject(CodeInvalid, "a consent to study %s ends with its data period, by %d", st.ID, p.DataUntil)
	case len(g.ResourceTypes) > 0 || g.RecordID != "" || g.Condition != "":
		return reject(CodeInvalid, "a consent to study %s has the study's terms only", st.ID)
	}
	if err := setCBOR(b, studyConsentKey(st.ID, g.ID), g.Patient); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}
