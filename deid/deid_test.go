package deid_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/deid"
	"github.com/carechain/carechain/fhirjson"
)

var now = time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)

var fixtureFiles = []string{"patient.json", "observation.json", "diagnosticreport.json", "encounter.json"}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// identifiers are the fixture's hidden identifiers (testdata/identifiers.txt).
func identifiers(t *testing.T) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(readFixture(t, "identifiers.txt")))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// everyString is every string of a JSON value, base64 attachment data
// decoded, so identifiers hidden in attachments are seen.
func everyString(t *testing.T, v any, out *strings.Builder) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			out.WriteString(k + "\n")
			if s, ok := e.(string); ok && k == "data" {
				raw, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					t.Errorf("attachment data is not base64: %v", err)
				}
				out.Write(raw)
				out.WriteString("\n")
			}
			everyString(t, e, out)
		}
	case []any:
		for _, e := range x {
			everyString(t, e, out)
		}
	case string:
		out.WriteString(x + "\n")
	case json.Number:
		out.WriteString(x.String() + "\n")
	}
}

func wordPattern(s string) *regexp.Regexp {
	p := regexp.QuoteMeta(s)
	if regexp.MustCompile(`^\w`).MatchString(s) {
		p = `\b` + p
	}
	if regexp.MustCompile(`\w$`).MatchString(s) {
		p += `\b`
	}
	return regexp.MustCompile(`(?i)` + p)
}

func deidentifyFixture(t *testing.T, o deid.Options) map[string][]byte {
	t.Helper()
	o.Known = deid.KnownFrom(readFixture(t, "patient.json"))
	out := map[string][]byte{}
	for _, f := range fixtureFiles {
		in := readFixture(t, f)
		if _, err := fhirjson.Parse(in); err != nil {
			t.Fatalf("fixture %s is not valid R4: %v", f, err)
		}
		got, err := deid.Resource(in, o)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := fhirjson.Parse(got); err != nil {
			t.Errorf("%s: de-identified output is not valid R4: %v\n%s", f, err, got)
		}
		out[f] = got
	}
	return out
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, deid.KeySize) }

func TestSafeHarborRemovesEveryIdentifierOfTheFixture(t *testing.T) {
	for _, mode := range []deid.Mode{deid.SafeHarbor, deid.Pseudonymized} {
		out := deidentifyFixture(t, deid.Options{Mode: mode, Key: key(1), Now: now})
		for f, got := range out {
			var m map[string]any
			if err := json.Unmarshal(got, &m); err != nil || m["resourceType"] == nil {
				t.Fatalf("%s %s: not a resource: %v\n%s", mode, f, err, got)
			}
			var all strings.Builder
			everyString(t, m, &all)
			for _, id := range identifiers(t) {
				if wordPattern(id).MatchString(all.String()) {
					t.Errorf("%s %s: identifier %q survived:\n%s", mode, f, id, all.String())
				}
			}
			if !strings.Contains(string(got), `"code":"`+map[deid.Mode]string{deid.SafeHarbor: deid.LabelAnonymized, deid.Pseudonymized: deid.LabelPseudonym}[mode]+`"`) {
				t.Errorf("%s %s: no security label: %s", mode, f, got)
			}
		}
	}
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDatesBecomeYearsAndOldAgesAreGrouped(t *testing.T) {
	out := deidentifyFixture(t, deid.Options{Mode: deid.SafeHarbor, Key: key(1), Now: now})
	p := decode(t, out["patient.json"])
	if _, ok := p["birthDate"]; ok {
		t.Errorf("birth date of a 95-year-old kept: %v", p["birthDate"])
	}
	if !strings.Contains(string(out["patient.json"]), `"valueString":"`+deid.Over89+`"`) {
		t.Errorf("no age extension: %s", out["patient.json"])
	}
	addr := p["address"].([]any)[0].(map[string]any)
	if addr["postalCode"] != "000" || addr["state"] != "NH" || addr["city"] != nil {
		t.Errorf("address = %v, want state NH and restricted ZIP 000 only", addr)
	}
	o := decode(t, out["observation.json"])
	if o["effectiveDateTime"] != "2026" || o["issued"] != "2026-01-01T00:00:00Z" {
		t.Errorf("observation dates: effective %v issued %v", o["effectiveDateTime"], o["issued"])
	}
	q := o["valueQuantity"].(map[string]any)
	if q["value"] != 90.0 || q["comparator"] != ">=" {
		t.Errorf("age 95 = %v, want >= 90", q)
	}
	e := decode(t, out["encounter.json"])
	if per := e["period"].(map[string]any); per["start"] != "2026" || per["end"] != "2026" {
		t.Errorf("encounter period = %v", per)
	}
	if !strings.Contains(string(out["diagnosticreport.json"]), "90+ yo") {
		t.Errorf("age in conclusion not grouped: %s", out["diagnosticreport.json"])
	}
}

func TestPseudonymsAreStablePerStudyAndDifferBetweenStudies(t *testing.T) {
	secret := key(7)
	studyA := deid.Options{Mode: deid.Pseudonymized, Key: deid.StudyKey(secret, "study-a"), Now: now}
	studyB := deid.Options{Mode: deid.Pseudonymized, Key: deid.StudyKey(secret, "study-b"), Now: now}
	subject := func(out map[string][]byte) (string, string) {
		p := decode(t, out["patient.json"])
		o := decode(t, out["observation.json"])
		return p["id"].(string), o["subject"].(map[string]any)["reference"].(string)
	}
	a1, refA1 := subject(deidentifyFixture(t, studyA))
	a2, refA2 := subject(deidentifyFixture(t, studyA))
	b, refB := subject(deidentifyFixture(t, studyB))
	if a1 != a2 || refA1 != refA2 {
		t.Errorf("study A pseudonyms differ between exports: %s %s, %s %s", a1, a2, refA1, refA2)
	}
	if refA1 != "Patient/"+a1 {
		t.Errorf("observation subject %s does not link to patient %s within the study", refA1, a1)
	}
	if a1 == b || refA1 == refB {
		t.Errorf("studies A and B share pseudonym %s", a1)
	}
	r := decode(t, deidentifyFixture(t, studyA)["diagnosticreport.json"])
	if got := r["subject"].(map[string]any)["reference"]; got != "Patient/"+a1 {
		t.Errorf("absolute subject reference = %v, want Patient/%s", got, a1)
	}
}

func TestKeptReferencesAndAttachments(t *testing.T) {
	out := deidentifyFixture(t, deid.Options{Mode: deid.SafeHarbor, Key: key(1), Now: now})
	o := decode(t, out["observation.json"])
	if perf := o["performer"].([]any)[0].(map[string]any); perf["reference"] != "Practitioner/dr-who" {
		t.Errorf("practitioner reference changed: %v", perf)
	}
	r := decode(t, out["diagnosticreport.json"])
	forms := r["presentedForm"].([]any)
	if len(forms) != 3 {
		t.Fatalf("presentedForm = %v", forms)
	}
	text := forms[0].(map[string]any)
	raw, _ := base64.StdEncoding.DecodeString(text["data"].(string))
	if !strings.Contains(string(raw), "BP 120/80, HbA1c 7.5%") || text["url"] != nil {
		t.Errorf("text attachment: %s (url %v)", raw, text["url"])
	}
	for _, f := range forms[1:] {
		if f.(map[string]any)["data"] != nil {
			t.Errorf("image or PDF data kept: %v", f)
		}
	}
}

func TestResourceRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		in []byte
		o  deid.Options
	}{
		"not JSON":       {[]byte("<Patient/>"), deid.Options{Mode: deid.SafeHarbor, Key: key(1)}},
		"no type":        {[]byte(`{"id":"x"}`), deid.Options{Mode: deid.SafeHarbor, Key: key(1)}},
		"unknown mode":   {[]byte(`{"resourceType":"Patient"}`), deid.Options{Mode: "none", Key: key(1)}},
		"short key":      {[]byte(`{"resourceType":"Patient"}`), deid.Options{Mode: deid.SafeHarbor, Key: key(1)[:8]}},
		"array resource": {[]byte(`[{"resourceType":"Patient"}]`), deid.Options{Mode: deid.SafeHarbor, Key: key(1)}},
	} {
		if _, err := deid.Resource(tc.in, tc.o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSecretFromIsStableAndKeyed(t *testing.T) {
	a1, err := deid.SecretFrom(key(3))
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := deid.SecretFrom(key(3))
	b, _ := deid.SecretFrom(key(4))
	if !bytes.Equal(a1, a2) || bytes.Equal(a1, b) || len(a1) != deid.SecretSize || bytes.Equal(a1, key(3)) {
		t.Errorf("SecretFrom: %x %x %x", a1, a2, b)
	}
	if _, err := deid.SecretFrom([]byte("short")); err == nil {
		t.Error("short key material accepted")
	}
}
