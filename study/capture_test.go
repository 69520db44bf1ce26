package study_test

import (
	"strings"
	"testing"

	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/study"
)

// TestCaptureTags: a resource tagged with its study, subject and visit
// stays valid FHIR R4 and reads back the same; tagging again replaces the
// tags; a resource without all three names no capture.
func TestCaptureTags(t *testing.T) {
	obs := []byte(`{"resourceType":"Observation","status":"final","code":{"text":"glucose"},"subject":{"reference":"Patient/s1"},
		"extension":[{"url":"https://example.org/other","valueString":"kept"}]}`)
	c := study.Capture{Study: "gl-1", Subject: 3, Visit: "week-4"}
	tagged, err := study.Tag(obs, study.Capture{Study: "gl-1", Subject: 1, Visit: "baseline"})
	if err == nil {
		tagged, err = study.Tag(tagged, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fhirjson.Parse(tagged); err != nil {
		t.Fatalf("the tagged resource is not valid R4: %v\n%s", err, tagged)
	}
	if got, ok := study.CaptureOf(tagged); !ok || got != c {
		t.Fatalf("CaptureOf = %+v %v, want %+v", got, ok, c)
	}
	if _, ok := study.CaptureOf(obs); ok {
		t.Fatal("an untagged resource names a capture")
	}
	for _, bad := range []string{
		`{"extension":[{"url":"` + study.ExtStudy + `","valueReference":{"reference":"ResearchStudy/gl-1"}},{"url":"` + study.ExtSubject + `","valueReference":{"reference":"ResearchSubject/gl-2.1"}},{"url":"` + study.ExtVisit + `","valueString":"v"}]}`,
		`{"extension":[{"url":"` + study.ExtStudy + `","valueReference":{"reference":"ResearchStudy/gl-1"}},{"url":"` + study.ExtSubject + `","valueReference":{"reference":"ResearchSubject/gl-1.1"}}]}`,
	} {
		if got, ok := study.CaptureOf([]byte(bad)); ok {
			t.Fatalf("%s names capture %+v", bad, got)
		}
	}
	if !strings.Contains(string(tagged), `"kept"`) {
		t.Fatalf("other extensions are kept: %s", tagged)
	}
}
