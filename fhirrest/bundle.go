package fhirrest

import (
	"encoding/json"
	"fmt"

	"github.com/carechain/carechain/records"
)

// Bundles the server answers with (searchset, history, transaction and batch
// responses), and their entries.

// bundle is a FHIR Bundle.
type bundle struct {
	ResourceType string       `json:"resourceType"`
	Type         string       `json:"type"`
	Total        *int         `json:"total,omitempty"`
	Link         []bundleLink `json:"link,omitempty"`
	// Entry is left out when empty: R4's JSON has no empty arrays.
	Entry []bundleEntry `json:"entry,omitempty"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource,omitempty"` // none for a deletion in a history
	Search   *entrySearch    `json:"search,omitempty"`
	Request  *entryRequest   `json:"request,omitempty"`
	Response *entryResponse  `json:"response,omitempty"`
}

type entrySearch struct {
	Mode string `json:"mode"`
}

// entryRequest is the request of a history entry: the interaction that
// made the version.
type entryRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

// entryResponse is the response of a history entry.
type entryResponse struct {
	Status       string `json:"status"`
	Etag         string `json:"etag"`
	LastModified string `json:"lastModified"`
}

// entry is rec, of resource type typ, as a Bundle entry with its meta.
func (s *server) entry(typ string, rec *records.Record) (bundleEntry, error) {
	body, err := withMeta(rec)
	if err != nil {
		return bundleEntry{}, err
	}
	return bundleEntry{FullURL: s.fullURL(typ, rec.RecordID), Resource: body}, nil
}

// entries are recs as Bundle entries; mode, if set, is their search mode.
func (s *server) entries(recs []records.Record, mode string) ([]bundleEntry, error) {
	out := make([]bundleEntry, 0, len(recs))
	for i := range recs {
		e, err := s.entry(recs[i].ResourceType, &recs[i])
		if err != nil {
			return nil, err
		}
		if mode != "" {
			e.Search = &entrySearch{Mode: mode}
		}
		out = append(out, e)
	}
	return out, nil
}

// responseEntry is an entry of a transaction-response or batch-response:
// a GET entry's has the resource read.
type responseEntry struct {
	Resource json.RawMessage `json:"resource,omitempty"`
	Response struct {
		Status       string `json:"status"`
		Location     string `json:"location,omitempty"`
		Etag         string `json:"etag,omitempty"`
		LastModified string `json:"lastModified,omitempty"`
		// Outcome is an OperationOutcome: an *outcome, or one a GET
		// entry's read answered with.
		Outcome any `json:"outcome,omitempty"`
	} `json:"response"`
}

// fullURL is the URL of a resource.
func (s *server) fullURL(typ, id string) string { return s.abs(fmt.Sprintf("/fhir/%s/%s", typ, id)) }

// location is the URL of one version of a resource.
func (s *server) location(typ, id string, version uint64) string {
	return s.abs(fmt.Sprintf("/fhir/%s/%s/_history/%d", typ, id, version))
}

// etag is the weak ETag of a version.
func etag(version uint64) string { return fmt.Sprintf(`W/"%d"`, version) }
