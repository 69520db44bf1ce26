package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/tx"
)

func (c *cli) rolePolicyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "role-policy",
		Short: "Show or set an organization's role policy: which roles may read and write which categories, for which purposes",
		Long: `An organization's role policy limits what its staff may do with the records
the patient's consent opens to the organization: a registration clerk reads
demographics and billing, not a diagnosis. Access needs the patient's consent
AND the role policy, except under a grant that names the person. init gives
every founding organization the default policy (role-policy default prints it);
an admin replaces it with a new version.`,
	}
	cmd.AddCommand(c.rolePolicyShowCmd(), c.rolePolicySetCmd(), c.rolePolicyDefaultCmd())
	return cmd
}

func (c *cli) rolePolicyShowCmd() *cobra.Command {
	var node, home string
	var height int64
	show := &cobra.Command{
		Use: "show ORG", Short: "Print an organization's role policy in force (JSON, with its version)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			cl, err := c.nodeClient(node, home)
			if err != nil {
				return err
			}
			st, err := cl.RolePolicy(ctx, args[0], height)
			if err != nil {
				return fmt.Errorf("role policy of %s: %w", args[0], err)
			}
			return c.printJSON(st)
		},
	}
	show.Flags().StringVar(&node, "node", "", nodeUsage)
	pathVar(show.Flags(), &home, "home", defaultHome("node"), "node home whose node to ask (the http_addr of its config)")
	show.Flags().Int64Var(&height, "height", 0, "as of this height (0: latest)")
	return show
}

func (c *cli) rolePolicyDefaultCmd() *cobra.Command {
	return &cobra.Command{
		Use: "default", Short: "Print the default role policy (JSON), a starting point for role-policy set", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return c.printJSON(consent.DefaultRolePolicy()) },
	}
}

func (c *cli) rolePolicySetCmd() *cobra.Command {
	var s signerFlags
	var org, file string
	set := &cobra.Command{
		Use:   "set",
		Short: "Replace an organization's role policy (as its admin) with the JSON policy in --file",
		Example: `  carechain role-policy default > policy.json   # edit it
  carechain role-policy set --as st-mary/admin --org st-mary --file policy.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := readRolePolicy(org, file)
			if err != nil {
				return err
			}
			return c.submit(cmd.Context(), &s, tx.TypeRolePolicy, func(string, uint64) (any, error) { return body, nil })
		},
	}
	s.register(set)
	set.Flags().StringVar(&org, "org", "", "organization")
	set.Flags().StringVar(&file, "file", "", "the policy, as printed by role-policy default or show's \"policy\"")
	return set
}

// readRolePolicy reads and checks a policy file, refusing unknown fields: a
// misspelt "raed" would otherwise silently allow nothing.
func readRolePolicy(org, path string) (*tx.RolePolicySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("role policy: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	body := &tx.RolePolicySet{Org: org}
	if err := dec.Decode(&body.Policy); err != nil {
		return nil, fmt.Errorf("role policy %s: %w", path, err)
	}
	if err := body.Validate(); err != nil {
		return nil, fmt.Errorf("role policy %s: %w", path, err)
	}
	return body, nil
}
