package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/supply"
)

// supplyAggregateCmd is "supply pack" or "supply unpack" (supply/case.go).
func (c *cli) supplyAggregateCmd(action string) *cobra.Command {
	var s signerFlags
	var sf serialFlags
	var gtin, sscc string
	cmd := &cobra.Command{
		Use:   action,
		Short: "Pack units you hold into a case or pallet named by its SSCC: it ships and is received with them",
		Long: `pack puts units of one product that your organization holds (not in transit,
dispensed, decommissioned, recalled, suspect or expired, and in no case yet)
into a case or pallet, named by its GS1 SSCC (18 digits with their check
digit); a case you hold takes more units the same way. The ledger knows the
case, as it knows units, by a commitment under the product's key. "supply
ship --sscc" and "supply receive --sscc" then move the case with every unit
in it; a unit in a case is shipped, dispensed or decommissioned on its own
only once unpacked. The event is recorded as an EPCIS AggregationEvent.`,
		Example: `  carechain supply pack --as acme/officer --gtin 00312345678906 --sscc 106141412345678908 --serials case1.txt`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var serials []string
			var err error
			if action == supply.ActPack || sf.named() {
				if serials, err = sf.list(); err != nil {
					return err
				}
			}
			e := supply.Event{Action: action, GTIN: gtin, SSCCs: []string{sscc}, Serials: serials}
			if err := c.submitSupplyEvent(cmd.Context(), &s, e); err != nil {
				return err
			}
			what := fmt.Sprintf("%d units", len(serials))
			if len(serials) == 0 {
				what = "every unit"
			}
			fmt.Fprintf(c.out, "%sed: %s of %s, case SSCC %s\n", action, what, gtin, sscc)
			return nil
		},
	}
	if action == supply.ActUnpack {
		cmd.Short = "Take units out of a case or pallet you hold (no --serial: all of them)"
		cmd.Long = `unpack takes the named units, or with no --serial or --serials every unit,
out of a case or pallet your organization holds (not in transit); an emptied
case is gone from the ledger. The event is recorded as an EPCIS
AggregationEvent (DELETE).`
		cmd.Example = `  carechain supply unpack --as pharm/pharmacist --gtin 00312345678906 --sscc 106141412345678908`
	}
	s.register(cmd)
	sf.register(cmd)
	cmd.Flags().StringVar(&gtin, "gtin", "", "GTIN-14 of the product in the case")
	cmd.Flags().StringVar(&sscc, "sscc", "", "SSCC of the case or pallet (GS1 AI 00, 18 digits)")
	return cmd
}
