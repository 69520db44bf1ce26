package main

import (
	"fmt"
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
--serials 1000000.`,
		Example: `  carechain bench supply --serials 5000
  carechain bench supply --serials 1000000`,
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
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Serials, "serials", opts.Serials, "serialized units to commission and ship")
	f.IntVar(&opts.Batch, "batch", opts.Batch, "units per transaction (at most 1000)")
	f.IntVar(&opts.Verifications, "verifications", opts.Verifications, "scans to verify, without and with bundles")
	f.IntVar(&opts.Clients, "clients", opts.Clients, "verifying clients in parallel")
	return cmd
}
