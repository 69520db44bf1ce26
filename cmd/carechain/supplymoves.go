package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

func (c *cli) supplyCommissionCmd() *cobra.Command {
	var s signerFlags
	var sf serialFlags
	var body tx.SupplyCommission
	cmd := &cobra.Command{
		Use:   "commission",
		Short: "Commission serialized units of your product, in one lot, in batches of up to 1000",
		Long: `commission puts units on the ledger by their serial commitments, with their lot
and expiry in plain (recalls and expiry refusals need them). A serial
commissioned before is refused, and so is the whole batch.`,
		Example: `  carechain supply commission --as acme/officer --gtin 00312345678906 --lot L2401 \
    --expiry 2027-06-30 --serials serials.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			serials, err := sf.list()
			if err != nil {
				return err
			}
			if body.Expiry, err = supply.ParseExpiry(body.Expiry); err != nil {
				return err
			}
			e := supply.Event{Action: supply.ActCommission, GTIN: body.GTIN, Serials: serials, Lot: body.Lot, Expiry: body.Expiry}
			if err := c.submitSupplyEvent(cmd.Context(), &s, e); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "commissioned %d units of %s, lot %s, expiring %s\n", len(serials), body.GTIN, body.Lot, body.Expiry)
			return nil
		},
	}
	s.register(cmd)
	sf.register(cmd)
	cmd.Flags().StringVar(&body.GTIN, "gtin", "", "GTIN-14 of the product")
	cmd.Flags().StringVar(&body.Lot, "lot", "", "lot (batch) number, GS1 AI 10")
	cmd.Flags().StringVar(&body.Expiry, "expiry", "", "expiry date, YYYY-MM-DD or YYMMDD (GS1 AI 17)")
	return cmd
}

func (c *cli) supplyMoveCmd(action, short, example string) *cobra.Command {
	var s signerFlags
	var sf serialFlags
	var gtin, to, shipment string
	var ssccs []string
	var sale saleFlags
	cmd := &cobra.Command{
		Use: action, Short: short, Example: example, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if shipment != "" {
				if len(ssccs) > 0 || sf.named() {
					return errors.New("--shipment receives a whole shipment: name no serial and no SSCC")
				}
				return c.receiveShipment(cmd.Context(), &s, gtin, shipment)
			}
			var serials []string
			var err error
			if len(ssccs) == 0 || sf.named() {
				if serials, err = sf.list(); err != nil {
					return err
				}
			}
			if (action == tx.MoveShip) != (to != "") {
				return errors.New("a ship, and only a ship, names its receiver (--to)")
			}
			e := supply.Event{Action: action, GTIN: gtin, Serials: serials, SSCCs: ssccs, To: to}
			if e.BizTransactions, e.Price, err = sale.sale(); err != nil {
				return err
			}
			if err := c.submitSupplyEvent(cmd.Context(), &s, e); err != nil {
				return err
			}
			what := fmt.Sprintf("%d units", len(serials))
			if len(ssccs) > 0 {
				what = fmt.Sprintf("%d cases (SSCC %s) with the units", len(ssccs), strings.Join(ssccs, ", "))
			}
			fmt.Fprintf(c.out, "%s: %s of %s%s\n", pastTenseOf(action), what, gtin, map[bool]string{true: " to " + to}[to != ""])
			return nil
		},
	}
	s.register(cmd)
	sf.register(cmd)
	cmd.Flags().StringVar(&gtin, "gtin", "", "GTIN-14 of the product")
	if action == tx.MoveShip {
		cmd.Flags().StringVar(&to, "to", "", "receiving organization")
		sale.register(cmd)
	}
	if action == tx.MoveShip || action == tx.MoveReceive {
		cmd.Flags().StringArrayVar(&ssccs, "sscc", nil, "SSCC of a case or pallet to "+action+" with every unit in it, instead of --serial (repeat)")
	}
	if action == tx.MoveReceive {
		cmd.Flags().StringVar(&shipment, "shipment", "", "a whole pending shipment of a private product, by its id in `supply stock`, instead of --serial or --sscc")
	}
	return cmd
}

func pastTenseOf(action string) string {
	if action == tx.MoveShip {
		return "shipped"
	}
	return strings.TrimSuffix(action, "e") + "ed"
}

func (c *cli) supplyVerifyCmd() *cobra.Command {
	var s signerFlags
	var scan supply.Scan
	var asJSON bool
	var bundle string
	var trustedHeight int64
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify a scanned unit: commissioned by the GTIN's owner, its status, held by the seller",
		Long: `verify asks your organization's node whether the unit whose GS1 DataMatrix
you scanned (GTIN, serial, and lot and expiry if given) was commissioned by
the product's manufacturer, is not recalled, suspect, illegitimate, expired,
dispensed or decommissioned, and is held by the seller (--seller). It prints
GENUINE, or DO NOT ACCEPT with the reasons, and then exits non-zero. The
serial goes to your node in a request body, not in a URL, and is not logged.
Your organization needs the product's key, which comes with its first
shipment of the product. For a private product, whose holders the ledger
does not name, the seller must be the organization whose shipment to you
holds the unit (or your own organization, if it holds it).

With --bundle FILE the node answers as the ledger stood at its newest
validator-signed checkpoint and writes the proof of the answer to FILE: the
product, the unit (by its serial commitment) and its lot with their proofs in
the ledger's authenticated map of supply state, and the checkpoint, whose app
hash commits to the map's root. "supply check-bundle" checks it offline.`,
		Example: `  carechain supply verify --as pharm/pharmacist --gtin 00312345678906 --serial SN1 \
    --lot L2401 --expiry 270630 --seller dist
  carechain supply verify --as pharm/pharmacist --gtin 00312345678906 --serial SN1 --bundle sn1.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := scan.Check(); err != nil {
				return err
			}
			cl, err := c.signedClient(&s)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			v, err := c.supplyVerifyWith(ctx, cl, scan, bundle, trustedHeight)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			if asJSON {
				b, _ := json.MarshalIndent(v, "", "  ")
				fmt.Fprintln(c.out, string(b))
			} else {
				printVerification(c, v)
			}
			if !v.Genuine {
				return errors.New("the unit did not verify: do not accept it")
			}
			return nil
		},
	}
	s.register(cmd)
	f := cmd.Flags()
	f.StringVar(&scan.GTIN, "gtin", "", "GTIN-14 (GS1 AI 01)")
	f.StringVar(&scan.Serial, "serial", "", "serial number (GS1 AI 21)")
	f.StringVar(&scan.Lot, "lot", "", "lot on the package (GS1 AI 10; optional)")
	f.StringVar(&scan.Expiry, "expiry", "", "expiry on the package, YYMMDD or YYYY-MM-DD (GS1 AI 17; optional)")
	f.StringVar(&scan.Seller, "seller", "", "organization selling the unit to you (optional)")
	f.BoolVar(&asJSON, "json", false, "print the verification as JSON")
	pathVar(f, &bundle, "bundle", "", "write the proof of the answer to this file, for supply check-bundle")
	f.Int64Var(&trustedHeight, "trusted-height", 0, "with --bundle: height at which your trusted validator set was in force (0: the first block)")
	return cmd
}

func printVerification(c *cli, v *supply.Verification) {
	verdict := "GENUINE"
	if !v.Genuine {
		verdict = "DO NOT ACCEPT"
	}
	fmt.Fprintf(c.out, "%s\n  product:   %s (GTIN %s) by %s\n  status:    %s\n", verdict, v.Product, v.GTIN, v.Manufacturer, v.Status)
	if v.Commissioned {
		fmt.Fprintf(c.out, "  lot:       %s, expires %s\n  custodian: %s\n", v.Lot, v.Expiry, v.Custodian)
	}
	switch {
	case v.SSCC != "":
		fmt.Fprintf(c.out, "  packed in: case SSCC %s\n", v.SSCC)
	case v.Packed:
		fmt.Fprintln(c.out, "  packed in: a case (its SSCC is not known here: the ledger holds only its commitment)")
	}
	for _, r := range v.Reasons {
		fmt.Fprintf(c.out, "  reason:    %s\n", r)
	}
	fmt.Fprintf(c.out, "  as of ledger height %d\n", v.Height)
}

func (c *cli) supplyFlagCmd() *cobra.Command {
	var s signerFlags
	var body tx.SupplyFlag
	var serial string
	cmd := &cobra.Command{
		Use:   "flag",
		Short: "Flag a unit you hold, or with --lot its whole lot, as suspect: it is quarantined until the manufacturer decides",
		Example: `  carechain supply flag --as pharm/admin --gtin 00312345678906 --serial SN3 --reason "seal broken"
  carechain supply flag --as pharm/admin --gtin 00312345678906 --serial SN3 --lot --reason "wrong colour"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := supply.CheckSerial(serial); err != nil {
				return err
			}
			return c.submitSupplyEvent(cmd.Context(), &s, supply.Event{Action: supply.ActFlag, GTIN: body.GTIN, Serials: []string{serial},
				WholeLot: body.WholeLot, Reason: body.Reason})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&body.GTIN, "gtin", "", "GTIN-14 of the product")
	cmd.Flags().StringVar(&serial, "serial", "", "serial of the unit")
	cmd.Flags().BoolVar(&body.WholeLot, "lot", false, "flag the unit's whole lot")
	cmd.Flags().StringVar(&body.Reason, "reason", "", "why it is suspect")
	return cmd
}

// oneCommitment is the commitment of one serial.
func (c *cli) oneCommitment(ctx context.Context, s *signerFlags, gtin, serial string) ([]byte, error) {
	if err := supply.CheckSerial(serial); err != nil {
		return nil, err
	}
	cs, err := c.commitments(ctx, s, nodeapi.CommitmentsRequest{GTIN: gtin, Serials: []string{serial}})
	if err != nil {
		return nil, err
	}
	return cs.Commitments[0], nil
}

func (c *cli) supplyResolveCmd() *cobra.Command {
	var s signerFlags
	var body tx.SupplyResolve
	var serial string
	cmd := &cobra.Command{
		Use:   "resolve",
		Short: "Decide on a flag, as the product's manufacturer: --outcome confirm (illegitimate) or clear",
		Example: `  carechain supply resolve --as acme/officer --gtin 00312345678906 --serial SN3 --outcome clear
  carechain supply resolve --as acme/officer --gtin 00312345678906 --lot L2401 --outcome confirm`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serial != "" {
				unit, err := c.oneCommitment(cmd.Context(), &s, body.GTIN, serial)
				if err != nil {
					return err
				}
				body.Unit = unit
			}
			return c.submit(cmd.Context(), &s, tx.TypeSupplyResolve, func(string, uint64) (any, error) { return &body, nil })
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&body.GTIN, "gtin", "", "GTIN-14 of the product")
	cmd.Flags().StringVar(&serial, "serial", "", "serial of the flagged unit")
	cmd.Flags().StringVar(&body.Lot, "lot", "", "the flagged lot")
	cmd.Flags().StringVar(&body.Outcome, "outcome", "", "confirm or clear")
	return cmd
}

func (c *cli) supplyRecallCmd() *cobra.Command {
	var s signerFlags
	var body tx.SupplyRecall
	cmd := &cobra.Command{
		Use:     "recall",
		Short:   "Recall a lot of your product: no unit of it is shipped, received or dispensed any more",
		Example: `  carechain supply recall --as acme/officer --gtin 00312345678906 --lot L2401 --reason "sterility failure"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.submitSupplyEvent(cmd.Context(), &s, supply.Event{Action: supply.ActRecall, GTIN: body.GTIN, Lot: body.Lot, Reason: body.Reason}); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "recalled lot %s of %s\n", body.Lot, body.GTIN)
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&body.GTIN, "gtin", "", "GTIN-14 of the product")
	cmd.Flags().StringVar(&body.Lot, "lot", "", "lot to recall")
	cmd.Flags().StringVar(&body.Reason, "reason", "", "why")
	return cmd
}
