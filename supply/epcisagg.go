package supply

import (
	"fmt"
	"strings"
	"time"
)

// Cases and pallets in EPCIS 2.0. A pack is an AggregationEvent, action
// ADD, bizStep packing; an unpack is one with action DELETE, bizStep
// unpacking (no childEPCs: every unit in the case). The parentID is the
// container's SSCC as a GS1 Digital Link URI, https://id.gs1.org/00/{sscc}
// (an SSCC URN, urn:epc:id:sscc:{company prefix}.{extension and serial
// reference}, is read too); childEPCs are its units. A ship or receive of
// cases is an ObjectEvent whose epcList holds their SSCCs. As an SSCC
// does not say which product a case holds, and its commitment is under
// that product's key, these events carry carechain:gtin.

// SSCCPrefix starts the GS1 Digital Link URI of an SSCC.
const SSCCPrefix = "https://id.gs1.org/00/"

const ssccURNPrefix = "urn:epc:id:sscc:"

// aggregationVocabulary maps pack and unpack to their EPCIS action and
// CBV bizStep.
var aggregationVocabulary = map[string][2]string{
	ActPack:   {"ADD", "packing"},
	ActUnpack: {"DELETE", "unpacking"},
}

// Actions of an Event on cases (supply/case.go).
const (
	ActPack   = "pack"
	ActUnpack = "unpack"
)

// SSCCURI is the GS1 Digital Link URI of an SSCC.
func SSCCURI(sscc string) string { return SSCCPrefix + sscc }

// IsSSCCEPC reports whether epc is written as an SSCC (of either form).
func IsSSCCEPC(epc string) bool {
	return strings.HasPrefix(epc, SSCCPrefix) || strings.HasPrefix(epc, ssccURNPrefix)
}

// ParseSSCCEPC reads an SSCC's Digital Link URI or URN.
func ParseSSCCEPC(epc string) (string, error) {
	var sscc string
	if rest, ok := strings.CutPrefix(epc, ssccURNPrefix); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 2 || len(parts[0])+len(parts[1]) != ssccLength-1 || parts[1] == "" || !digits(parts[0]+parts[1]) {
			return "", fmt.Errorf("%w: SSCC %q: want %s{company prefix}.{extension digit and serial reference}, 17 digits", ErrInvalid, epc, ssccURNPrefix)
		}
		d17 := parts[1][:1] + parts[0] + parts[1][1:]
		sscc = d17 + string(rune('0'+gs1CheckDigit(d17)))
	} else {
		sscc = strings.TrimPrefix(epc, SSCCPrefix)
	}
	if err := CheckSSCC(sscc); err != nil {
		return "", fmt.Errorf("EPC %q: %w", epc, err)
	}
	return sscc, nil
}

// bizStepOf is the CBV bizStep of an action.
func bizStepOf(action string) string {
	if v, ok := aggregationVocabulary[action]; ok {
		return v[1]
	}
	return vocabulary[action][1]
}

// checkCases checks the SSCCs of e: a pack or an unpack names one case; a
// ship or receive names units or 1 to MaxCasesPerMove cases; no other
// action names any.
func (e Event) checkCases() error {
	switch e.Action {
	case ActPack, ActUnpack:
		if len(e.SSCCs) != 1 {
			return fmt.Errorf("%w: a %s names one case (SSCC)", ErrInvalid, e.Action)
		}
	case ActShip, ActReceive:
		if len(e.SSCCs) > MaxCasesPerMove || len(e.SSCCs) > 0 && len(e.Serials) > 0 {
			return fmt.Errorf("%w: a %s names units or 1 to %d cases (SSCCs), not both", ErrInvalid, e.Action, MaxCasesPerMove)
		}
	default:
		if len(e.SSCCs) > 0 {
			return fmt.Errorf("%w: a %s names units, not cases: unpack them first", ErrInvalid, e.Action)
		}
	}
	for i, sscc := range e.SSCCs {
		if err := CheckSSCC(sscc); err != nil {
			return fmt.Errorf("SSCC #%d: %w", i, err)
		}
	}
	return nil
}

// aggregationEvent writes a pack or unpack as an AggregationEvent.
func (e Event) aggregationEvent() EPCISEvent {
	v := aggregationVocabulary[e.Action]
	ev := EPCISEvent{Type: "AggregationEvent", EventTime: e.Time.UTC().Format(epcisTimeLayout), EventTimeZoneOffset: "+00:00",
		ParentID: SSCCURI(e.SSCCs[0]), Action: v[0], BizStep: v[1], GTIN: e.GTIN}
	for _, sn := range e.Serials {
		ev.ChildEPCs = append(ev.ChildEPCs, UnitURI(e.GTIN, sn))
	}
	return ev
}

// aggregation reads an AggregationEvent: a pack or an unpack.
func (ev EPCISEvent) aggregation() (Event, error) {
	t, err := time.Parse(time.RFC3339Nano, ev.EventTime)
	if err != nil {
		return Event{}, fmt.Errorf("%w: eventTime %q: want an RFC 3339 time", ErrInvalid, ev.EventTime)
	}
	e := Event{Time: t.UTC(), GTIN: ev.GTIN}
	step := cbvTerm(ev.BizStep)
	for act, v := range aggregationVocabulary {
		if v[1] == step {
			e.Action = act
			if ev.Action != v[0] {
				return Event{}, fmt.Errorf("%w: bizStep %s with action %s: want %s", ErrInvalid, step, ev.Action, v[0])
			}
		}
	}
	if e.Action == "" {
		return Event{}, fmt.Errorf("%w: AggregationEvent bizStep %q is not supported (carechain reads packing, unpacking)", ErrInvalid, ev.BizStep)
	}
	if len(ev.EPCList) > 0 || len(ev.QuantityList) > 0 || len(ev.ChildEPCs) > MaxUnits {
		return Event{}, fmt.Errorf("%w: an AggregationEvent names its units in childEPCs (at most %d)", ErrInvalid, MaxUnits)
	}
	sscc, err := ParseSSCCEPC(ev.ParentID)
	if err != nil {
		return Event{}, fmt.Errorf("parentID: %w", err)
	}
	e.SSCCs = []string{sscc}
	for i, epc := range ev.ChildEPCs {
		gtin, sn, err := ParseUnitEPC(epc)
		if err != nil {
			return Event{}, fmt.Errorf("childEPCs #%d: %w", i, err)
		}
		if e.GTIN != "" && gtin != e.GTIN {
			return Event{}, fmt.Errorf("%w: childEPCs #%d is of GTIN %s, not %s: a case holds one product", ErrInvalid, i, gtin, e.GTIN)
		}
		e.GTIN = gtin
		e.Serials = append(e.Serials, sn)
	}
	if e.GTIN == "" {
		return Event{}, fmt.Errorf("%w: an unpacking of a whole case gives carechain:gtin, the product in it", ErrInvalid)
	}
	return e, e.Check()
}
