package main

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/records"
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
	var kind string
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Create the keys a party needs: staff a signing key, a patient a signing and an encryption key, an organization an encryption key",
		Long: `new creates keys in the keystore, encrypted with the passphrase.

  --kind staff    (default) a signing key NAME, e.g. st-mary.dr-jones; staff
                  read through their organization's key
  --kind patient  a signing key NAME and an encryption key NAME.enc; NAME is
                  patient.<pseudonym>, the patient's ID patient/<pseudonym>
                  with "/" as "." (register with --id patient/<pseudonym>
                  and --encryption-key from export-public --encryption)
  --kind org      an encryption key NAME.enc for organization NAME (init
                  makes the founding organizations')`,
		Example: `  carechain keys new st-mary.dr-jones
  carechain keys new patient.k7q2m9 --kind patient --home ./h1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !keystore.ValidName(name) {
				return fmt.Errorf("key name %q: use 1-64 of [a-z0-9._-], not starting with '.'", name)
			}
			reader, err := readerOfKeyName(kind, name)
			if err != nil {
				return err
			}
			ks, err := kf.open()
			if err != nil {
				return err
			}
			pass, err := c.passphrase("Passphrase for "+name, true)
			if err != nil {
				return err
			}
			if kind != "org" {
				pub, err := ks.Create(name, pass)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.out, "created %s, public key %s\n", name, hex.EncodeToString(pub))
			}
			if reader == "" {
				return nil
			}
			if _, err := records.CreateEncryptionKey(ks, reader, pass); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "created %s (encryption; export-public %s --encryption prints its public key)\n", records.EncryptionKeyName(reader), name)
			return nil
		},
	}
	kf.register(cmd)
	cmd.Flags().StringVar(&kind, "kind", "staff", "staff, patient or org")
	return cmd
}

// readerOfKeyName is the reader whose encryption key a party of kind named
// name needs ("" for staff, who read through their organization's key).
func readerOfKeyName(kind, name string) (string, error) {
	switch kind {
	case "staff":
		return "", nil
	case "patient":
		pseudonym, ok := strings.CutPrefix(name, "patient.")
		id := carechain.PatientPrefix + pseudonym
		if !ok || carechain.ValidatePrincipalID(id) != nil {
			return "", fmt.Errorf("a patient's key is named patient.<pseudonym> (its ID patient/<pseudonym> with \"/\" as \".\"), not %q", name)
		}
		return id, nil
	case "org":
		if err := carechain.ValidateOrgID(name); err != nil {
			return "", fmt.Errorf("an organization's key is named after the organization: %w", err)
		}
		return name, nil
	}
	return "", fmt.Errorf("--kind %q: want staff, patient or org", kind)
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
	var encryption bool
	cmd := &cobra.Command{
		Use:   "export-public NAME",
		Short: "Print only the public key (hex or base64), e.g. to give to a registration desk",
		Long: `export-public prints NAME's public signing key. With --encryption it prints
the public encryption key of NAME's party instead (NAME.enc: a patient's or
an organization's), which unlocks it: the passphrase is needed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ks, err := kf.open()
			if err != nil {
				return err
			}
			var pub []byte
			if encryption {
				pub, err = c.encryptionPublicKey(ks, args[0])
			} else {
				pub, err = ks.Public(args[0])
			}
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
	cmd.Flags().BoolVar(&encryption, "encryption", false, "the public encryption key (NAME.enc) instead of the signing key")
	return cmd
}

// encryptionPublicKey unlocks the encryption key of the party whose keys are
// named name (a patient.<pseudonym> or an organization) and returns its
// public key.
func (c *cli) encryptionPublicKey(ks *keystore.Store, name string) ([]byte, error) {
	reader := name
	if pseudonym, ok := strings.CutPrefix(name, "patient."); ok {
		reader = carechain.PatientPrefix + pseudonym
	}
	pass, err := c.passphrase("Passphrase for "+records.EncryptionKeyName(reader), false)
	if err != nil {
		return nil, err
	}
	k, err := records.LoadEncryptionKey(ks, reader, pass)
	if err != nil {
		return nil, fmt.Errorf("encryption key %s: %w", records.EncryptionKeyName(reader), err)
	}
	return k.Public().Bytes(), nil
}
