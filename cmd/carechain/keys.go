package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
)

// keyFlags locate a keystore: --keys-dir, or the keys directory of --home.
type keyFlags struct {
	home, dir string
}

func (k *keyFlags) register(cmd *cobra.Command) { k.bind(cmd.Flags()) }

// registerPersistent registers the flags on cmd and its subcommands.
func (k *keyFlags) registerPersistent(cmd *cobra.Command) { k.bind(cmd.PersistentFlags()) }

func (k *keyFlags) bind(fs *pflag.FlagSet) {
	pathVar(fs, &k.home, "home", defaultHome("node"), "node home whose keystore (HOME/keys) to use")
	pathVar(fs, &k.dir, "keys-dir", "", "keystore directory (overrides --home)")
}

func (k *keyFlags) open() (*keystore.Store, error) {
	dir := k.dir
	if dir == "" {
		dir = node.Home(k.home).KeysDir()
	}
	return keystore.Open(dir, keystore.DefaultKDF)
}

func (c *cli) keysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage Ed25519 signing keys (encrypted at rest)",
		Long: `keys manages a keystore: one file per key, the private key encrypted with
scrypt + XChaCha20-Poly1305 under a passphrase, file mode 0600. The passphrase
comes from $` + PassphraseEnv + ` if set, otherwise from a prompt.`,
	}
	cmd.AddCommand(c.keysNewCmd(), c.keysListCmd(), c.keysShowCmd(), c.keysExportCmd())
	return cmd
}

func (c *cli) keysNewCmd() *cobra.Command {
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Create a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !keystore.ValidName(args[0]) {
				return fmt.Errorf("key name %q: use 1-64 of [a-z0-9._-], not starting with '.'", args[0])
			}
			ks, err := kf.open()
			if err != nil {
				return err
			}
			pass, err := c.passphrase("Passphrase for "+args[0], true)
			if err != nil {
				return err
			}
			pub, err := ks.Create(args[0], pass)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "created %s, public key %s\n", args[0], hex.EncodeToString(pub))
			return nil
		},
	}
	kf.register(cmd)
	return cmd
}

func (c *cli) keysListCmd() *cobra.Command {
	var kf keyFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List keys (no passphrase needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := kf.open()
			if err != nil {
				return err
			}
			entries, err := ks.List()
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tPUBLIC KEY\tCREATED")
			for _, e := range entries {
				fmt.Fprintf(w, "%s\t%s\t%s\n", e.Name, hex.EncodeToString(e.PublicKey), e.Created.Format("2006-01-02 15:04"))
			}
			return w.Flush()
		},
	}
	kf.register(cmd)
	return cmd
}

func (c *cli) keysShowCmd() *cobra.Command {
	var kf keyFlags
	var check bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a key's public part; --check also proves the passphrase opens it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := kf.open()
			if err != nil {
				return err
			}
			pub, err := ks.Public(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "name:        %s\npublic key:  %s\nbase64:      %s\n", args[0], hex.EncodeToString(pub), base64.StdEncoding.EncodeToString(pub))
			if check {
				pass, err := c.passphrase("Passphrase for "+args[0], false)
				if err != nil {
					return err
				}
				if _, err := ks.Unlock(args[0], pass); err != nil {
					return err
				}
				fmt.Fprintln(c.out, "passphrase:  ok")
			}
			return nil
		},
	}
	kf.register(cmd)
	cmd.Flags().BoolVar(&check, "check", false, "unlock the key to check the passphrase")
	return cmd
}

func (c *cli) keysExportCmd() *cobra.Command {
	var kf keyFlags
	var format string
	cmd := &cobra.Command{
		Use:   "export-public NAME",
		Short: "Print only the public key (hex or base64), e.g. to give to a registration desk",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := kf.open()
			if err != nil {
				return err
			}
			pub, err := ks.Public(args[0])
			if err != nil {
				return err
			}
			switch format {
			case "hex":
				fmt.Fprintln(c.out, hex.EncodeToString(pub))
			case "base64":
				fmt.Fprintln(c.out, base64.StdEncoding.EncodeToString(pub))
			default:
				return fmt.Errorf("--format %q: want hex or base64", format)
			}
			return nil
		},
	}
	kf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "hex", "hex or base64")
	return cmd
}
