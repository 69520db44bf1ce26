package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/bench"
	"github.com/carechain/carechain/trust"
)

func (c *cli) benchTrustCmd() *cobra.Command {
	opts := bench.DefaultTrustOptions()
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "The cost of trust: FHIR creates and reads with signing, encryption and the access log on, against the same with them off (needs -tags notrust)",
		Long: `bench trust measures, in one run, the FHIR create and read paths of "bench
all" (loopback HTTP; --creates committed creates by --authors practitioners
at --create-clients concurrent clients, then --reads reads of one record at
--read-clients) on a fresh node as every build runs it, then the same on a
fresh node with trust switched off: transactions unsigned and admitted
unchecked, records stored unencrypted, reads leaving no access event. It
prints each path's rate and p50 with trust on and off, and their ratio.

The switch exists only in a binary built with -tags notrust:
  go run -tags notrust ./cmd/carechain bench trust
Release builds (scripts/build-static, the Dockerfile) lack it; there this
command refuses. "bench all" in such a build prints the rows too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Trust(cmd.Context(), opts)
			if err != nil {
				return err
			}
			o := rep.Options
			fmt.Fprintln(c.out, trust.Warning)
			fmt.Fprintf(c.out, "config: 1 validator per node, timeout_commit=0s; %d patients x %d, %d authors, %d creates at %d clients, %d reads at %d; GOMAXPROCS=%d\n",
				o.Patients, o.PerPatient, o.Authors, o.Creates, o.CreateClients, o.Reads, o.ReadClients, runtime.GOMAXPROCS(0))
			c.printTrustRows(rep.Rows())
			// CPU per request holds up better than a rate on a machine
			// shared with other work: it counts only this process's time.
			fmt.Fprintf(c.out, "process CPU per request (server, client and node): create %v on, %v off; read %v on, %v off\n",
				rep.On.Create.CPU.Round(time.Microsecond), rep.Off.Create.CPU.Round(time.Microsecond),
				rep.On.Read.CPU.Round(time.Microsecond), rep.Off.Read.CPU.Round(time.Microsecond))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Patients, "patients", opts.Patients, "patients loaded before timing")
	f.IntVar(&opts.Authors, "authors", opts.Authors, "practitioners creating through the FHIR API")
	f.IntVar(&opts.Creates, "creates", opts.Creates, "timed creates on each node")
	f.IntVar(&opts.CreateClients, "create-clients", opts.CreateClients, "concurrent clients creating")
	f.IntVar(&opts.Reads, "reads", opts.Reads, "timed reads on each node")
	f.IntVar(&opts.ReadClients, "read-clients", opts.ReadClients, "concurrent clients reading")
	return cmd
}

// printTrustRows prints the cost-of-trust rows: each path with trust on and
// off, and on/off.
func (c *cli) printTrustRows(rows []bench.Row) {
	fmt.Fprintf(c.out, "%-46s %10s %10s %7s\n", "path", "trust on", "trust off", "on/off")
	for _, r := range rows {
		fmt.Fprintf(c.out, "%-46s %10.2f %10.2f %7.3f\n", r.Name+" ("+r.Unit+")", r.Measured, r.Baseline, r.Ratio())
	}
}
