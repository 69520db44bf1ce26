package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

// Clinical studies with a locked protocol (ledger/studies.go): commands
// that sign study transactions and read GET /v1/studies/{id}.

func (c *cli) studyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "study",
		Short: "Clinical studies with a locked protocol: register, amend, decide, report, show",
		Long: `study registers a clinical study on the ledger with its protocol locked: the
SHA-256 of the protocol document and of the statistical analysis plan, the
primary and secondary endpoints, the arms and the eligibility criteria, and
the ethics board (another organization) that decides its amendments. A
change is an amendment with its reason, in force only once the ethics
board's admin approves it; results are reported against the protocol in
force, and a report that names an unregistered endpoint or leaves out a
primary one is refused. Every version, decision and report is on the
ledger for any member to compare with what is published.`,
	}
	cmd.AddCommand(c.studyRegisterCmd(), c.studyAmendCmd(), c.studyDecideCmd(), c.studyReportCmd(), c.studyShowCmd(), c.studyWithdrawCmd(),
		c.studyRandomizeCmd(), c.studyEnrolCmd(), c.studyArmCmd(), c.studyUnblindCmd(), c.studyAllocationsCmd(),
		c.studyLockCmd(), c.studyCheckLockCmd(), c.studyCaptureCmd(), c.studyLockVisitCmd(), c.studyVisitsCmd())
	return cmd
}

// protocolFlags build a study.Protocol; on an amendment, what is not given
// keeps the version in force.
type protocolFlags struct {
	document, analysis, eligibility, dataUntil string
	endpoints, arms, categories, criteria      []string
}

func (f *protocolFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.document, "protocol", "", "the protocol document (a file: its SHA-256 goes on the ledger)")
	cmd.Flags().StringVar(&f.analysis, "analysis-plan", "", "the statistical analysis plan (a file: its SHA-256 goes on the ledger)")
	cmd.Flags().StringArrayVar(&f.endpoints, "endpoint", nil, "an endpoint, KIND:ID:DESCRIPTION with KIND primary or secondary (repeat; replaces the list)")
	cmd.Flags().StringArrayVar(&f.arms, "arm", nil, "an arm, ID:DESCRIPTION (repeat; replaces the list)")
	cmd.Flags().StringVar(&f.eligibility, "eligibility", "", "the eligibility criteria, as text")
	cmd.Flags().StringArrayVar(&f.criteria, "criterion", nil, "an eligibility criterion in CEL, ID:EXPR, over age, sex, conditions (codes) and observations (code to latest value) (repeat; replaces the list)")
	cmd.Flags().StringArrayVar(&f.categories, "data-category", nil, "a record category the study reads, which a patient's study consent grants (repeat; replaces the list)")
	cmd.Flags().StringVar(&f.dataUntil, "data-until", "", "the end of the study's data period: a date (2027-01-31) or RFC 3339 time")
}

// build is base (nil: empty) with the flags given applied.
func (f *protocolFlags) build(base *study.Protocol) (study.Protocol, error) {
	var p study.Protocol
	if base != nil {
		p = *base
	}
	for _, h := range []struct {
		file string
		dst  *[]byte
	}{{f.document, &p.DocumentHash}, {f.analysis, &p.AnalysisPlanHash}} {
		if h.file == "" {
			continue
		}
		b, err := os.ReadFile(h.file)
		if err != nil {
			return p, err
		}
		sum := sha256.Sum256(b)
		*h.dst = sum[:]
	}
	if f.endpoints != nil {
		p.Endpoints = nil
		for _, e := range f.endpoints {
			ep, err := study.ParseEndpoint(e)
			if err != nil {
				return p, fmt.Errorf("--endpoint: %w", err)
			}
			p.Endpoints = append(p.Endpoints, ep)
		}
	}
	if f.arms != nil {
		p.Arms = nil
		for _, a := range f.arms {
			p.Arms = append(p.Arms, study.ParseArm(a))
		}
	}
	if f.eligibility != "" {
		p.Eligibility = f.eligibility
	}
	if f.categories != nil {
		p.DataCategories = f.categories
	}
	if f.criteria != nil {
		p.Criteria = nil
		for _, cr := range f.criteria {
			p.Criteria = append(p.Criteria, study.ParseCriterion(cr))
		}
	}
	if f.dataUntil != "" {
		t, err := parseWhen(f.dataUntil)
		if err != nil {
			return p, fmt.Errorf("--data-until: %w", err)
		}
		p.DataUntil = t.Unix()
	}
	return p, p.Check()
}

func (c *cli) studyRegisterCmd() *cobra.Command {
	var s signerFlags
	var pf protocolFlags
	var body tx.StudyRegister
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register a study of your organization (the sponsor), as its admin: protocol version 1, locked",
		Example: `  carechain study register --as uni/admin --id dm-1 --title "Quorvex in type 2 diabetes" --ethics-board city-general \
    --protocol protocol.pdf --analysis-plan sap.pdf --eligibility "Adults 18-75, type 2 diabetes, HbA1c 7-10%" \
    --endpoint "primary:hba1c-12m:HbA1c change at 12 months" --endpoint "secondary:weight-12m:Weight change" \
    --arm "drug:Quorvex 10 mg" --arm "placebo:Placebo" --home ./h1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if body.Protocol, err = pf.build(nil); err != nil {
				return err
			}
			if err := body.Validate(); err != nil {
				return err
			}
			return c.submit(cmd.Context(), &s, tx.TypeStudyRegister, func(string, uint64) (any, error) { return &body, nil })
		},
	}
	s.register(cmd)
	pf.register(cmd)
	cmd.Flags().StringVar(&body.ID, "id", "", "the study's id (1-64 of [a-z0-9._-])")
	cmd.Flags().StringVar(&body.Title, "title", "", "the study's title")
	cmd.Flags().StringVar(&body.EthicsBoard, "ethics-board", "", "the organization whose admin decides amendments")
	return cmd
}

// studyOf reads a study through the signer's node.
func (c *cli) studyOf(ctx context.Context, s *signerFlags, id string) (*nodeapi.StudyResponse, error) {
	cl, err := c.signedClient(s)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cl.Study(ctx, id)
}

func (c *cli) studyAmendCmd() *cobra.Command {
	var s signerFlags
	var pf protocolFlags
	var reason string
	cmd := &cobra.Command{
		Use:   "amend STUDY",
		Short: "Propose the next version of a study's protocol, as the sponsor's admin: pending until the ethics board decides",
		Long: `amend proposes the protocol in force with the flags given changed (an
--endpoint or --arm replaces the whole list), with --reason. It prints what
the amendment changes; the ledger keeps that list with it.`,
		Example: `  carechain study amend dm-1 --as uni/admin --reason "HbA1c assay withdrawn" \
    --endpoint "primary:fpg-12m:Fasting glucose at 12 months" --endpoint "secondary:weight-12m:Weight change" --home ./h1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cur, err := c.studyOf(cmd.Context(), &s, args[0])
			if err != nil {
				return err
			}
			inForce := cur.Versions[slices.IndexFunc(cur.Versions, func(v ledger.StudyVersion) bool { return v.Version == cur.Study.Version })]
			body := tx.StudyAmend{Study: args[0], Version: cur.Study.Last + 1, Reason: reason}
			if body.Protocol, err = pf.build(&inForce.Protocol); err != nil {
				return err
			}
			if err := body.Validate(); err != nil {
				return err
			}
			changes := study.Diff(&inForce.Protocol, &body.Protocol)
			if len(changes) == 0 {
				return fmt.Errorf("the amendment changes nothing of version %d", cur.Study.Version)
			}
			fmt.Fprintf(c.out, "amendment %d of study %s %s\n", body.Version, args[0], strings.Join(changes, "; "))
			return c.submit(cmd.Context(), &s, tx.TypeStudyAmend, func(string, uint64) (any, error) { return &body, nil })
		},
	}
	s.register(cmd)
	pf.register(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why the protocol changes")
	cmd.MarkFlagRequired("reason")
	return cmd
}

func (c *cli) studyDecideCmd() *cobra.Command {
	var s signerFlags
	var body tx.StudyDecide
	var reject bool
	cmd := &cobra.Command{
		Use:   "decide STUDY",
		Short: "Approve (or --reject) a study's pending amendment, as its ethics board's admin",
		Example: `  carechain study decide dm-1 --version 2 --as city-general/admin --reason "justified by the assay's withdrawal" --home ./h1
  carechain study decide dm-1 --version 2 --reject --as city-general/admin --reason "no justification" --home ./h1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body.Study, body.Approved = args[0], !reject
			if err := body.Validate(); err != nil {
				return err
			}
			return c.submit(cmd.Context(), &s, tx.TypeStudyDecide, func(string, uint64) (any, error) { return &body, nil })
		},
	}
	s.register(cmd)
	cmd.Flags().Uint64Var(&body.Version, "version", 0, "the pending amendment's version")
	cmd.Flags().BoolVar(&reject, "reject", false, "reject the amendment (default: approve)")
	cmd.Flags().StringVar(&body.Reason, "reason", "", "the board's reason")
	cmd.MarkFlagRequired("version")
	return cmd
}

func (c *cli) studyReportCmd() *cobra.Command {
	var s signerFlags
	var endpoints []string
	var results string
	cmd := &cobra.Command{
		Use:   "report STUDY",
		Short: "Report a study's results against its protocol in force, as the sponsor's admin",
		Long: `report puts the SHA-256 of the results document on the ledger with the
endpoints it reports. The ledger refuses an endpoint the protocol in force
does not register and a report that leaves out one of its primary endpoints.`,
		Example: `  carechain study report dm-1 --as uni/admin --endpoint hba1c-12m --endpoint weight-12m --results results.pdf --home ./h1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(results)
			if err != nil {
				return err
			}
			cur, err := c.studyOf(cmd.Context(), &s, args[0])
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			body := tx.StudyReport{Study: args[0], Version: cur.Study.Version, Endpoints: endpoints, ResultsHash: sum[:]}
			if err := body.Validate(); err != nil {
				return err
			}
			return c.submit(cmd.Context(), &s, tx.TypeStudyReport, func(string, uint64) (any, error) { return &body, nil })
		},
	}
	s.register(cmd)
	cmd.Flags().StringArrayVar(&endpoints, "endpoint", nil, "an endpoint reported (repeat)")
	cmd.Flags().StringVar(&results, "results", "", "the results document (a file: its SHA-256 goes on the ledger)")
	cmd.MarkFlagRequired("results")
	return cmd
}

func (c *cli) studyShowCmd() *cobra.Command {
	var s signerFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "show STUDY",
		Short:   "Show a study: its protocol versions (approved, pending, rejected, with reasons and changes) and reports",
		Example: `  carechain study show dm-1 --as city-general/admin --home ./h1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := c.studyOf(cmd.Context(), &s, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(st)
			}
			c.printStudy(st)
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the study as JSON")
	return cmd
}

// printStudy prints a study for people.
func (c *cli) printStudy(r *nodeapi.StudyResponse) {
	st := r.Study
	fmt.Fprintf(c.out, "study %s: %s\nsponsor %s, ethics board %s, registered at height %d; protocol in force: version %d",
		st.ID, st.Title, st.Sponsor, st.EthicsBoard, st.Height, st.Version)
	if st.Pending != 0 {
		fmt.Fprintf(c.out, "; amendment %d awaits the ethics board", st.Pending)
	}
	fmt.Fprintln(c.out)
	for _, v := range r.Versions {
		fmt.Fprintf(c.out, "\nversion %d: %s (proposed by %s at height %d", v.Version, v.Status, v.Proposer, v.ProposedHeight)
		if v.Decider != "" {
			fmt.Fprintf(c.out, "; decided by %s at height %d", v.Decider, v.DecidedHeight)
		}
		fmt.Fprintln(c.out, ")")
		if v.Reason != "" {
			fmt.Fprintf(c.out, "  reason: %s\n", v.Reason)
		}
		if v.DecisionReason != "" {
			fmt.Fprintf(c.out, "  decision: %s\n", v.DecisionReason)
		}
		if len(v.Changes) > 0 {
			fmt.Fprintf(c.out, "  changes: %s\n", strings.Join(v.Changes, "; "))
		}
		for _, e := range v.Protocol.Endpoints {
			fmt.Fprintf(c.out, "  %s endpoint %s: %s\n", e.Kind, e.ID, e.Description)
		}
		fmt.Fprintf(c.out, "  protocol document sha256 %x, analysis plan sha256 %x\n", v.Protocol.DocumentHash, v.Protocol.AnalysisPlanHash)
	}
	for _, rep := range r.Reports {
		fmt.Fprintf(c.out, "\nreport %d against version %d by %s at height %d: endpoints %s; results sha256 %x\n",
			rep.Number, rep.Version, rep.Reporter, rep.Height, strings.Join(rep.Endpoints, ", "), rep.ResultsHash)
	}
}
