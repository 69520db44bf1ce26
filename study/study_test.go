package study

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func protocol() Protocol {
	return Protocol{DocumentHash: bytes.Repeat([]byte{1}, 32), AnalysisPlanHash: bytes.Repeat([]byte{2}, 32),
		Endpoints: []Endpoint{{ID: "hba1c-12m", Kind: Primary, Description: "HbA1c change at 12 months"},
			{ID: "weight-12m", Kind: Secondary, Description: "Weight change at 12 months"}},
		Arms:        []Arm{{ID: "drug", Description: "Quorvex 10 mg"}, {ID: "placebo", Description: "Placebo"}},
		Eligibility: "Adults 18-75 with type 2 diabetes and HbA1c 7-10%"}
}

func TestProtocolCheck(t *testing.T) {
	good := protocol()
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(p *Protocol){
		"no primary endpoint": func(p *Protocol) { p.Endpoints = p.Endpoints[1:] },
		"an endpoint twice":   func(p *Protocol) { p.Endpoints[1].ID = p.Endpoints[0].ID },
		"a kind unknown":      func(p *Protocol) { p.Endpoints[1].Kind = "exploratory" },
		"no arm":              func(p *Protocol) { p.Arms = nil },
		"no document hash":    func(p *Protocol) { p.DocumentHash = nil },
		"no criteria":         func(p *Protocol) { p.Eligibility = " " },
	} {
		p := protocol()
		mutate(&p)
		if err := p.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestDiffAndReport: an amendment's changes are listed in words, and a
// report that switches outcomes is refused.
func TestDiffAndReport(t *testing.T) {
	p, next := protocol(), protocol()
	if d := Diff(&p, &next); len(d) != 0 {
		t.Fatalf("no change gave %v", d)
	}
	next.Endpoints = []Endpoint{{ID: "weight-12m", Kind: Primary, Description: "Weight change at 12 months"},
		{ID: "bp-12m", Kind: Secondary, Description: "Blood pressure at 12 months"}}
	next.Eligibility = "Adults 18-80"
	want := []string{"drops primary endpoint hba1c-12m", "makes endpoint weight-12m primary (was secondary)", "adds secondary endpoint bp-12m", "changes the eligibility criteria"}
	if d := Diff(&p, &next); !slices.Equal(d, want) {
		t.Fatalf("diff %q, want %q", d, want)
	}
	if err := CheckReport(&p, []string{"hba1c-12m", "weight-12m"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		endpoints []string
		want      string
	}{
		{[]string{"weight-12m"}, "leaves out primary endpoint hba1c-12m"},
		{[]string{"hba1c-12m", "bp-12m"}, "bp-12m is not registered"},
	} {
		if err := CheckReport(&p, tc.endpoints); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.endpoints, err, tc.want)
		}
	}
}

// TestEligibility: criteria over a subject built from FHIR resources; a
// refusal names the criterion that failed.
func TestEligibility(t *testing.T) {
	p := Protocol{Criteria: []Criterion{{ID: "adult", Expr: "age >= 18"}, {ID: "glucose", Expr: `"2345-7" in observations && observations["2345-7"] >= 126.0`},
		{ID: "diabetes", Expr: `"44054006" in conditions`}}}
	if err := checkCriteria(p.Criteria); err != nil {
		t.Fatal(err)
	}
	res := func(s ...string) []json.RawMessage {
		var out []json.RawMessage
		for _, x := range s {
			out = append(out, json.RawMessage(x))
		}
		return out
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	patient := `{"resourceType":"Patient","gender":"female","birthDate":"2008-06-02"}`
	obs := func(v, when string) string {
		return `{"resourceType":"Observation","code":{"coding":[{"code":"2345-7"}]},"valueQuantity":{"value":` + v + `},"effectiveDateTime":"` + when + `"}`
	}
	cond := `{"resourceType":"Condition","code":{"coding":[{"code":"44054006"}]}}`
	for _, tt := range []struct {
		name      string
		resources []json.RawMessage
		failed    string
	}{
		{"17 years and 364 days", res(patient, obs("140", "2026-01-01"), cond), "adult"},
		{"eligible", res(`{"resourceType":"Patient","birthDate":"2008-06-01"}`, obs("140", "2026-01-01"), cond), ""},
		{"the latest glucose counts", res(`{"resourceType":"Patient","birthDate":"1970-01-01"}`, obs("90", "2026-02-01"), obs("140", "2026-01-01"), cond), "glucose"},
		{"no glucose", res(`{"resourceType":"Patient","birthDate":"1970-01-01"}`, cond), "glucose"},
		{"no condition", res(`{"resourceType":"Patient","birthDate":"1970-01-01"}`, obs("140", "2026-01-01")), "diabetes"},
	} {
		err := p.Eligible(SubjectOf(tt.resources, now))
		var ie *IneligibleError
		switch {
		case tt.failed == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.failed != "" && (!errors.As(err, &ie) || ie.Criterion != tt.failed):
			t.Errorf("%s: %v, want criterion %s to fail", tt.name, err, tt.failed)
		}
	}
	if err := checkCriteria([]Criterion{{ID: "x", Expr: "age"}}); err == nil {
		t.Error("a criterion that is not bool compiles")
	}
}

// TestDatasetRoot: a dataset's root does not depend on the order of its
// resources or their JSON spacing, and changes with any value.
func TestDatasetRoot(t *testing.T) {
	a := "{\"resourceType\":\"Observation\",\"valueQuantity\":{\"value\":141}}\n\n{\"resourceType\":\"Observation\",\"valueQuantity\":{\"value\":133}}\n"
	b := "{\"resourceType\":\"Observation\", \"valueQuantity\":{\"value\":133}}\n{\"resourceType\":\"Observation\",\"valueQuantity\":{\"value\":141}}"
	c := strings.Replace(a, "141", "142", 1)
	root := func(s string) []byte {
		res, err := ReadDataset(strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		r, err := DatasetRoot(res)
		if err != nil || len(res) != 2 {
			t.Fatalf("%d resources, %v", len(res), err)
		}
		return r
	}
	if !bytes.Equal(root(a), root(b)) || bytes.Equal(root(a), root(c)) {
		t.Fatal("the root depends on order or spacing, or not on the values")
	}
	if _, err := ReadDataset(strings.NewReader("{\"a\":1}\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("a line that is not a resource: %v", err)
	}
}

// TestNoCriteriaAdmitsNoOne: a protocol whose eligibility is text only
// enrols nobody, saying why.
func TestNoCriteriaAdmitsNoOne(t *testing.T) {
	var ie *IneligibleError
	if err := (&Protocol{}).Eligible(Subject{Age: 40}); !errors.As(err, &ie) || !strings.Contains(err.Error(), "no eligibility criteria in CEL") {
		t.Fatalf("%v", err)
	}
}

// TestProtocolText: the text forms the CLI and the portal take read back
// what Text writes, and a malformed endpoint is refused.
func TestProtocolText(t *testing.T) {
	p := Protocol{Endpoints: []Endpoint{{ID: "a1", Kind: Primary, Description: "A: at 6 months"}, {ID: "b", Kind: Secondary, Description: "B"}},
		Arms: []Arm{{ID: "drug", Description: "Drug 10 mg"}}, Criteria: []Criterion{{ID: "adult", Expr: `age >= 18 && "x" in conditions`}}}
	endpoints, arms, criteria := p.Text()
	var q Protocol
	for _, l := range strings.Split(endpoints, "\n") {
		e, err := ParseEndpoint(l)
		if err != nil {
			t.Fatal(err)
		}
		q.Endpoints = append(q.Endpoints, e)
	}
	q.Arms = []Arm{ParseArm(arms)}
	q.Criteria = []Criterion{ParseCriterion(criteria)}
	if d := Diff(&p, &q); len(d) != 0 || q.Endpoints[0].Description != "A: at 6 months" || q.Criteria[0] != p.Criteria[0] {
		t.Fatalf("read back %+v: %v", q, d)
	}
	if _, err := ParseEndpoint("primary glucose"); err == nil {
		t.Fatal("an endpoint without its parts was read")
	}
}
