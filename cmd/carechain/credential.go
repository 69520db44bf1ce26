package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/tx"
	"github.com/carechain/carechain/vc"
)

// Practitioners' credentials: issued and revoked on the ledger by a
// licensing body's or a hospital's admin or credentialing officer, read
// by anyone (/v1/credentials), exported as W3C Verifiable Credentials.

func (c *cli) credentialCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "credential",
		Short: "Issue, revoke, list, show and export practitioners' credentials (licence, board certification, specialty)",
		Long: `credential manages practitioners' credentials on the ledger. A licensing body
(an organization of type licensing) or a hospital's credentialing office
(the hospital's admin or a credentialing-officer) issues a credential to a
registered practitioner of any organization: a licence, a board
certification or a specialty, with a value (the licence number, the
specialty: cardiology), valid from a time until an expiry. The issuing
organization revokes it with a reason; the revocation applies from the
height that commits it, the expiry from its time.

Patients' consent conditions see a requester's valid credentials as
grantee.credentials (see carechain consent grant --help):

  grantee.credentials.exists(c, c.kind == "specialty" && c.value == "cardiology")

Credentials are public, like staff registrations. export writes one as a W3C
Verifiable Credential (Data Model 2.0, Data Integrity proof eddsa-jcs-2022,
issuer the did:key of the exporting issuer's Ed25519 key); its
credentialStatus names GET /v1/credentials/ID/status, which answers active,
revoked, expired or not-yet-valid from the ledger.`,
	}
	cmd.AddCommand(c.credentialIssueCmd(), c.credentialRevokeCmd(), c.credentialListCmd(), c.credentialShowCmd(), c.credentialExportCmd())
	return cmd
}

func (c *cli) credentialIssueCmd() *cobra.Command {
	var s signerFlags
	var body tx.CredentialIssue
	var kind, from, until string
	cmd := &cobra.Command{
		Use:   "issue ID",
		Short: "Issue credential ID to a practitioner, as a licensing body's or hospital's admin or credentialing officer",
		Example: `  carechain credential issue card-7731 --as board/admin --to st-luke/dr-chen --kind specialty --value cardiology --until 2y
  carechain credential issue lic-88 --as board/officer --to st-luke/dr-chen --kind licence --value GMC-7731 --from 2026-01-01 --until 2028-01-01`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body.ID, body.Kind = args[0], carechain.CredentialKind(kind)
			var err error
			if body.ValidFrom, body.Expiry, err = period(from, yearsAsDays(until), time.Now()); err != nil {
				return err
			}
			if err := body.Validate(); err != nil { // the ledger would refuse it: say why before unlocking a key
				return fmt.Errorf("the credential: %w", err)
			}
			return c.submit(cmd.Context(), &s, tx.TypeCredentialIssue, func(string, uint64) (any, error) { return &body, nil })
		},
	}
	s.register(cmd)
	f := cmd.Flags()
	f.StringVar(&body.Practitioner, "to", "", "the practitioner (org/name)")
	f.StringVar(&kind, "kind", "", "licence, board-certification or specialty")
	f.StringVar(&body.Value, "value", "", "the specialty (cardiology), the board's field or the licence number")
	f.StringVar(&from, "from", "", "valid from: a date (2027-01-31) or RFC 3339 time (default: now)")
	f.StringVar(&until, "until", "", "expiry: a date, an RFC 3339 time, or a duration from the start (90d, 2y) (default: none)")
	for _, name := range []string{"to", "kind", "value"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

// yearsAsDays rewrites a duration in years ("2y"), which credentials
// often have, as days ("730d") for period; anything else is unchanged.
func yearsAsDays(until string) string {
	n, ok := strings.CutSuffix(until, "y")
	var years int
	if _, err := fmt.Sscanf(n, "%d", &years); !ok || err != nil || fmt.Sprint(years) != n || years < 1 {
		return until
	}
	return fmt.Sprintf("%dd", years*365)
}

func (c *cli) credentialRevokeCmd() *cobra.Command {
	var s signerFlags
	var body tx.CredentialRevoke
	cmd := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke credential ID from the next height on, as its issuing organization",
		Example: `  carechain credential revoke card-7731 --as board/admin --reason "licence suspended by the board"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body.ID = args[0]
			if err := body.Validate(); err != nil {
				return fmt.Errorf("the revocation: %w", err)
			}
			return c.submit(cmd.Context(), &s, tx.TypeCredentialRevoke, func(string, uint64) (any, error) { return &body, nil })
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&body.Reason, "reason", "", "why (shown to whoever the revocation refuses)")
	cmd.MarkFlagRequired("reason")
	return cmd
}

// credentialReadFlags are the flags of the commands that only read.
type credentialReadFlags struct {
	keyFlags
	nodeAddr string
	height   int64
}

func (f *credentialReadFlags) register(cmd *cobra.Command) {
	f.keyFlags.register(cmd)
	cmd.Flags().StringVar(&f.nodeAddr, "node", "", nodeUsage)
	cmd.Flags().Int64Var(&f.height, "height", 0, "block height to read at (0: latest)")
}

func (c *cli) credentialListCmd() *cobra.Command {
	var f credentialReadFlags
	var practitioner string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List credentials (all, or a practitioner's) with their state now",
		Example: `  carechain credential list --practitioner st-luke/dr-chen`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.nodeClient(f.nodeAddr, f.home)
			if err != nil {
				return err
			}
			list, err := cl.Credentials(cmd.Context(), practitioner, f.height)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tPRACTITIONER\tKIND\tVALUE\tISSUER\tVALID FROM\tEXPIRY\tSTATE")
			now := time.Now().Unix()
			for _, cr := range list {
				st, _ := cr.Status(now)
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cr.ID, cr.Practitioner, cr.Kind, cr.Value, cr.IssuerOrg, unixText(cr.ValidFrom), unixText(cr.Expiry), st)
			}
			return w.Flush()
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&practitioner, "practitioner", "", "only this practitioner's credentials")
	return cmd
}

func (c *cli) credentialShowCmd() *cobra.Command {
	var f credentialReadFlags
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a credential (JSON) and its state on the ledger now (active, revoked, expired, not-yet-valid)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.nodeClient(f.nodeAddr, f.home)
			if err != nil {
				return err
			}
			cr, err := cl.Credential(cmd.Context(), args[0], f.height)
			if err != nil {
				return err
			}
			st, err := cl.CredentialStatus(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(struct {
				Credential carechain.Credential     `json:"credential"`
				Status     nodeapi.CredentialStatus `json:"status"`
			}{cr, st}, "", "  ")
			fmt.Fprintln(c.out, string(b))
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

func (c *cli) credentialExportCmd() *cobra.Command {
	var s signerFlags
	var out, statusBase, subject string
	cmd := &cobra.Command{
		Use:   "export ID",
		Short: "Write credential ID as a W3C Verifiable Credential signed by you (--as), its issuer",
		Long: `export reads credential ID from the ledger and writes it as a W3C Verifiable
Credential (Data Model 2.0) with a Data Integrity proof (cryptosuite
eddsa-jcs-2022) made with the --as key, named as a did:key. --as must be an
active admin or credentialing officer of the issuing organization, holding
the key the ledger has for them. The credential's status
(credentialStatus) is --status-url/v1/credentials/ID/status, by default on
the node the command talks to: verifiers ask it whether the credential was
revoked since.`,
		Example: `  carechain credential export card-7731 --as board/admin --out card-7731.vc.json --status-url https://ledger.example.org`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), fhirTimeout)
			defer cancel()
			key, cr, err := c.exportSigner(ctx, &s, args[0])
			if err != nil {
				return err
			}
			base := strings.TrimRight(statusBase, "/")
			if base == "" {
				base = c.nodeURL(s.nodeAddr, s.home)
			}
			doc, err := vc.Issue(cr, key, base+"/v1/credentials/"+url.PathEscape(cr.ID)+"/status", subject, time.Now())
			if err != nil {
				return fmt.Errorf("credential %s: %w", cr.ID, err)
			}
			if out == "" {
				fmt.Fprintln(c.out, string(doc))
				return nil
			}
			if err := os.WriteFile(out, append(doc, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "wrote credential %s as a verifiable credential to %s (issuer %s)\n", cr.ID, out, vc.DIDKey(key.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write it to this file (default: standard output)")
	cmd.Flags().StringVar(&statusBase, "status-url", "", "base URL of the node verifiers ask for its status (default: the node this command talks to)")
	cmd.Flags().StringVar(&subject, "subject-did", "", "the practitioner's DID, if they have one (default: named by ledger ID only)")
	return cmd
}

// exportSigner unlocks the --as key and checks, against the ledger, that
// it may sign credential id: an active admin or credentialing officer of
// the issuing organization, whose key it is.
func (c *cli) exportSigner(ctx context.Context, s *signerFlags, id string) (ed25519.PrivateKey, *carechain.Credential, error) {
	cl, err := c.nodeClient(s.nodeAddr, s.home)
	if err != nil {
		return nil, nil, err
	}
	cr, err := cl.Credential(ctx, id, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("credential %s: %w", id, err)
	}
	me, err := cl.Principal(ctx, s.as, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("signer: %w", err)
	}
	p := me.Principal
	if p.Org != cr.IssuerOrg || p.Status != carechain.StatusActive ||
		p.Kind != carechain.KindAdmin && !(p.Kind == carechain.KindPractitioner && p.HasRole(carechain.RoleCredentialingOfficer)) {
		return nil, nil, fmt.Errorf("%s may not export credential %s: an active admin or credentialing officer of its issuer %s may", s.as, id, cr.IssuerOrg)
	}
	key, err := c.unlock(s)
	if err != nil {
		return nil, nil, err
	}
	if !key.Public().(ed25519.PublicKey).Equal(p.PublicKey) {
		return nil, nil, fmt.Errorf("the key %s is not the key the ledger has for %s", s.keyName(), s.as)
	}
	return key, &cr, nil
}
