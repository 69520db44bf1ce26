package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/supply"
)

// supplyVerifyWith verifies scan through cl; with a bundle file, at the
// newest signed checkpoint, writing the proof of the answer to it.
func (c *cli) supplyVerifyWith(ctx context.Context, cl *nodeapi.Client, scan supply.Scan, bundle string, trustedHeight int64) (*supply.Verification, error) {
	if bundle == "" {
		return cl.SupplyVerify(ctx, scan)
	}
	p, err := cl.SupplyProof(ctx, scan, trustedHeight)
	if err != nil {
		return nil, err
	}
	b, err := proof.Encode(p.Bundle)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(bundle, b, 0o644); err != nil {
		return nil, fmt.Errorf("--bundle: %w", err)
	}
	fmt.Fprintf(c.out, "wrote the proof of this answer (checkpoint at height %d) to %s\n", p.Bundle.At.Height, bundle)
	return &p.Verification, nil
}

func (c *cli) supplyCheckBundleCmd() *cobra.Command {
	var scan supply.Scan
	var valsFile, verifier string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check-bundle FILE",
		Short: "Check a unit's verification bundle offline, against a trusted validator set",
		Long: `check-bundle checks a file written by "supply verify --bundle" with no node:
the checkpoint must be signed by more than two thirds of the validator set you
trust (--validators, from "carechain validators"; validator changes since are
in the file, as for verify-proof), its app hash must commit to the root of the
ledger's map of supply state, and the product, unit and lot in the file must
be in that map (or, for an unknown serial, the unit proven absent). Then it
judges the scan (--gtin, and --lot, --expiry, --seller as on the package) from
those values alone, as the node does, at the current time: it prints GENUINE,
or DO NOT ACCEPT with the reasons and exits non-zero. Any change to the file
makes the check fail.

For a unit of a private product (a file of version 2), whose holder the
ledger does not name, the file written at the receiving organization's
node also carries the shipper's signed statement of the pending shipment
the unit is in: who ships it to whom, under which claim key, with which
units and lots, signed by a supply staff member of the shipper. The check
requires the proven unit to be in transit under that claim key, the
statement to name the unit and its lot, and the signature to verify; then
the unit is judged as shipped by the statement's sender to its receiver
(--seller must be the sender, --for if given the receiver). That the
signing key is the staff member's is checked by the node that wrote the
file, not proven by the checkpoint.

The file names the unit by its serial commitment, not its serial: that the
commitment is the scanned serial's was computed by the node that made the
file, for its organization, with the product's key. --for names the
organization receiving the unit (a unit in transit is acceptable to its
receiver only).`,
		Example: `  carechain supply check-bundle sn1.json --validators validators.json \
    --gtin 00312345678906 --lot L2401 --expiry 270630 --seller dist`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			trusted, err := readTrusted(valsFile)
			if err != nil {
				return err
			}
			var b proof.SupplyBundle
			if err := proof.Decode(data, &b); err != nil {
				return err
			}
			v, err := proof.CheckSupply(&b, scan, verifier, trusted, time.Now())
			if err != nil {
				return withTrustedHeightHint(err)
			}
			if asJSON {
				out, _ := json.MarshalIndent(v, "", "  ")
				fmt.Fprintln(c.out, string(out))
			} else {
				printVerification(c, &v)
			}
			fmt.Fprintf(c.out, "checked offline: the checkpoint at height %d is signed by the trusted validators%s and proves these values\n",
				b.At.Height, throughTransitions(len(b.At.Transitions)))
			if st := b.Shipment; st != nil {
				fmt.Fprintf(c.out, "shipped by %s to %s under the claim key the unit is proven in transit under, as %s signed (that this key is %s's, and %s active supply staff of %s, is the word of the node that wrote the file: the checkpoint proves no principal)\n",
					st.From, st.To, st.Signer, st.Signer, st.Signer, st.From)
			}
			if !v.Genuine {
				return errors.New("the unit did not verify: do not accept it")
			}
			return nil
		},
	}
	f := cmd.Flags()
	pathVar(f, &valsFile, "validators", "", "trusted validator set file (required)")
	cmd.MarkFlagRequired("validators")
	f.StringVar(&scan.GTIN, "gtin", "", "GTIN-14 on the package (GS1 AI 01)")
	f.StringVar(&scan.Lot, "lot", "", "lot on the package (optional)")
	f.StringVar(&scan.Expiry, "expiry", "", "expiry on the package, YYMMDD or YYYY-MM-DD (optional)")
	f.StringVar(&scan.Seller, "seller", "", "organization selling the unit to you (optional)")
	f.StringVar(&verifier, "for", "", "your organization (optional: a unit in transit is acceptable to its receiver)")
	f.BoolVar(&asJSON, "json", false, "print the verification as JSON")
	return cmd
}
