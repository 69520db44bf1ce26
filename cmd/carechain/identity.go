package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

const defaultNode = "127.0.0.1:8080"

// nodeUsage is the help of the --node flags that default to --home's node.
const nodeUsage = "address of a running node, host:port or a URL (https://host:port) (default: the http_addr in --home's config, else " + defaultNode + ")"

// nodeOf is the node a command talks to: flag (--node) if given, else the
// HTTP address in home's config (a wildcard host as 127.0.0.1), else
// defaultNode. Commands then follow a node whose port moved.
func nodeOf(flag, home string) string {
	if flag != "" {
		return flag
	}
	cfg, err := node.Home(home).LoadConfig()
	if home == "" || err != nil || cfg.HTTPAddr == "" {
		return defaultNode
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return defaultNode
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func (c *cli) identityCmd() *cobra.Command {
	var height int64
	sf := &signerFlags{}
	cmd := &cobra.Command{
		Use:   "identity",
		Short: "Query identities (principals and organizations) at the latest or a given height",
		Long: `identity reads principals and organizations. Staff, admins and nodes are
public; patients (pseudonyms) are shown only to signed requests of staff,
admins and nodes, and to the patient: sign with --as (and --home or --keys-dir).`,
	}
	sf.keyFlags.registerPersistent(cmd)
	cmd.PersistentFlags().StringVar(&sf.nodeAddr, "node", "", nodeUsage)
	cmd.PersistentFlags().StringVar(&sf.as, "as", "", "sign the requests as this principal (to see patients)")
	cmd.PersistentFlags().StringVar(&sf.key, "key", "", "keystore name of the --as key")
	cmd.PersistentFlags().Int64Var(&height, "height", 0, "block height to read at (0: latest)")
	client := func() (*nodeapi.Client, error) {
		if sf.as == "" {
			return c.nodeClient(sf.nodeAddr, sf.home)
		}
		return c.signedClient(sf)
	}
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show one principal as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := client()
			if err != nil {
				return err
			}
			p, err := cl.Principal(cmd.Context(), args[0], height)
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(p, "", "  ")
			fmt.Fprintln(c.out, string(b))
			return nil
		},
	}
	var org string
	list := &cobra.Command{
		Use:   "list",
		Short: "List principals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := client()
			if err != nil {
				return err
			}
			ps, err := cl.Principals(cmd.Context(), org, height)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tKIND\tORG\tROLES\tSTATUS\tKEY")
			for _, p := range ps {
				roles := make([]string, len(p.Roles))
				for i, r := range p.Roles {
					roles[i] = string(r)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\tv%d %s…\n", p.ID, p.Kind, p.Org, strings.Join(roles, ","), p.Status, p.KeyVersion, hex.EncodeToString(p.PublicKey)[:16])
			}
			return w.Flush()
		},
	}
	list.Flags().StringVar(&org, "org", "", "only members of this organization")
	orgs := &cobra.Command{
		Use:   "orgs",
		Short: "List organizations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.nodeClient(sf.nodeAddr, sf.home)
			if err != nil {
				return err
			}
			os, err := cl.Organizations(cmd.Context(), height)
			if err != nil {
				return err
			}
			g, err := cl.Governance(cmd.Context(), height)
			if err != nil {
				return err
			}
			status := map[string]string{}
			for _, r := range g.Removed {
				status[r.Org] = removalText(&r)
			}
			w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tTYPE\tNAME\tSTATUS")
			for _, o := range os {
				st := status[o.ID]
				if st == "" {
					st = "member"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", o.ID, o.Type, o.Name, st)
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(show, list, orgs)
	return cmd
}

// signerFlags pick who signs a transaction and with which key.
type signerFlags struct {
	keyFlags
	as, key, nodeAddr string
}

func (s *signerFlags) register(cmd *cobra.Command) {
	s.keyFlags.register(cmd)
	cmd.Flags().StringVar(&s.as, "as", "", "principal ID that signs (required)")
	cmd.Flags().StringVar(&s.key, "key", "", `keystore name of the signing key (default: the --as ID with "/" as ".")`)
	cmd.Flags().StringVar(&s.nodeAddr, "node", "", nodeUsage)
	cmd.MarkFlagRequired("as")
}

// unlock opens the signer's key from the keystore with the passphrase.
func (c *cli) unlock(s *signerFlags) (ed25519.PrivateKey, error) {
	ks, err := s.open()
	if err != nil {
		return nil, err
	}
	pass, err := c.passphrase("Passphrase for "+s.keyName(), false)
	if err != nil {
		return nil, err
	}
	return ks.Unlock(s.keyName(), pass)
}

func (s *signerFlags) keyName() string {
	if s.key != "" {
		return s.key
	}
	return strings.ReplaceAll(s.as, "/", ".")
}

// submit signs body as the signer with the next nonce and waits for the outcome.
func (c *cli) submit(ctx context.Context, s *signerFlags, typ tx.Type, body func(chainID string, nonce uint64) (any, error)) error {
	_, err := c.submitTx(ctx, s, typ, body)
	return err
}

// submitTx is submit, returning the committed transaction's response.
func (c *cli) submitTx(ctx context.Context, s *signerFlags, typ tx.Type, body func(chainID string, nonce uint64) (any, error)) (nodeapi.TxResponse, error) {
	key, err := c.unlock(s)
	if err != nil {
		return nodeapi.TxResponse{}, err
	}
	cl, err := c.nodeClient(s.nodeAddr, s.home)
	if err != nil {
		return nodeapi.TxResponse{}, err
	}
	if strings.HasPrefix(s.as, carechain.PatientPrefix) {
		cl = cl.As(s.as, key) // a patient's identity is shown only to signed requests (the patient's own)
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	st, err := cl.Status(ctx)
	if err != nil {
		return nodeapi.TxResponse{}, err
	}
	me, err := cl.Principal(ctx, s.as, 0)
	if err != nil {
		return nodeapi.TxResponse{}, fmt.Errorf("signer: %w", err)
	}
	b, err := body(st.ChainID, me.NextNonce)
	if err != nil {
		return nodeapi.TxResponse{}, err
	}
	raw, err := tx.Sign(key, st.ChainID, s.as, me.NextNonce, typ, b)
	if err != nil {
		return nodeapi.TxResponse{}, err
	}
	res, err := cl.Submit(ctx, raw)
	if err != nil {
		return nodeapi.TxResponse{}, err
	}
	if !res.Accepted() {
		return res, fmt.Errorf("%s rejected (code %d): %w", typ, res.Code, res.Rejection())
	}
	fmt.Fprintf(c.out, "committed %s at height %d (tx %s)\n", typ, res.Height, res.Hash)
	return res, nil
}

func (c *cli) txCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tx",
		Short: "Sign and submit identity transactions to a running node",
		Long: `tx signs a transaction with a key from a keystore (passphrase from $` + PassphraseEnv + `
or a prompt), takes the signer's next nonce from the node, submits it and waits
until it is committed or rejected. A rejection prints the ledger's reason and
exits non-zero.`,
	}
	cmd.AddCommand(c.txRegisterCmd(), c.txRotateCmd(), c.txRevokeCmd(), c.txRolesCmd())
	return cmd
}

func (c *cli) txRegisterCmd() *cobra.Command {
	var (
		s                               signerFlags
		id, kind, name, pubFlag, nodeID string
		encFlag                         string
		roles                           []string
	)
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register a practitioner or node (by an org admin) or a patient (by an admin or registration clerk)",
		Example: `  carechain tx register --as st-mary/admin --id st-mary/dr-jones --kind practitioner --role physician --name "Dr. Jones" --pubkey <hex>
  carechain tx register --as st-mary/clerk-singh --kind patient --id patient/k7q2m9 --pubkey <hex> --encryption-key <hex>   # keys new patient.k7q2m9 --kind patient
  carechain tx register --as st-mary/admin --id st-mary/node2 --kind node --node-id <node ID> --pubkey <hex>   # a node: it may peer and anchor access events`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pub, err := parsePublicKey(pubFlag)
			if err != nil {
				return err
			}
			k := carechain.Kind(kind)
			if id == "" {
				if k != carechain.KindPatient {
					return errors.New("--id is required for staff")
				}
				id = carechain.NewPatientID()
			}
			r := &tx.Register{ID: id, Kind: k, Name: name, PublicKey: pub, NodeID: nodeID}
			if encFlag != "" {
				if r.EncryptionKey, err = decodeKey(encFlag, seal.PublicKeySize); err != nil {
					return fmt.Errorf("--encryption-key: %w", err)
				}
			}
			for _, role := range roles {
				r.Roles = append(r.Roles, carechain.Role(role))
			}
			if err := r.Validate(); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "registering %s\n", id)
			return c.submit(cmd.Context(), &s, tx.TypeRegister, func(string, uint64) (any, error) { return r, nil })
		},
	}
	s.register(cmd)
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "new principal ID: <org>/<name> for staff; patients get a random patient/<pseudonym> if empty")
	f.StringVar(&kind, "kind", "practitioner", "practitioner, admin, node or patient")
	f.StringVar(&nodeID, "node-id", "", "a node's CometBFT node ID (kind node only; carechain init prints it)")
	roleNames := make([]string, 0, len(carechain.Roles()))
	for _, r := range carechain.Roles() {
		roleNames = append(roleNames, string(r))
	}
	f.StringArrayVar(&roles, "role", nil, "role (repeat): "+strings.Join(roleNames, ", ")+
		" (an auditor fetches proofs of any ledger entry, each fetch in the patient's access log)")
	f.StringVar(&name, "name", "", "display name (staff only; patients carry no personal data on the ledger)")
	f.StringVar(&pubFlag, "pubkey", "", "the new principal's Ed25519 public key, hex or base64 (see keys export-public)")
	f.StringVar(&encFlag, "encryption-key", "", "a patient's public encryption key, hex or base64 (keys new --kind patient; keys export-public --encryption): required before records can be written for them")
	cmd.MarkFlagRequired("pubkey")
	return cmd
}

// decodeKey decodes a key of size bytes given as hex or base64.
func decodeKey(s string, size int) ([]byte, error) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == size {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == size {
		return b, nil
	}
	return nil, fmt.Errorf("want %d bytes as hex or base64", size)
}

func parsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeKey(s, ed25519.PublicKeySize)
	if err != nil {
		return nil, fmt.Errorf("public key %q: %w", s, err)
	}
	return b, nil
}

func (c *cli) txRotateCmd() *cobra.Command {
	var s signerFlags
	var newKey string
	cmd := &cobra.Command{
		Use:   "rotate",
		Short: "Replace the signer's key with another key from the keystore",
		Long: `rotate replaces the --as principal's key. The transaction is signed with the
current key (--key) and carries a proof signed by the new key (--new-key), so
both must be in the keystore, under the same passphrase. An encryption key
is replaced with keys rotate-encryption.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := s.open()
			if err != nil {
				return err
			}
			pass, err := c.passphrase("Passphrase for "+newKey, false)
			if err != nil {
				return err
			}
			nk, err := ks.Unlock(newKey, pass)
			if err != nil {
				return fmt.Errorf("new key: %w", err)
			}
			pub := nk.Public().(ed25519.PublicKey)
			return c.submit(cmd.Context(), &s, tx.TypeRotate, func(chainID string, nonce uint64) (any, error) {
				return &tx.Rotate{NewKey: pub, Proof: ed25519.Sign(nk, tx.RotationMessage(chainID, s.as, nonce, pub))}, nil
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&newKey, "new-key", "", "keystore name of the new key (required)")
	cmd.MarkFlagRequired("new-key")
	return cmd
}

func (c *cli) txRevokeCmd() *cobra.Command {
	var s signerFlags
	var id, reason string
	cmd := &cobra.Command{
		Use:   "revoke",
		Short: "Revoke a key: your own, or (as an org admin) a member of staff's",
		Long: `revoke revokes the key of --id. Anyone can revoke their own key; an
organization's admin can revoke its staff's keys. Patients' keys are revoked only
by the patient. Transactions signed by a revoked key are rejected from the
revocation's height on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := &tx.Revoke{ID: id, Reason: reason}
			if err := r.Validate(); err != nil {
				return err
			}
			return c.submit(cmd.Context(), &s, tx.TypeRevoke, func(string, uint64) (any, error) { return r, nil })
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "principal whose key to revoke (required)")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded on the ledger; no health data)")
	cmd.MarkFlagRequired("id")
	return cmd
}

func (c *cli) txRolesCmd() *cobra.Command {
	var s signerFlags
	var id string
	var roles []string
	cmd := &cobra.Command{
		Use:   "roles",
		Short: "Replace a practitioner's roles (as an admin of their organization)",
		Long: `roles replaces the roles of the practitioner --id with those given (repeat
--role; none leaves them with no role). Signed by an admin of the
practitioner's organization. What the roles allow (the organization's role
policy) changes from the transaction's block on; grants naming the person
are unchanged.`,
		Example: `  carechain tx roles --as st-mary/admin --id st-mary/dr-ito --role specialist --role physician`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := &tx.SetRoles{ID: id}
			for _, role := range roles {
				r.Roles = append(r.Roles, carechain.Role(role))
			}
			if err := r.Validate(); err != nil {
				return err
			}
			return c.submit(cmd.Context(), &s, tx.TypeSetRoles, func(string, uint64) (any, error) { return r, nil })
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "practitioner whose roles to replace (required)")
	cmd.Flags().StringArrayVar(&roles, "role", nil, "role (repeat)")
	cmd.MarkFlagRequired("id")
	return cmd
}
