package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/bench"
	"github.com/carechain/carechain/trust"
)

func (c *cli) benchCmd() *cobra.Command {
	var profile string
	var stop func() error
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput on this machine",
		PersistentPreRunE: func(*cobra.Command, []string) (err error) {
			stop, err = startProfile(profile)
			return err
		},
		PersistentPostRunE: func(*cobra.Command, []string) error { return stop() },
	}
	cmd.PersistentFlags().StringVar(&profile, "cpuprofile", "", "write a CPU profile of the whole benchmark to this file (go tool pprof reads it)")
	cmd.AddCommand(c.benchAllCmd(), c.benchLedgerCmd(), c.benchRecordsCmd(), c.benchProofsCmd(), c.benchFHIRCmd(), c.benchAmendCmd(), c.benchSyncCmd(), c.benchBackupCmd(), c.benchSearchCmd(), c.benchSupplyCmd(), c.benchTrustCmd(), c.benchScaleCmd())
	return cmd
}

// startProfile starts a CPU profile written to path (none if path is
// empty) and returns what stops it.
func startProfile(path string) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

func (c *cli) benchAllCmd() *cobra.Command {
	opts := bench.DefaultAllOptions()
	scale := 1.0
	cmd := &cobra.Command{
		Use:   "all",
		Short: "Every measure in one run, each against its ceiling or baseline of the same run, as one table",
		Long: `bench all runs, each in its own temporary one-validator node: "bench ledger"
(signed txs/s against an accept-all app), "bench records" (record.put/s
against the no-op ledger), the FHIR API over loopback HTTP (creates by
--authors practitioners at each of --create-clients concurrencies, reads of
one record at each of --read-clients, each against a no-op route of the same
server at the same concurrency; transaction Bundles of 100 Observations at
--bundle-clients), "bench search" (p50 and p99 against a read of a
Patient), and "bench supply" at 20000 serials (verifications with proof
bundles against plain verifications), and in a binary built with -tags
notrust the cost-of-trust rows of "bench trust" (go run -tags notrust
./cmd/carechain bench all); without it, it says the rows need that
build. It prints one table: the measure, its same-run baseline,
their ratio and the target, with the machine and configuration. Nothing
printed is a stored figure. The default sizes take a few minutes on 2 cores;
--scale multiplies every count (2 doubles the run, 0.01 is a smoke test).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.All(cmd.Context(), opts.Scaled(scale))
			if err != nil {
				return err
			}
			c.printAllReport(rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.Float64Var(&scale, "scale", scale, "multiply every count (transactions, requests, patients) by this")
	f.IntSliceVar(&opts.API.CreateClients, "create-clients", opts.API.CreateClients, "concurrent clients of each FHIR create phase")
	f.IntSliceVar(&opts.API.ReadClients, "read-clients", opts.API.ReadClients, "concurrent clients of each FHIR read phase")
	f.IntVar(&opts.API.BundleClients, "bundle-clients", opts.API.BundleClients, "concurrent clients posting transaction Bundles")
	f.IntVar(&opts.API.Authors, "authors", opts.API.Authors, "practitioners creating through the FHIR API")
	f.IntVar(&opts.Search.Patients, "search-patients", opts.Search.Patients, "patients loaded for the searches")
	return cmd
}

func (c *cli) printAllReport(rep bench.AllReport) {
	o := rep.Options
	if rep.TrustMissing == "" {
		fmt.Fprintln(c.out, trust.Warning)
	}
	fmt.Fprintf(c.out, "machine: %d CPUs, GOMAXPROCS=%d, %s %s; whole run %v\n", rep.CPUs, rep.GOMAXPROCS, rep.GoVersion, rep.Platform, rep.Elapsed.Round(time.Second))
	fmt.Fprintf(c.out, "config: 1 validator per benchmark (the 4-validator ledger row: 4 in this process, %d txs), timeout_commit=0s, null tx indexer; ledger %d txs (%d signers x window %d); records %d puts (%d authors); "+
		"FHIR %d patients x %d, %d authors, %d creates and %d reads per phase, %d Bundles; search %d patients x %d records, %d queries; "+
		"supply %d serials, %d verifications\n",
		o.Validators4.Txs, o.Ledger.Txs, o.Ledger.Signers, o.Ledger.Window, o.Records.Puts, o.Records.Authors, o.API.Patients, o.API.PerPatient, o.API.Authors,
		o.API.Creates, o.API.Reads, o.API.Bundles, o.Search.Patients, o.Search.Records, o.Search.Queries, o.Supply.Serials, o.Supply.Verifications)
	if rep.TrustMissing == "" {
		t := o.Trust
		fmt.Fprintf(c.out, "config, cost of trust: two fresh nodes (trust on, then off), %d patients x %d, %d authors, %d creates at %d clients, %d reads at %d\n",
			t.Patients, t.PerPatient, t.Authors, t.Creates, t.CreateClients, t.Reads, t.ReadClients)
	}
	fmt.Fprintf(c.out, "%-58s %10s %10s  %-18s %7s  %-14s %s\n", "row", "measured", "baseline", "baseline is", "ratio", "target", "met")
	for _, r := range rep.Rows {
		met := "-"
		switch {
		case r.Goal.Value == 0:
		case r.Met():
			met = "yes"
		default:
			met = "no"
		}
		fmt.Fprintf(c.out, "%-58s %10.2f %10.2f  %-18s %7.3f  %-14s %s\n", r.Name+" ("+r.Unit+")", r.Measured, r.Baseline, r.BaselineName, r.Ratio(), r.Goal, met)
	}
	if rep.TrustMissing != "" {
		fmt.Fprintf(c.out, "cost of trust: not measured: %s\n", rep.TrustMissing)
	}
	fmt.Fprintf(c.out, "process CPU per tx: ledger %v (accept-all %v, ratio %.2f); record.put %v (no-op ledger %v, ratio %.2f)\n",
		rep.Ledger.Ledger.CPU.Round(time.Microsecond), rep.Ledger.Ceiling.CPU.Round(time.Microsecond), cpuRatio(rep.Ledger.Ceiling.CPU, rep.Ledger.Ledger.CPU),
		rep.Records.PutCPU.Round(time.Microsecond), rep.Records.Ceiling.CPU.Round(time.Microsecond), cpuRatio(rep.Records.Ceiling.CPU, rep.Records.PutCPU))
	fmt.Fprintf(c.out, "process CPU per request (server, client and node):")
	for _, p := range []struct {
		what string
		ts   []bench.APITiming
	}{{"no-op", rep.API.Noop}, {"create", rep.API.Creates}, {"bundle", []bench.APITiming{rep.API.Bundles}}, {"read", rep.API.Reads}} {
		for _, t := range p.ts {
			fmt.Fprintf(c.out, "  %s@%d %v", p.what, t.Clients, t.CPU.Round(time.Microsecond))
		}
	}
	fmt.Fprintln(c.out)
}

func (c *cli) benchLedgerCmd() *cobra.Command {
	opts := bench.DefaultLedgerOptions()
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Committed signed txs/s on one node (or --validators), against the ceiling of the same CometBFT setup",
		Long: `bench ledger starts a one-validator node (--validators N: N validators of
equal power in this process, peered over loopback) in a temporary home, commits --txs
signed identity.register transactions from --signers concurrent signers, and
reports committed transactions per second and broadcast-to-commit latency.
In the same run it measures the ceiling: the same transactions, node
configuration and submission through an app that accepts every transaction and
keeps no state. Transactions are signed before timing starts. Each run also
prints the process's CPU time per committed transaction, which other load on
a shared machine moves less than rates.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Ledger(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "config: %d validator(s) in this process, timeout_commit=%v, mempool size %d, null tx indexer, %d signers x window %d, %d txs of %d bytes, GOMAXPROCS=%d\n",
				max(opts.Validators, 1), opts.TimeoutCommit, opts.MempoolSize, opts.Signers, opts.Window, rep.Ledger.Txs, rep.TxBytes, runtime.GOMAXPROCS(0))
			for _, r := range []struct {
				name string
				res  bench.Result
			}{{"ceiling (accept-all app)", rep.Ceiling}, {"carechain ledger", rep.Ledger}} {
				fmt.Fprintf(c.out, "%-26s %8.0f tx/s  %5d blocks  latency p50 %v p99 %v  CPU %v per tx\n",
					r.name, r.res.TxPerSecond(), r.res.Blocks, r.res.P50.Round(1e5), r.res.P99.Round(1e5), r.res.CPU.Round(time.Microsecond))
			}
			fmt.Fprintf(c.out, "ratio ledger/ceiling: %.2f (of CPU per tx, ceiling/ledger: %.2f)\n", rep.Ratio(), cpuRatio(rep.Ceiling.CPU, rep.Ledger.CPU))
			if d := rep.Ledger.Dropped + rep.Ceiling.Dropped; d > 0 {
				fmt.Fprintf(c.out, "dropped at recheck (a later nonce of the signer committed first; not counted above): ledger %d, ceiling %d\n", rep.Ledger.Dropped, rep.Ceiling.Dropped)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Txs, "txs", opts.Txs, "transactions per run")
	f.IntVar(&opts.Signers, "signers", opts.Signers, "concurrent signers")
	f.IntVar(&opts.Window, "window", opts.Window, "transactions in flight per signer")
	f.DurationVar(&opts.TimeoutCommit, "timeout-commit", opts.TimeoutCommit, "CometBFT timeout_commit")
	f.IntVar(&opts.MempoolSize, "mempool-size", opts.MempoolSize, "mempool size (txs)")
	f.IntVar(&opts.Validators, "validators", 1, "validators of equal power, all in this process (the signers submit to the first)")
	return cmd
}

func (c *cli) benchRecordsCmd() *cobra.Command {
	opts := bench.DefaultRecordsOptions()
	cmd := &cobra.Command{
		Use:   "records",
		Short: "Committed record.put txs/s (1 KiB FHIR Observation), against the no-op ceiling; read latency",
		Long: `bench records starts a one-validator node in a temporary home and commits
--puts record.put transactions: 1 KiB FHIR Observations, validated against the
FHIR R4 schema, encrypted and signed before timing (that cost is reported per
transaction). In the same run it measures the no-op ledger ceiling of
"bench ledger", and the latency of authorized reads (consent check, decryption
and the access-log entry included).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Records(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "config: 1 validator, timeout_commit=0s, %d authors x window %d, %d record.put of a %d-byte Observation (tx %d bytes), GOMAXPROCS=%d\n",
				opts.Authors, opts.Window, opts.Puts, rep.ResourceBytes, rep.TxBytes, runtime.GOMAXPROCS(0))
			fmt.Fprintf(c.out, "prepare (validate + encrypt + sign):  %v per tx\n", rep.Prepare.Round(1000))
			fmt.Fprintf(c.out, "no-op ledger ceiling:                 %8.0f tx/s  CPU %v per tx\n", rep.Ceiling.TxPerSecond(), rep.Ceiling.CPU.Round(time.Microsecond))
			fmt.Fprintf(c.out, "record.put committed:                 %8.0f tx/s  CPU %v per tx\n", rep.PutsPerSecond, rep.PutCPU.Round(time.Microsecond))
			fmt.Fprintf(c.out, "ratio record.put/ceiling:             %.2f (of CPU per tx, ceiling/record.put: %.2f)\n", rep.Ratio(), cpuRatio(rep.Ceiling.CPU, rep.PutCPU))
			fmt.Fprintf(c.out, "authorized read latency (%d reads):  p50 %v  p99 %v\n", opts.Reads, rep.ReadP50.Round(1000), rep.ReadP99.Round(1000))
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Puts, "puts", opts.Puts, "record.put transactions to commit")
	f.IntVar(&opts.Authors, "authors", opts.Authors, "concurrent authors")
	f.IntVar(&opts.Reads, "reads", opts.Reads, "authorized reads to time")
	return cmd
}

func (c *cli) benchProofsCmd() *cobra.Command {
	opts := bench.DefaultProofsOptions()
	cmd := &cobra.Command{
		Use:   "proofs",
		Short: "Proof generation and offline verification per second; verify throughput on a home with --records records",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Proofs(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "home: %d records in %d blocks\n", opts.Records, rep.Blocks)
			fmt.Fprintf(c.out, "proof generation (running node):  %8.0f bundles/s (%d-byte bundle)\n", rep.ProofsPerSecond, rep.BundleBytes)
			fmt.Fprintf(c.out, "served to a signed request:       %8.0f bundles/s (access decided and journaled first)\n", rep.ServedPerSecond)
			fmt.Fprintf(c.out, "offline verification:             %8.0f bundles/s\n", rep.VerifyPerSecond)
			fmt.Fprintf(c.out, "carechain verify of the home:     %v (%.0f blocks/s, %.0f records/s)\n", rep.VerifyHome.Round(1e6),
				float64(rep.Blocks)/rep.VerifyHome.Seconds(), float64(opts.Records)/rep.VerifyHome.Seconds())
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.Records, "records", opts.Records, "records to write")
	cmd.Flags().IntVar(&opts.Proofs, "proofs", opts.Proofs, "proofs to generate and verify")
	return cmd
}

func (c *cli) benchFHIRCmd() *cobra.Command {
	opts := bench.DefaultFHIROptions()
	cmd := &cobra.Command{
		Use:   "fhir",
		Short: "FHIR API over HTTP on one node: creates/s, reads/s with p50/p99, search p50/p99",
		Long: `bench fhir loads --patients patients with --per-patient Observations each (as
transaction batches, untimed), then over loopback HTTP with 16 concurrent
clients times --creates POSTs (committed), --reads GETs and --searches patient
searches (each search decrypts that patient's observations).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.FHIR(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "data: %d patients x %d observations\n", opts.Patients, opts.PerPatient)
			fmt.Fprintf(c.out, "creates (committed):  %8.0f /s\n", rep.CreatesPerSecond)
			fmt.Fprintf(c.out, "reads:                %8.0f /s   p50 %v  p99 %v\n", rep.ReadsPerSecond, rep.ReadP50.Round(1000), rep.ReadP99.Round(1000))
			fmt.Fprintf(c.out, "search by patient:               p50 %v  p99 %v\n", rep.SearchP50.Round(1000), rep.SearchP99.Round(1000))
			fmt.Fprintf(c.out, "access events anchored:  %6d   %.0f /s (one flush after the reads)\n", rep.Anchored, rep.AnchoredPerSecond)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Patients, "patients", opts.Patients, "patients")
	f.IntVar(&opts.PerPatient, "per-patient", opts.PerPatient, "observations per patient")
	f.IntVar(&opts.Creates, "creates", opts.Creates, "timed creates")
	f.IntVar(&opts.Reads, "reads", opts.Reads, "timed reads")
	f.IntVar(&opts.Searches, "searches", opts.Searches, "timed searches")
	return cmd
}

func (c *cli) benchAmendCmd() *cobra.Command {
	opts := bench.DefaultAmendOptions()
	cmd := &cobra.Command{
		Use:   "amend",
		Short: "Multi-party approval: proposal-to-commit latency with 4 signers, approvals/s",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Amend(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "proposal to commit, 4 signers in turn:  p50 %v  p99 %v\n", rep.ProposeToCommitP50.Round(1e5), rep.ProposeToCommitP99.Round(1e5))
			fmt.Fprintf(c.out, "approvals, %d proposals in parallel:     %.0f /s\n", opts.Parallel, rep.ApprovalsPerSecond)
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.Proposals, "proposals", opts.Proposals, "proposals")
	cmd.Flags().IntVar(&opts.Parallel, "parallel", opts.Parallel, "proposals in flight for the throughput part")
	return cmd
}

func (c *cli) benchSyncCmd() *cobra.Command {
	opts := bench.DefaultSyncOptions()
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "A joining node's block sync of a chain of --records records, against the same run's write rate",
		Long: `bench sync starts a one-validator node in a temporary home and commits
--records record.put transactions as "bench records" does (1 KiB FHIR
Observations, prepared before timing). Then a second, non-validator node joins
as an operator joins one: its home made from the chain's genesis with the
validator as its peer, its node principal registered by the organization's
admin. It reports the time from starting that node until it has caught up to
the validator's height (block sync done, as /readyz decides), checks that both
nodes committed the same app hash there, and compares the sync rate with the
write rate of the same run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Sync(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "config: 1 validator (timeout_commit=0s) + 1 joining non-validator on loopback, %d authors x window %d, GOMAXPROCS=%d\n",
				opts.Authors, opts.Window, runtime.GOMAXPROCS(0))
			fmt.Fprintf(c.out, "chain: %d records (record.put of a %d-byte Observation, tx %d bytes) in %d blocks, %.1f MB on disk (joined node: %.1f MB)\n",
				rep.Records, rep.ResourceBytes, rep.TxBytes, rep.Height, float64(rep.ChainBytes)/1e6, float64(rep.JoinedBytes)/1e6)
			fmt.Fprintf(c.out, "%-38s %9v  %8.0f records/s  %6.1f blocks/s\n", fmt.Sprintf("write (validator, %d record.puts):", rep.WritePuts),
				rep.Write.Round(1e6), rep.WritePerSecond(), rep.WriteBlocksPerSecond())
			fmt.Fprintf(c.out, "%-38s %9v  %8.0f records/s  %6.1f blocks/s\n", "sync (joining node, whole chain):",
				rep.Sync.Round(1e6), rep.SyncPerSecond(), rep.SyncBlocksPerSecond())
			fmt.Fprintf(c.out, "joined node at height %d: app hash %X, as the validator's\n", rep.Height, rep.AppHash)
			fmt.Fprintf(c.out, "%-38s %.2f\n", "ratio sync/write (records/s):", rep.Ratio())
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Records, "records", opts.Records, "record.put transactions to write before the node joins")
	f.IntVar(&opts.Authors, "authors", opts.Authors, "concurrent authors")
	return cmd
}

func (c *cli) benchBackupCmd() *cobra.Command {
	opts := bench.DefaultSyncOptions()
	opts.Records = 20000
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "An online backup of a node holding --records records, its restore and first start, against a plain copy of its data",
		Long: `bench backup starts a one-validator node in a temporary home and commits
--records record.put transactions as "bench sync" does. While the node runs it
times a backup (what "carechain backup" asks the node for, written to a file,
without keys), then a restore of that file to a new home and the restored
node's first start (its handshake replays the blocks past the backup's
state), checking the restored node's app hash. The baseline of the same run
is a plain copy of the node's data directory, file by file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Backup(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "chain: %d records in %d blocks, data directory %.1f MB; backup file %.1f MB (gzip)\n",
				rep.Records, rep.Height, float64(rep.DataBytes)/1e6, float64(rep.ArchiveBytes)/1e6)
			for _, r := range []struct {
				what string
				d    time.Duration
			}{{"baseline: copy of the data directory", rep.Copy}, {"backup of the running node", rep.Backup},
				{"restore to a new home", rep.Restore}, {"first start of the restored node", rep.Start}} {
				fmt.Fprintf(c.out, "%-38s %9v  %6.1f MB/s\n", r.what+":", r.d.Round(time.Millisecond), float64(rep.DataBytes)/1e6/r.d.Seconds())
			}
			fmt.Fprintf(c.out, "%-38s %.2f\n", "ratio backup/copy:", rep.Ratio())
			return nil
		},
	}
	cmd.Flags().IntVar(&opts.Records, "records", opts.Records, "record.put transactions to write before the backup")
	return cmd
}

func (c *cli) benchSearchCmd() *cobra.Command {
	opts := bench.DefaultSearchOptions()
	cmd := &cobra.Command{
		Use:   "search",
		Short: "FHIR search p50/p99 on --patients x --records records, within one patient and across patients (blind index), against a read",
		Long: `bench search starts a one-validator node with a blind search index in a
temporary home and loads --patients patients of --records records each: the
patient's Patient resource (a medical record number, a name, a birth date)
and Observations, each with one of 5 LOINC codes but for the last, which has
one of the panel codes (each shared by about 200 patients). The organization's
physicians write them (one batch per patient, --loaders at once), then a
fraction --granted of the patients grant the organization read access for
research. Loading is timed and reported, not measured against anything.

Then a researcher of the organization, who may read a record only under a
patient's grant, times over loopback HTTP (--clients concurrent clients,
--queries requests of each kind, the kinds in turn):
  read Patient/{id}                   GET /fhir/Patient/{id}, the baseline
  Observation?patient=&code=          a search within one patient
  Patient?identifier=                 by medical record number, across patients
  Patient?family=&birthdate=          by name and birth date, across patients
  Observation?code= (panel)           by panel code, across patients
The reads and the searches within one patient go to patients who granted; the
searches across patients to every patient alike, so candidates of patients
who did not grant are read and refused by consent. Each p50 and p99 is
reported as a ratio to the read's, measured in the same run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := bench.Search(cmd.Context(), opts)
			if err != nil {
				return err
			}
			c.printSearchReport(rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Patients, "patients", opts.Patients, "patients")
	f.IntVar(&opts.Records, "records", opts.Records, "records per patient: its Patient and records-1 Observations (at least 2)")
	f.Float64Var(&opts.Granted, "granted", opts.Granted, "fraction of the patients who grant the searcher's organization read access")
	f.IntVar(&opts.Queries, "queries", opts.Queries, "timed requests of each kind")
	f.IntVar(&opts.Clients, "clients", opts.Clients, "concurrent HTTP clients while timing")
	f.IntVar(&opts.Loaders, "loaders", opts.Loaders, "concurrent authors while loading")
	return cmd
}

func (c *cli) printSearchReport(rep bench.SearchReport) {
	o := rep.Options
	fmt.Fprintf(c.out, "config: 1 validator (timeout_commit=0s) with a search index, %d client(s) over loopback HTTP as a researcher (purpose research), GOMAXPROCS=%d\n",
		o.Clients, runtime.GOMAXPROCS(0))
	fmt.Fprintf(c.out, "data: %d patients x %d records = %d records (a Patient and %d Observations each; %d panel codes, ~%d records each); %d patients grant read access\n",
		o.Patients, o.Records, rep.Records, o.Records-1, rep.Panels, rep.PanelRecords(), rep.Granted)
	fmt.Fprintf(c.out, "load: registrations %v; records %v (%.0f records/s, a batch per patient, %d authors); grants %v; index caught up %v later\n",
		rep.Register.Round(time.Millisecond), rep.Load.Round(time.Millisecond), rep.LoadPerSecond(), o.Loaders,
		rep.Grants.Round(time.Millisecond), rep.IndexWait.Round(time.Millisecond))
	if rep.Retried > 0 {
		fmt.Fprintf(c.out, "load: %d writes reported dropped under load were written again\n", rep.Retried)
	}
	fmt.Fprintf(c.out, "disk: search index %.1f MB, node home %.1f MB\n", float64(rep.IndexBytes)/1e6, float64(rep.DataBytes)/1e6)
	fmt.Fprintf(c.out, "%-40s %7s %9s %10s %10s %8s %8s\n", "request", "queries", "results", "p50", "p99", "p50/read", "p99/read")
	for _, t := range rep.Timings {
		p50, p99 := t.Ratios(rep.Timings[0])
		fmt.Fprintf(c.out, "%-40s %7d %9.1f %10v %10v %8.2f %8.2f\n", t.Name, t.Queries, t.Results, t.P50.Round(time.Microsecond), t.P99.Round(time.Microsecond), p50, p99)
	}
}

// cpuRatio is base/d: CPU per tx of a baseline over that of the measured
// run, the throughput ratio a CPU-bound run would have. Zero if unmeasured.
func cpuRatio(base, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(base) / float64(d)
}
