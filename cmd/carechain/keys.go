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
	"github.com/carechain/carechain/tx"
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
		Short: "Manage signing and encryption keys (encrypted at rest)",
		Long: `keys manages a keystore: one file per key (Ed25519 signing keys, and HPKE
encryption keys named NAME.enc), the private key encrypted with
scrypt + XChaCha20-Poly1305 under a passphrase, file mode 0600. The passphrase
comes from $` + PassphraseEnv + ` if set, otherwise from a prompt.

Encryption keys are named <party>.enc (an organization's: st-mary.enc; a
patient's: patient.<pseudonym>.enc). rotate-encryption replaces one and keeps
the one it replaces as <party>.enc.<n>: what was sealed to it stays sealed to
it. A running node finds keys added to its keystore when it first needs them;
it unlocks them with its own passphrase, except patients' keys, which open
only with the patient's passphrase when the patient signs in.`,
	}
	cmd.AddCommand(c.keysNewCmd(), c.keysListCmd(), c.keysShowCmd(), c.keysExportCmd(), c.keysRotateEncryptionCmd())
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
                  and --encryption-key from export-public --encryption).
                  The patient chooses the passphrase: the node never opens
                  patients' keys with its own, only with the patient's when
                  the patient signs in (POST /auth/login)
  --kind org      an encryption key NAME.enc for organization NAME (init
                  makes the founding organizations')

A running node uses staff and organization keys made here (under the node's
passphrase) when it first needs them: no restart.`,
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

func (c *cli) keysRotateEncryptionCmd() *cobra.Command {
	var s signerFlags
	cmd := &cobra.Command{
		Use:   "rotate-encryption NAME",
		Short: "Replace the encryption key of an organization or a patient, on the ledger and in the keystore",
		Long: `rotate-encryption replaces the encryption key of party NAME (an organization,
or patient.<pseudonym>) with a new one: it keeps the current NAME.enc as
NAME.enc.<n>, stores the new key as NAME.enc (same passphrase) and submits
identity.rotate-encryption to the node, signed by --as: an admin of the
organization (default <org>/admin), or the patient (default
patient/<pseudonym>).

From then on the ledger refuses records written into an epoch wrapped to the
old key: writers start new epochs, wrapped to the new key. Versions written
before stay readable with the kept key. If the ledger refuses the
transaction, the keystore has the new key already and the ledger the old
one, which is kept: run the command again.`,
		Example: `  carechain keys rotate-encryption st-mary --home ./h1
  carechain keys rotate-encryption patient.k7q2m9 --home ./h1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reader, org, err := rotationOf(args[0])
			if err != nil {
				return err
			}
			if s.as == "" {
				s.as = org + "/admin"
				if org == "" {
					s.as = reader
				}
			}
			ks, err := s.open()
			if err != nil {
				return err
			}
			pass, err := c.passphrase("Passphrase for "+records.EncryptionKeyName(reader), false)
			if err != nil {
				return err
			}
			// The keystore changes only once the signer's key opened and the
			// node answered, right before the transaction goes out.
			return c.submit(cmd.Context(), &s, tx.TypeRotateEncryption, func(string, uint64) (any, error) {
				k, kept, err := records.RotateEncryptionKey(ks, reader, pass)
				if err != nil {
					return nil, err
				}
				fmt.Fprintf(c.out, "new key %s; the replaced key is kept as %s\n", records.EncryptionKeyName(reader), kept)
				return &tx.RotateEncryption{Org: org, NewEncryptionKey: k.Public().Bytes()}, nil
			})
		},
	}
	s.keyFlags.register(cmd)
	cmd.Flags().StringVar(&s.as, "as", "", "principal that signs (default: <org>/admin, or the patient)")
	cmd.Flags().StringVar(&s.key, "key", "", `keystore name of the signing key (default: the --as ID with "/" as ".")`)
	cmd.Flags().StringVar(&s.nodeAddr, "node", "", nodeUsage)
	return cmd
}

// rotationOf parses the party whose encryption key rotate-encryption
// replaces: an organization ID (its org) or patient.<pseudonym> (no org).
func rotationOf(name string) (reader, org string, err error) {
	if pseudonym, ok := strings.CutPrefix(name, "patient."); ok {
		reader = carechain.PatientPrefix + pseudonym
		if err := carechain.ValidatePrincipalID(reader); err != nil {
			return "", "", err
		}
		return reader, "", nil
	}
	if err := carechain.ValidateOrgID(name); err != nil {
		return "", "", fmt.Errorf("NAME is an organization or patient.<pseudonym>: %w", err)
	}
	return name, name, nil
}
