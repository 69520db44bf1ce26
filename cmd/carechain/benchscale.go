package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/bench"
)

func (c *cli) benchScaleCmd() *cobra.Command {
	opts := bench.DefaultScaleOptions()
	cmd := &cobra.Command{
		Use:   "scale",
		Short: "The scale curve: write rate, read p50/p99, bytes, memory, verify and sync at each of --records sizes, per record",
		Long: `bench scale runs, for each size of --records (comma-separated, smallest
first), a fresh one-validator node in a temporary home and writes that many
records to it as "bench records" does (1 KiB FHIR Observations from
--authors authors, each patient's first record included; prepared before
timing, in chunks). It prints one row per size:
  records       records on the chain
  write/s       record.puts committed per second
  read p50/p99  --reads single-record reads of random records through the
                records service after the writes (consent, decryption and
                the access event included), in ms
  state B/rec   growth of the ledger's state store during the writes, per
                record written
  data B/rec    the same for the whole data directory (CometBFT's stores too)
  RSS MB        this process's resident memory after the writes, free
                memory returned to the system first (n/a off Linux)
  heap MB       the live Go heap then
  verify s      what "carechain verify" runs, on the stopped node's home
  verify us/rec that per record on the chain
  sync s        a second node joining the chain ("bench sync"): start to
                caught up
  sync/s        records synced per second
Then the per-record figures of each size over the smallest size's: 1.00 is
flat. The issue's sizes are --records 10000,100000,1000000 (the last takes
long and is run outside CI).`,
		Example: `  carechain bench scale --records 1000,10000
  carechain bench scale --records 10000,100000,1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Scale(cmd.Context(), opts)
			if err != nil {
				return err
			}
			c.printScaleReport(rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&opts.Sizes, "records", opts.Sizes, "records on the chain at each size, comma-separated; each size on a fresh node")
	f.IntVar(&opts.Authors, "authors", opts.Authors, "concurrent authors")
	f.IntVar(&opts.Reads, "reads", opts.Reads, "single-record reads timed at each size")
	return cmd
}

func (c *cli) printScaleReport(rep bench.ScaleReport) {
	o := rep.Options
	fmt.Fprintf(c.out, "config: each size on its own fresh one-validator node (timeout_commit=0s), smallest first; %d authors x window %d, %d patients; "+
		"record.put of a %d-byte Observation (tx %d bytes); %d random reads per size; GOMAXPROCS=%d\n",
		o.Authors, o.Window, o.Authors*o.Patients, rep.ResourceBytes, rep.TxBytes, o.Reads, runtime.GOMAXPROCS(0))
	fmt.Fprintf(c.out, "%10s %9s %9s %9s %11s %10s %8s %8s %9s %13s %8s %8s\n",
		"records", "write/s", "read p50", "read p99", "state B/rec", "data B/rec", "RSS MB", "heap MB", "verify s", "verify us/rec", "sync s", "sync/s")
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	for _, p := range rep.Points {
		rss := "n/a"
		if p.RSS >= 0 {
			rss = fmt.Sprintf("%.1f", float64(p.RSS)/1e6)
		}
		fmt.Fprintf(c.out, "%10d %9.0f %9.3f %9.3f %11.0f %10.0f %8s %8.1f %9.3f %13.1f %8.3f %8.0f\n",
			p.Records, p.WritePerSecond(), ms(p.ReadP50), ms(p.ReadP99), p.StatePerRecord(), p.DataPerRecord(),
			rss, float64(p.Heap)/1e6, p.Verify.Seconds(), p.VerifyPerRecord().Seconds()*1e6, p.Sync.Seconds(), p.SyncPerSecond())
	}
	base := rep.Points[0]
	fmt.Fprintf(c.out, "per record, relative to %d records (1.00 is flat):\n", base.Records)
	fmt.Fprintf(c.out, "%10s %9s %9s %9s %11s %10s %13s %8s\n", "records", "write/s", "read p50", "read p99", "state B/rec", "data B/rec", "verify us/rec", "sync/s")
	for _, p := range rep.Points {
		r := p.Relative(base)
		fmt.Fprintf(c.out, "%10d %9.2f %9.2f %9.2f %11.2f %10.2f %13.2f %8.2f\n", p.Records, r.Write, r.ReadP50, r.ReadP99, r.State, r.Data, r.Verify, r.Sync)
	}
}
