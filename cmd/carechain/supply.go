package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

func (c *cli) supplyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "supply",
		Short: "Drug and device supply chain: products, serialized units, custody, verification, recalls",
		Long: `supply records a drug's or device's serialized units on the ledger, from the
manufacturer to the pharmacy or hospital that dispenses them. The ledger knows
a unit by its serial commitment, HMAC-SHA256 under the product's key, which
only the manufacturer and the organizations the product was shipped to hold
(through their nodes): serials never reach the ledger. Commands are signed
(--as) by an organization's admin, supply officer or pharmacist, and ask
their own organization's node (--node) for commitments.`,
	}
	cmd.AddCommand(c.supplyProductCmd(), c.supplyStockCmd(), c.supplyCommissionCmd(), c.supplyVerifyCmd(), c.supplyCheckBundleCmd(), c.supplyFlagCmd(), c.supplyResolveCmd(), c.supplyRecallCmd(),
		c.supplyExportCmd(), c.supplyImportCmd(), c.supplyAggregateCmd(supply.ActPack), c.supplyAggregateCmd(supply.ActUnpack))
	for _, m := range []struct{ action, short, example string }{
		{tx.MoveShip, "Ship units you hold to another organization (--to): they are in transit until it receives them",
			"  carechain supply ship --as acme/officer --gtin 00312345678906 --to dist --serial SN1 --serial SN2"},
		{tx.MoveReceive, "Receive units shipped to your organization",
			"  carechain supply receive --as dist/officer --gtin 00312345678906 --serials shipment.txt"},
		{tx.MoveDispense, "Dispense units (a pharmacy or hospital): they leave the supply chain",
			"  carechain supply dispense --as pharm/admin --gtin 00312345678906 --serial SN1"},
		{tx.MoveDecommission, "Take units you hold out of the supply chain (destroyed, damaged, recalled stock)",
			"  carechain supply decommission --as pharm/admin --gtin 00312345678906 --serial SN7"},
	} {
		cmd.AddCommand(c.supplyMoveCmd(m.action, m.short, m.example))
	}
	return cmd
}

// serialFlags name the serials a command is about: --serial, repeated,
// and --serials, a file of one serial a line.
type serialFlags struct {
	serials []string
	file    string
}

func (f *serialFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.serials, "serial", nil, "serial number (GS1 AI 21; repeat)")
	pathVar(cmd.Flags(), &f.file, "serials", "", "file of serial numbers, one a line")
}

// named reports whether any serial is named.
func (f *serialFlags) named() bool { return len(f.serials) > 0 || f.file != "" }

func (f *serialFlags) list() ([]string, error) {
	out := append([]string(nil), f.serials...)
	if f.file != "" {
		fh, err := os.Open(f.file)
		if err != nil {
			return nil, fmt.Errorf("--serials: %w", err)
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if s := strings.TrimSpace(sc.Text()); s != "" {
				out = append(out, s)
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--serials %s: %w", f.file, err)
		}
	}
	if len(out) == 0 || len(out) > supply.MaxUnits {
		return nil, fmt.Errorf("name 1 to %d serials (--serial or --serials)", supply.MaxUnits)
	}
	for i, s := range out {
		if err := supply.CheckSerial(s); err != nil {
			return nil, fmt.Errorf("serial #%d: %w", i+1, err)
		}
	}
	return out, nil
}

// commitments asks the signer's node for the commitments of serials.
func (c *cli) commitments(ctx context.Context, s *signerFlags, req nodeapi.CommitmentsRequest) (*nodeapi.CommitmentsResponse, error) {
	cl, err := c.signedClient(s)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out, err := cl.SupplyCommitments(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("commitments of the serials: %w", err)
	}
	return out, nil
}

func (c *cli) supplyProductCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "product", Short: "Register and show products"}
	var s signerFlags
	var p tx.SupplyProduct
	var kind string
	reg := &cobra.Command{
		Use:   "register",
		Short: "Register a product of your manufacturer organization, with a new product key",
		Long: `register puts a product on the ledger: its GTIN (14 digits with a valid GS1
check digit), name, form, strength and kind, in plain (catalogue data). A new
random product key is wrapped to your organization's encryption key; your
organization's node opens it to compute serial commitments. A product is
private unless --private=false: its units are held by one-time custody keys
instead of organizations, so other members cannot see who ships them to
whom; the other supply commands take that path by themselves. With
--private=false (open custody) the ledger names the organization holding
each unit and the receiver of each shipment, for every member to see.`,
		Example: `  carechain supply product register --as acme/officer --gtin 00312345678906 \
    --name "Amoxicillin 500 mg" --form capsule --strength "500 mg" --kind drug`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p.Kind = supply.Kind(kind)
			check := p
			check.KeyWrap = []byte{0} // the wrap is made below, once the rest is known to be valid
			if err := check.Validate(); err != nil {
				return err
			}
			cl, err := c.nodeClient(s.nodeAddr, s.home)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			if p.KeyWrap, err = newProductKeyWrap(ctx, cl, p.GTIN, carechain.OrgOf(s.as)); err != nil {
				return err
			}
			return c.submit(cmd.Context(), &s, tx.TypeSupplyProduct, func(string, uint64) (any, error) { return &p, nil })
		},
	}
	s.register(reg)
	f := reg.Flags()
	f.StringVar(&p.GTIN, "gtin", "", "GTIN-14 of the product")
	f.StringVar(&p.Name, "name", "", "product name")
	f.StringVar(&p.Form, "form", "", "dose form or device type, e.g. capsule")
	f.StringVar(&p.Strength, "strength", "", "strength, e.g. 500 mg")
	f.StringVar(&kind, "kind", "drug", "drug or device")
	f.BoolVar(&p.Private, "private", true, "private custody: units are held by one-time custody keys, so no other member sees who ships them to whom (--private=false: open custody, organizations named on the ledger)")

	var sf signerFlags
	show := &cobra.Command{
		Use: "show GTIN", Short: "Print a registered product (JSON)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return c.supplyShow(cmd.Context(), &sf, args[0]) },
	}
	sf.register(show)
	cmd.AddCommand(reg, show)
	return cmd
}

func (c *cli) supplyShow(ctx context.Context, s *signerFlags, gtin string) error {
	cl, err := c.signedClient(s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	p, err := cl.SupplyProduct(ctx, gtin)
	if err != nil {
		return err
	}
	return c.printJSON(p)
}

// newProductKeyWrap makes a random product key and wraps it to org's
// encryption key; the key itself is forgotten.
func newProductKeyWrap(ctx context.Context, cl *nodeapi.Client, gtin, org string) ([]byte, error) {
	orgs, err := cl.Organizations(ctx, 0)
	if err != nil {
		return nil, err
	}
	for _, o := range orgs {
		if o.ID != org {
			continue
		}
		pub, err := seal.ParsePublicKey(o.EncryptionKey)
		if err != nil {
			return nil, fmt.Errorf("organization %s has no usable encryption key: %w", org, err)
		}
		k := make([]byte, supply.KeySize)
		defer clear(k)
		rand.Read(k)
		return pub.Wrap(k, supply.KeyWrapInfo(gtin, org))
	}
	return nil, fmt.Errorf("no organization %q in the consortium", org)
}
