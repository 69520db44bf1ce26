package main

import (
	"cmp"
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/consent"
)

func (c *cli) consentOrderRuleCmd() *cobra.Command {
	var s signerFlags
	var patient, allow string
	var orgs []string
	cmd := &cobra.Command{
		Use:   "order-rule",
		Short: "Show or set which organizations an order (ServiceRequest) may give access",
		Long: `order-rule shows, or with --allow sets, the patient's rule for orders to
another organization: while an order to a lab, a radiology department or a
specialist is open, the ledger lets that organization read what the order
names and write its results, if the patient's rule admits it. With no rule
set, every organization of the consortium is admitted; an order to one the
rule excludes is refused. Signed as the patient or a delegate.

  --allow all                 every organization (the default)
  --allow none                no order gives access
  --allow only --org A ...    only the organizations named
  --allow except --org A ...  every organization but those named`,
		Example: `  carechain consent order-rule --as patient/k7q2m9 --allow except --org quicklab`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				p := cmp.Or(patient, s.as)
				if allow != "" {
					rule := consent.OrderRule{Allow: consent.OrderAllow(allow), Orgs: orgs}
					if err := rule.Validate(); err != nil {
						return err
					}
					if err := d.svc.SetOrderRule(ctx, d.me, p, rule); err != nil {
						return fmt.Errorf("set order rule: %w", err)
					}
				}
				rule, err := d.chain.Latest().OrderRule(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.out, "order rule of %s: %s\n", p, rule)
				return nil
			})
		},
	}
	s.register(cmd)
	f := cmd.Flags()
	f.StringVar(&patient, "patient", "", "patient (default: --as)")
	f.StringVar(&allow, "allow", "", "set the rule: all, none, only or except (default: show it)")
	f.StringArrayVar(&orgs, "org", nil, "organization the rule names (repeat)")
	return cmd
}
