package fhirrest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/carechain/carechain"
)

// Result shaping of a search (R4 search.html 3.1.1.5): _summary=count
// answers with the total and no entries (the matches were still read, and
// logged); _summary=false is the default; _total=none leaves total out
// (estimate and accurate both give the exact count, which this server
// always has); _elements=a,b keeps only those top-level elements of each
// resource (with resourceType, id and meta), marked with the SUBSETTED
// tag. _summary=true, text and data are refused: this server does not
// know each type's summary elements.

// resultShape is what a search's _summary, _total and _elements ask for.
type resultShape struct {
	countOnly bool
	noTotal   bool
	elements  []string // none: whole resources
}

// elementName is a top-level element name.
var elementName = regexp.MustCompile(`^[a-z][A-Za-z0-9]*(\[x\])?$`)

// resultShapeOf reads q's _summary, _total and _elements.
func resultShapeOf(q url.Values) (resultShape, error) {
	var rs resultShape
	bad := func(format string, a ...any) error {
		return &requestError{kind: carechain.KindMalformed, code: "value", err: fmt.Errorf(format, a...)}
	}
	for _, k := range []string{"_summary", "_total", "_elements"} {
		if len(q[k]) > 1 {
			return rs, bad("%s must be given once", k)
		}
	}
	switch v := q.Get("_summary"); v {
	case "", "false":
	case "count":
		rs.countOnly = true
	default:
		return rs, &requestError{kind: carechain.KindMalformed, code: "not-supported", err: fmt.Errorf("_summary=%s is not supported (count and false are)", v)}
	}
	switch v := q.Get("_total"); v {
	case "", "estimate", "accurate":
	case "none":
		rs.noTotal = true
	default:
		return rs, bad("_total must be none, estimate or accurate, not %q", v)
	}
	if v := q.Get("_elements"); v != "" {
		for _, e := range strings.Split(v, ",") {
			if !elementName.MatchString(e) {
				return rs, bad("_elements: %q is not an element name", e)
			}
			rs.elements = append(rs.elements, e)
		}
	}
	return rs, nil
}

// subsettedTag marks a resource served with elements left out.
var subsettedTag = map[string]string{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}

// subset keeps only elements of resource (and resourceType, id and meta),
// tagging it SUBSETTED.
func subset(resource json.RawMessage, elements []string) (json.RawMessage, error) {
	var obj map[string]any
	if err := json.Unmarshal(resource, &obj); err != nil {
		return nil, err
	}
	for k := range obj {
		if k != "resourceType" && k != "id" && k != "meta" && !slices.Contains(elements, k) {
			delete(obj, k)
		}
	}
	meta, _ := obj["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	tags, _ := meta["tag"].([]any)
	meta["tag"] = append(tags, subsettedTag)
	obj["meta"] = meta
	return json.Marshal(obj)
}

// writeShapedPage answers a search with page pg of recs' entries, shaped
// as rs asks.
func (s *server) writeShapedPage(w http.ResponseWriter, r *http.Request, entries func(from, to int) ([]bundleEntry, error), total int, pg page, rs resultShape) {
	b := bundle{ResourceType: "Bundle", Type: "searchset", Total: &total, Entry: []bundleEntry{}, Link: s.pageLinks(r, pg, total)}
	if rs.noTotal {
		b.Total = nil
	}
	if rs.countOnly {
		b.Link = b.Link[:1] // self: there are no pages of nothing
		writeFHIR(w, http.StatusOK, b)
		return
	}
	es, err := entries(min(pg.offset, total), min(pg.offset+pg.count, total))
	for i := range es {
		if err == nil && len(rs.elements) > 0 && es[i].Resource != nil {
			es[i].Resource, err = subset(es[i].Resource, rs.elements)
		}
	}
	if err != nil {
		s.failErr(w, err)
		return
	}
	b.Entry = es
	writeFHIR(w, http.StatusOK, b)
}

// searchPost serves POST /fhir/{type}/_search: a search whose parameters
// come as a form body (and the URL's query), answered as the GET would be,
// its links GETs of the same search.
func (s *server) searchPost(w http.ResponseWriter, r *http.Request, c caller) {
	if mt := mediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		s.fail(w, http.StatusUnsupportedMediaType, "not-supported", fmt.Errorf("POST _search takes a form (application/x-www-form-urlencoded), not %q", mt))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, carechain.MaxSmallRequestBytes)
	if err := r.ParseForm(); err != nil {
		s.fail(w, http.StatusBadRequest, "structure", fmt.Errorf("the form body cannot be read: %w", err))
		return
	}
	get := r.Clone(r.Context())
	get.Method, get.URL.Path, get.URL.RawQuery = http.MethodGet, "/fhir/"+r.PathValue("type"), r.Form.Encode()
	s.search(w, get, c)
}
