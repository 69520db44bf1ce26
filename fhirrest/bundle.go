package fhirrest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/carechain/carechain/records"
)

// Bundles the server answers with (searchset, history, transaction and batch
// responses), and their entries.

// bundle is a FHIR Bundle.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Search   *struct {
		Mode string `json:"mode"`
	} `json:"search,omitempty"`
	Response *struct {
		Status       string `json:"status"`
		Etag         string `json:"etag"`
		LastModified string `json:"lastModified"`
	} `json:"response,omitempty"`
}

func (s *server) entry(typ string, rec *records.Record) (bundleEntry, error) {
	body, err := withMeta(rec)
	if err != nil {
		return bundleEntry{}, err
	}
	return bundleEntry{FullURL: fmt.Sprintf("%s/fhir/%s/%s", strings.TrimRight(s.BaseURL, "/"), typ, rec.RecordID), Resource: body}, nil
}

type responseEntry struct {
	Response struct {
		Status   string          `json:"status"`
		Location string          `json:"location,omitempty"`
		Etag     string          `json:"etag,omitempty"`
		Outcome  json.RawMessage `json:"outcome,omitempty"`
	} `json:"response"`
}

func location(base, typ, id string, version uint64) string {
	return fmt.Sprintf("%s/fhir/%s/%s/_history/%d", strings.TrimRight(base, "/"), typ, id, version)
}

// outcomeOf maps an error to a status and an OperationOutcome body.
func (s *server) outcomeOf(err error) (int, json.RawMessage) {
	k, paths := kindOf(err)
	b, _ := json.Marshal(outcome{ResourceType: "OperationOutcome", Issue: []issue{{Severity: "error", Code: k.IssueCode(), Diagnostics: err.Error(), Expression: paths}}})
	return k.Status(), b
}
