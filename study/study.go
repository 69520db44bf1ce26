// Package study holds a clinical study's protocol as the ledger locks it:
// the hashes of its protocol document and analysis plan, its endpoints
// (primary and secondary), arms and eligibility criteria, and the
// comparisons that make outcome switching visible: what an amendment
// changes (Diff) and whether a report covers the registered endpoints
// (CheckReport). Pure: no I/O.
package study

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Endpoint kinds.
const (
	Primary   = "primary"
	Secondary = "secondary"
)

// Bounds on a protocol.
const (
	MaxEndpoints   = 32
	MaxArms        = 16
	MaxCriteriaLen = 4096
)

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Protocol is one version of a study's protocol.
type Protocol struct {
	// DocumentHash is the SHA-256 of the protocol document.
	DocumentHash []byte     `cbor:"1,keyasint" json:"document_hash"`
	Endpoints    []Endpoint `cbor:"2,keyasint" json:"endpoints"`
	Arms         []Arm      `cbor:"3,keyasint" json:"arms"`
	// Eligibility is the criteria as text, for people; Criteria are the
	// same as CEL, evaluated at enrolment (eligibility.go).
	Eligibility string `cbor:"4,keyasint" json:"eligibility"`
	// AnalysisPlanHash is the SHA-256 of the statistical analysis plan.
	AnalysisPlanHash []byte `cbor:"5,keyasint" json:"analysis_plan_hash"`
	// DataCategories are the record categories the study reads, and
	// DataUntil (unix seconds, 0: open) the end of its data period: a
	// patient's study consent (eConsent) grants exactly these. Protocols
	// registered before them have none and encode as they always did.
	DataCategories []string `cbor:"6,keyasint,omitempty" json:"data_categories,omitempty"`
	DataUntil      int64    `cbor:"7,keyasint,omitempty" json:"data_until,omitempty"`
	// Criteria are the eligibility criteria in CEL, each named.
	Criteria []Criterion `cbor:"8,keyasint,omitempty" json:"criteria,omitempty"`
}

// Endpoint is an outcome the study measures.
type Endpoint struct {
	ID          string `cbor:"1,keyasint" json:"id"`
	Kind        string `cbor:"2,keyasint" json:"kind"` // primary or secondary
	Description string `cbor:"3,keyasint" json:"description"`
}

// Arm is a group of the study.
type Arm struct {
	ID          string `cbor:"1,keyasint" json:"id"`
	Description string `cbor:"2,keyasint" json:"description"`
}

// Check refuses a protocol that is incomplete or malformed: both hashes,
// at least one primary endpoint, at least one arm, ids unique.
func (p *Protocol) Check() error {
	switch {
	case len(p.DocumentHash) != 32 || len(p.AnalysisPlanHash) != 32:
		return fmt.Errorf("a protocol carries the SHA-256 (32 bytes) of its document and of its analysis plan")
	case len(p.Endpoints) == 0 || len(p.Endpoints) > MaxEndpoints:
		return fmt.Errorf("a protocol has 1 to %d endpoints", MaxEndpoints)
	case len(p.Arms) == 0 || len(p.Arms) > MaxArms:
		return fmt.Errorf("a protocol has 1 to %d arms", MaxArms)
	case len(p.Eligibility) > MaxCriteriaLen || strings.TrimSpace(p.Eligibility) == "":
		return fmt.Errorf("a protocol has eligibility criteria of 1 to %d bytes", MaxCriteriaLen)
	case len(p.Primary()) == 0:
		return fmt.Errorf("a protocol has at least one primary endpoint")
	case len(p.DataCategories) > MaxArms*2 || p.DataUntil < 0:
		return fmt.Errorf("a protocol has at most %d data categories and a data period ending after 1970", MaxArms*2)
	}
	for i, c := range p.DataCategories {
		if !idPattern.MatchString(c) || slices.Contains(p.DataCategories[:i], c) {
			return fmt.Errorf("data category %q must be 1-64 of [a-z0-9._-] and unique", c)
		}
	}
	if err := checkCriteria(p.Criteria); err != nil {
		return err
	}
	for i, e := range p.Endpoints {
		switch {
		case !idPattern.MatchString(e.ID) || slices.ContainsFunc(p.Endpoints[:i], func(o Endpoint) bool { return o.ID == e.ID }):
			return fmt.Errorf("endpoint %d: id %q must be 1-64 of [a-z0-9._-] and unique", i, e.ID)
		case e.Kind != Primary && e.Kind != Secondary:
			return fmt.Errorf("endpoint %s: kind %q, want primary or secondary", e.ID, e.Kind)
		case e.Description == "" || len(e.Description) > 1024:
			return fmt.Errorf("endpoint %s: a description of 1 to 1024 bytes is required", e.ID)
		}
	}
	for i, a := range p.Arms {
		if !idPattern.MatchString(a.ID) || slices.ContainsFunc(p.Arms[:i], func(o Arm) bool { return o.ID == a.ID }) || len(a.Description) > 1024 {
			return fmt.Errorf("arm %d: id %q must be 1-64 of [a-z0-9._-] and unique, its description at most 1024 bytes", i, a.ID)
		}
	}
	return nil
}

// Primary lists the ids of the primary endpoints.
func (p *Protocol) Primary() []string {
	var out []string
	for _, e := range p.Endpoints {
		if e.Kind == Primary {
			out = append(out, e.ID)
		}
	}
	return out
}

// Endpoint returns the endpoint id, or nil.
func (p *Protocol) Endpoint(id string) *Endpoint {
	i := slices.IndexFunc(p.Endpoints, func(e Endpoint) bool { return e.ID == id })
	if i < 0 {
		return nil
	}
	return &p.Endpoints[i]
}

// Diff says, in words, what next changes of p: endpoints added, dropped
// or changed (kind or description), arms, criteria, documents.
func Diff(p, next *Protocol) []string {
	var out []string
	for _, e := range p.Endpoints {
		switch n := next.Endpoint(e.ID); {
		case n == nil:
			out = append(out, fmt.Sprintf("drops %s endpoint %s", e.Kind, e.ID))
		case n.Kind != e.Kind:
			out = append(out, fmt.Sprintf("makes endpoint %s %s (was %s)", e.ID, n.Kind, e.Kind))
		case n.Description != e.Description:
			out = append(out, fmt.Sprintf("changes %s endpoint %s", e.Kind, e.ID))
		}
	}
	for _, n := range next.Endpoints {
		if p.Endpoint(n.ID) == nil {
			out = append(out, fmt.Sprintf("adds %s endpoint %s", n.Kind, n.ID))
		}
	}
	if !slices.Equal(p.Arms, next.Arms) {
		out = append(out, "changes the arms")
	}
	if p.Eligibility != next.Eligibility || !slices.Equal(p.Criteria, next.Criteria) {
		out = append(out, "changes the eligibility criteria")
	}
	if !slices.Equal(p.DataCategories, next.DataCategories) || p.DataUntil != next.DataUntil {
		out = append(out, "changes the data categories or period")
	}
	if string(p.DocumentHash) != string(next.DocumentHash) {
		out = append(out, "changes the protocol document")
	}
	if string(p.AnalysisPlanHash) != string(next.AnalysisPlanHash) {
		out = append(out, "changes the analysis plan")
	}
	return out
}

// CheckReport refuses a report of endpoints under p that names an
// endpoint p does not register or leaves out one of its primary
// endpoints.
func CheckReport(p *Protocol, endpoints []string) error {
	for _, e := range endpoints {
		if p.Endpoint(e) == nil {
			return fmt.Errorf("endpoint %s is not registered in the protocol", e)
		}
	}
	for _, e := range p.Primary() {
		if !slices.Contains(endpoints, e) {
			return fmt.Errorf("the report leaves out primary endpoint %s", e)
		}
	}
	return nil
}
