package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/bench"
)

func (c *cli) benchSupplyCmd() *cobra.Command {
	opts := bench.DefaultSupplyOptions()
	cmd := &cobra.Command{
		Use:   "supply",
		Short: "Supply chain: commission and ship serials in batches, then verifications with and without proof bundles",
		Long: `bench supply starts a one-validator node whose chain has a manufacturer and a
hospital, commissions --serials serialized units of one product in batches of
--batch (one transaction each) and ships them all to the hospital, and
reports serials/s for each and the growth of the state store and of the whole
data directory per serial (the unit, its history and the supply map's nodes).
Then the hospital verifies --verifications scans (one in ten of a serial
never commissioned) on --clients goroutines: first as "supply verify" answers
from the latest state (the same-run baseline), then with the proof bundle at
the newest signed checkpoint that "supply verify --bundle" gets, and reports
p50/p99 and verifications/s of each with the ratios; and how many bundles per
second "supply check-bundle" checks offline. The issue's size is
--serials 1000000.

With --private it then runs the same phases on a fresh node for a product
registered as private, through the node's own path (custody keys derived
and journaled by the node, a ship in two rounds with the shipper's signed
statement): commission, ship, and the hospital's receive timed on its own;
the hospital's verifications of the units in transit to it (offered by the
manufacturer, bundles of version 2) and of its own stock after the receive;
the state, data directory and supply journal bytes per serial; and each
figure's ratio to the ordinary product's of the same run. Every scan of a
commissioned unit must be judged genuine, or the bench fails.`,
		Example: `  carechain bench supply --serials 5000
  carechain bench supply --serials 1000000
  carechain bench supply --serials 100000 --private`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Supply(cmd.Context(), opts)
			if err != nil {
				return err
			}
			ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
			fmt.Fprintf(c.out, "serials: %d in batches of %d\n", opts.Serials, opts.Batch)
			fmt.Fprintf(c.out, "commission:                        %8.0f serials/s\n", rep.CommissionPerSecond)
			fmt.Fprintf(c.out, "ship:                              %8.0f serials/s\n", rep.ShipPerSecond)
			fmt.Fprintf(c.out, "state store per serial:            %8.0f bytes (data directory %.0f bytes)\n", rep.StateBytesPerSerial, rep.DataBytesPerSerial)
			fmt.Fprintf(c.out, "verify (baseline, no proof):       p50 %6.3f ms  p99 %6.3f ms  %8.0f verifications/s (%d clients)\n",
				ms(rep.Plain.P50), ms(rep.Plain.P99), rep.Plain.PerSecond, opts.Clients)
			fmt.Fprintf(c.out, "verify with bundle:                p50 %6.3f ms  p99 %6.3f ms  %8.0f verifications/s (%d-byte bundle)\n",
				ms(rep.Proved.P50), ms(rep.Proved.P99), rep.Proved.PerSecond, rep.BundleBytes)
			fmt.Fprintf(c.out, "ratio with bundle/baseline:        p50 %6.2f     p99 %6.2f     rate %.2f\n",
				ms(rep.Proved.P50)/ms(rep.Plain.P50), ms(rep.Proved.P99)/ms(rep.Plain.P99), rep.Proved.PerSecond/rep.Plain.PerSecond)
			fmt.Fprintf(c.out, "offline check of a bundle:         %8.0f bundles/s (each checkpoint's signatures verified)\n", rep.CheckPerSecond)
			fmt.Fprintf(c.out, "  checkpoints remembered:          %8.0f bundles/s (ratio %.2f)\n", rep.CheckWarmPerSecond, rep.CheckWarmPerSecond/rep.CheckPerSecond)
			if rep.Private != nil {
				printPrivateSupply(c.out, rep, opts.Clients)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Serials, "serials", opts.Serials, "serialized units to commission and ship")
	f.IntVar(&opts.Batch, "batch", opts.Batch, "units per transaction (at most 1000)")
	f.IntVar(&opts.Verifications, "verifications", opts.Verifications, "scans to verify, without and with bundles")
	f.IntVar(&opts.Clients, "clients", opts.Clients, "verifying clients in parallel")
	f.BoolVar(&opts.Private, "private", false, "then run the same phases for a private product on a fresh node, with ratios to the ordinary one")
	return cmd
}

// printPrivateSupply prints the private product's figures of rep, each
// with its ratio to the ordinary product's of the same run.
func printPrivateSupply(w io.Writer, rep bench.SupplyReport, clients int) {
	p := rep.Private
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	fmt.Fprintf(w, "private product (a fresh node; %d batches in flight through the node's path; ratio private/ordinary):\n", p.Window)
	fmt.Fprintf(w, "  commission:                      %8.0f serials/s (ratio %.2f)\n", p.CommissionPerSecond, p.CommissionPerSecond/rep.CommissionPerSecond)
	fmt.Fprintf(w, "  ship (two rounds, sealed):       %8.0f serials/s (ratio %.2f)\n", p.ShipPerSecond, p.ShipPerSecond/rep.ShipPerSecond)
	fmt.Fprintf(w, "  receive at the hospital:         %8.0f serials/s\n", p.ReceivePerSecond)
	fmt.Fprintf(w, "  state store per serial:          %8.0f bytes (ratio %.2f; data directory %.0f bytes, ratio %.2f)\n",
		p.StateBytesPerSerial, p.StateBytesPerSerial/rep.StateBytesPerSerial, p.DataBytesPerSerial, p.DataBytesPerSerial/rep.DataBytesPerSerial)
	fmt.Fprintf(w, "  receive, per serial:             %8.0f bytes of state store (data directory %.0f bytes)\n", p.ReceiveStateBytesPerSerial, p.ReceiveDataBytesPerSerial)
	fmt.Fprintf(w, "  supply journal per serial:       %8.0f bytes\n", p.JournalBytesPerSerial)
	for _, ph := range []struct {
		name string
		v    bench.SupplyVerify
	}{{"in transit", p.InTransit}, {"received", p.Received}} {
		fmt.Fprintf(w, "  verify %-10s (no proof):     p50 %6.3f ms  p99 %6.3f ms  %8.0f verifications/s (%d clients; rate ratio %.2f)\n",
			ph.name, ms(ph.v.Plain.P50), ms(ph.v.Plain.P99), ph.v.Plain.PerSecond, clients, ph.v.Plain.PerSecond/rep.Plain.PerSecond)
		fmt.Fprintf(w, "  verify %-10s with bundle:    p50 %6.3f ms  p99 %6.3f ms  %8.0f verifications/s (%d-byte bundle; rate ratio %.2f)\n",
			ph.name, ms(ph.v.Proved.P50), ms(ph.v.Proved.P99), ph.v.Proved.PerSecond, ph.v.BundleBytes, ph.v.Proved.PerSecond/rep.Proved.PerSecond)
	}
	fmt.Fprintf(w, "  offline check, in transit:       %8.0f bundles/s (ratio %.2f); checkpoints remembered %.0f bundles/s (ratio %.2f)\n",
		p.CheckPerSecond, p.CheckPerSecond/rep.CheckPerSecond, p.CheckWarmPerSecond, p.CheckWarmPerSecond/rep.CheckWarmPerSecond)
	fmt.Fprintf(w, "  verdicts: %d of %d scans of commissioned units genuine in every verification (offered by the manufacturer in transit, then the hospital's own stock); %d scans of serials never commissioned refused\n",
		p.Genuine, p.Scanned, rep.Options.Verifications-p.Scanned)
}
