package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// Dispensing serialized units to a patient (issue 22, link to care). A
// MedicationDispense names each unit it hands over in an extension
//
//	{"url": "urn:carechain:dispensed-unit",
//	 "valueIdentifier": {"system": "urn:gs1:gtin:<GTIN-14>", "value": "<serial>"}}
//
// repeated, all of one product. The ledger must never hold the product
// next to the patient: no transaction and no state entry names both. So a
// completed dispense naming units is written in two transactions, by the
// author's node:
//
//  1. it verifies every unit as a scan offered by its own organization
//     would be (supply.Judge) and refuses the version, writing nothing, if
//     one may not be dispensed, or if the ledger would refuse the record
//     (the consent rules, the prescription's supply);
//  2. it submits the supply dispense of the units (supply.move, by serial
//     commitment: no patient, no record id; for a private product a
//     supply.transfer by the custody key, co-signed with the author's
//     key) and waits for its commit; a
//     refusal (another dispense of a unit won the race) refuses the
//     version with the ledger's reason, nothing written;
//  3. then it writes the record, the serials only inside its sealed
//     resource.
//
// A crash or failure between 2 and 3 leaves the units dispensed by the
// organization with no record. A retry of the same MedicationDispense is
// then accepted without a second move: every unit it names is dispensed,
// by the author's organization, all in one block (a unit's last change
// height), which is what a dispense of exactly these units leaves on the
// ledger. What the ledger cannot tell, since it on purpose does not link
// units to records, is whether another record already names them; the node
// remembers it while it runs (dispenseguard.go), but after a restart, or
// through another node, a member of the same organization can name, in a
// second MedicationDispense, units the organization dispensed together
// before (README "Supply chain").
//
// A reader of the record gets, recomputed from the ledger at each read,
// whether its units are dispensed by the author's organization
// (DispensedSupply): the FHIR API shows it as the extension
// urn:carechain:supply-verified, the portal on the patient's card.

// DispensedUnitURL is the extension by which a MedicationDispense names a
// unit it hands over; GTINSystem prefixes the GTIN in its identifier's
// system.
const (
	DispensedUnitURL = "urn:carechain:dispensed-unit"
	GTINSystem       = "urn:gs1:gtin:"
)

// MaxDispensedUnits bounds the units one MedicationDispense hands over.
const MaxDispensedUnits = 100

// dispenseDoc is what the node reads of a MedicationDispense's JSON.
type dispenseDoc struct {
	Status    string `json:"status"`
	Extension []struct {
		URL             string `json:"url"`
		ValueIdentifier *struct {
			System string `json:"system"`
			Value  string `json:"value"`
		} `json:"valueIdentifier"`
	} `json:"extension"`
}

// dispensedUnits reads the units a MedicationDispense (canonical JSON)
// hands over: its GTIN and serials, none if it names none or is not
// completed (one in preparation, cancelled or entered in error hands
// nothing over).
func dispensedUnits(resource []byte) (string, []string, error) {
	var d dispenseDoc
	if err := json.Unmarshal(resource, &d); err != nil {
		return "", nil, fmt.Errorf("MedicationDispense: %w", err)
	}
	var gtin string
	var serials []string
	for _, e := range d.Extension {
		if e.URL != DispensedUnitURL {
			continue
		}
		i := len(serials) + 1
		if e.ValueIdentifier == nil {
			return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("dispensed unit #%d (%s): want a valueIdentifier", i, DispensedUnitURL))
		}
		g, ok := strings.CutPrefix(e.ValueIdentifier.System, GTINSystem)
		if !ok || gtin != "" && g != gtin {
			return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("dispensed unit #%d (%s): want valueIdentifier.system %s<GTIN-14>, one product for all units", i, DispensedUnitURL, GTINSystem))
		}
		gtin = g
		sn := e.ValueIdentifier.Value
		if err := supply.CheckSerial(sn); err != nil {
			return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("dispensed unit #%d (%s): valueIdentifier.value: want a GS1 serial, 1-20 printable ASCII characters", i, DispensedUnitURL))
		}
		for j, have := range serials {
			if have == sn {
				return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("dispensed unit #%d (%s) is unit #%d again", i, DispensedUnitURL, j+1))
			}
		}
		if len(serials) == MaxDispensedUnits {
			return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("a MedicationDispense names at most %d units (%s)", MaxDispensedUnits, DispensedUnitURL))
		}
		serials = append(serials, sn)
	}
	if len(serials) == 0 || d.Status != "completed" {
		return "", nil, nil
	}
	if err := supply.CheckGTIN(gtin); err != nil {
		return "", nil, carechain.E(carechain.KindInvalid, fmt.Errorf("dispensed units (%s): %w", DispensedUnitURL, err))
	}
	return gtin, serials, nil
}

// unitDispense is the supply dispense a MedicationDispense needs: the
// commitments of its units, and whether they are dispensed already (a
// retry after a failure between the move and the record).
type unitDispense struct {
	recordID string // of the MedicationDispense
	gtin     string
	serials  []string // for the organization's supply journal
	units    [][]byte
	done     bool
}

// planDispense verifies, for author's organization, the units that
// resource (the MedicationDispense of it, in canonical JSON) hands over,
// and returns the dispense to submit (nil if it hands none over). A unit that
// may not be dispensed refuses the version, and so does a record the
// author may not write: no unit moves for a record the ledger would refuse.
func (s *Service) planDispense(v *ledger.View, author Signer, it *PutItem, resource []byte) (*unitDispense, error) {
	gtin, serials, err := dispensedUnits(resource)
	if err != nil || len(serials) == 0 {
		return nil, err
	}
	me, err := v.Principal(author.ID)
	if err != nil {
		return nil, err
	}
	if err := s.mayWriteDispense(v, me, it); err != nil {
		return nil, err
	}
	if err := rxAllows(v, it); err != nil {
		return nil, err
	}
	p, err := v.SupplyProduct(gtin)
	if errors.Is(err, ledger.ErrNotFound) {
		return nil, carechain.E(carechain.KindInvalid, fmt.Errorf("DO NOT DISPENSE: GTIN %s of the dispensed units (%s) is not a registered product: not genuine; nothing was written", gtin, DispensedUnitURL))
	} else if err != nil {
		return nil, err
	}
	k, err := s.productKey(v, me, gtin)
	if err != nil {
		return nil, fmt.Errorf("dispensed units (%s): %w", DispensedUnitURL, err)
	}
	defer clear(k)
	plan := &unitDispense{recordID: it.RecordID, gtin: gtin, serials: serials, units: make([][]byte, len(serials))}
	var refusals []string
	done, apart := 0, false // units me.Org dispensed already; in different blocks?
	var doneAt int64
	for i, sn := range serials {
		plan.units[i] = supply.Commitment(k, gtin, sn)
		u, lot, err := v.SupplyUnit(gtin, plan.units[i])
		if errors.Is(err, ledger.ErrNotFound) {
			u, lot = nil, nil
		} else if err != nil {
			return nil, err
		}
		holder, err := s.holderOf(v, me.Org, p, k, plan.units[i], u)
		if err != nil {
			return nil, err
		}
		if u != nil && u.Status == supply.StatusDispensed && holder == me.Org {
			apart = apart || done > 0 && u.Height != doneAt
			done, doneAt = done+1, u.Height
			continue
		}
		scan := supply.Scan{GTIN: gtin, Serial: sn, Seller: me.Org}
		verdict := supply.Judge(scan, p, u, lot, me.Org, s.now())
		if p.Private {
			verdict = supply.JudgePrivate(scan, p, u, lot, me.Org, holder, s.now())
		}
		if why := mayDispense(verdict); why != "" {
			refusals = append(refusals, fmt.Sprintf("unit #%d: %s", i+1, why))
		}
	}
	if len(refusals) == 0 && done > 0 {
		if apart || done != len(serials) {
			refusals = append(refusals, fmt.Sprintf("%s dispensed some of these units before, not all of them together: this is not a retry of the same dispense", me.Org))
		}
		plan.done = true
	}
	if len(refusals) > 0 {
		return nil, carechain.E(carechain.KindInvalid, fmt.Errorf("DO NOT DISPENSE: %s (%s) may not be dispensed by %s: %s; nothing was written",
			p.Name, gtin, me.Org, strings.Join(refusals, "; ")))
	}
	return plan, nil
}

// mayWriteDispense checks, before the units move, what the ledger will
// check of the record write: a practitioner writing for a registered
// patient whom its organization registered or whose grant lets it write,
// under its organization's role policy (the consent rules, consent.Evaluator,
// the ledger applies at the block's time; a grant revoked in between still
// refuses the record after the move: see the retry above).
func (s *Service) mayWriteDispense(v *ledger.View, me *carechain.Principal, it *PutItem) error {
	if me.Kind != carechain.KindPractitioner && me.Kind != carechain.KindAdmin {
		return carechain.E(carechain.KindPermission, fmt.Errorf("%s does not dispense: a pharmacist does", me.ID))
	}
	patient, err := v.Principal(it.Patient)
	if err != nil || patient.Kind != carechain.KindPatient {
		return fmt.Errorf("%w: %s is not a registered patient", ErrInvalid, it.Patient)
	}
	grants, err := v.Grants(it.Patient)
	if err != nil {
		return err
	}
	policy, err := v.RolePolicyInForce(me.Org)
	if err != nil {
		return err
	}
	own := ""
	if me.Org == patient.Org {
		own = "the patient's registering organization"
	}
	now := s.now().Unix()
	d := s.evaluator.Decide(grants.Plain(), consent.Request{
		Requester: me, Patient: it.Patient, RecordID: it.RecordID, Category: it.Category, ResourceType: "MedicationDispense",
		Action: consent.ActionWrite, Purpose: consent.PurposeTreatment, Time: now, Credentials: v.ConsentCredentials(me.ID, now),
	}, policy, own)
	if !d.Allowed {
		return carechain.E(carechain.KindPermission, fmt.Errorf("DO NOT DISPENSE: %s may not write records of %s: %s; no unit was moved, nothing was written", me.ID, it.Patient, d.Reason))
	}
	return nil
}

// rxAllows checks, before the units move, the prescription rule the
// ledger applies to a new MedicationDispense record (ledger/dispensing.go):
// it names a prescription of its patient that states a supply, and what it
// dispenses against it stays within the supply. An
// update of an existing dispense is left to the ledger (what it counted
// before is taken back there).
func rxAllows(v *ledger.View, it *PutItem) error {
	if _, err := v.Record(it.RecordID); !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	d, err := dispenseOf(it.Parsed)
	if err != nil || d == nil {
		return err
	}
	rx, err := v.Record(d.Prescription)
	if err != nil && !errors.Is(err, ledger.ErrNotFound) {
		return err
	}
	if err != nil || rx.ResourceType != "MedicationRequest" || rx.Patient != it.Patient || rx.Deleted {
		return carechain.E(carechain.KindInvalid, fmt.Errorf("DO NOT DISPENSE: record %s is not a prescription (MedicationRequest) of %s; no unit was moved, nothing was written", d.Prescription, it.Patient))
	}
	st, err := v.Rx(d.Prescription)
	if err != nil {
		return err
	}
	if !st.Stated {
		return carechain.E(carechain.KindInvalid, fmt.Errorf("DO NOT DISPENSE: prescription %s states no quantity to dispense; no unit was moved, nothing was written", d.Prescription))
	}
	if st.Dispensed+d.Quantity > st.Supply {
		return carechain.E(carechain.KindConflict, fmt.Errorf("DO NOT DISPENSE: prescription %s allows %s in all; %s was dispensed, %s more is past it; no unit was moved, nothing was written",
			d.Prescription, thousandthsText(st.Supply), thousandthsText(st.Dispensed), thousandthsText(d.Quantity)))
	}
	return nil
}

// thousandthsText writes a quantity counted in thousandths as a decimal.
func thousandthsText(q int64) string { return strconv.FormatFloat(float64(q)/1000, 'f', -1, 64) }

// mayDispense says why the verifier of v may not dispense its unit
// (nothing if it may): a genuine unit the verifier holds, received.
func mayDispense(v supply.Verification) string {
	switch {
	case v.Status == supply.StatusInTransit:
		return "the unit is in transit, not received by " + v.Seller + ": receive it before dispensing it"
	case v.Packed && v.Genuine:
		return "the unit is packed in a case; unpack it first"
	case !v.Genuine:
		return strings.Join(v.Reasons, "; ")
	}
	return ""
}

// planDispenses verifies the units of every MedicationDispense in items
// (parsing each resource once: it keeps the parse in Parsed), before any
// is submitted.
func (s *Service) planDispenses(v *ledger.View, author Signer, items []*PutItem) ([]*unitDispense, error) {
	var plans []*unitDispense
	for i, it := range items {
		if it.Delete {
			continue
		}
		if it.Parsed == nil {
			res, err := s.validator.Parse(it.Resource)
			if err != nil {
				continue // refused, as it always is, when the version is built
			}
			it.Parsed = res
		}
		if it.Parsed.Type() != "MedicationDispense" {
			continue
		}
		canonical := it.Parsed.Canonical()
		plan, err := s.planDispense(v, author, it, canonical)
		clear(canonical)
		if err != nil && len(items) > 1 {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		} else if err != nil {
			return nil, err
		}
		if plan != nil {
			plans = append(plans, plan)
		}
	}
	return plans, nil
}

// startDispenses verifies the units of items' MedicationDispenses, claims
// them on this node (dispenseguard.go) and dispenses them, each in a
// supply.move committed before it returns; the first refusal stops. The
// caller writes the records, then calls end with whether it did.
func (s *Service) startDispenses(ctx context.Context, v *ledger.View, author Signer, items []*PutItem) (end func(written bool), err error) {
	plans, err := s.planDispenses(v, author, items)
	if err != nil {
		return nil, err
	}
	if len(plans) == 0 {
		return func(bool) {}, nil
	}
	if end, err = s.dispenses.begin(plans); err != nil {
		return nil, err
	}
	for _, p := range plans {
		if err := s.dispenseUnits(ctx, author, p); err != nil {
			end(false)
			return nil, err
		}
	}
	return end, nil
}

// dispenseUnits submits plan's supply dispense and waits for its commit
// (nothing for a retry whose units are dispensed already). A refusal by
// the ledger refuses the MedicationDispense.
func (s *Service) dispenseUnits(ctx context.Context, author Signer, plan *unitDispense) error {
	if plan == nil || plan.done {
		return nil
	}
	private := isPrivate(s.latest(), plan.gtin)
	var err error
	if private { // journaled by the transfer
		_, err = s.transferAs(ctx, author, SupplyTransferRequest{Action: tx.MoveDispense, GTIN: plan.gtin, Serials: plan.serials})
	} else {
		_, err = s.submit(ctx, author, tx.TypeSupplyMove, &tx.SupplyMove{Action: tx.MoveDispense, GTIN: plan.gtin, Units: plan.units})
	}
	var rej *ledger.Rejection
	if errors.As(err, &rej) {
		return carechain.E(carechain.KindConflict, fmt.Errorf("DO NOT DISPENSE: the ledger refused the dispense of the units: %s; nothing was written", rej.Msg))
	}
	if err != nil {
		return fmt.Errorf("dispense of the units of GTIN %s: %w", plan.gtin, err)
	}
	if private {
		return nil
	}
	// The units are dispensed: the MedicationDispense goes on even if the
	// organization's EPCIS export (its supply journal) misses the event.
	if err := s.journalAct(author, supply.Event{Action: supply.ActDispense, GTIN: plan.gtin, Serials: plan.serials}); err != nil {
		s.log.Warn("dispensed units not journaled for the supply export", "err", err)
	}
	return nil
}

// DispensedSupply is what the ledger says, at read time, of the units a
// completed MedicationDispense names.
type DispensedSupply struct {
	GTIN         string
	Product      string // the product's registered name ("" if not registered)
	Manufacturer string // the organization that registered the GTIN
	Units        int    // units the record names
	Dispensed    int    // of them, dispensed by the record's author's organization
	By           string // the record's author's organization
	// Checked is false when this node holds no key of the product for an
	// organization it serves, so it cannot find the units on the ledger,
	// or, for a private product, no key of the author's organization, so
	// it cannot tell its custody keys.
	Checked bool
}

// Verified reports whether every unit named is a genuine unit the
// author's organization dispensed.
func (d *DispensedSupply) Verified() bool { return d.Checked && d.Dispensed == d.Units }

// Verdict is what a reader of the record is told of its units.
func (d *DispensedSupply) Verdict() string {
	what := fmt.Sprintf("%s (GTIN %s, registered by %s)", d.Product, d.GTIN, d.Manufacturer)
	switch {
	case d.Product == "":
		return fmt.Sprintf("NOT verified: GTIN %s is not a registered product", d.GTIN)
	case !d.Checked:
		return fmt.Sprintf("Not checked: this node cannot look up the units of %s", what)
	case d.Verified():
		return fmt.Sprintf("Verified genuine: the %d serialized unit(s) of %s were commissioned by their manufacturer and dispensed by %s on the carechain ledger", d.Units, what, d.By)
	}
	return fmt.Sprintf("NOT verified: only %d of the %d serialized unit(s) of %s are recorded as dispensed by %s on the carechain ledger", d.Dispensed, d.Units, what, d.By)
}

// dispensedSupply looks up on the ledger the units rec (a decrypted
// MedicationDispense) names; nil if it names none or is not completed.
// The product key is opened for the author's organization, or else for
// reader's: the key is one per product, wrapped to each holder.
func (s *Service) dispensedSupply(v *ledger.View, rec *Record, reader string) (*DispensedSupply, error) {
	gtin, serials, err := dispensedUnits(rec.Resource)
	if err != nil || len(serials) == 0 {
		return nil, nil // a malformed extension (in a version not completed, never checked) is shown as nothing
	}
	out := &DispensedSupply{GTIN: gtin, Units: len(serials), By: rec.AuthorOrg}
	p, err := v.SupplyProduct(gtin)
	if errors.Is(err, ledger.ErrNotFound) {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	out.Product, out.Manufacturer = p.Name, p.Owner
	var k []byte
	for _, org := range []string{rec.AuthorOrg, reader} {
		if k, err = s.productKeyOf(v, org, gtin); err == nil {
			break
		}
	}
	if k == nil {
		return out, nil
	}
	defer clear(k)
	if _, ok := s.keys.identity(rec.AuthorOrg); p.Private && !ok {
		return out, nil // only the author's organization's node knows its custody keys
	}
	out.Checked = true
	for _, sn := range serials {
		c := supply.Commitment(k, gtin, sn)
		u, _, err := v.SupplyUnit(gtin, c)
		if errors.Is(err, ledger.ErrNotFound) || err == nil && u.Status != supply.StatusDispensed {
			continue
		} else if err != nil {
			return nil, err
		}
		holder, err := s.holderOf(v, rec.AuthorOrg, p, k, c, u)
		if err != nil {
			return nil, err
		}
		if holder == rec.AuthorOrg {
			out.Dispensed++
		}
	}
	return out, nil
}

// holderOf is the organization holding unit u (nil: none) of product p
// (commitment c, product key k), as org's node knows it: its custodian, or
// for a private product org if one of org's custody keys holds it.
func (s *Service) holderOf(v *ledger.View, org string, p *supply.Product, k, c []byte, u *supply.Unit) (string, error) {
	switch {
	case u == nil:
		return "", nil
	case p.Private:
		return s.knownFrom(v, org, p.GTIN, k, c, u)
	}
	return u.Custodian, nil
}
