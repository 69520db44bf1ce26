package main

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
)

// eConsent (ledger/studyconsent.go): a patient's consent to a study is a
// consent grant on the study's registered terms, and withdrawing is
// revoking it.

// studyInForce reads a study and its protocol version in force from v.
func studyInForce(v *ledger.View, id string) (*ledger.StudyState, *ledger.StudyVersion, error) {
	st, err := v.Study(id)
	if err != nil {
		return nil, nil, err
	}
	vs, err := v.StudyVersions(id)
	if err != nil {
		return nil, nil, err
	}
	for i := range vs {
		if vs[i].Version == st.Version {
			return st, &vs[i], nil
		}
	}
	return nil, nil, fmt.Errorf("study %s: version %d in force is missing", id, st.Version)
}

// studyConsent grants study id's sponsor the study's terms, for patient
// (default: the signer), after printing the study's plain-language summary.
func (c *cli) studyConsent(cmd *cobra.Command, s *signerFlags, patient, id string, identified bool) error {
	return c.onDevice(cmd, s, func(ctx context.Context, d *device) error {
		st, ver, err := studyInForce(d.chain.Latest(), id)
		if err != nil {
			return err
		}
		p := &ver.Protocol
		if len(p.DataCategories) == 0 {
			return fmt.Errorf("study %s registers no data categories: it takes no consent (its sponsor amends it with --data-category)", id)
		}
		fmt.Fprint(c.out, p.ConsentSummary(st.ID, st.Title, st.Sponsor))
		g := consent.Grant{Patient: cmp.Or(patient, s.as), Grantee: consent.Grantee{Org: st.Sponsor}, Categories: p.DataCategories,
			Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeResearch},
			NotBefore: time.Now().Unix(), NotAfter: p.DataUntil, Study: id, Identified: identified}
		gid, err := d.svc.Grant(ctx, d.me, g)
		if err != nil {
			return fmt.Errorf("consent to study %s: %w", id, err)
		}
		fmt.Fprintf(c.out, "consented to study %s: grant %s (withdraw with: carechain study withdraw --study %s --as %s)\n", id, gid, id, s.as)
		return nil
	})
}

func (c *cli) studyWithdrawCmd() *cobra.Command {
	var s signerFlags
	var id, patient string
	cmd := &cobra.Command{
		Use:   "withdraw",
		Short: "Withdraw from a study, as the patient: nothing recorded from now on is shared with it",
		Long: `withdraw revokes the patient's consent to the study. The keys of the
study's data categories rotate, so nothing the patient records from now on
reaches the sponsor, and every later research read or export leaves it out;
what was recorded before the withdrawal stays in the study's data, as in any
clinical trial.`,
		Example: `  carechain study withdraw --study dm-1 --as patient/k7q2m9`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				who := cmp.Or(patient, s.as)
				grants, err := d.chain.Latest().Grants(who)
				if err != nil {
					return err
				}
				for _, g := range grants {
					if g.Study != id || g.Revoked {
						continue
					}
					if err := d.svc.Revoke(ctx, d.me, who, g.ID); err != nil {
						return fmt.Errorf("withdraw from study %s: %w", id, err)
					}
					fmt.Fprintf(c.out, "withdrew from study %s (grant %s revoked): nothing recorded from now on is shared with it; what was recorded before stays in its data\n", id, g.ID)
					return nil
				}
				return fmt.Errorf("%s has no consent in force to study %s", who, id)
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.Flags().StringVar(&patient, "patient", "", "patient (default: --as; a delegate names the patient)")
	cmd.MarkFlagRequired("study")
	return cmd
}
