package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/store"
)

func (c *cli) initCmd() *cobra.Command {
	var (
		home, chainID, moniker, genesisFile, p2pAddr, httpAddr string
		orgs, peers                                            []string
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node home: keys, configuration and genesis",
		Long: `init creates a new node home.

To found a new consortium, name its organizations with --org; init writes a
genesis with this node as the only validator and creates each organization's
admin key ("<org>.admin") in the home's keystore (encrypted with the
passphrase from $` + PassphraseEnv + ` or a prompt). Admin IDs are <org>/admin.

To join an existing consortium, pass its genesis with --genesis and its nodes
with --peers (id@host:port).`,
		Example: `  carechain init --home ./h1 --chain-id acme-health --org st-mary:hospital:"St Mary's Hospital" --org northlab:lab:"North Lab"
  carechain init --home ./h2 --genesis ./h1/config/genesis.json --peers <node-id>@127.0.0.1:26656 --p2p-addr 127.0.0.1:26666 --http-addr 127.0.0.1:8081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h := node.Home(home)
			if h.Exists() {
				return fmt.Errorf("%s is already initialized", home)
			}
			cfg := node.DefaultConfig(chainID, moniker)
			cfg.Peers = peers
			if p2pAddr != "" {
				cfg.P2PAddr = p2pAddr
			}
			if httpAddr != "" {
				cfg.HTTPAddr = httpAddr
			}
			opts := node.InitOptions{Config: cfg, GenesisFile: genesisFile}
			if genesisFile == "" {
				if len(orgs) == 0 {
					return errors.New("give --org (to found a consortium) or --genesis (to join one)")
				}
				parsed, err := parseOrgs(orgs)
				if err != nil {
					return err
				}
				pass, err := c.passphrase("Passphrase for the admin keys", true)
				if err != nil {
					return err
				}
				ks, err := keystore.Open(h.KeysDir(), keystore.DefaultKDF)
				if err != nil {
					return err
				}
				g := &ledger.Genesis{}
				for _, o := range parsed {
					id := o.ID + "/admin"
					pub, err := ks.Create(o.ID+".admin", pass)
					if err != nil {
						return fmt.Errorf("admin key of %s: %w", o.ID, err)
					}
					g.Organizations = append(g.Organizations, ledger.GenesisOrg{Organization: o, Admins: []ledger.GenesisAdmin{{ID: id, PublicKey: pub}}})
				}
				opts.Genesis = g
			}
			if err := node.Init(h, opts); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "Initialized %s (chain %s). Start it with:\n  carechain start --home %s\n", home, chainIDOf(h), home)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&home, "home", defaultHome("node"), "node home directory")
	f.StringVar(&chainID, "chain-id", "carechain", "chain ID of a new consortium")
	f.StringVar(&moniker, "moniker", "node0", "this node's name among the validators")
	f.StringArrayVar(&orgs, "org", nil, `founding organization "id:type:Display Name" (types: hospital, lab, pharmacy, insurer, research); repeat`)
	f.StringVar(&genesisFile, "genesis", "", "genesis.json of the consortium to join")
	f.StringSliceVar(&peers, "peers", nil, "persistent peers, id@host:port, comma separated")
	f.StringVar(&p2pAddr, "p2p-addr", "", "p2p listen address host:port (default 127.0.0.1:26656)")
	f.StringVar(&httpAddr, "http-addr", "", "HTTP API address host:port (default 127.0.0.1:8080)")
	return cmd
}

func chainIDOf(h node.Home) string {
	cfg, err := h.LoadConfig()
	if err != nil {
		return "?"
	}
	return cfg.ChainID
}

func parseOrgs(specs []string) ([]carechain.Organization, error) {
	var out []carechain.Organization
	for _, s := range specs {
		parts := strings.SplitN(s, ":", 3)
		if len(parts) < 2 {
			return nil, fmt.Errorf("--org %q: want id:type[:Display Name]", s)
		}
		o := carechain.Organization{ID: parts[0], Type: carechain.OrgType(parts[1]), Name: parts[0]}
		if len(parts) == 3 && parts[2] != "" {
			o.Name = parts[2]
		}
		if err := carechain.ValidateOrgID(o.ID); err != nil {
			return nil, fmt.Errorf("--org %q: %w", s, err)
		}
		if !o.Type.Valid() {
			return nil, fmt.Errorf("--org %q: unknown type %q (want one of %v)", s, o.Type, carechain.OrgTypes())
		}
		out = append(out, o)
	}
	return out, nil
}

func (c *cli) startCmd() *cobra.Command {
	var home, httpAddr, anchorAs string
	var maxLag time.Duration
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a node until interrupted (Ctrl-C)",
		Long: `start runs the node of --home: CometBFT consensus and p2p, the ledger, and one
HTTP listener (--http-addr) with the JSON API (/v1/...), /healthz and /metrics.
A node that was stopped or crashed resumes its chain where it left off.

With $` + PassphraseEnv + ` set, the node unlocks its keystore (HOME/keys): its
organizations' encryption keys, custodial patients' keys, and the identity that
anchors access events on the ledger every 2 s. Then it serves encrypted records
(/v1/records, /v1/audit) to signed requests. Without it, records stay off.

Every access event is synced to the node's journal (HOME/audit-journal)
before the read it describes is answered, and stays there until it is
anchored; a restarted node anchors what it holds. When the oldest
unanchored event is older than --audit-max-lag, reads of health data answer
503 until anchoring catches up; break-glass reads go on, logged and flagged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := c.logger()
			if err != nil {
				return err
			}
			opts := runOptions{httpAddr: httpAddr, anchorAs: anchorAs, maxLag: maxLag}
			if v, ok := os.LookupEnv(PassphraseEnv); ok && v != "" {
				opts.passphrase = []byte(v)
			}
			return runNode(cmd.Context(), node.Home(home), opts, logger, func(n *node.Node, _ *nodeKeys, addr string) error {
				fmt.Fprintf(c.out, "carechain node %s serving http://%s (Ctrl-C to stop)\n", n.Config().Moniker, addr)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&home, "home", defaultHome("node"), "node home directory")
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", "HTTP address host:port (default: from the home's config, 127.0.0.1:8080)")
	cmd.Flags().DurationVar(&maxLag, "audit-max-lag", records.DefaultMaxLag, "how long access events may wait to be anchored before reads of health data stop (503)")
	cmd.Flags().StringVar(&anchorAs, "anchor-as", "", "staff identity whose key (in HOME/keys) anchors access events (default: the first <org>.admin key)")
	return cmd
}

// runOptions configure runNode.
type runOptions struct {
	httpAddr string
	// passphrase unlocks the node's keystore (encryption keys and the
	// anchoring identity); nil leaves the records API off.
	passphrase []byte
	// anchorAs is the staff identity that anchors access events; empty picks
	// the first organization admin key in the keystore.
	anchorAs string
	// anchorEvery is how often access events are anchored.
	anchorEvery time.Duration
	// maxLag is records.Options.MaxLag (0: the default).
	maxLag time.Duration
}

// runNode starts the node of h, its records service (when keys are
// available) and its HTTP server, calls ready, and runs until ctx is
// cancelled; then it shuts everything down cleanly, anchoring the last
// access events first.
func runNode(ctx context.Context, h node.Home, opts runOptions, logger *slog.Logger, ready func(*node.Node, *nodeKeys, string) error) error {
	n, err := node.Start(ctx, h, node.StartOptions{Logger: logger, HTTPAddr: opts.httpAddr})
	if err != nil {
		return err
	}
	defer func() {
		if err := n.Stop(); err != nil {
			logger.Error("stop node", "err", err)
		}
	}()
	var svc *records.Service
	var keys *nodeKeys
	anchorsDone := make(chan struct{})
	anchorCtx, stopAnchors := context.WithCancel(context.Background())
	defer func() {
		stopAnchors()
		<-anchorsDone // the last flush, then the journal can close
		if keys != nil {
			keys.journal.Close()
		}
	}()
	if opts.passphrase == nil {
		close(anchorsDone)
		logger.Info("records API off: set " + PassphraseEnv + " to unlock this node's keys")
	} else {
		keys, err = startRecords(n, h, opts, logger)
		if err != nil {
			close(anchorsDone)
			return err
		}
		svc = keys.svc
		every := opts.anchorEvery
		if every == 0 {
			every = 2 * time.Second
		}
		go func() {
			defer close(anchorsDone)
			svc.RunAnchors(anchorCtx, keys.anchorer, every)
		}()
	}
	l, err := net.Listen("tcp", n.Config().HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", nodeapi.NewHandler(n, nodeapi.Options{Logger: logger, Metrics: n.Metrics(), Records: svc, Proofs: n}))
	if keys != nil {
		fhirrest.Register(mux, fhirrest.Options{App: n.App(), Records: svc, Custodian: keys.custodian, Keystore: keys.ks,
			BaseURL: "http://" + l.Addr().String(), Logger: logger})
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := ready(n, keys, l.Addr().String()); err != nil {
		if ctx.Err() != nil {
			logger.Info("interrupted while starting; shutting down")
			return nil
		}
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
		return nil
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	}
}

// nodeKeys is what a node unlocks from its keystore.
type nodeKeys struct {
	ks        *keystore.Store
	svc       *records.Service
	custodian *records.Custodian
	anchorer  records.Signer
	journal   *store.Queue
}

// startRecords unlocks the node's encryption keys, the signing keys it keeps
// for its users, and its anchoring identity.
func startRecords(n *node.Node, h node.Home, opts runOptions, logger *slog.Logger) (*nodeKeys, error) {
	ks, err := keystore.Open(h.KeysDir(), keystore.DefaultKDF)
	if err != nil {
		return nil, err
	}
	kr, err := records.LoadKeyring(ks, opts.passphrase)
	if err != nil {
		return nil, err
	}
	cust, err := records.LoadCustodian(ks, opts.passphrase)
	if err != nil {
		return nil, err
	}
	anchorAs := opts.anchorAs
	if anchorAs == "" {
		entries, err := ks.List()
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if org, ok := strings.CutSuffix(e.Name, ".admin"); ok {
				anchorAs = org + "/admin"
				break
			}
		}
	}
	if anchorAs == "" {
		return nil, errors.New("no identity to anchor access events with: give --anchor-as or put an <org>.admin key in the keystore")
	}
	anchorer, ok := cust.Signer(anchorAs)
	if !ok {
		return nil, fmt.Errorf("anchoring identity %s: no key %s in %s", anchorAs, strings.ReplaceAll(anchorAs, "/", "."), h.KeysDir())
	}
	journal, err := store.OpenQueue(filepath.Join(string(h), "audit-journal"))
	if err != nil {
		return nil, fmt.Errorf("access-event journal: %w", err)
	}
	svc, err := records.New(n, kr, records.Options{Node: n.Config().Moniker, Logger: logger, Journal: journal, MaxLag: opts.maxLag})
	if err != nil {
		journal.Close()
		return nil, err
	}
	return &nodeKeys{ks: ks, svc: svc, custodian: cust, anchorer: anchorer, journal: journal}, nil
}

func (c *cli) testnetCmd() *cobra.Command {
	var (
		dir, chainID string
		validators   int
		basePort     int
	)
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Create homes for a local N-validator consortium on 127.0.0.1",
		Long: `testnet writes homes DIR/node0 … DIR/node{N-1} for a consortium of N validators
on 127.0.0.1 with distinct ports: node i uses p2p port BASE+2i and HTTP port
BASE+2i+1. Each node's organization ("org<i>", a hospital) has its admin key
("org<i>.admin", ID org<i>/admin) in that node's keystore, encrypted with the
passphrase from $` + PassphraseEnv + ` or a prompt.

Start each node in its own terminal:  carechain start --home DIR/nodeI`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if validators < 1 || validators > 64 {
				return fmt.Errorf("--validators must be between 1 and 64")
			}
			pass, err := c.passphrase("Passphrase for the admin keys", true)
			if err != nil {
				return err
			}
			g := ledger.Genesis{}
			keys := make([]*keystore.Store, validators)
			for i := range validators {
				id := fmt.Sprintf("org%d", i)
				ks, err := keystore.Open(node.Home(filepath.Join(dir, fmt.Sprintf("node%d", i))).KeysDir(), keystore.DefaultKDF)
				if err != nil {
					return err
				}
				keys[i] = ks
				pub, err := ks.Create(id+".admin", pass)
				if err != nil {
					return err
				}
				g.Organizations = append(g.Organizations, ledger.GenesisOrg{
					Organization: carechain.Organization{ID: id, Name: fmt.Sprintf("Hospital %d", i), Type: carechain.OrgHospital},
					Admins:       []ledger.GenesisAdmin{{ID: id + "/admin", PublicKey: pub}},
				})
			}
			homes, err := node.Testnet(dir, node.TestnetOptions{Validators: validators, ChainID: chainID, Genesis: g, BasePort: basePort})
			if err != nil {
				return err
			}
			for i, h := range homes {
				cfg, _ := h.LoadConfig()
				fmt.Fprintf(c.out, "node%d: home %s  p2p %s  http %s\n", i, h, cfg.P2PAddr, cfg.HTTPAddr)
			}
			fmt.Fprintf(c.out, "Start each with: carechain start --home %s/nodeI\n", dir)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&validators, "validators", 4, "number of validators")
	f.StringVar(&dir, "dir", "./testnet", "directory for the node homes")
	f.StringVar(&chainID, "chain-id", "carechain-testnet", "chain ID")
	f.IntVar(&basePort, "base-port", 26656, "first port; 0 lets the OS choose free ports")
	return cmd
}
