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
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// submitSupplyEvent submits the transaction e means, signed by the signer
// on this device with the commitments its node computes, then records e in
// the organization's supply journal on the node, for EPCIS export. A
// journal that cannot be written is a warning: the transaction committed.
// Units of a private product take the private path (submitPrivate).
func (c *cli) submitSupplyEvent(ctx context.Context, s *signerFlags, e supply.Event) error {
	if err := e.Check(); err != nil {
		return err
	}
	key, err := c.unlock(s)
	if err != nil {
		return err
	}
	cl, err := c.nodeClient(s.nodeAddr, s.home)
	if err != nil {
		return err
	}
	cl = cl.As(s.as, key)
	if e.Action != supply.ActRecall {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		private := privateProduct(pctx, cl, e.GTIN)
		cancel()
		if private {
			return c.submitPrivate(ctx, s, cl, key, e)
		}
	}
	cs := &nodeapi.CommitmentsResponse{}
	if len(e.Serials) > 0 || len(e.SSCCs) > 0 {
		cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		cs, err = cl.SupplyCommitments(cctx, nodeapi.CommitmentsRequest{GTIN: e.GTIN, Serials: e.Serials, SSCCs: e.SSCCs, ShareWith: e.To})
		cancel()
		if err != nil {
			return fmt.Errorf("commitments of the serials: %w", err)
		}
	}
	typ, body, err := tx.SupplyEventBody(e, supply.Named(e.Serials, cs.Commitments), supply.Named(e.SSCCs, cs.Cases))
	if err != nil {
		return err
	}
	tx.SetKeyWrap(body, cs.KeyWrap)
	if err := c.submit(ctx, s, typ, func(string, uint64) (any, error) { return body, nil }); err != nil {
		return err
	}
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := cl.SupplyJournal(jctx, e); err != nil {
		fmt.Fprintf(c.err, "warning: committed, but not recorded in the supply journal (it is missing from EPCIS exports): %v\n", err)
	}
	return nil
}

func (c *cli) supplyExportCmd() *cobra.Command {
	var s signerFlags
	var gtin, since, out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write your organization's supply events as a GS1 EPCIS 2.0 document (JSON-LD)",
		Long: `export asks your organization's node for the supply events of your organization
(those its staff committed: commissioning, shipping, receiving, dispensing,
decommissioning, flags, recalls, packing and unpacking cases), with their
serials, from the node's sealed supply journal, and writes them as an EPCIS
2.0 EPCISDocument: ObjectEvents with CBV bizSteps and dispositions, units as
GS1 Digital Link URIs, and AggregationEvents whose parentID is a case's SSCC.`,
		Example: `  carechain supply export --as acme/officer --gtin 00312345678906 --since 2026-01-01 --out events.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var q supply.EventQuery
			if gtin != "" {
				if err := supply.CheckGTIN(gtin); err != nil {
					return err
				}
				q.EPCs = []string{supply.DigitalLinkPrefix + gtin + "/21/*"}
			}
			if since != "" {
				t, err := time.Parse(time.RFC3339, since)
				if err != nil {
					if t, err = time.Parse(time.DateOnly, since); err != nil {
						return fmt.Errorf("--since %q: want YYYY-MM-DD or an RFC 3339 time", since)
					}
				}
				q.GE = t
			}
			cl, err := c.signedClient(&s)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			res, err := cl.SupplyEvents(ctx, q)
			if err != nil || res.EPCISBody.QueryResults == nil {
				return fmt.Errorf("query the supply events: %w", errors.Join(err, errors.New("no query results")))
			}
			doc := *res
			doc.Type, doc.EPCISBody.EventList, doc.EPCISBody.QueryResults = "EPCISDocument", res.EPCISBody.QueryResults.ResultsBody.EventList, nil
			if doc.EPCISBody.EventList == nil {
				doc.EPCISBody.EventList = []supply.EPCISEvent{}
			}
			return c.writeEPCIS(doc, out)
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&gtin, "gtin", "", "only the events of this product")
	cmd.Flags().StringVar(&since, "since", "", "only the events from this time on (YYYY-MM-DD or RFC 3339)")
	pathVar(cmd.Flags(), &out, "out", "", "file to write (default: standard output)")
	return cmd
}

func (c *cli) writeEPCIS(doc supply.EPCISDocument, out string) error {
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if out == "" {
		_, err = c.out.Write(b)
		return err
	}
	if err := os.WriteFile(out, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(c.out, "wrote %d EPCIS events to %s\n", len(doc.EPCISBody.EventList), out)
	return nil
}

func (c *cli) supplyImportCmd() *cobra.Command {
	var s signerFlags
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Submit the events of a GS1 EPCIS 2.0 document as your organization's supply transactions",
		Long: `import reads an EPCIS 2.0 document (JSON-LD), maps each ObjectEvent to the
supply transaction it means (commissioning → commission, shipping → ship,
receiving → receive, dispensing → dispense, decommissioning → decommission,
inspecting/non_sellable_other → flag, holding/recalled → recall; SSCCs in a
shipping or receiving event move those cases) and each AggregationEvent
(packing → pack, unpacking → unpack) and submits
them in order, signed on this device. Events of a private product take
the private path as the commands do: the commissioning to a custody key
from your node, the other events as transfers your node signs, a dispense
co-signed here. A document with an event it cannot map
(an unknown bizStep, a malformed EPC) is refused whole, naming the event; a
ledger refusal stops the import at that event, those before it committed.`,
		Example: `  carechain supply import --as dist/officer events.json`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			events, err := supply.ParseEPCIS(b)
			if err != nil {
				return fmt.Errorf("%s: %w (nothing submitted)", args[0], err)
			}
			for i, e := range events {
				if err := c.submitSupplyEvent(cmd.Context(), &s, e); err != nil {
					return fmt.Errorf("event #%d (%s): %w; the %d events before it are committed", i, e.Action, err, i)
				}
			}
			fmt.Fprintf(c.out, "imported %d EPCIS events\n", len(events))
			return nil
		},
	}
	s.register(cmd)
	return cmd
}
