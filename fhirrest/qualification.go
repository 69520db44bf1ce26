package fhirrest

import (
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
)

// Practitioner.qualification: the practitioner's credentials on the
// ledger (carechain credential) that are valid now; a revoked, expired or
// not yet valid credential is left out.

// credentialKindSystem prefixes the code system of a qualification's
// code: one system per credential kind, whose codes are the values
// (urn:carechain:credential:specialty|cardiology).
const credentialKindSystem = "urn:carechain:credential:"

// withQualifications adds to the Practitioner res the credentials of p
// valid at now.
func withQualifications(v *ledger.View, res map[string]any, p string, now time.Time) (map[string]any, error) {
	creds, err := v.Credentials(p)
	if err != nil {
		return nil, err
	}
	if quals := qualifications(creds, now); quals != nil { // FHIR JSON has no empty lists
		res["qualification"] = quals
	}
	return res, nil
}

// qualifications are the credentials valid at now as Practitioner.qualification.
func qualifications(creds []*carechain.Credential, now time.Time) []map[string]any {
	var quals []map[string]any
	for _, c := range creds {
		if st, _ := c.Status(now.Unix()); st != carechain.CredentialActive {
			continue
		}
		period := map[string]string{"start": fhirTime(c.ValidFrom)}
		if c.Expiry != 0 {
			period["end"] = fhirTime(c.Expiry)
		}
		quals = append(quals, map[string]any{
			"identifier": []map[string]string{{"system": "urn:carechain:credential", "value": c.ID}},
			"code": map[string]any{
				"coding": []map[string]string{{"system": credentialKindSystem + string(c.Kind), "code": c.Value}},
				"text":   string(c.Kind) + ": " + c.Value,
			},
			"period": period,
			"issuer": map[string]string{"reference": "Organization/" + c.IssuerOrg},
		})
	}
	return quals
}

func fhirTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }
