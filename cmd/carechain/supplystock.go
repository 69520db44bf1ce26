package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// The organization's stock, and the receive of a whole private shipment
// it lists: a private product's units are named on the ledger by no
// organization, so only the organization's own node can say which it
// holds and which are shipped to it (records.SupplyStock).

func (c *cli) supplyStockCmd() *cobra.Command {
	var s signerFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stock",
		Short: "List your organization's stock and the shipments to and from it",
		Long: `stock asks your organization's node for what it holds: units of open
products as the ledger counts them, and of private products as only your
node knows them (by product, lot and status; cases; shipments sealed to
your organization and those it sent, not yet received). A shipment to you
is received whole with "supply receive --gtin G --shipment ID".`,
		Example: `  carechain supply stock --as dist/officer
  carechain supply receive --as dist/officer --gtin 00312345678906 --shipment 5c1e…`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.signedClient(&s)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			st, err := cl.SupplyStock(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(c.out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			c.printStock(st)
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the stock as JSON")
	return cmd
}

// printStock writes st as tables.
func (c *cli) printStock(st *records.SupplyStock) {
	w := tabwriter.NewWriter(c.out, 2, 4, 2, ' ', 0)
	holdings := func(title string, hs []ledger.SupplyHolding) {
		if len(hs) == 0 {
			return
		}
		fmt.Fprintf(w, "%s\nGTIN\tPRODUCT\tLOT\tEXPIRY\tSTATUS\tPEER\tUNITS\tSTOP\n", title)
		for _, h := range hs {
			peer := h.Peer
			if h.Incoming {
				peer = "from " + peer
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", h.GTIN, h.Product, h.Lot, h.Expiry, h.Status, peer, h.Units, h.Stop)
		}
		fmt.Fprintln(w)
	}
	holdings("Open products:", st.Open)
	holdings("Private products, held:", st.Private.Held)
	holdings("Private products, packed in cases:", st.Private.Packed)
	if cs := st.Private.Cases; len(cs) > 0 {
		fmt.Fprintf(w, "Private cases held:\nGTIN\tPRODUCT\tSSCC\tLOTS\tUNITS\n")
		for _, k := range cs {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\n", k.GTIN, k.Product, k.SSCC, strings.Join(k.Lots, ","), k.Units)
		}
		fmt.Fprintln(w)
	}
	shipments := func(title string, ss []records.PrivateShipment) {
		if len(ss) == 0 {
			return
		}
		fmt.Fprintf(w, "%s\nGTIN\tPRODUCT\tFROM\tTO\tLOTS\tUNITS\tCASES\tSHIPMENT\n", title)
		for _, sh := range ss {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", sh.GTIN, sh.Product, sh.From, sh.To, strings.Join(sh.Lots, ","), sh.Units, strings.Join(sh.SSCCs, ","), sh.Claim)
		}
		fmt.Fprintln(w)
	}
	shipments("Shipped to you, not yet received:", st.Private.Incoming)
	shipments("Shipped by you, not yet received:", st.Private.Outgoing)
	if len(st.Open)+len(st.Private.Held)+len(st.Private.Packed)+len(st.Private.Cases)+len(st.Private.Incoming)+len(st.Private.Outgoing) == 0 {
		fmt.Fprintln(w, "Your organization holds no units, and none are shipped to or by it.")
	}
	w.Flush()
}

// receiveShipment receives, for the signer's organization, the whole
// pending shipment of private product gtin named id (its SHIPMENT in the
// stock).
func (c *cli) receiveShipment(ctx context.Context, s *signerFlags, gtin, id string) error {
	cl, err := c.signedClient(s)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := cl.SupplyTransfer(ctx, records.SupplyTransferRequest{Action: tx.MoveReceive, GTIN: gtin, Shipment: id})
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	fmt.Fprintf(c.out, "received shipment %s of %s: %d transfer(s) committed, at height %v\n", id, gtin, len(res.Heights), res.Heights)
	return nil
}
