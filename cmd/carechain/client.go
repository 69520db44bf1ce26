package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/tx"
)

func (c *cli) clientCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Register and show SMART clients: backend services (RS384/ES384 client assertions) and App Launch apps (--app)",
		Long: `client manages an organization's SMART backend-services clients: software
that gets FHIR tokens (/auth/token) with client assertions signed RS384 or
ES384 by a key of its JWKS (naming it by kid), for one staff or node
principal of the organization it acts for, within its registered scopes.
With --app, a SMART App Launch app instead: it sends people to
/auth/authorize with one of its exact --redirect-uri values and acts for
whoever signs in and approves it, within its scopes; without --jwks a
public client (PKCE only), with --jwks a confidential one that also signs
a client assertion (private_key_jwt) when it trades a code.
Only an admin of the client's organization registers, replaces or ends one.`,
	}
	cmd.AddCommand(c.clientRegisterCmd(), c.clientShowCmd())
	return cmd
}

func (c *cli) clientRegisterCmd() *cobra.Command {
	var (
		s                            signerFlags
		id, actsFor, jwksFile, scope string
		revoke, app                  bool
		redirects                    []string
	)
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register, replace or end (--revoke) a client of the --as admin's organization",
		Example: `  carechain client register --as st-mary/admin --id st-mary/lab-sync --acts-for st-mary/lab-service --jwks lab-sync.jwks.json --scope "system/Observation.rs system/Patient.rs"
  carechain client register --as st-mary/admin --id st-mary/lab-sync --acts-for st-mary/lab-service --revoke   # ends it for good
  carechain client register --as st-mary/admin --id st-mary/diary --app --redirect-uri https://diary.example/callback --scope "launch/patient patient/Observation.rs"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := &tx.RegisterClient{ID: id, ActsFor: actsFor, Scopes: strings.Join(strings.Fields(scope), " "), Revoked: revoke,
				App: app, RedirectURIs: redirects}
			if jwksFile != "" {
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return fmt.Errorf("--jwks: %w", err)
				}
				r.JWKS = b
			}
			if app && !revoke && (len(redirects) == 0 || scope == "") {
				return fmt.Errorf("--redirect-uri and --scope are required for an --app, unless --revoke")
			}
			if !app && (actsFor == "" || !revoke && (jwksFile == "" || scope == "")) {
				return fmt.Errorf("--acts-for is required, and --jwks and --scope unless --revoke (or register an --app)")
			}
			if err := r.Validate(); err != nil {
				return err
			}
			return c.submit(cmd.Context(), &s, tx.TypeRegisterClient, func(string, uint64) (any, error) { return r, nil })
		},
	}
	s.register(cmd)
	f := cmd.Flags()
	f.StringVar(&id, "id", "", "client ID, <org>/<name> (required)")
	f.StringVar(&actsFor, "acts-for", "", "the staff or node principal of the same organization its tokens are for (required)")
	f.StringVar(&jwksFile, "jwks", "", "file of the client's JSON Web Key Set: public RSA (2048 bits or more, RS384) or P-384 (ES384) keys, each with a kid")
	f.StringVar(&scope, "scope", "", `SMART scopes the client may ask for, space-separated ("system/Observation.rs system/Patient.rs")`)
	f.BoolVar(&revoke, "revoke", false, "end the client: no more tokens, and its tokens stop working")
	f.BoolVar(&app, "app", false, "a SMART App Launch app (authorization code + PKCE): no --acts-for; --jwks makes it a confidential client")
	f.StringArrayVar(&redirects, "redirect-uri", nil, "an --app's exact redirect URI: https, or http to 127.0.0.1 or localhost (repeat for several)")
	cmd.MarkFlagRequired("id")
	return cmd
}

func (c *cli) clientShowCmd() *cobra.Command {
	var (
		nodeAddr, home string
		height         int64
	)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a registered client as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.nodeClient(nodeAddr, home)
			if err != nil {
				return err
			}
			at, err := cl.Client(cmd.Context(), args[0], height)
			if err != nil {
				return err
			}
			b, _ := json.MarshalIndent(at, "", "  ")
			fmt.Fprintln(c.out, string(b))
			return nil
		},
	}
	cmd.Flags().StringVar(&nodeAddr, "node", "", nodeUsage)
	pathVar(cmd.Flags(), &home, "home", defaultHome("node"), "node home whose address to use (--node overrides)")
	cmd.Flags().Int64Var(&height, "height", 0, "block height to read at (0: latest)")
	return cmd
}
