package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// patientCmd groups the registration desk's work on patients' identities:
// merging a duplicate, with the patient's consent.
func (c *cli) patientCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "patient",
		Short: "Merge a duplicate patient, with the patient's consent",
		Long: `patient merge proposes, signed by a registration clerk or admin of an
organization that registered one of them, that SOURCE is a duplicate of
TARGET (the same person registered twice; TARGET survives). It takes effect
only when the person signs with both keys: approve-merge as TARGET first,
then as SOURCE, which delivers SOURCE's record keys to TARGET. From then on
SOURCE is replaced by TARGET for good: its records stay, TARGET reads them,
and nothing new is written for SOURCE. decline-merge, as either, ends the
proposal.`,
	}
	merge := &cobra.Command{Use: "merge SOURCE TARGET", Short: "Propose that SOURCE is a duplicate of TARGET", Args: cobra.ExactArgs(2)}
	approve := &cobra.Command{Use: "approve-merge SOURCE", Short: "Approve the merge of SOURCE, as SOURCE or TARGET", Args: cobra.ExactArgs(1)}
	decline := &cobra.Command{Use: "decline-merge SOURCE", Short: "Decline the merge of SOURCE, as SOURCE or TARGET", Args: cobra.ExactArgs(1)}
	for _, sub := range []*cobra.Command{merge, approve, decline} {
		s := &signerFlags{}
		s.register(sub)
		sub.RunE = func(cmd *cobra.Command, args []string) error {
			return c.onDevice(cmd, s, func(ctx context.Context, d *device) error {
				if sub == merge {
					if err := d.svc.ProposeMerge(ctx, d.me, args[0], args[1]); err != nil {
						return fmt.Errorf("propose merge: %w", err)
					}
					fmt.Fprintf(c.out, "proposed: %s is a duplicate of %s; %s approves first, then %s\n", args[0], args[1], args[1], args[0])
					return nil
				}
				state, err := d.svc.AnswerMerge(ctx, d.me, args[0], sub == decline)
				if err != nil {
					return fmt.Errorf("answer merge: %w", err)
				}
				fmt.Fprintf(c.out, "merge of %s: %s\n", args[0], state)
				return nil
			})
		}
		cmd.AddCommand(sub)
	}
	return cmd
}
