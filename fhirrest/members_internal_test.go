package fhirrest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// TestMembersAgreeWithUnmarshal: members splits a stored resource into what
// json.Unmarshal into a map[string]json.RawMessage gives, value bytes
// included, and fails where it fails, whether it takes its fast path or
// declines it; where a malformed value gets past the split, json.Marshal of
// the map (what withMeta does next) refuses it.
func TestMembersAgreeWithUnmarshal(t *testing.T) {
	for _, in := range []string{
		`{}`,
		`{"resourceType":"Observation","status":"final"}`,
		`{"a":{"b":[1,2,{"c":"}]"}]},"d":"\"quoted\" \\ ,:{}[]","e":-1.50e3,"f":true,"g":null,"h":[]}`,
		`{"a":1,"a":2}`,
		`{"k\u0065y":1}`,
		`{"clé":1}`,
		`{ "a": 1 }`,
		`{"a":"<b>&</b>"}`,
		`{"a":1}x`,
		`{"a":1}}`,
		`{"a":[}`,
		`{"a":"open}`,
		`{"a"1}`,
		`[1,2]`,
		`{`,
		``,
	} {
		got, gerr := members([]byte(in))
		var want map[string]json.RawMessage
		werr := json.Unmarshal([]byte(in), &want)
		if werr != nil {
			if gerr == nil {
				if _, merr := json.Marshal(got); merr == nil {
					t.Errorf("%s: members = %v, nil; json.Unmarshal refuses it (%v) and json.Marshal of the split does not", in, got, werr)
				}
			}
			continue
		}
		if gerr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: members = %q, %v; want %q", in, got, gerr, want)
		}
	}
	if _, ok := splitMembers([]byte(`{"resourceType":"Observation","code":{"text":"x"}}`)); !ok {
		t.Error("the fast path declined a compact resource")
	}
}

// BenchmarkMembers splits a stored Observation into its members, against
// json.Unmarshal into the same map (what withMeta did before).
func BenchmarkMembers(b *testing.B) {
	obs := []byte(`{"category":[{"coding":[{"code":"laboratory","system":"http://terminology.hl7.org/CodeSystem/observation-category"}]}],` +
		`"code":{"coding":[{"code":"2339-0","display":"Glucose [Mass/volume] in Blood","system":"http://loinc.org"}]},` +
		`"effectiveDateTime":"2026-12-03T10:00:00Z","resourceType":"Observation","status":"final",` +
		`"subject":{"reference":"Patient/p1"},"valueQuantity":{"code":"mg/dL","system":"http://unitsofmeasure.org","unit":"mg/dL","value":95}}`)
	b.Run("split", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := splitMembers(obs); !ok {
				b.Fatal("declined")
			}
		}
	})
	b.Run("unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(obs, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWriteRecordBody writes a resource json.Marshal made: indented in
// one pass (writeFHIRJSON), against the encoder that validates and
// compacts it again first (writeFHIR, what a read did before); both write
// the same bytes.
func BenchmarkWriteRecordBody(b *testing.B) {
	body, err := withMeta(&records.Record{RecordVersion: carechain.RecordVersion{RecordID: "r1", Version: 1, ResourceType: "Observation"},
		Resource: []byte(`{"code":{"coding":[{"code":"2339-0","system":"http://loinc.org"}]},"resourceType":"Observation","status":"final","valueQuantity":{"unit":"mg/dL","value":95}}`)})
	if err != nil {
		b.Fatal(err)
	}
	one, two := httptest.NewRecorder(), httptest.NewRecorder()
	writeFHIRJSON(one, http.StatusOK, body)
	writeFHIR(two, http.StatusOK, json.RawMessage(body))
	if !bytes.Equal(one.Body.Bytes(), two.Body.Bytes()) {
		b.Fatalf("bodies differ:\n%s\n%s", one.Body, two.Body)
	}
	for name, write := range map[string]func(http.ResponseWriter){
		"one-pass": func(w http.ResponseWriter) { writeFHIRJSON(w, http.StatusOK, body) },
		"encoder":  func(w http.ResponseWriter) { writeFHIR(w, http.StatusOK, json.RawMessage(body)) },
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				write(httptest.NewRecorder())
			}
		})
	}
}
