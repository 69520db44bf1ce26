package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/tx"
)

func (c *cli) amendCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "amend",
		Short: "Multi-party approval of record edits: policies, proposals, approvals",
		Long: `An edit of a record under its organization's approval policy is a proposal; it
is committed when every required signer has approved, and the committed
version is then locked (later changes need another proposal). A practitioner
proposes (amend propose, or a FHIR PUT: 202 with a Task); signers list what
waits for them, review it, and approve or reject. Signing keys come from the keystore
(passphrase from $` + PassphraseEnv + ` or a prompt).`,
	}
	cmd.AddCommand(c.amendProposeCmd(), c.amendListCmd(), c.amendShowCmd(), c.amendApproveCmd(), c.amendRejectCmd(), c.amendPolicyCmd())
	return cmd
}

func (c *cli) amendListCmd() *cobra.Command {
	var waiting bool
	list := &cobra.Command{
		Use: "list", Short: "List the proposals you (--as) may review (--waiting: those you can sign now)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withSigned(cmd, func(ctx context.Context, cl *nodeapi.Client) error {
				ps, err := cl.Proposals(ctx, waiting)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tRECORD\tVERSION\tSTATUS\tAPPROVALS\tAUTHOR")
				for _, p := range ps {
					fmt.Fprintf(w, "%s\t%s\t%d→%d\t%s\t%d/%d\t%s\n", p.ID, p.RecordID, p.BaseVersion, p.BaseVersion+1, p.Status, len(p.Approvals), p.Rule.Needed(), p.Author)
				}
				return w.Flush()
			})
		},
	}
	(&signerFlags{}).register(list) // read by withSigned: proposals are shown only to their reviewers
	list.Flags().BoolVar(&waiting, "waiting", false, "only proposals you can approve now")
	return list
}

func (c *cli) amendShowCmd() *cobra.Command {
	var content bool
	show := &cobra.Command{
		Use: "show ID", Short: "Show a proposal you (--as) may review; --content decrypts it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.withSigned(cmd, func(ctx context.Context, cl *nodeapi.Client) error {
				if !content {
					p, err := cl.Proposal(ctx, args[0])
					if err != nil {
						return err
					}
					return c.printJSON(p)
				}
				pc, err := cl.ProposalContent(ctx, args[0])
				if err != nil {
					return err
				}
				return c.printJSON(pc)
			})
		},
	}
	(&signerFlags{}).register(show)
	show.Flags().BoolVar(&content, "content", false, "decrypt the proposed version")
	return show
}

func (c *cli) amendApproveCmd() *cobra.Command {
	var as signerFlags
	approve := &cobra.Command{
		Use: "approve ID", Short: "Approve a proposal (your signature covers its content hash)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.signedClient(&as)
			if err != nil {
				return err
			}
			p, err := cl.Proposal(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.submit(cmd.Context(), &as, tx.TypeAmendApprove, func(string, uint64) (any, error) {
				return &tx.AmendApprove{ProposalID: p.ID, ContentHash: p.ContentHash}, nil
			})
		},
	}
	as.register(approve)
	return approve
}

func (c *cli) amendRejectCmd() *cobra.Command {
	var rs signerFlags
	rejectCmd := &cobra.Command{
		Use:   "reject ID",
		Short: "Reject a proposal, closing it",
		Long: `reject closes a proposal. (A reason can be given through the records API, where
it is sealed with the record; the CLI does not hold the record's keys.)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.submit(cmd.Context(), &rs, tx.TypeAmendReject, func(string, uint64) (any, error) {
				return &tx.AmendReject{ProposalID: args[0]}, nil
			})
		},
	}
	rs.register(rejectCmd)
	return rejectCmd
}

func (c *cli) amendPolicyCmd() *cobra.Command {
	var ps signerFlags
	var pol tx.AmendPolicy
	var kind string
	var k int
	var terms []string
	policy := &cobra.Command{
		Use:   "policy",
		Short: "Set an approval policy (as the organization's admin)",
		Example: `  carechain amend policy --as st-mary/admin --org st-mary --category imaging --resource-type DiagnosticReport \
      --rule all-of --term hospital-authority@st-mary --term head-of-radiology@st-mary --term specialist@st-mary --term patient`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pol.Rule = tx.Rule{Kind: kind, K: k}
			for _, t := range terms {
				term, err := tx.ParseTerm(t)
				if err != nil {
					return fmt.Errorf("--term: %w", err)
				}
				pol.Rule.Terms = append(pol.Rule.Terms, term)
			}
			if err := pol.Validate(); err != nil {
				return err
			}
			return c.submit(cmd.Context(), &ps, tx.TypeAmendPolicy, func(string, uint64) (any, error) { return &pol, nil })
		},
	}
	ps.register(policy)
	pf := policy.Flags()
	pf.StringVar(&pol.Org, "org", "", "organization")
	pf.StringVar(&pol.Category, "category", "", "record category")
	pf.StringVar(&pol.ResourceType, "resource-type", "", "FHIR resource type (empty: the whole category)")
	pf.StringVar(&kind, "rule", tx.AllOf, "all-of, any-of or k-of-n")
	pf.IntVar(&k, "k", 0, "k for k-of-n")
	pf.StringArrayVar(&terms, "term", nil, "signer: role@org, role@org+kind=value (the role holding a valid credential, e.g. specialist@st-mary+specialty=radiology), author or patient (repeat)")
	return policy
}

func (c *cli) amendProposeCmd() *cobra.Command {
	var s signerFlags
	var file, reason string
	cmd := &cobra.Command{
		Use:   "propose RECORD-ID",
		Short: "Propose a new version of a record under an approval policy (through the node's FHIR API)",
		Long: `propose sends the new version in --file as a FHIR update of RECORD-ID through
the FHIR API of the --as practitioner's node, which holds their organization's
keys and seals it. Under an approval policy the node answers with the Task
that tracks the proposal (202); its ID is the proposal's, for amend show,
approve and reject. Without a policy the record is simply updated.`,
		Example: `  carechain amend propose rec-7f3a --file corrected-report.json --as st-mary/dr-jones --reason "wrong laterality" --home ./h1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			var res map[string]json.RawMessage
			var typ string
			if err := json.Unmarshal(body, &res); err != nil || json.Unmarshal(res["resourceType"], &typ) != nil || typ == "" {
				return fmt.Errorf("%s: not a FHIR resource (no resourceType)", file)
			}
			if _, ok := res["id"]; !ok { // the record's ID is the resource's
				res["id"], _ = json.Marshal(args[0])
				body, _ = json.Marshal(res)
			}
			base, tok, err := c.fhirToken(&s, "")
			if err != nil {
				return err
			}
			req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPut, base+"/fhir/"+typ+"/"+url.PathEscape(args[0]), bytes.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/fhir+json")
			if reason != "" {
				req.Header.Set("X-Amendment-Reason", reason)
			}
			hc, err := c.httpClient(s.home)
			if err != nil {
				return err
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			var out struct {
				ID    string `json:"id"`
				Issue []struct {
					Diagnostics string `json:"diagnostics"`
				} `json:"issue"`
			}
			_ = json.Unmarshal(answer, &out)
			switch resp.StatusCode {
			case http.StatusAccepted:
				fmt.Fprintf(c.out, "proposed %s (signers: carechain amend show %s --as ID; approve with carechain amend approve %s --as ID)\n", out.ID, out.ID, out.ID)
			case http.StatusOK, http.StatusCreated:
				fmt.Fprintf(c.out, "updated %s: no approval policy applies to it\n", args[0])
			default:
				msg := fmt.Sprintf("HTTP %d", resp.StatusCode)
				if len(out.Issue) > 0 {
					msg += ": " + out.Issue[0].Diagnostics
				}
				return fmt.Errorf("propose %s: %s", args[0], msg)
			}
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&file, "file", "", "the proposed version (FHIR JSON)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (sealed with the record, shown to the signers)")
	cmd.MarkFlagRequired("file")
	return cmd
}
