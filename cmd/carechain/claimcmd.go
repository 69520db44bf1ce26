package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/nodeapi"
)

// Insurance claims through the node's FHIR API: eligibility
// (CoverageEligibilityRequest), submission (Claim), the insurer's decision
// (ExplanationOfBenefit), a patient's claims, and the re-run of a decision
// (ClaimResponse/<id>/$verify). The node seals, checks consent and logs;
// the CLI only builds requests and prints answers.

func (c *cli) claimCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "claim",
		Short: "Insurance claims: eligibility, submit, status, list, and verify the insurer's decision",
		Long: `claim works with insurance claims through the FHIR API of the --as
principal's node. Billing staff of a hospital (a role its policy lets
write billing records, such as registration-clerk) check eligibility and
submit claims and prior authorizations (use preauthorization) under a
patient's Coverage; the node refuses, with the reasons, a claim with no
coverage, a code the plan's rules do not cover, a missing prior
authorization or a duplicate claim. The insurer's node adjudicates each
claim under the rules version in force at its height; the parties (the
patient, and billing staff of the hospital and the insurer) read the
decision with status and list, and re-run it on their own node with
verify. A refusal prints the node's reason and exits non-zero.`,
	}
	cmd.AddCommand(c.claimEligibilityCmd(), c.claimSubmitCmd(), c.claimStatusCmd(), c.claimListCmd(), c.claimVerifyCmd())
	cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if sf := signerOf(cmd); strings.HasPrefix(sf.as, carechain.PatientPrefix) && sf.dir != "" {
			return errSelfHeldClaims
		}
		return nil
	}
	return cmd
}

// errSelfHeldClaims refuses claim commands of a patient whose keys are on
// their own device: claims are sealed to the patient's key, which the node
// then cannot use, and the CLI does not open claims on the device yet.
var errSelfHeldClaims = errors.New("claims are sealed to your own key, and with --keys-dir the node does not hold it: reading claims with keys on this device is not built yet; read them in the portal of the node that holds your keys, or with --home there")

func (c *cli) claimEligibilityCmd() *cobra.Command {
	var s signerFlags
	var patient, coverage string
	var codes []string
	cmd := &cobra.Command{
		Use:   "eligibility",
		Short: "Ask what a patient's coverage covers: per code, covered or not, prior authorization, caps",
		Long: `eligibility sends a CoverageEligibilityRequest for --patient under
--coverage with one item per --code (SYSTEM|CODE). The node that receives it
answers at once from the Coverage (read for billing, consent-checked and
logged) and the plan's public rules; nothing is stored.`,
		Example: `  carechain claim eligibility --as st-mary/clerk-ali --patient patient/p1 --coverage <coverage ID> \
      --code "http://www.ama-assn.org/go/cpt|70450" --home ./h1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var items []map[string]any
			for _, code := range codes {
				system, code, ok := strings.Cut(code, "|")
				if !ok || system == "" || code == "" {
					return fmt.Errorf("--code %q: want SYSTEM|CODE", code)
				}
				items = append(items, map[string]any{"productOrService": codeable(system, code)})
			}
			req := map[string]any{"resourceType": "CoverageEligibilityRequest", "status": "active", "purpose": []string{"benefits"},
				"patient": map[string]any{"reference": patientRef(patient)}, "created": time.Now().UTC().Format(time.DateOnly),
				"insurer":   map[string]any{"display": "the payor of the Coverage"},
				"insurance": []any{map[string]any{"coverage": map[string]any{"reference": "Coverage/" + coverage}}}, "item": items}
			return c.withFHIR(cmd, &s, func(ctx context.Context, f *fhirSession) error {
				var resp eligibilityJSON
				if err := f.do(ctx, "POST", "/fhir/CoverageEligibilityRequest", req, &resp); err != nil {
					return fmt.Errorf("eligibility: %w", err)
				}
				return c.printEligibility(&resp)
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&patient, "patient", "", "the patient (patient/<id>)")
	cmd.Flags().StringVar(&coverage, "coverage", "", "the patient's Coverage (its record ID)")
	cmd.Flags().StringArrayVar(&codes, "code", nil, "a service to ask about, SYSTEM|CODE (repeat)")
	for _, f := range []string{"patient", "coverage", "code"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

func (c *cli) claimSubmitCmd() *cobra.Command {
	var s signerFlags
	var file string
	var b claimBuilder
	cmd := &cobra.Command{
		Use:   "submit",
		Short: "Submit a claim or a prior authorization, as billing staff of the provider",
		Long: `submit sends a FHIR Claim (POST /fhir/Claim) to the --as principal's node,
which reads the Coverage it names for billing, checks it against the plan's
rules in force and seals it to the patient, the provider and the insurer.
The Claim comes from --file, or is built from the flags: --patient,
--coverage, one --item per line (SYSTEM|CODE,QUANTITY,UNIT-PRICE; the price
a decimal of --currency) and/or --from-encounter (the encounter's billable
ChargeItems, read for billing: each coded, priced by its priceOverride or
its ChargeItemDefinition's base price), --date of service, --encounter,
--use preauthorization for a prior authorization, --pre-auth for the prior
authorizations a claim relies on. It prints the claim's ID; the insurer's
node decides it (claim status ID).`,
		Example: `  carechain claim submit --as st-mary/clerk-ali --patient patient/p1 --coverage <coverage ID> \
      --item "http://www.ama-assn.org/go/cpt|70450,1,400.00" --use preauthorization --home ./h1
  carechain claim submit --as st-mary/clerk-ali --patient patient/p1 --coverage <coverage ID> --from-encounter <encounter ID> --home ./h1
  carechain claim submit --as st-mary/clerk-ali --file claim.json --home ./h1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lines, err := b.check(file)
			if err != nil {
				return err
			}
			return c.withFHIR(cmd, &s, func(ctx context.Context, f *fhirSession) error {
				if b.fromEncounter != "" {
					charged, err := chargeLines(ctx, f, b.fromEncounter, b.patient)
					if err != nil {
						return err
					}
					lines = append(lines, charged...)
				}
				claim, err := b.claim(file, carechain.OrgOf(s.as), lines)
				if err != nil {
					return err
				}
				var created struct {
					ID  string `json:"id"`
					Use string `json:"use"`
				}
				if err := f.do(ctx, "POST", "/fhir/Claim", claim, &created); err != nil {
					return fmt.Errorf("submit claim: %w", err)
				}
				fmt.Fprintf(c.out, "submitted %s %s: the insurer's node decides it (carechain claim status %s)\n", created.Use, created.ID, created.ID)
				return nil
			})
		},
	}
	s.register(cmd)
	b.flags(cmd)
	cmd.Flags().StringVar(&file, "file", "", "the FHIR Claim (JSON) to submit, instead of building one from the flags")
	return cmd
}

func (c *cli) claimStatusCmd() *cobra.Command {
	var s signerFlags
	var wait time.Duration
	cmd := &cobra.Command{
		Use:   "status CLAIM-ID",
		Short: "Show the insurer's decision on a claim: outcome, what insurance pays, what the patient owes, reasons",
		Long: `status reads the claim's ExplanationOfBenefit through the --as party's
node: the outcome (approved, partial, denied), the totals (submitted,
eligible, what insurance pays, what the patient owes), each item with the
reason of a denial, and the rules version applied. A claim not yet decided
is pending; --wait waits that long for the decision.`,
		Example: `  carechain claim status <claim ID> --as patient/p1 --wait 1m --home ./h1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withFHIR(cmd, &s, func(ctx context.Context, f *fhirSession) error {
				var claim claimJSON
				if err := f.do(ctx, "GET", "/fhir/Claim/"+url.PathEscape(args[0]), nil, &claim); err != nil {
					return fmt.Errorf("claim %s: %w", args[0], err)
				}
				eob, err := decision(ctx, f, args[0], wait)
				if err != nil {
					return err
				}
				c.printDecision(&claim, eob)
				return nil
			}, wait)
		},
	}
	s.register(cmd)
	cmd.Flags().DurationVar(&wait, "wait", 0, "wait up to this long for the insurer's decision")
	return cmd
}

// decision reads the ExplanationOfBenefit of claim id, waiting up to wait
// for it; nil means not decided yet.
func decision(ctx context.Context, f *fhirSession, id string, wait time.Duration) (*eobJSON, error) {
	deadline := time.Now().Add(wait)
	for {
		var eob eobJSON
		err := f.do(ctx, "GET", "/fhir/ExplanationOfBenefit/"+url.PathEscape(id), nil, &eob)
		var st *nodeapi.StatusError
		switch {
		case err == nil:
			return &eob, nil
		case !errors.As(err, &st) || st.Status != http.StatusNotFound:
			return nil, fmt.Errorf("the decision on claim %s: %w", id, err)
		case time.Now().After(deadline):
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (c *cli) claimListCmd() *cobra.Command {
	var s signerFlags
	var patient string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List a patient's claims that you may read, with their decisions",
		Long: `list shows the claims of --patient (a patient's own by default) that the --as
principal may read, by creation date: use, outcome (or pending), what insurance
pays and what the patient owes. Every read is in the patient's access log.`,
		Example: `  carechain claim list --as patient/p1 --home ./h1
  carechain claim list --as st-mary/clerk-ali --patient patient/p1 --home ./h1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			query := ""
			if patient != "" {
				query = "?patient=" + url.QueryEscape(patientRef(patient))
			} else if !strings.HasPrefix(s.as, carechain.PatientPrefix) {
				return errors.New("--patient is required unless --as is the patient")
			}
			return c.withFHIR(cmd, &s, func(ctx context.Context, f *fhirSession) error {
				var claims bundleJSON[claimJSON]
				var eobs bundleJSON[eobJSON]
				if err := f.do(ctx, "GET", "/fhir/Claim"+query, nil, &claims); err != nil {
					return fmt.Errorf("claims: %w", err)
				}
				if err := f.do(ctx, "GET", "/fhir/ExplanationOfBenefit"+query, nil, &eobs); err != nil {
					return fmt.Errorf("explanations of benefit: %w", err)
				}
				return c.printClaims(claims.resources(), eobs.resources())
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&patient, "patient", "", "the patient (patient/<id>; default: --as, a patient's own)")
	return cmd
}

func (c *cli) claimVerifyCmd() *cobra.Command {
	var s signerFlags
	cmd := &cobra.Command{
		Use:   "verify CLAIM-ID",
		Short: "Re-run the insurer's adjudication on this node and compare: exits non-zero if they differ",
		Long: `verify asks the --as party's node to re-run the adjudication of a claim
(POST /fhir/ClaimResponse/<id>/$verify): it opens the claim with its own
key, applies the rules version the ledger fixed at the claim's height, and
compares the result byte for byte with what the insurer's node posted. A
wrong or arbitrary decision is thus provable by any party: verify prints
both outcomes and benefits, and exits non-zero when they differ. Under a
plan with limits per year it also checks the patient's usage the
decision started from and posted against the insurer's commitments on the
ledger.`,
		Example: `  carechain claim verify <claim ID> --as st-mary/clerk-ali --home ./h1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withFHIR(cmd, &s, func(ctx context.Context, f *fhirSession) error {
				var p parametersJSON
				if err := f.do(ctx, "POST", "/fhir/ClaimResponse/"+url.PathEscape(args[0])+"/$verify", nil, &p); err != nil {
					return fmt.Errorf("verify claim %s: %w", args[0], err)
				}
				posted := fmt.Sprintf("%s, insurance pays %s", p.str("posted-outcome"), p.money("posted-benefit"))
				recomputed := fmt.Sprintf("%s, insurance pays %s", p.str("recomputed-outcome"), p.money("recomputed-benefit"))
				if !p.boolean("agrees") {
					return fmt.Errorf("claim %s: the re-run on this node DISAGREES with the decision %s posted (%s): posted %s; recomputed %s",
						args[0], p.str("signer"), p.str("problem"), posted, recomputed)
				}
				fmt.Fprintf(c.out, "claim %s: the re-run on this node agrees with the decision %s posted: %s\n", args[0], p.str("signer"), posted)
				return nil
			})
		},
	}
	s.register(cmd)
	return cmd
}

// patientRef is a patient's FHIR reference: Patient/<id> of patient/<id>.
func patientRef(p string) string {
	if id, ok := strings.CutPrefix(p, carechain.PatientPrefix); ok {
		return "Patient/" + id
	}
	return p
}

// codeable is a CodeableConcept of one coding.
func codeable(system, code string) map[string]any {
	return map[string]any{"coding": []map[string]any{{"system": system, "code": code}}}
}

// readJSONFile reads a JSON document.
func readJSONFile(file string) (map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := jsonUnmarshalNumbers(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not JSON: %w", file, err)
	}
	return m, nil
}
