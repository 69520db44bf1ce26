package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// applicationFile is where init --join writes the organization's signed
// application, in the joining node's home.
const applicationFile = "application.json"

func (c *cli) govCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gov",
		Short: "Consortium governance: who joins, who leaves, and how the members decide",
		Long: `gov shows and takes part in the consortium's governance. The member
organizations vote on who joins (and whose node validates), on removing a
member, and on the governance policy itself: which organizations vote and how
many must approve (by default a majority of the member organizations, those
that joined included).

An admin of a member organization proposes (gov propose), which counts as its
organization's approval; admins of the other voting organizations approve
(gov approve), one approval per organization. The approval that meets the
policy carries the proposal out in the block that commits it.`,
	}
	cmd.AddCommand(c.govShowCmd(), c.govProposeCmd(), c.govApproveCmd())
	return cmd
}

func (c *cli) govShowCmd() *cobra.Command {
	var nodeAddr, home string
	var height int64
	cmd := &cobra.Command{
		Use:   "show [PROPOSAL-ID]",
		Short: "Show the governance policy, its voters and the proposals; or one proposal (JSON)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.nodeClient(nodeAddr, home)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				p, err := cl.GovProposal(cmd.Context(), args[0], height)
				if err != nil {
					return err
				}
				return c.printJSON(p)
			}
			g, err := cl.Governance(cmd.Context(), height)
			if err != nil {
				return err
			}
			return c.printGovernance(&g)
		},
	}
	cmd.Flags().StringVar(&nodeAddr, "node", "", nodeUsage)
	pathVar(cmd.Flags(), &home, "home", defaultHome("node"), "node home whose node to ask (the http_addr of its config)")
	cmd.Flags().Int64Var(&height, "height", 0, "as of this height (0: latest)")
	return cmd
}

func (c *cli) printGovernance(g *nodeapi.Governance) error {
	policy := "default (every member organization votes, a majority carries)"
	if g.Policy.Version > 0 {
		policy = fmt.Sprintf("v%d, set at height %d", g.Policy.Version, g.Policy.Height)
	}
	fmt.Fprintf(c.out, "governance policy %s\nvoters: %s\napprovals needed: %d\n", policy, strings.Join(g.Voters, ", "), g.Threshold)
	for _, r := range g.Removed {
		fmt.Fprintf(c.out, "%s %s\n", r.Org, removalText(&r))
	}
	for _, u := range g.Upgrades {
		fmt.Fprintln(c.out, upgradeText(&u))
	}
	if len(g.Proposals) == 0 {
		fmt.Fprintln(c.out, "no proposals")
		return nil
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PROPOSAL\tPROPOSES\tSTATUS\tAPPROVED BY\tOPENED\tEXPIRES")
	for _, p := range g.Proposals {
		status := p.Status
		switch {
		case p.Status == ledger.ProposalCommitted:
			status = fmt.Sprintf("carried out at %d", p.Closed)
		case time.Now().Unix() >= p.Expires:
			status = "expired" // by this clock; the ledger judges by block time
		}
		var orgs []string
		for _, a := range p.Approvals {
			orgs = append(orgs, a.Org)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", p.ID, proposes(&p.GovProposal), status, strings.Join(orgs, ","), p.Opened,
			time.Unix(p.Expires, 0).UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

// proposes says in a few words what p proposes.
func proposes(p *ledger.GovProposal) string {
	switch {
	case p.Join != nil:
		s := "join " + p.Join.Org.ID
		if p.Join.Node != nil && p.Join.Node.Validator != nil {
			s += fmt.Sprintf(" (validator, power %d)", p.Join.Node.Validator.Power)
		}
		return s
	case p.Policy != nil:
		return fmt.Sprintf("policy voters=%v threshold=%d", p.Policy.Voters, p.Policy.Threshold)
	case p.Remove != "" && carechain.OrgOf(p.Proposer) == p.Remove:
		return p.Remove + " leaves"
	case p.Remove != "":
		return "remove " + p.Remove
	case p.Validator != nil && p.Validator.Power == 0:
		return fmt.Sprintf("remove validator %X", []byte(p.Validator.PublicKey))
	case p.Validator != nil:
		return fmt.Sprintf("validator %X power %d", []byte(p.Validator.PublicKey), p.Validator.Power)
	case p.Upgrade != nil:
		return fmt.Sprintf("upgrade %s at height %d", p.Upgrade.Name, p.Upgrade.Height)
	}
	return "?"
}

func (c *cli) govProposeCmd() *cobra.Command {
	var s signerFlags
	var joinFile, policyFile, remove string
	var vf validatorFlags
	var uf upgradeFlags
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "propose",
		Short: "Propose that an organization join (--join) or be removed (--remove), a validator change, a new governance policy or a consensus upgrade",
		Long: `propose opens a governance proposal, signed by an admin of a member
organization (--as), and counts its organization's approval.

--join takes the application a joining organization's "carechain init --join"
wrote (HOME/application.json): its organization, admin, node and, if it asks to
validate, its validator key, each proven by a signature of the key it names.

--remove takes a member organization out of the consortium: its admins',
staff's and nodes' keys are revoked, its validators leave the set, its nodes
no longer peer, and nothing written from then on is sealed to it (the next
write for each patient it could read starts new record keys without it).
The organization itself does not vote on it. An admin proposing the removal
of their own organization is the organization leaving: carried out at once.

--validator-power changes the validator set: with --validator-home (a node
home of the proposer's organization, and --validator-node, its node
principal) it adds that node's validator or changes its power, proven by
the validator key's signature; with --validator-key (hex) it changes the
power of a validator in the set, 0 removing it. The set is never left
empty.

--policy takes a JSON governance policy: {"voters": ["st-mary", "northlab"],
"threshold": 2}; no voters means every member organization, threshold 0 a
majority of the voters.

--upgrade NAME --upgrade-height H schedules a consensus upgrade: from block H
on the chain runs the rules of the carechain release that implements NAME.
Nodes still running a build without it stop at H, before applying that block,
and say so; their operators install the new build and start them again. H
must be at least 2 blocks after the block that approves the plan; a plan
approved later replaces one still pending. --upgrade-info tells operators
where to get the build.

--upgrade pbts, built into this release, switches a chain founded before
proposer-based timestamps to them from block H+1: blocks then carry their
proposer's clock, so every validator's clock must be NTP-synchronized
(docs/operations.md, "Clocks"). Chains founded by this release have them
already.`,
		Example: `  carechain gov propose --home ./h1 --as st-mary/admin --join ./h3/application.json
  carechain gov propose --home ./h1 --as st-mary/admin --remove eastpharm
  carechain gov propose --home ./h3 --as eastpharm/admin --remove eastpharm     # East Pharmacy leaves
  carechain gov propose --home ./h1 --as st-mary/admin --validator-home ./h4 --validator-node st-mary/node4 --validator-power 10
  carechain gov propose --home ./h1 --as st-mary/admin --validator-key <hex> --validator-power 0
  carechain gov propose --home ./h1 --as st-mary/admin --policy policy.json
  carechain gov propose --home ./h1 --as st-mary/admin --upgrade v2 --upgrade-height 120000 --upgrade-info "carechain 2.0"
  carechain gov propose --home ./h1 --as st-mary/admin --upgrade pbts --upgrade-height 120000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := &tx.GovPropose{Expires: time.Now().Add(ttl).Unix(), Remove: remove}
			given := 0
			for _, set := range []bool{joinFile != "", policyFile != "", remove != "", vf.set(), uf.name != ""} {
				if set {
					given++
				}
			}
			switch {
			case given != 1:
				return errors.New("give one of --join, --remove, --validator-power, --policy and --upgrade")
			case remove != "":
			case uf.name != "":
				body.Upgrade = uf.plan()
			case vf.set():
				// Built with the chain ID the node names, below: a new validator's proof binds it.
				if _, err := vf.change("?"); err != nil {
					return err
				}
			case joinFile != "":
				body.Join = new(tx.OrgApplication)
				if err := readStrictJSON(joinFile, body.Join); err != nil {
					return fmt.Errorf("--join: %w", err)
				}
			default:
				body.Policy = new(tx.GovernancePolicy)
				if err := readStrictJSON(policyFile, body.Policy); err != nil {
					return fmt.Errorf("--policy: %w", err)
				}
			}
			if ttl <= 0 || ttl > tx.MaxGovTTL {
				return fmt.Errorf("--ttl must be within %v", tx.MaxGovTTL)
			}
			if !vf.set() {
				if err := body.Validate(); err != nil {
					return err
				}
			}
			res, err := c.submitTx(cmd.Context(), &s, tx.TypeGovPropose, func(chainID string, _ uint64) (any, error) {
				if vf.set() {
					v, err := vf.change(chainID)
					if err != nil {
						return nil, err
					}
					body.Validator = v
				}
				return body, body.Validate()
			})
			if err != nil {
				return err
			}
			h, err := hex.DecodeString(res.Hash)
			if err != nil || len(h) != 32 {
				return fmt.Errorf("transaction hash %q from the node: not 32 bytes of hex", res.Hash)
			}
			return c.printProposalOutcome(cmd, &s, ledger.GovProposalID([32]byte(h)))
		},
	}
	s.register(cmd)
	f := cmd.Flags()
	pathVar(f, &joinFile, "join", "", "a joining organization's application (init --join wrote it)")
	pathVar(f, &policyFile, "policy", "", "a governance policy, JSON")
	f.StringVar(&remove, "remove", "", "a member organization to remove (your own: it leaves)")
	vf.register(f)
	uf.register(f)
	f.DurationVar(&ttl, "ttl", 7*24*time.Hour, "how long the proposal stays open for approvals")
	return cmd
}

// validatorFlags describe a proposed validator change.
type validatorFlags struct {
	power      int64
	home, node string
	key        string
	flags      *pflag.FlagSet
}

func (v *validatorFlags) register(f *pflag.FlagSet) {
	v.flags = f
	f.Int64Var(&v.power, "validator-power", 0, "propose a validator change: its new voting power (0 removes it)")
	pathVar(f, &v.home, "validator-home", "", "the node home whose validator key (config/priv_validator_key.json) to add or change")
	f.StringVar(&v.node, "validator-node", "", "with --validator-home: the node principal that runs it")
	f.StringVar(&v.key, "validator-key", "", "the public key (hex) of a validator in the set to change or remove")
}

func (v *validatorFlags) set() bool { return v.flags.Changed("validator-power") }

// change builds the proposed validator change; chainID is the consortium's,
// which a new validator's proof names.
func (v *validatorFlags) change(chainID string) (*tx.ValidatorChange, error) {
	if (v.home == "") == (v.key == "") {
		return nil, errors.New("--validator-power needs one of --validator-home and --validator-key")
	}
	if v.key != "" {
		pub, err := parsePublicKey(v.key)
		if err != nil {
			return nil, fmt.Errorf("--validator-key: %w", err)
		}
		ch := &tx.ValidatorChange{PublicKey: pub, Power: v.power}
		return ch, ch.Validate()
	}
	if v.node == "" {
		return nil, errors.New("--validator-home needs --validator-node, the node principal that runs it")
	}
	priv, err := node.Home(v.home).ValidatorKey()
	if err != nil {
		return nil, err
	}
	ch := &tx.ValidatorChange{PublicKey: priv.Public().(ed25519.PublicKey), Power: v.power, Node: v.node}
	tx.SignValidatorChange(chainID, ch, priv)
	return ch, ch.Validate()
}

func (c *cli) govApproveCmd() *cobra.Command {
	var s signerFlags
	cmd := &cobra.Command{
		Use:     "approve PROPOSAL-ID",
		Short:   "Approve a governance proposal for your organization (--as, an admin)",
		Example: `  carechain gov approve gov-1a2b3c4d5e6f --home ./h2 --as northlab/admin`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := &tx.GovApprove{Proposal: args[0]}
			if err := body.Validate(); err != nil {
				return err
			}
			if _, err := c.submitTx(cmd.Context(), &s, tx.TypeGovApprove, func(string, uint64) (any, error) { return body, nil }); err != nil {
				return err
			}
			return c.printProposalOutcome(cmd, &s, args[0])
		},
	}
	s.register(cmd)
	return cmd
}

// printProposalOutcome prints where proposal id stands after a vote.
func (c *cli) printProposalOutcome(cmd *cobra.Command, s *signerFlags, id string) error {
	cl, err := c.nodeClient(s.nodeAddr, s.home)
	if err != nil {
		return err
	}
	g, err := cl.Governance(cmd.Context(), 0)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(g.Proposals, func(p nodeapi.GovProposal) bool { return p.ID == id })
	if i < 0 {
		return fmt.Errorf("proposal %s is not on the node yet", id)
	}
	p := g.Proposals[i]
	if p.Status == ledger.ProposalCommitted {
		fmt.Fprintf(c.out, "proposal %s (%s) carried out at height %d\n", p.ID, proposes(&p.GovProposal), p.Closed)
		return nil
	}
	counted := 0
	for _, a := range p.Approvals {
		if slices.Contains(p.Voters, a.Org) {
			counted++
		}
	}
	fmt.Fprintf(c.out, "proposal %s (%s) is open: %d of %d approvals from %s; the others approve with\n  carechain gov approve %s --as <org>/admin\n",
		p.ID, proposes(&p.GovProposal), counted, p.Threshold, strings.Join(p.Voters, ", "), p.ID)
	return nil
}

// readStrictJSON decodes the JSON file path into v, refusing unknown fields.
func readStrictJSON(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// joinApplication makes the keys of org, a joining organization, in h's
// keystore (its admin, its encryption key and its node principal) and
// writes its signed application to h's application.json. It runs after
// node.Init made h, with the consortium's genesis and h's validator key.
// power 0: the node does not ask to validate.
func (c *cli) joinApplication(h node.Home, org carechain.Organization, nodePrincipal string, power int64) (string, error) {
	ks, pass, err := c.openKeys(h, "Passphrase for the admin and node keys")
	if err != nil {
		return "", err
	}
	gn, err := node.NewNodePrincipal(h, ks, nodePrincipal, pass)
	if err != nil {
		return "", fmt.Errorf("%w (choose one with --node-principal)", err)
	}
	if carechain.OrgOf(gn.ID) != org.ID {
		return "", fmt.Errorf("--node-principal %s: a node of the joining organization is %s/<name>", gn.ID, org.ID)
	}
	adminPub, err := ks.Create(org.ID+".admin", pass)
	if err != nil {
		return "", fmt.Errorf("admin key of %s: %w", org.ID, err)
	}
	admin, err := ks.Unlock(org.ID+".admin", pass)
	if err != nil {
		return "", err
	}
	ek, err := records.CreateEncryptionKey(ks, org.ID, pass)
	if err != nil {
		return "", fmt.Errorf("encryption key of %s: %w", org.ID, err)
	}
	org.EncryptionKey = ek.Public().Bytes()
	app := &tx.OrgApplication{
		Org:   org,
		Admin: tx.JoinPrincipal{ID: org.ID + "/admin", PublicKey: adminPub},
		Node:  &tx.JoinNode{JoinPrincipal: tx.JoinPrincipal{ID: gn.ID, PublicKey: gn.PublicKey}, NodeID: gn.NodeID},
	}
	vkey, err := h.ValidatorKey()
	if err != nil {
		return "", err
	}
	if power > 0 {
		app.Node.Validator = &tx.JoinValidator{PublicKey: vkey.Public().(ed25519.PublicKey), Power: power}
	}
	if err := tx.SignApplication(chainIDOf(h), app, admin, vkey); err != nil {
		return "", err
	}
	if err := app.Validate(); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(app, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(string(h), applicationFile)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("write application: %w", err)
	}
	return path, nil
}

// upgradeFlags describe a proposed consensus upgrade.
type upgradeFlags struct {
	name, info string
	height     int64
}

func (u *upgradeFlags) register(f *pflag.FlagSet) {
	f.StringVar(&u.name, "upgrade", "", "propose a consensus upgrade: the name of the upgrade (the release that implements it says)")
	f.Int64Var(&u.height, "upgrade-height", 0, "with --upgrade: the block height from which the upgrade's rules apply")
	f.StringVar(&u.info, "upgrade-info", "", "with --upgrade: where operators get the build that implements it")
}

func (u *upgradeFlags) plan() *tx.UpgradePlan {
	return &tx.UpgradePlan{Name: u.name, Height: u.height, Info: u.info}
}

// upgradeText says what became of an upgrade plan.
func upgradeText(u *ledger.UpgradeState) string {
	var what string
	switch u.Status {
	case ledger.UpgradeApplied:
		what = fmt.Sprintf("applied at height %d", u.Closed)
	case ledger.UpgradeReplaced:
		what = fmt.Sprintf("for height %d replaced at %d", u.Plan.Height, u.Closed)
	default:
		what = fmt.Sprintf("%s for height %d", u.Status, u.Plan.Height)
	}
	s := fmt.Sprintf("upgrade %s %s (approved at %d by %s)", u.Plan.Name, what, u.Approved, u.Proposal)
	if u.Plan.Info != "" {
		s += ": " + u.Plan.Info
	}
	return s
}

// removalText says how and when an organization left the consortium.
func removalText(r *ledger.OrgRemoval) string {
	if r.Left {
		return fmt.Sprintf("left at %d", r.Height)
	}
	return fmt.Sprintf("removed at %d (%s)", r.Height, r.Proposal)
}
