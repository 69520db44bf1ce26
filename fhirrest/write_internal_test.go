package fhirrest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
)

// recordBody is what a read of an Observation writes, before indenting.
func recordBody(t testing.TB) []byte {
	body, err := withMeta(&records.Record{RecordVersion: carechain.RecordVersion{RecordID: "r1", Version: 1, ResourceType: "Observation"},
		Resource: []byte(`{"code":{"coding":[{"code":"2339-0","system":"http://loinc.org","display":"<a> & b"}]},"resourceType":"Observation","status":"final","valueQuantity":{"unit":"mg/dL","value":95}}`)})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestWriteFHIRJSONMatchesTheEncoder: a read's body indented in one pass
// (writeFHIRJSON) is byte for byte what the encoder writes (writeFHIR),
// HTML escapes included, with the same status and content type.
func TestWriteFHIRJSONMatchesTheEncoder(t *testing.T) {
	body := recordBody(t)
	one, two := httptest.NewRecorder(), httptest.NewRecorder()
	writeFHIRJSON(one, http.StatusCreated, body)
	writeFHIR(two, http.StatusCreated, json.RawMessage(body))
	if !bytes.Equal(one.Body.Bytes(), two.Body.Bytes()) || one.Code != two.Code || one.Header().Get("Content-Type") != two.Header().Get("Content-Type") {
		t.Fatalf("one pass:\n%s\nencoder:\n%s", one.Body, two.Body)
	}
}

// BenchmarkWriteRecordBody writes a resource json.Marshal made: indented in
// one pass (writeFHIRJSON), against the encoder that validates and
// compacts it again first (writeFHIR, what a read did before); both write
// the same bytes.
func BenchmarkWriteRecordBody(b *testing.B) {
	body := recordBody(b)
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
