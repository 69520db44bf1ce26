package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// What claim builds and reads of FHIR resources: a Claim from flags, and
// the Claim, ExplanationOfBenefit, CoverageEligibilityResponse and
// Parameters the node answers with.

// claimBuilder is a Claim made from claim submit's flags.
type claimBuilder struct {
	patient, coverage, use, currency, date, encounter, fromEncounter string
	items, preAuths                                                  []string
}

func (b *claimBuilder) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&b.patient, "patient", "", "the patient (patient/<id>)")
	f.StringVar(&b.coverage, "coverage", "", "the patient's Coverage (its record ID)")
	f.StringArrayVar(&b.items, "item", nil, `a line, SYSTEM|CODE,QUANTITY,UNIT-PRICE ("http://www.ama-assn.org/go/cpt|99213,1,80.00"; repeat)`)
	f.StringVar(&b.fromEncounter, "from-encounter", "", "claim the billable ChargeItems of this Encounter (its record ID): their codes, quantities and prices")
	f.StringVar(&b.use, "use", "claim", "claim, or preauthorization for a prior authorization")
	f.StringVar(&b.currency, "currency", "EUR", "currency of the --item unit prices (ISO 4217)")
	f.StringVar(&b.date, "date", "", "date of service, YYYY-MM-DD (default: today)")
	f.StringVar(&b.encounter, "encounter", "", "the Encounter the services were given in (its record ID; default: --from-encounter)")
	f.StringArrayVar(&b.preAuths, "pre-auth", nil, "ID of a prior authorization the claim relies on (repeat)")
}

// claimLine is one line of a claim built from flags or charge items.
type claimLine struct {
	system, code string
	quantity     int64
	price        json.Number // a decimal of currency
	currency     string
}

// check refuses flags that do not make a claim, before anything is sent;
// it returns the --item lines.
func (b *claimBuilder) check(file string) ([]claimLine, error) {
	if file != "" {
		if b.patient != "" || b.coverage != "" || len(b.items) > 0 || b.fromEncounter != "" {
			return nil, errors.New("give the claim in --file or with --patient, --coverage and --item or --from-encounter, not both")
		}
		return nil, nil
	}
	if b.patient == "" || b.coverage == "" || len(b.items) == 0 && b.fromEncounter == "" {
		return nil, errors.New("--patient, --coverage and at least one --item (or --from-encounter) are required, or a Claim in --file")
	}
	if _, err := time.Parse(time.DateOnly, b.date); b.date != "" && err != nil {
		return nil, fmt.Errorf("--date %q: want YYYY-MM-DD", b.date)
	}
	var lines []claimLine
	for _, item := range b.items {
		l, err := parseItem(item, b.currency)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// claim is the Claim of file, or else the one of lines, from the provider
// org.
func (b *claimBuilder) claim(file, org string, lines []claimLine) (map[string]any, error) {
	if file != "" {
		return readJSONFile(file)
	}
	date := cmp.Or(b.date, time.Now().UTC().Format(time.DateOnly))
	encounter := cmp.Or(b.encounter, b.fromEncounter)
	var items []map[string]any
	for i, l := range lines {
		it := map[string]any{"sequence": i + 1, "productOrService": codeable(l.system, l.code), "servicedDate": date,
			"quantity": map[string]any{"value": l.quantity}, "unitPrice": map[string]any{"value": l.price, "currency": l.currency}}
		if encounter != "" {
			it["encounter"] = []map[string]any{{"reference": "Encounter/" + encounter}}
		}
		items = append(items, it)
	}
	insurance := map[string]any{"sequence": 1, "focal": true, "coverage": map[string]any{"reference": "Coverage/" + b.coverage}}
	if len(b.preAuths) > 0 {
		insurance["preAuthRef"] = b.preAuths
	}
	return map[string]any{"resourceType": "Claim", "status": "active", "use": b.use,
		"type":    codeable("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
		"patient": map[string]any{"reference": patientRef(b.patient)}, "created": date,
		"provider":  map[string]any{"reference": "Organization/" + org},
		"priority":  codeable("http://terminology.hl7.org/CodeSystem/processpriority", "normal"),
		"insurance": []any{insurance}, "item": items}, nil
}

// parseItem reads a --item line.
func parseItem(line, currency string) (claimLine, error) {
	parts := strings.Split(line, ",")
	system, code, ok := strings.Cut(parts[0], "|")
	if len(parts) != 3 || !ok || system == "" || code == "" {
		return claimLine{}, fmt.Errorf("--item %q: want SYSTEM|CODE,QUANTITY,UNIT-PRICE", line)
	}
	qty, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || qty <= 0 {
		return claimLine{}, fmt.Errorf("--item %q: the quantity must be a whole number above 0", line)
	}
	if _, err := strconv.ParseFloat(parts[2], 64); err != nil {
		return claimLine{}, fmt.Errorf("--item %q: the unit price must be a decimal such as 80.00", line)
	}
	return claimLine{system: system, code: code, quantity: qty, price: json.Number(parts[2]), currency: currency}, nil
}

// jsonUnmarshalNumbers decodes JSON keeping numbers as written.
func jsonUnmarshalNumbers(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

type refJSON struct {
	Reference string `json:"reference"`
}

type codingsJSON struct {
	Coding []struct {
		System string `json:"system"`
		Code   string `json:"code"`
	} `json:"coding"`
}

// String is the first coding as SYSTEM|CODE.
func (c codingsJSON) String() string {
	if len(c.Coding) == 0 {
		return "-"
	}
	return c.Coding[0].System + "|" + c.Coding[0].Code
}

type moneyJSON struct {
	Value    json.Number `json:"value"`
	Currency string      `json:"currency"`
}

func (m moneyJSON) String() string { return strings.TrimSpace(m.Value.String() + " " + m.Currency) }

type adjudicationJSON struct {
	Category codingsJSON `json:"category"`
	Amount   *moneyJSON  `json:"amount"`
	Reason   *struct {
		Text string `json:"text"`
	} `json:"reason"`
}

// amountOf is the amount of the adjudication of category code in adj.
func amountOf(adj []adjudicationJSON, code string) string {
	for _, a := range adj {
		if len(a.Category.Coding) > 0 && a.Category.Coding[0].Code == code && a.Amount != nil {
			return a.Amount.String()
		}
	}
	return "-"
}

// claimJSON is what the CLI reads of a Claim.
type claimJSON struct {
	ID      string  `json:"id"`
	Use     string  `json:"use"`
	Created string  `json:"created"`
	Patient refJSON `json:"patient"`
}

// eobJSON is what the CLI reads of an ExplanationOfBenefit.
type eobJSON struct {
	ID          string             `json:"id"`
	Disposition string             `json:"disposition"`
	Insurer     refJSON            `json:"insurer"`
	Total       []adjudicationJSON `json:"total"`
	ProcessNote []struct {
		Text string `json:"text"`
	} `json:"processNote"`
	Item []struct {
		Sequence         json.Number        `json:"sequence"`
		ProductOrService codingsJSON        `json:"productOrService"`
		Adjudication     []adjudicationJSON `json:"adjudication"`
	} `json:"item"`
	Extension []struct {
		URL         string `json:"url"`
		ValueString string `json:"valueString"`
	} `json:"extension"`
}

// outcome is the decision's outcome: approved, partial or denied.
func (e *eobJSON) outcome() string {
	o, _, _ := strings.Cut(e.Disposition, ":")
	return o
}

// rulesVersion is the plan and rules version the decision applied.
func (e *eobJSON) rulesVersion() string {
	for _, x := range e.Extension {
		if x.URL == "urn:carechain:rules-version" {
			return x.ValueString
		}
	}
	return "-"
}

// printDecision prints a claim and the insurer's decision (nil: pending).
func (c *cli) printDecision(claim *claimJSON, eob *eobJSON) {
	if eob == nil {
		fmt.Fprintf(c.out, "%s %s of %s: pending: the insurer's node has not decided it yet\n", claim.Use, claim.ID, claim.Patient.Reference)
		return
	}
	fmt.Fprintf(c.out, "%s %s of %s: %s by %s under rules %s\n", claim.Use, claim.ID, claim.Patient.Reference, eob.outcome(),
		strings.TrimPrefix(eob.Insurer.Reference, "Organization/"), eob.rulesVersion())
	fmt.Fprintf(c.out, "  submitted %s, eligible %s\n", amountOf(eob.Total, "submitted"), amountOf(eob.Total, "eligible"))
	fmt.Fprintf(c.out, "  insurance pays %s; the patient owes %s\n", amountOf(eob.Total, "benefit"), amountOf(eob.Total, "copay"))
	for _, it := range eob.Item {
		verdict := "approved"
		for _, a := range it.Adjudication {
			if a.Reason != nil {
				verdict = "denied: " + a.Reason.Text
			}
		}
		fmt.Fprintf(c.out, "  item %s %s: %s (submitted %s, eligible %s)\n", it.Sequence, it.ProductOrService, verdict,
			amountOf(it.Adjudication, "submitted"), amountOf(it.Adjudication, "eligible"))
	}
	for _, n := range eob.ProcessNote {
		fmt.Fprintf(c.out, "  the claim is denied: %s\n", n.Text)
	}
}

// bundleJSON is a searchset of resources of type T.
type bundleJSON[T any] struct {
	Entry []struct {
		Resource T `json:"resource"`
	} `json:"entry"`
}

func (b *bundleJSON[T]) resources() []T {
	out := make([]T, len(b.Entry))
	for i, e := range b.Entry {
		out[i] = e.Resource
	}
	return out
}

// printClaims prints claims with their decisions, if any, by creation
// date.
func (c *cli) printClaims(claims []claimJSON, eobs []eobJSON) error {
	slices.SortStableFunc(claims, func(a, b claimJSON) int { return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.ID, b.ID)) })
	decided := map[string]*eobJSON{}
	for i := range eobs {
		decided[eobs[i].ID] = &eobs[i]
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CLAIM\tPATIENT\tUSE\tCREATED\tOUTCOME\tINSURANCE PAYS\tPATIENT OWES")
	for _, cl := range claims {
		outcome, pays, owes := "pending", "-", "-"
		if e := decided[cl.ID]; e != nil {
			outcome, pays, owes = e.outcome(), amountOf(e.Total, "benefit"), amountOf(e.Total, "copay")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cl.ID, cl.Patient.Reference, cl.Use, cl.Created, outcome, pays, owes)
	}
	return w.Flush()
}

// eligibilityJSON is what the CLI reads of a CoverageEligibilityResponse.
type eligibilityJSON struct {
	Disposition string  `json:"disposition"`
	Insurer     refJSON `json:"insurer"`
	Insurance   []struct {
		Item []struct {
			ProductOrService      codingsJSON `json:"productOrService"`
			Excluded              bool        `json:"excluded"`
			Description           string      `json:"description"`
			AuthorizationRequired bool        `json:"authorizationRequired"`
			Benefit               []struct {
				Type               codingsJSON `json:"type"`
				AllowedMoney       *moneyJSON  `json:"allowedMoney"`
				AllowedUnsignedInt json.Number `json:"allowedUnsignedInt"`
			} `json:"benefit"`
		} `json:"item"`
	} `json:"insurance"`
}

// printEligibility prints what a coverage covers, code by code.
func (c *cli) printEligibility(r *eligibilityJSON) error {
	fmt.Fprintf(c.out, "insurer %s, %s\n", strings.TrimPrefix(r.Insurer.Reference, "Organization/"), r.Disposition)
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "CODE\tCOVERED\tPRIOR AUTHORIZATION\tMAX UNIT PRICE\tMAX PER CLAIM")
	for _, ins := range r.Insurance {
		for _, it := range ins.Item {
			if it.Excluded {
				fmt.Fprintf(w, "%s\tno\t-\t-\t-\n", it.ProductOrService)
				continue
			}
			price, most := "-", "-"
			for _, b := range it.Benefit {
				switch {
				case len(b.Type.Coding) == 0:
				case b.Type.Coding[0].Code == "benefit" && b.AllowedMoney != nil:
					price = b.AllowedMoney.String()
				case b.Type.Coding[0].Code == "visit":
					most = b.AllowedUnsignedInt.String()
				}
			}
			fmt.Fprintf(w, "%s\tyes\t%s\t%s\t%s\n", it.ProductOrService, map[bool]string{true: "needed", false: "-"}[it.AuthorizationRequired], price, most)
		}
	}
	return w.Flush()
}

// parametersJSON is a Parameters resource the node answers with.
type parametersJSON struct {
	Parameter []struct {
		Name         string     `json:"name"`
		ValueString  string     `json:"valueString"`
		ValueBoolean bool       `json:"valueBoolean"`
		ValueMoney   *moneyJSON `json:"valueMoney"`
	} `json:"parameter"`
}

func (p *parametersJSON) str(name string) string {
	for _, x := range p.Parameter {
		if x.Name == name {
			return x.ValueString
		}
	}
	return ""
}

func (p *parametersJSON) boolean(name string) bool {
	for _, x := range p.Parameter {
		if x.Name == name {
			return x.ValueBoolean
		}
	}
	return false
}

func (p *parametersJSON) money(name string) string {
	for _, x := range p.Parameter {
		if x.Name == name && x.ValueMoney != nil {
			return x.ValueMoney.String()
		}
	}
	return "-"
}
