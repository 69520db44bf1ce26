package main

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
)

func (c *cli) consentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "consent",
		Short: "A patient grants, revokes and lists access to their records",
		Long: `consent manages a patient's consents: contracts on the ledger saying who may
read (or write) which of their records, for what purpose and when. The
patient, or a delegate they named, signs; the command runs on this machine
with the keys of --as from the keystore (passphrase from $` + PassphraseEnv + `
or a prompt): a grant wraps the patient's record keys to the grantee here,
so the patient's private keys never reach the node. A revocation starts new
keys for what the grantee could read, so they cannot read what is written
afterwards.`,
	}
	cmd.AddCommand(c.consentGrantCmd(), c.consentRevokeCmd(), c.consentListCmd(), c.consentOrderRuleCmd())
	return cmd
}

func (c *cli) consentGrantCmd() *cobra.Command {
	var s signerFlags
	var g consent.Grant
	var to, role, from, until string
	var actions, purposes []string
	cmd := &cobra.Command{
		Use:   "grant",
		Short: "Grant an organization, a role in it or one person access",
		Example: `  carechain consent grant --as patient/k7q2m9 --to st-luke --category lab --category imaging --until 2027-06-30
  carechain consent grant --as patient/k7q2m9 --to st-luke --role radiologist --category imaging --purpose second-opinion
  carechain consent grant --as patient/k7q2m9 --to uni-lab/dr-park --category '*' --purpose research --until 90d
  carechain consent grant --as patient/k7q2m9 --study dm-1
  carechain consent grant --as patient/k7q2m9 --to st-luke --category '*' \
    --condition 'grantee.credentials.exists(c, c.kind == "specialty" && c.value == "cardiology")'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.Study != "" {
				return c.studyConsent(cmd, &s, g.Patient, g.Study, g.Identified)
			}
			if to == "" {
				return fmt.Errorf("--to is required (or --study, to consent to a study)")
			}
			var err error
			if g.Grantee, err = granteeOf(to, role); err != nil {
				return err
			}
			if g.NotBefore, g.NotAfter, err = period(from, until, time.Now()); err != nil {
				return err
			}
			for _, a := range actions {
				g.Actions = append(g.Actions, consent.Action(a))
			}
			for _, p := range purposes {
				g.Purposes = append(g.Purposes, consent.Purpose(p))
			}
			if err := checkGrant(g, s.as); err != nil {
				return err
			}
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				id, err := d.svc.Grant(ctx, d.me, g)
				if err != nil {
					return fmt.Errorf("grant: %w", err)
				}
				fmt.Fprintf(c.out, "granted %s (revoke with: carechain consent revoke %s --as %s)\n", id, id, s.as)
				return nil
			})
		},
	}
	s.register(cmd)
	f := cmd.Flags()
	f.StringVar(&g.Patient, "patient", "", "patient whose records (default: --as; a delegate names the patient)")
	f.StringVar(&to, "to", "", "grantee: an organization (st-luke) or one person (st-luke/dr-chen)")
	f.StringVar(&role, "role", "", "with an organization: only its practitioners holding this role")
	f.StringArrayVar(&g.Categories, "category", nil, `record category (repeat; "*" for all)`)
	f.StringArrayVar(&g.ResourceTypes, "resource-type", nil, "FHIR resource type (repeat)")
	f.StringVar(&g.RecordID, "record", "", "one record only")
	f.StringArrayVar(&actions, "action", []string{"read"}, "read or write (repeat)")
	f.StringArrayVar(&purposes, "purpose", []string{"treatment"}, "treatment, emergency, research, billing or second-opinion (repeat)")
	f.StringVar(&from, "from", "", "start: a date (2027-01-31) or RFC 3339 time (default: now)")
	f.StringVar(&until, "until", "", "end: a date, an RFC 3339 time, or a duration from the start (90d, 12h) (default: none)")
	f.StringVar(&g.Condition, "condition", "", "a CEL condition the request must also meet; it sees request.purpose|action|category|resource_type, grantee.id|kind|org|roles, grantee.credentials (the requester's valid credentials: id, kind, value, issuer) and time")
	f.BoolVar(&g.Identified, "identified", false, "research only: the grantee gets the records identified (default: de-identified)")
	f.StringVar(&g.Study, "study", "", "consent to a study (eConsent): its sponsor reads its data categories for research over its data period; prints the study's summary first")
	return cmd
}

// checkGrant refuses, before any key is unlocked, a grant the ledger would
// refuse on its own terms, saying which flag to change.
func checkGrant(g consent.Grant, as string) error {
	if g.NotAfter != 0 && g.NotAfter <= g.NotBefore {
		return fmt.Errorf("--until %s is not after the start %s", unixText(g.NotAfter), unixText(g.NotBefore))
	}
	g.Patient = cmp.Or(g.Patient, as)
	if err := g.ValidateTerms(); err != nil {
		return fmt.Errorf("the grant: %w (see carechain consent grant --help)", err)
	}
	return nil
}

// granteeOf reads --to and --role.
func granteeOf(to, role string) (consent.Grantee, error) {
	if role != "" {
		if strings.Contains(to, "/") {
			return consent.Grantee{}, fmt.Errorf("--role %s goes with an organization, and --to %s is a person", role, to)
		}
		return consent.Grantee{Org: to, Role: carechain.Role(role)}, nil
	}
	if strings.Contains(to, "/") {
		return consent.Grantee{Principal: to}, nil
	}
	return consent.Grantee{Org: to}, nil
}

// period reads --from and --until as unix seconds.
func period(from, until string, now time.Time) (int64, int64, error) {
	start := now
	if from != "" {
		t, err := parseWhen(from)
		if err != nil {
			return 0, 0, fmt.Errorf("--from: %w", err)
		}
		start = t
	}
	if until == "" {
		return start.Unix(), 0, nil
	}
	if d, ok := parseDays(until); ok {
		return start.Unix(), start.Add(d).Unix(), nil
	}
	end, err := parseWhen(until)
	if err != nil {
		return 0, 0, fmt.Errorf("--until: %w", err)
	}
	return start.Unix(), end.Unix(), nil
}

// parseWhen reads a date (the start of that day, UTC) or an RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a date (2027-01-31), an RFC 3339 time or a duration (90d, 12h)", s)
	}
	return t, nil
}

// parseDays reads a duration, with "d" for days as well as Go's units.
func parseDays(s string) (time.Duration, bool) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && days > 0 && fmt.Sprint(days) == n {
			return time.Duration(days) * 24 * time.Hour, true
		}
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

func (c *cli) consentRevokeCmd() *cobra.Command {
	var s signerFlags
	var patient string
	cmd := &cobra.Command{
		Use:   "revoke GRANT-ID",
		Short: "Revoke a grant; what is written from now on is unreadable to the grantee",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				if err := d.svc.Revoke(ctx, d.me, cmp.Or(patient, s.as), args[0]); err != nil {
					return fmt.Errorf("revoke: %w", err)
				}
				fmt.Fprintf(c.out, "revoked %s\n", args[0])
				return nil
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&patient, "patient", "", "patient whose grant (default: --as)")
	return cmd
}

func (c *cli) consentListCmd() *cobra.Command {
	var s signerFlags
	var patient string
	var all bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List a patient's grants (--all: also revoked and expired ones)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				grants, err := d.chain.Latest().Grants(cmp.Or(patient, s.as))
				if err != nil {
					return err
				}
				now := time.Now().Unix()
				w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tGRANTEE\tSCOPE\tACTIONS\tPURPOSES\tFROM\tUNTIL\tSTATUS")
				for _, g := range grants {
					status := grantStatus(g.Grant, g.Emergency, now)
					if !all && status != "active" && status != "emergency" {
						continue
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, granteeText(g.Grantee), scopeText(g.Grant),
						joinAny(g.Actions), purposesText(g.Grant), unixText(g.NotBefore), unixText(g.NotAfter), status)
				}
				return w.Flush()
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&patient, "patient", "", "patient (default: --as)")
	cmd.Flags().BoolVar(&all, "all", false, "also revoked and expired grants")
	return cmd
}

func grantStatus(g consent.Grant, emergency bool, now int64) string {
	switch {
	case g.Revoked && g.WithdrawnHeight != 0:
		return "withdrawn"
	case g.Revoked:
		return "revoked"
	case g.NotAfter != 0 && now >= g.NotAfter:
		return "expired"
	case now < g.NotBefore:
		return "not yet"
	case emergency:
		return "emergency"
	}
	return "active"
}

func granteeText(g consent.Grantee) string {
	switch {
	case g.Principal != "":
		return g.Principal
	case g.Role != "":
		return string(g.Role) + "@" + g.Org
	}
	return g.Org
}

func scopeText(g consent.Grant) string {
	var parts []string
	parts = append(parts, g.Categories...)
	parts = append(parts, g.ResourceTypes...)
	if g.RecordID != "" {
		parts = append(parts, "record "+g.RecordID)
	}
	return strings.Join(parts, ",")
}

func joinAny[T ~string](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = string(x)
	}
	return strings.Join(s, ",")
}

func unixText(t int64) string {
	if t == 0 {
		return "-"
	}
	return time.Unix(t, 0).UTC().Format("2006-01-02 15:04")
}

// purposesText is a grant's purposes, research marked identified if the
// grant lets the researcher have identified data.
func purposesText(g consent.Grant) string {
	out := joinAny(g.Purposes)
	if g.Study != "" {
		out += " (study " + g.Study + ")"
	}
	if g.Identified {
		out += " (identified)"
	}
	return out
}
