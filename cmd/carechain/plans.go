package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/claims"
	"github.com/carechain/carechain/records"
)

// Plan rules, published and read through the node's FHIR API
// (InsurancePlan/$publish-rules, InsurancePlan/<insurer>.<plan>).

// rulesExtension and fromHeightExtension are the extensions of an
// InsurancePlan that carry its rules and the height they apply from.
const (
	rulesExtension      = "urn:carechain:insurance-plan-rules"
	fromHeightExtension = "urn:carechain:applies-from-height"
)

func (c *cli) planCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Publish and show an insurance plan's adjudication rules (public to members)",
		Long: `plan publishes an insurer's plan rules on the ledger and shows them. Rules are
plan data, not health data: every member reads them. Each publication is a
new version that applies to claims from the height that commits it; claims
before keep the version in force at their height.

A rules document (JSON) has the currency, the co-pay (minor units, per
claim), the co-insurance (percent), the covered benefits (system, code,
maxUnitPrice in minor units, maxQuantity per claim, priorAuth) and CEL
conditions over the claim with the reason a claim failing one is denied
(variables claim.use, claim.total, claim.items; each item has system, code,
quantity and unitPrice):

  {"currency":"EUR","copay":1000,"coinsurance":20,
   "benefits":[{"system":"http://www.ama-assn.org/go/cpt","code":"99213","maxUnitPrice":10000,"maxQuantity":2},
               {"system":"http://www.ama-assn.org/go/cpt","code":"70450","maxUnitPrice":50000,"priorAuth":true}],
   "conditions":[{"expr":"claim.items.all(i, i.quantity <= 10)","reason":"at most 10 units of one service per claim"}]}`,
	}
	cmd.AddCommand(c.planPublishCmd(), c.planShowCmd())
	return cmd
}

func (c *cli) planPublishCmd() *cobra.Command {
	var s signerFlags
	var file string
	cmd := &cobra.Command{
		Use:   "publish PLAN",
		Short: "Publish the next version of PLAN's rules, as an admin of an insurer",
		Long: `publish sends the rules in --file through the FHIR API of the --as admin's
node (POST /fhir/InsurancePlan/$publish-rules). The ledger refuses rules
that do not parse or whose conditions do not compile to a bool, and rules
from anyone but an insurer's admin; the reason is printed. A plan is named
by its insurer: PLAN of the admin's organization.`,
		Example: `  carechain plan publish gold --as carewell/admin --file gold-rules.json --home ./h2`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rules, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			if _, err := claims.ParseRules(rules); err != nil { // the ledger would refuse them: say why before signing in
				return fmt.Errorf("%s: %w", file, err)
			}
			return c.withFHIR(cmd, &s, func(ctx context.Context, f *fhirSession) error {
				params := map[string]any{"resourceType": "Parameters", "parameter": []map[string]any{
					{"name": "plan", "valueString": args[0]}, {"name": "rules", "valueString": string(rules)}}}
				var plan insurancePlanJSON
				if err := f.do(ctx, "POST", "/fhir/InsurancePlan/$publish-rules", params, &plan); err != nil {
					return fmt.Errorf("publish plan %s: %w", args[0], err)
				}
				fmt.Fprintf(c.out, "published plan %s version %s: it applies to claims from height %s on\n",
					plan.name(), plan.Meta.VersionID, plan.extension(fromHeightExtension))
				return nil
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&file, "file", "", "the rules document (JSON; see carechain plan --help)")
	cmd.MarkFlagRequired("file")
	return cmd
}

func (c *cli) planShowCmd() *cobra.Command {
	var s signerFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show INSURER/PLAN",
		Short: "Show a plan's rules in force: co-pay, co-insurance, covered codes, conditions",
		Long: `show reads the latest version of a plan's rules through the --as member's
node (GET /fhir/InsurancePlan/<insurer>.<plan>). With --json it prints the
rules document itself, to edit and publish as the next version.`,
		Example: `  carechain plan show carewell/gold --as st-mary/clerk-ali --home ./h1
  carechain plan show carewell/gold --as carewell/admin --json --home ./h2 > gold-rules.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			insurer, plan, ok := strings.Cut(args[0], "/")
			if !ok {
				insurer, plan, ok = strings.Cut(args[0], ".")
			}
			if !ok || insurer == "" || !claims.ValidPlanID(plan) {
				return fmt.Errorf("%q is not a plan: want INSURER/PLAN, such as carewell/gold", args[0])
			}
			return c.withFHIR(cmd, &s, func(ctx context.Context, f *fhirSession) error {
				var ip insurancePlanJSON
				if err := f.do(ctx, "GET", "/fhir/InsurancePlan/"+url.PathEscape(insurer+"."+plan), nil, &ip); err != nil {
					return fmt.Errorf("plan %s/%s: %w", insurer, plan, err)
				}
				doc := ip.extension(rulesExtension)
				if asJSON {
					fmt.Fprintln(c.out, doc)
					return nil
				}
				rules, err := claims.ParseRules([]byte(doc))
				if err != nil {
					return fmt.Errorf("plan %s/%s: %w", insurer, plan, err)
				}
				fmt.Fprintf(c.out, "plan %s version %s, in force from height %s\n", ip.name(), ip.Meta.VersionID, ip.extension(fromHeightExtension))
				return c.printRules(rules)
			})
		},
	}
	s.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rules document (JSON)")
	return cmd
}

// printRules prints rules for people: amounts as decimals of the currency.
func (c *cli) printRules(r *claims.Rules) error {
	fmt.Fprintf(c.out, "currency %s, co-pay %s a claim, co-insurance %d%%\n", r.Currency, records.Decimal(r.Copay), r.Coinsurance)
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "COVERED CODE\tMAX UNIT PRICE\tMAX PER CLAIM\tPRIOR AUTHORIZATION")
	for _, b := range r.Benefits {
		most := "-"
		if b.MaxQuantity > 0 {
			most = fmt.Sprint(b.MaxQuantity)
		}
		fmt.Fprintf(w, "%s|%s\t%s\t%s\t%s\n", b.System, b.Code, records.Decimal(b.MaxUnitPrice), most, map[bool]string{true: "needed", false: "-"}[b.PriorAuth])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, cond := range r.Conditions {
		fmt.Fprintf(c.out, "condition %s (else denied: %s)\n", cond.Expr, cond.Reason)
	}
	return nil
}

// insurancePlanJSON is what the CLI reads of an InsurancePlan.
type insurancePlanJSON struct {
	ID   string `json:"id"`
	Meta struct {
		VersionID string `json:"versionId"`
	} `json:"meta"`
	Extension []struct {
		URL          string      `json:"url"`
		ValueString  string      `json:"valueString"`
		ValueInteger json.Number `json:"valueInteger"`
	} `json:"extension"`
}

// name is the plan as INSURER/PLAN.
func (p *insurancePlanJSON) name() string { return strings.Replace(p.ID, ".", "/", 1) }

// extension is the value of the extension url, as text.
func (p *insurancePlanJSON) extension(url string) string {
	for _, e := range p.Extension {
		if e.URL == url {
			return e.ValueString + e.ValueInteger.String()
		}
	}
	return ""
}

// fhirTimeout bounds a command's requests to the FHIR API: a sign-in, a
// few reads and a submission with its commit.
const fhirTimeout = 60 * time.Second

// withFHIR runs fn with the FHIR session of the command's --as principal,
// within fhirTimeout and the extra time given (a --wait).
func (c *cli) withFHIR(cmd *cobra.Command, s *signerFlags, fn func(context.Context, *fhirSession) error, extra ...time.Duration) error {
	f, err := c.fhirSession(s)
	if err != nil {
		return err
	}
	budget := fhirTimeout
	for _, d := range extra {
		budget += d
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), budget)
	defer cancel()
	return fn(ctx, f)
}
