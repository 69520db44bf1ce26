package fhirrest

import (
	"encoding/json"
	"reflect"
	"testing"
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
