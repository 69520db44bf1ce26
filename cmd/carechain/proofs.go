package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/proof"
)

func (c *cli) proofCmd() *cobra.Command {
	var out, purpose string
	sf := &signerFlags{}
	cmd := &cobra.Command{
		Use:   "proof",
		Short: "Fetch a self-contained proof bundle from a node (check it offline with verify-proof)",
		Long: `proof writes a JSON proof bundle for a record version, a consent, an access
event or an identity change: the Merkle log leaf (metadata and content hash,
never plaintext), the committed state value, the inclusion proof, and a
checkpoint (the validator-signed header whose app hash commits to the log,
its commit signatures and the validator set). "proof consistency" proves that
the log at one height is a prefix of the log at a later one.

Proofs of records, consents and access events go only to the patient, to
those who may read the record (for --purpose), and to auditors: sign the
request with --as (key from the keystore; passphrase from $` + PassphraseEnv + `
or a prompt). Anyone else, and an unsigned request, gets "no such log entry".
Identity proofs and consistency proofs need no signature.

If the validators changed after the set you trust was saved, the checkpoint
carries the signed validator transitions since then (see verify-proof). By
default they start at the first block; --trusted-height names the height at
which your trusted set was in force ("validators --history" lists them).`,
	}
	cmd.PersistentFlags().StringVar(&sf.nodeAddr, "node", "", nodeUsage)
	cmd.PersistentFlags().StringVarP(&out, "out", "o", "", "write to this file instead of standard output")
	cmd.PersistentFlags().StringVar(&sf.as, "as", "", "principal that signs the request (the patient, a reader or an auditor)")
	cmd.PersistentFlags().StringVar(&sf.key, "key", "", `keystore name of the signing key (default: the --as ID with "/" as ".")`)
	pathVar(cmd.PersistentFlags(), &sf.home, "home", defaultHome("node"), "node home whose keystore (HOME/keys) to use")
	pathVar(cmd.PersistentFlags(), &sf.dir, "keys-dir", "", "keystore directory (overrides --home)")
	cmd.PersistentFlags().StringVar(&purpose, "purpose", "treatment", "purpose a reader of the record reads it for")
	var trustedHeight int64
	cmd.PersistentFlags().Int64Var(&trustedHeight, "trusted-height", 0, "height at which your trusted validator set was in force (0: the first block)")
	fetch := func(cmd *cobra.Command, path string, q url.Values) error {
		if trustedHeight > 0 {
			q.Set("trusted_height", strconv.FormatInt(trustedHeight, 10))
		}
		if len(q) > 0 {
			path += "?" + q.Encode()
		}
		cl, err := c.nodeClient(sf.nodeAddr, sf.home)
		if err != nil {
			return err
		}
		if sf.as != "" {
			if cl, err = c.signedClient(sf); err != nil {
				return err
			}
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
		defer cancel()
		b, err := cl.Raw(ctx, path)
		if err != nil {
			return err
		}
		return c.writeOut(out, b)
	}
	var version uint64
	record := &cobra.Command{
		Use: "record RECORD-ID", Short: "Prove a record version (default: the latest)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{"purpose": {purpose}}
			if version > 0 {
				q.Set("version", strconv.FormatUint(version, 10))
			}
			return fetch(cmd, "/v1/proofs/record/"+url.PathEscape(args[0]), q)
		},
	}
	record.Flags().Uint64Var(&version, "version", 0, "version (0: latest)")
	simple := func(use, kind, short string) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error {
			return fetch(cmd, "/v1/proofs/"+kind+"/"+args[0], url.Values{})
		}}
	}
	var from, to int64
	consistency := &cobra.Command{
		Use: "consistency", Short: "Prove the log at --from is a prefix of the log at --to", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"from": {strconv.FormatInt(from, 10)}, "to": {strconv.FormatInt(to, 10)}}
			return fetch(cmd, "/v1/proofs/consistency", q)
		},
	}
	consistency.Flags().Int64Var(&from, "from", 0, "first height")
	consistency.Flags().Int64Var(&to, "to", 0, "second height")
	cmd.AddCommand(record,
		simple("consent GRANT-ID", "consent", "Prove a consent grant (GRANT-ID/revoked: its revocation)"),
		simple("access EVENT-ID", "access", "Prove an anchored access event"),
		simple("identity ID@HEIGHT", "identity", "Prove an identity change"),
		simple("orgrecord TYPE/ID/VERSION", "orgrecord", "Prove a version of an organization record (Schedule, Slot, HealthcareService, ChargeItemDefinition); needs --as"),
		consistency)
	return cmd
}

func (c *cli) writeOut(path string, b []byte) error {
	if path == "" {
		_, err := c.out.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func (c *cli) validatorsCmd() *cobra.Command {
	var nodeAddr, home, out string
	var history bool
	cmd := &cobra.Command{
		Use:   "validators",
		Short: "Write the consortium's validator set, the trust anchor for verify-proof",
		Long: `validators writes the current validator set as JSON: save it as the trust
anchor for verify-proof --validators. With --history it lists instead every
validator set the node's blocks record, from CometBFT's own block and state
stores: the height from which each was in force, the header that announced
it, its validators (address, public key, power) and who joined, left or
changed power. A proof for a verifier whose set was in force at height H is
fetched with "proof ... --trusted-height H".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.nodeClient(nodeAddr, home)
			if err != nil {
				return err
			}
			if !history {
				b, err := cl.Raw(cmd.Context(), "/v1/validators")
				if err != nil {
					return err
				}
				return c.writeOut(out, b)
			}
			b, err := cl.Raw(cmd.Context(), "/v1/validators/history")
			if err != nil {
				return err
			}
			var epochs []node.ValidatorEpoch
			if err := json.Unmarshal(b, &epochs); err != nil {
				return fmt.Errorf("validator history: %w", err)
			}
			return c.writeOut(out, []byte(formatValidatorHistory(epochs)))
		},
	}
	cmd.Flags().StringVar(&nodeAddr, "node", "", nodeUsage)
	pathVar(cmd.Flags(), &home, "home", defaultHome("node"), "node home whose node to ask (the http_addr of its config)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "write to this file instead of standard output")
	cmd.Flags().BoolVar(&history, "history", false, "list every validator set and what changed, instead of writing the current set")
	return cmd
}

// formatValidatorHistory writes one paragraph per validator set: when it came
// into force, what changed, and its members.
func formatValidatorHistory(epochs []node.ValidatorEpoch) string {
	var b strings.Builder
	for _, e := range epochs {
		var total int64
		for _, v := range e.Validators {
			total += v.Power
		}
		noun := "validators"
		if len(e.Validators) == 1 {
			noun = "validator"
		}
		fmt.Fprintf(&b, "height %d: %d %s, total power %d, set %s\n", e.Height, len(e.Validators), noun, total, e.Hash)
		if e.AnnouncedAt > 0 {
			fmt.Fprintf(&b, "  announced in header %d, signed by the set before\n", e.AnnouncedAt)
		}
		for _, ch := range e.Changes {
			switch {
			case ch.Before == 0:
				fmt.Fprintf(&b, "  joined  %s power %d\n", ch.Address, ch.Power)
			case ch.Power == 0:
				fmt.Fprintf(&b, "  left    %s (had power %d)\n", ch.Address, ch.Before)
			default:
				fmt.Fprintf(&b, "  changed %s power %d -> %d\n", ch.Address, ch.Before, ch.Power)
			}
		}
		for _, v := range e.Validators {
			fmt.Fprintf(&b, "  validator %s power %d pub_key %s\n", v.Address, v.Power, base64.StdEncoding.EncodeToString(v.PubKey))
		}
	}
	return b.String()
}

func (c *cli) verifyProofCmd() *cobra.Command {
	var valsFile string
	cmd := &cobra.Command{
		Use:   "verify-proof FILE",
		Short: "Check a proof bundle offline against a trusted validator set",
		Long: `verify-proof checks a file written by "carechain proof" using only the file and
the validator set you trust (--validators, from "carechain validators" or your
consortium's published set): the content matches its log leaf, the leaf is in
the log, and the log's root is committed by a header that more than two
thirds of the validators signed. Any change to the file makes it fail. Exit
status 0 means verified.

If the validator set changed since the one you trust, the checkpoint carries
validator transitions: for each change, the block header that first names the
new set (its NextValidatorsHash) with its commit, and the new set. Starting
from your set, each transition must be signed by more than two thirds of the
power of the set reached so far, and the checkpoint by the set reached last;
a missing, reordered or altered transition fails. Fetch the proof with
"proof ... --trusted-height H" if your set was in force from height H rather
than the first block ("validators --history" lists the heights).

This trusts that more than two thirds of each set along the way were honest,
including validators that have since left: keys of former validators,
compromised after they left, could sign a forged history (a long-range
attack). CometBFT's light client limits this with a trusting period;
verify-proof has no clock, so refresh your trusted set from a source you
trust from time to time rather than keeping one for years.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			trusted, err := readTrusted(valsFile)
			if err != nil {
				return err
			}
			var probe map[string]json.RawMessage
			if err := json.Unmarshal(data, &probe); err != nil {
				return fmt.Errorf("%s: not a proof file: %w", args[0], err)
			}
			if _, ok := probe["from"]; ok {
				var p proof.Consistency
				if err := proof.Decode(data, &p); err != nil {
					return err
				}
				if err := proof.VerifyConsistency(&p, trusted); err != nil {
					return withTrustedHeightHint(err)
				}
				fmt.Fprintf(c.out, "verified: the log at height %d (size %d) is a prefix of the log at height %d (size %d), both signed by the trusted validators%s\n",
					p.From.Height, p.From.Info.LogSize, p.To.Height, p.To.Info.LogSize, throughTransitions(len(p.To.Transitions)))
				return nil
			}
			var b proof.Bundle
			if err := proof.Decode(data, &b); err != nil {
				return err
			}
			if err := proof.Verify(&b, trusted); err != nil {
				return withTrustedHeightHint(err)
			}
			fmt.Fprintf(c.out, "verified: %s %s, committed at height %d, leaf %d of %d, content sha256 %s, checkpoint at height %d signed by the trusted validators%s\n",
				b.Leaf.Kind, b.Leaf.Key, b.Leaf.Height, b.LeafIndex, b.At.Info.LogSize, base64.StdEncoding.EncodeToString(b.Leaf.ContentHash), b.At.Height,
				throughTransitions(len(b.At.Transitions)))
			return nil
		},
	}
	cmd.Flags().StringVar(&valsFile, "validators", "", "trusted validator set file (required)")
	cmd.MarkFlagRequired("validators")
	return cmd
}

// withTrustedHeightHint adds to a proof that does not start from the
// trusted set how to fetch one that may.
func withTrustedHeightHint(err error) error {
	if !errors.Is(err, proof.ErrNotFromTrusted) {
		return err
	}
	return fmt.Errorf("%w\n(fetch the proof with \"proof ... --trusted-height H\", H a height at which your set was in force, "+
		"and it carries the validator changes since; without the flag they start from the first block's set. "+
		"\"validators --history\" lists the heights)", err)
}

// throughTransitions says how a checkpoint's signers were reached from the
// trusted set.
func throughTransitions(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (their successors, through %d validator-set changes)", n)
}

func (c *cli) verifyCmd() *cobra.Command {
	var home string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check a stopped node's data directory offline; name the first thing that does not check out",
		Long: `verify re-checks everything in a stopped node's home: block hashes and links,
commit signatures against each height's validator set, each header's app hash
against the ledger state, the state writes of every block against the chained
state hash, the Merkle log against its stored nodes and roots, every log leaf
against the state value it commits to, and every record's ciphertext against
its hash. It prints progress on long runs; on failure it names the first
height, key or file that does not check out and exits non-zero.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			rep, err := node.VerifyHome(node.Home(home), func(msg string) { fmt.Fprintln(c.err, msg) })
			if err != nil {
				return fmt.Errorf("verification failed: %w", err)
			}
			el := time.Since(start)
			fmt.Fprintf(c.out, "verified %s: %d blocks, %d heights of state, %d log leaves, %d record versions in %v (%.0f blocks/s, %.0f records/s)\n",
				home, rep.Blocks, rep.Heights, rep.Leaves, rep.Records, el.Round(time.Millisecond),
				float64(rep.Blocks)/el.Seconds(), float64(rep.Records)/el.Seconds())
			fmt.Fprintf(c.out, "home format %d (this carechain writes %d)\n", rep.Format, node.CurrentFormat)
			if rep.Unexecuted > 0 {
				fmt.Fprintf(c.out, "block %d is saved but not executed yet (the node stopped before it, at an upgrade or in a crash); the next start executes it\n", rep.Unexecuted)
			}
			if rep.LedgerHeight > 0 {
				fmt.Fprintf(c.out, "the ledger state is at height %d, below the blocks executed (a home restored from a backup): the next start replays the blocks after it\n", rep.LedgerHeight)
			}
			return nil
		},
	}
	pathVar(cmd.Flags(), &home, "home", defaultHome("node"), "home of the stopped node")
	return cmd
}

// readTrusted reads the trusted validator set of --validators (file).
func readTrusted(file string) (*types.ValidatorSet, error) {
	vb, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--validators: %w", err)
	}
	return proof.ParseValidators(vb)
}
