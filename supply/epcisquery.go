package supply

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// EventQuery is an EPCIS SimpleEventQuery, in the parameters carechain
// reads: EQ_bizStep, MATCH_epc, GE_eventTime and LT_eventTime. Each
// parameter may be repeated or hold a comma-separated list.
type EventQuery struct {
	BizSteps []string // CBV bizSteps, bare; none: any
	// EPCs are unit EPCs (Digital Link or SGTIN URN), or a whole product:
	// https://id.gs1.org/01/{gtin}/21/* (or urn:epc:idpat:sgtin:{cp}.{ir}.*).
	EPCs []string
	GE   time.Time // zero: no lower bound
	LT   time.Time // zero: no upper bound
}

// ParseEventQuery reads the query parameters of GET …/events.
func ParseEventQuery(q url.Values) (EventQuery, error) {
	var out EventQuery
	for k := range q {
		switch k {
		case "EQ_bizStep", "MATCH_epc", "GE_eventTime", "LT_eventTime":
		default:
			return out, fmt.Errorf("%w: query parameter %s is not supported (EQ_bizStep, MATCH_epc, GE_eventTime, LT_eventTime are)", ErrInvalid, k)
		}
	}
	list := func(k string) []string {
		var l []string
		for _, v := range q[k] {
			for _, s := range strings.Split(v, ",") {
				if s = strings.TrimSpace(s); s != "" {
					l = append(l, s)
				}
			}
		}
		return l
	}
	for _, s := range list("EQ_bizStep") {
		out.BizSteps = append(out.BizSteps, cbvTerm(s))
	}
	for _, p := range list("MATCH_epc") {
		if _, _, err := epcPattern(p); err != nil {
			return out, err
		}
		out.EPCs = append(out.EPCs, p)
	}
	for k, t := range map[string]*time.Time{"GE_eventTime": &out.GE, "LT_eventTime": &out.LT} {
		if v := q.Get(k); v != "" {
			var err error
			if *t, err = time.Parse(time.RFC3339Nano, v); err != nil {
				return out, fmt.Errorf("%w: %s %q: want an RFC 3339 time", ErrInvalid, k, v)
			}
		}
	}
	return out, nil
}

// Values is q as query parameters.
func (q EventQuery) Values() url.Values {
	v := url.Values{}
	if len(q.BizSteps) > 0 {
		v.Set("EQ_bizStep", strings.Join(q.BizSteps, ","))
	}
	if len(q.EPCs) > 0 {
		v.Set("MATCH_epc", strings.Join(q.EPCs, ","))
	}
	if !q.GE.IsZero() {
		v.Set("GE_eventTime", q.GE.UTC().Format(time.RFC3339Nano))
	}
	if !q.LT.IsZero() {
		v.Set("LT_eventTime", q.LT.UTC().Format(time.RFC3339Nano))
	}
	return v
}

// epcPattern reads a MATCH_epc value into a GTIN and a serial ("*": any).
func epcPattern(p string) (gtin, serial string, err error) {
	if rest, ok := strings.CutPrefix(p, "urn:epc:idpat:sgtin:"); ok {
		if pre, ok := strings.CutSuffix(rest, ".*"); ok {
			gtin, _, err = parseSGTIN(pre + ".x")
			return gtin, "*", err
		}
		p = sgtinURNPrefix + rest
	}
	if pre, ok := strings.CutSuffix(p, "/21/*"); ok {
		gtin, _, err = ParseUnitEPC(pre + "/21/x")
		return gtin, "*", err
	}
	return ParseUnitEPC(p)
}

// Match reports whether e answers q.
func (q EventQuery) Match(e Event) bool {
	if len(q.BizSteps) > 0 && !slices.Contains(q.BizSteps, bizStepOf(e.Action)) {
		return false
	}
	if !q.GE.IsZero() && e.Time.Before(q.GE) || !q.LT.IsZero() && !e.Time.Before(q.LT) {
		return false
	}
	if len(q.EPCs) == 0 {
		return true
	}
	for _, p := range q.EPCs {
		gtin, serial, err := epcPattern(p)
		if err != nil || gtin != e.GTIN {
			continue
		}
		if serial == "*" || slices.Contains(e.Serials, serial) {
			return true
		}
	}
	return false
}
