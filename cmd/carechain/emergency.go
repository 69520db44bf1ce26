package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

func (c *cli) emergencyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emergency",
		Short: "Break-glass access: the patient's rule, and a clinician invoking it",
		Long: `emergency is break-glass access. A patient sets the rule under which
clinicians may read their records at once in an emergency (which roles, at
which kinds of organization, which categories, for how long, whether a
reason is required); the record keys are escrowed to the organizations the
rule admits. A clinician invokes it with a reason, sealed to the patient;
the ledger grants or refuses under the rule, and the patient sees every
emergency access in their access log and consent list.`,
	}
	cmd.AddCommand(c.emergencySetCmd(), c.emergencyClearCmd(), c.emergencyShowCmd(), c.emergencyInvokeCmd())
	return cmd
}

func (c *cli) emergencySetCmd() *cobra.Command {
	var s signerFlags
	var rule consent.EmergencyRule
	var roles, orgTypes []string
	var duration time.Duration
	cmd := &cobra.Command{
		Use:     "set",
		Short:   "Set the patient's emergency rule (signed as the patient)",
		Example: `  carechain emergency set --as patient/k7q2m9 --role physician --org-type hospital --duration 24h --require-reason`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, r := range roles {
				rule.Roles = append(rule.Roles, carechain.Role(r))
			}
			for _, t := range orgTypes {
				rule.OrgTypes = append(rule.OrgTypes, carechain.OrgType(t))
			}
			rule.DurationSeconds = int64(duration / time.Second)
			if len(rule.Roles) == 0 {
				return fmt.Errorf("give the roles that may break the glass: --role physician (repeat for more)")
			}
			if err := rule.Validate(); err != nil {
				return err
			}
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				if err := d.svc.SetEmergencyRule(ctx, d.me, rule); err != nil {
					return fmt.Errorf("set emergency rule: %w", err)
				}
				fmt.Fprintf(c.out, "emergency rule of %s set\n", s.as)
				return nil
			})
		},
	}
	s.register(cmd)
	f := cmd.Flags()
	f.StringArrayVar(&roles, "role", nil, "role that may break the glass (repeat; at least one)")
	f.StringArrayVar(&orgTypes, "org-type", nil, "kind of organization admitted, e.g. hospital (repeat; default any)")
	f.StringArrayVar(&rule.Categories, "category", nil, "category it opens (repeat; default all)")
	f.DurationVar(&duration, "duration", 24*time.Hour, "how long each emergency access lasts (at most 168h)")
	f.BoolVar(&rule.RequireReason, "require-reason", false, "refuse an invocation without a reason")
	return cmd
}

func (c *cli) emergencyClearCmd() *cobra.Command {
	var s signerFlags
	cmd := &cobra.Command{
		Use:   "clear",
		Short: "Clear the patient's emergency rule: no more break-glass access (signed as the patient)",
		Long: `clear removes the patient's emergency rule, and starts new record keys for
what was escrowed to the organizations it admitted. Emergency access already
granted runs until it expires.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				if err := d.svc.ClearEmergencyRule(ctx, d.me); err != nil {
					return fmt.Errorf("clear emergency rule: %w", err)
				}
				fmt.Fprintf(c.out, "emergency rule of %s cleared\n", s.as)
				return nil
			})
		},
	}
	s.register(cmd)
	return cmd
}

func (c *cli) emergencyShowCmd() *cobra.Command {
	var s signerFlags
	var patient string
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show a patient's emergency rule (signed as the patient or a delegate)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				p := patient
				if p == "" {
					p = s.as
				}
				rule, err := d.chain.Latest().EmergencyRule(p)
				if errors.Is(err, ledger.ErrNotFound) {
					return fmt.Errorf("%s has no emergency rule: nobody can break the glass (set one with carechain emergency set)", p)
				}
				if err != nil {
					return err
				}
				return c.printJSON(rule)
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&patient, "patient", "", "patient (default: --as)")
	return cmd
}

func (c *cli) emergencyInvokeCmd() *cobra.Command {
	var s signerFlags
	var patient, reason string
	cmd := &cobra.Command{
		Use:   "invoke",
		Short: "Break the glass: ask for emergency access to a patient's records, with a reason",
		Long: `invoke asks the ledger for emergency access to --patient's records under the
patient's rule, signed as --as (a clinician whose organization's role policy
lets their role break the glass). The reason is sealed to the patient. Once
granted, read with --purpose emergency (record get/list), or in one step with
record get --break-glass REASON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				return c.breakGlass(ctx, d, patient, reason)
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&patient, "patient", "", "patient ID (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (sealed to the patient; the patient's rule may require it)")
	cmd.MarkFlagRequired("patient")
	return cmd
}

func (c *cli) breakGlass(ctx context.Context, d *device, patient, reason string) error {
	if err := d.svc.InvokeEmergency(ctx, d.me, patient, reason); err != nil {
		return fmt.Errorf("emergency access to %s: %w", patient, err)
	}
	fmt.Fprintf(c.out, "emergency access to %s granted to %s; it is reported to the patient\n", patient, d.me.ID)
	return nil
}

func (c *cli) delegateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delegate",
		Short: "A patient names or removes a delegate who manages consent for them",
		Long: `delegate names a person (registered with their own key, e.g. a carer:
patient/<pseudonym>) who may grant and revoke consent on the patient's
behalf, and removes them. Naming delivers them the patient's record keys;
removing starts new keys for everything they held. Signed as the patient.`,
	}
	add := &cobra.Command{
		Use: "add DELEGATE", Short: "Name a delegate", Args: cobra.ExactArgs(1),
	}
	remove := &cobra.Command{
		Use: "remove DELEGATE", Short: "Remove a delegate", Args: cobra.ExactArgs(1),
	}
	for _, sub := range []*cobra.Command{add, remove} {
		s := &signerFlags{}
		s.register(sub)
		removing := sub == remove
		sub.RunE = func(cmd *cobra.Command, args []string) error {
			return c.onDevice(cmd, s, func(ctx context.Context, d *device) error {
				if removing {
					if err := d.svc.RemoveDelegate(ctx, d.me, args[0]); err != nil {
						return fmt.Errorf("remove delegate: %w", err)
					}
					fmt.Fprintf(c.out, "%s is no longer a delegate of %s\n", args[0], s.as)
					return nil
				}
				if err := d.svc.Delegate(ctx, d.me, args[0]); err != nil {
					return fmt.Errorf("name delegate: %w", err)
				}
				fmt.Fprintf(c.out, "%s is now a delegate of %s\n", args[0], s.as)
				return nil
			})
		}
		cmd.AddCommand(sub)
	}
	return cmd
}
