package fhirrest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
)

// Result shaping of a search (R4 search.html 3.1.1.5): _summary=count
// answers with the total and no entries (the matches were still read, and
// logged); _summary=false is the default; _summary=true keeps each
// resource's summary elements (R4's isSummary, from
// fhirjson.IsSummaryElement), text its narrative with id, meta and its
// mandatory elements, data all but the narrative; _total=none leaves total
// out (estimate and accurate both give the exact count, which this server
// always has); _elements=a,b keeps only those top-level elements of each
// resource (with resourceType, id and meta). A resource with elements left
// out is marked with the SUBSETTED tag. _summary (but count and false) and
// _elements together are refused: they ask for two different subsets.

// resultShape is what a search's _summary, _total and _elements ask for.
type resultShape struct {
	countOnly bool
	noTotal   bool
	// keep is the top-level elements a subset keeps, besides resourceType
	// (nil: whole resources).
	keep func(typ, name string) bool
}

// summaryKeeps are the subsets of _summary=true, text and data.
var summaryKeeps = map[string]func(typ, name string) bool{
	"true": fhirjson.IsSummaryElement,
	"text": func(typ, name string) bool {
		return name == "text" || name == "id" || name == "meta" || fhirjson.IsMandatoryElement(typ, name)
	},
	"data": func(_, name string) bool { return name != "text" },
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
	case "true", "text", "data":
		if q.Has("_elements") {
			return rs, bad("_summary=%s and _elements ask for two subsets: give one", v)
		}
		rs.keep = summaryKeeps[v]
	default:
		return rs, bad("_summary must be true, text, data, count or false, not %q", v)
	}
	switch v := q.Get("_total"); v {
	case "", "estimate", "accurate":
	case "none":
		rs.noTotal = true
	default:
		return rs, bad("_total must be none, estimate or accurate, not %q", v)
	}
	if v := q.Get("_elements"); v != "" {
		elements := strings.Split(v, ",")
		for _, e := range elements {
			if !elementName.MatchString(e) {
				return rs, bad("_elements: %q is not an element name", e)
			}
		}
		rs.keep = func(_, name string) bool {
			return name == "id" || name == "meta" || slices.Contains(elements, name)
		}
	}
	return rs, nil
}

// readShapeOf reads the _summary (true, text, data or false) and
// _elements of a read or vread (other parameters are not a read's: they
// are left alone, as before).
func readShapeOf(q url.Values) (resultShape, error) {
	shape := url.Values{}
	for _, k := range []string{"_summary", "_elements"} {
		if q.Has(k) {
			shape[k] = q[k]
		}
	}
	rs, err := resultShapeOf(shape)
	if err == nil && rs.countOnly {
		err = &requestError{kind: carechain.KindMalformed, code: "value", err: errors.New("_summary=count is for searches: a read has one resource")}
	}
	return rs, err
}

// subsettedTag marks a resource served with elements left out.
var subsettedTag = map[string]string{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}

// subset keeps only the elements of resource that keep keeps (and its
// resourceType), tagging it SUBSETTED if it left any out.
func subset(resource json.RawMessage, keep func(typ, name string) bool) (json.RawMessage, error) {
	var obj map[string]any
	if err := json.Unmarshal(resource, &obj); err != nil {
		return nil, err
	}
	typ, _ := obj["resourceType"].(string)
	left := len(obj)
	for k := range obj {
		if k != "resourceType" && !keep(typ, k) {
			delete(obj, k)
		}
	}
	if len(obj) == left {
		return resource, nil
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
		if err == nil && rs.keep != nil && es[i].Resource != nil {
			es[i].Resource, err = subset(es[i].Resource, rs.keep)
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
