// Command carechain runs and administers a carechain node: a consortium ledger
// for patient-controlled health records. Run `carechain --help` for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/carechain/carechain/node"
)

// PassphraseEnv names the environment variable read for keystore passphrases
// when set; otherwise the passphrase is prompted for on the terminal.
const PassphraseEnv = "CARECHAIN_PASSPHRASE"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "carechain:", err)
		if h := hint(err); h != "" {
			fmt.Fprintln(os.Stderr, "hint:", h)
		}
		os.Exit(1)
	}
}

// cli carries what every command shares.
type cli struct {
	in       io.Reader
	out, err io.Writer
	logLevel string
	// caFile (--ca) holds the CAs the CLI trusts for https to a node;
	// clientCert and clientKey (--client-cert, --client-key) are presented
	// to a node that requires client certificates.
	caFile, clientCert, clientKey string
}

func newRoot(in io.Reader, out, errOut io.Writer) *cobra.Command {
	c := &cli{in: in, out: out, err: errOut}
	root := &cobra.Command{
		Use:   "carechain",
		Short: "A consortium ledger for patient-controlled health records",
		Long: `carechain runs a node of a health-records consortium: hospitals, labs,
pharmacies, insurers and researchers keep one ledger, agreed by Byzantine fault
tolerant consensus (CometBFT), of signed identities, encrypted records, the
patients' consents and their access logs.

Start with "carechain demo" for a one-node consortium with demo data; found a
real one with "carechain init". Patients' commands (consent, emergency,
delegate, record put, audit list) run on the patient's own machine with
their own keys (--keys-dir).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(in)
	root.SetOut(out)
	root.SetErr(errOut)
	root.PersistentFlags().StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error (CometBFT's own messages appear at debug)")
	pathVar(root.PersistentFlags(), &c.caFile, "ca", "", "trust the CA certificates of this PEM file for https to the node, and talk https (default: --home's tls/ca.pem if its config turns TLS on)")
	pathVar(root.PersistentFlags(), &c.clientCert, "client-cert", "", "client certificate (PEM) for a node that requires one (start --tls-client-ca)")
	pathVar(root.PersistentFlags(), &c.clientKey, "client-key", "", "key (PEM) of --client-cert")
	root.AddCommand(
		c.tlsCmd(), c.versionCmd(), c.initCmd(), c.startCmd(), c.testnetCmd(), c.demoCmd(),
		c.keysCmd(), c.identityCmd(), c.txCmd(), c.clientCmd(), c.recordCmd(), c.auditCmd(), c.amendCmd(), c.consentCmd(), c.emergencyCmd(), c.delegateCmd(), c.patientCmd(), c.rolePolicyCmd(), c.supplyCmd(), c.studyCmd(), c.govCmd(), c.tokenCmd(), c.proofCmd(), c.validatorsCmd(), c.verifyProofCmd(), c.verifyCmd(), c.benchCmd(), c.manCmd(), c.statusCmd(),
		c.backupCmd(), c.restoreCmd(), c.planCmd(), c.claimCmd(), c.credentialCmd(),
	)
	return root
}

func (c *cli) logger() (*slog.Logger, error) {
	var level slog.Level
	switch strings.ToLower(c.logLevel) {
	case "trace":
		level = node.LevelTrace
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("unknown --log-level %q: want debug, info, warn or error", c.logLevel)
	}
	return slog.New(slog.NewTextHandler(c.err, &slog.HandlerOptions{Level: level})), nil
}

// passphrase returns the keystore passphrase from PassphraseEnv or a prompt.
func (c *cli) passphrase(prompt string, confirm bool) ([]byte, error) {
	return c.passphraseFrom(PassphraseEnv, prompt, confirm)
}

// passphraseFrom returns a passphrase from the environment variable env
// or a prompt.
func (c *cli) passphraseFrom(env, prompt string, confirm bool) ([]byte, error) {
	if v, ok := os.LookupEnv(env); ok {
		if v == "" {
			return nil, fmt.Errorf("%s is set but empty", env)
		}
		return []byte(v), nil
	}
	f, ok := c.in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, fmt.Errorf("no terminal to ask for the passphrase: set %s", env)
	}
	fmt.Fprint(c.err, prompt+": ")
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(c.err)
	if err != nil {
		return nil, fmt.Errorf("read passphrase: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	if confirm {
		fmt.Fprint(c.err, "Repeat passphrase: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.err)
		if err != nil {
			return nil, fmt.Errorf("read passphrase: %w", err)
		}
		if string(again) != string(p) {
			return nil, errors.New("passphrases do not match")
		}
	}
	return p, nil
}

// pathVar defines a flag naming a file or directory that is made absolute
// when parsed (and its default at once), so that every later use sees the
// same place: CometBFT joins relative paths in its configuration to the
// home again ("h1/h1/config/genesis.json"), and a command may hand the path
// to code that runs elsewhere.
func pathVar(f *pflag.FlagSet, p *string, name, value, usage string) {
	v := &absPath{p: p}
	if value != "" {
		if err := v.Set(value); err != nil {
			*p = value // Abs fails only without a working directory; Set reports it again if the flag is given
		}
	}
	f.Var(v, name, usage)
	f.Lookup(name).DefValue = value // help shows the default as written
}

// absPath is the pflag.Value of pathVar.
type absPath struct{ p *string }

func (a *absPath) Set(s string) error {
	if s == "" {
		*a.p = ""
		return nil
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return fmt.Errorf("resolve %q: %w", s, err)
	}
	*a.p = abs
	return nil
}

func (a *absPath) String() string { return *a.p }

// Type is "string" so that cmd.Flags().GetString reads the flag too.
func (a *absPath) Type() string { return "string" }

// defaultHome is ~/.carechain/<name>.
func defaultHome(name string) string {
	dir, err := os.UserHomeDir()
	if err != nil {
		dir = "."
	}
	return filepath.Join(dir, ".carechain", name)
}

func (c *cli) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and commit of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			version, commit := "devel", "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
					version = bi.Main.Version
				}
				var rev, modified string
				for _, s := range bi.Settings {
					switch {
					case s.Key == "vcs.revision":
						rev = s.Value
					case s.Key == "vcs.modified" && s.Value == "true":
						modified = "+modified" // built from a work tree with uncommitted changes
					}
				}
				if rev != "" {
					commit = rev + modified
				}
			}
			fmt.Fprintf(c.out, "carechain %s (commit %s)\n", version, commit)
			return nil
		},
	}
}
