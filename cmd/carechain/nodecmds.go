package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

func (c *cli) initCmd() *cobra.Command {
	var (
		home, chainID, moniker, genesisFile, p2pAddr, httpAddr, nodePrincipal, join, tlsCAFrom string
		orgs, peers, tlsHosts                                                                  []string
		power                                                                                  int64
		withTLS                                                                                bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node home: keys, configuration and genesis",
		Long: `init creates a new node home.

To found a new consortium, name its organizations with --org; init writes a
genesis with this node as the only validator and creates each organization's
admin key ("<org>.admin") and encryption key ("<org>.enc", whose public key
goes into the genesis: records are sealed to it, and the node holds it for
the organization's staff) in the home's keystore (encrypted with the
passphrase from $` + PassphraseEnv + ` or a prompt). Admin IDs are <org>/admin.
The genesis registers this node as a node principal (--node-principal,
default <first org>/<moniker>) with its CometBFT node ID; its key
("<org>.<name>") anchors the node's access events.

A new organization joins a running consortium with --join (a member's node,
id@host:port), --genesis (the consortium's genesis.json) and --org (the
joining organization, once): init makes its admin, encryption and node keys
and writes HOME/application.json, the organization's application signed with
the keys it names (and, with --validator-power, the node's validator key).
An admin of a member organization proposes it ("carechain gov propose
--join"), the members approve by vote, and the approval that carries it
registers the organization, its admin and its node (as a validator if it
asked). Start the node at any time: it syncs the chain with blocksync once
the members have admitted it, and then serves.

Another node of a member organization joins with --genesis and --peers
(id@host:port). Only registered nodes peer: with --node-principal, init
creates the node's key and prints the command an admin of its organization
runs to register it.

With --tls, the node serves its HTTP listener over TLS only: init makes a
self-signed CA (HOME/tls/ca.pem, its key ca-key.pem) and a server
certificate signed by it (HOME/tls/node.pem, node-key.pem) for localhost,
127.0.0.1, ::1, the --http-addr host and each --tls-host, and names them in
the config. The other nodes of a test consortium reuse that CA with
--tls-ca-from (the first node's home), so clients trust one file (--ca). A
production consortium names certificates from its own CA instead (start
--tls-cert, --tls-key).`,
		Example: `  carechain init --home ./h1 --chain-id acme-health --org st-mary:hospital:"St Mary's Hospital" --org northlab:lab:"North Lab"
  carechain init --home ./h3 --join <node-id>@127.0.0.1:26656 --genesis ./h1/config/genesis.json --org eastpharm:pharmacy:"East Pharmacy" --p2p-addr 127.0.0.1:26676 --http-addr 127.0.0.1:8082
  carechain init --home ./h2 --genesis ./h1/config/genesis.json --peers <node-id>@127.0.0.1:26656 --p2p-addr 127.0.0.1:26666 --http-addr 127.0.0.1:8081 --node-principal northlab/node1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h := node.Home(home)
			if h.Exists() {
				return fmt.Errorf("%s is already initialized", home)
			}
			if genesisFile != "" && !cmd.Flags().Changed("chain-id") {
				chainID = "" // the genesis names it
			}
			if join != "" {
				if genesisFile == "" || len(orgs) != 1 {
					return errors.New("--join needs the consortium's --genesis and the joining organization as one --org")
				}
				peers = append(peers, join)
			}
			cfg := node.DefaultConfig(chainID, moniker)
			cfg.Peers = peers
			if p2pAddr != "" {
				cfg.P2PAddr = p2pAddr
			}
			if httpAddr != "" {
				cfg.HTTPAddr = httpAddr
			}
			if withTLS || tlsCAFrom != "" {
				if err := node.InitTLS(h, &cfg, node.Home(tlsCAFrom), tlsHosts); err != nil {
					return fmt.Errorf("TLS certificates: %w", err)
				}
				fmt.Fprintf(c.out, "The node serves https only; clients trust %s (carechain --ca).\n", filepath.Join(h.TLSDir(), node.CAFile))
			}
			opts := node.InitOptions{Config: cfg, GenesisFile: genesisFile}
			var principal *ledger.GenesisNode // this node's, if init made its key
			switch {
			case join != "":
				return c.initJoining(h, opts, orgs[0], nodePrincipal, power)
			case genesisFile == "":
				if len(orgs) == 0 {
					return errors.New("give --org (to found a consortium) or --genesis (to join one)")
				}
				parsed, err := parseOrgs(orgs)
				if err != nil {
					return err
				}
				if nodePrincipal == "" {
					nodePrincipal = parsed[0].ID + "/" + moniker
				}
				if opts.Genesis, principal, err = c.foundingGenesis(h, parsed, nodePrincipal); err != nil {
					return err
				}
			case nodePrincipal != "":
				ks, pass, err := c.openKeys(h, "Passphrase for the node key")
				if err != nil {
					return err
				}
				gn, err := node.NewNodePrincipal(h, ks, nodePrincipal, pass)
				if err != nil {
					return err
				}
				principal = &gn
			}
			if err := node.Init(h, opts); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "Initialized %s (chain %s). Start it with:\n  carechain start --home %s\n", home, chainIDOf(h), home)
			return c.printNodeRegistration(h, principal, genesisFile != "")
		},
	}
	f := cmd.Flags()
	pathVar(f, &home, "home", defaultHome("node"), "node home directory")
	f.StringVar(&chainID, "chain-id", "carechain", "chain ID of a new consortium")
	f.StringVar(&moniker, "moniker", "node0", "this node's name among the validators")
	f.StringArrayVar(&orgs, "org", nil, `founding organization "id:type:Display Name" (types: hospital, lab, pharmacy, insurer, research, manufacturer, wholesaler, licensing); repeat`)
	pathVar(f, &genesisFile, "genesis", "", "genesis.json of the consortium to join")
	f.StringSliceVar(&peers, "peers", nil, "persistent peers, id@host:port, comma separated")
	f.StringVar(&p2pAddr, "p2p-addr", "", "p2p listen address host:port (default 127.0.0.1:26656)")
	f.StringVar(&httpAddr, "http-addr", "", "HTTP API address host:port (default 127.0.0.1:8080)")
	f.StringVar(&nodePrincipal, "node-principal", "", "this node's principal ID, <org>/<name> (founding and --join: default <first org>/<moniker>; another member node: creates its key)")
	f.StringVar(&join, "join", "", "join a running consortium as a new organization: a member's node, id@host:port (with --genesis and one --org)")
	f.BoolVar(&withTLS, "tls", false, "serve the HTTP listener over TLS with a certificate from a new self-signed CA (HOME/tls)")
	pathVar(f, &tlsCAFrom, "tls-ca-from", "", "with TLS: sign this node's certificate with the CA of this other home (made with --tls), not a new one")
	f.StringSliceVar(&tlsHosts, "tls-host", nil, tlsHostUsage)
	f.Int64Var(&power, "validator-power", 0, "with --join: the node asks to validate with this voting power (0: it does not validate; founders have 10)")
	return cmd
}

// initJoining makes the home of a node whose organization, spec, applies
// to join the consortium of opts.GenesisFile, and its application.
func (c *cli) initJoining(h node.Home, opts node.InitOptions, spec, nodePrincipal string, power int64) error {
	parsed, err := parseOrgs([]string{spec})
	if err != nil {
		return err
	}
	if power < 0 || power > tx.MaxValidatorPower {
		return fmt.Errorf("--validator-power must be 0 to %d", int64(tx.MaxValidatorPower))
	}
	if nodePrincipal == "" {
		nodePrincipal = parsed[0].ID + "/" + opts.Config.Moniker
	}
	if err := node.Init(h, opts); err != nil {
		return err
	}
	path, err := c.joinApplication(h, parsed[0], nodePrincipal, power)
	if err != nil {
		return fmt.Errorf("%w (%s is made; remove it to start again)", err, h)
	}
	nodeID, err := h.NodeID()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, `Initialized %s (chain %s), node ID %s.
%s applies to join with %s. An admin of a member organization proposes it:
  carechain gov propose --as <member>/admin --join %s --node <a member node's HTTP address>
and the members approve it (carechain gov approve). Start this node at any time:
  carechain start --home %s
it syncs once the members have admitted it.
`, h, chainIDOf(h), nodeID, parsed[0].ID, path, path, h)
	return nil
}

// openKeys opens h's keystore and asks for the passphrase of the keys init creates.
func (c *cli) openKeys(h node.Home, prompt string) (*keystore.Store, []byte, error) {
	pass, err := c.passphrase(prompt, true)
	if err != nil {
		return nil, nil, err
	}
	ks, err := keystore.Open(h.KeysDir(), keystore.DefaultKDF)
	return ks, pass, err
}

// foundingGenesis makes a new consortium's genesis: an admin per
// organization and this node as node principal nodePrincipal, their keys
// created in h's keystore.
func (c *cli) foundingGenesis(h node.Home, orgs []carechain.Organization, nodePrincipal string) (*ledger.Genesis, *ledger.GenesisNode, error) {
	ks, pass, err := c.openKeys(h, "Passphrase for the admin and node keys")
	if err != nil {
		return nil, nil, err
	}
	// The node first: its ID is checked before any key is made.
	gn, err := node.NewNodePrincipal(h, ks, nodePrincipal, pass)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (choose one with --node-principal)", err)
	}
	g := &ledger.Genesis{Nodes: []ledger.GenesisNode{gn}}
	for _, o := range orgs {
		pub, err := ks.Create(o.ID+".admin", pass)
		if err != nil {
			return nil, nil, fmt.Errorf("admin key of %s: %w", o.ID, err)
		}
		// The organization is a reader: records of its patients and of its
		// grants are sealed to this key, which its node holds for its staff.
		ek, err := records.CreateEncryptionKey(ks, o.ID, pass)
		if err != nil {
			return nil, nil, fmt.Errorf("encryption key of %s: %w", o.ID, err)
		}
		o.EncryptionKey = ek.Public().Bytes()
		g.Organizations = append(g.Organizations, ledger.FoundingOrg(o, ledger.GenesisAdmin{ID: o.ID + "/admin", PublicKey: pub}))
	}
	return g, &gn, nil
}

// printNodeRegistration tells how h's node is known to the consortium: its
// node ID, its node principal if init made its key, and for a joining node
// how an admin registers it.
func (c *cli) printNodeRegistration(h node.Home, principal *ledger.GenesisNode, joining bool) error {
	nodeID, err := h.NodeID()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "Node ID %s (peers reach it as %s@<host:port>).\n", nodeID, nodeID)
	switch {
	case principal == nil:
		fmt.Fprintf(c.out, "Only registered nodes peer: an admin of its organization registers this node as a node principal (carechain tx register --kind node --node-id %s).\n", nodeID)
	case !joining:
		fmt.Fprintf(c.out, "The genesis registers it as node principal %s (key %s in %s).\n", principal.ID, strings.ReplaceAll(principal.ID, "/", "."), h.KeysDir())
	default:
		org := carechain.OrgOf(principal.ID)
		fmt.Fprintf(c.out, `Only registered nodes peer. Before this node can sync, an admin of %s registers it:
  carechain tx register --as %s/admin --kind node --id %s --node-id %s --pubkey %s --node <a running node's HTTP address>
`, org, org, principal.ID, principal.NodeID, hex.EncodeToString(principal.PublicKey))
	}
	return nil
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
	var corsOrigins, blobPeerURLs []string
	var maxLag, anchorEvery, stallTimeout, submitTimeout time.Duration
	var maxConns int
	var tf tlsFlags
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a node until interrupted (Ctrl-C)",
		Long: `start runs the node of --home: CometBFT consensus and p2p, the ledger, and one
HTTP listener (--http-addr) with the JSON API (/v1/...), /healthz, /readyz and
/metrics. /healthz (liveness) answers 503 when transactions have waited in
its mempool longer than --stall-timeout without a new block; /readyz
(readiness) answers 200 only once the node has caught up and serves.
POST /v1/txs answers 504 when its transaction has not committed within
--submit-timeout.
A node that was stopped or crashed resumes its chain where it left off.

With $` + PassphraseEnv + ` set, the node unlocks its keystore (HOME/keys): its
organizations' encryption keys, custodial patients' keys, and the key of its
node principal (registered with this node's CometBFT node ID), which anchors
access events on the ledger every --anchor-every (2 s). Then it serves
encrypted records (/v1/records, /v1/audit) to signed requests. Without the
passphrase, or while no node principal is registered for this node, records
stay off.

Only registered nodes peer: the node admits a peer only if an active node
principal is registered with its node ID, or, while this node is still
catching up, if its configuration names it (--peers at init).

Every access event is synced to the node's journal (HOME/audit-journal)
before the read it describes is answered, and stays there until it is
anchored; a restarted node anchors what it holds. When the oldest
unanchored event is older than --audit-max-lag, reads of health data answer
503 until anchoring catches up; break-glass reads go on, logged and flagged.

Its organizations' blind search index (HOME/search-index: keyed hashes of
patients' identifiers, names and birthdates, Observation codes and dates and
more, never the values) lets practitioners search without patient=; it is
node-local and in no backup. It follows every committed block; when it is
empty (a new node, a restore, or its directory deleted while the node was
stopped) or of an older format, the node rebuilds it in the background, and
after a stop it catches up from the height it reached (see the README's
security model).

With a certificate (--tls-cert and --tls-key, or tls_cert and tls_key in the
home's config, which init --tls writes) the listener serves https only: TLS
1.2 or later, HSTS on every response, plain HTTP answered 400. On SIGHUP the
node reads the certificate and key again (carechain tls renew makes new
ones): new connections get the new certificate, open ones go on, and a pair
that does not load is logged while the old one stays. --tls-client-ca
requires client certificates from a CA of that file (carechain tls
client-cert issues them from the home's CA).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := c.logger()
			if err != nil {
				return err
			}
			opts := runOptions{httpAddr: httpAddr, anchorAs: anchorAs, anchorEvery: anchorEvery, maxLag: maxLag, maxConnections: maxConns,
				stallTimeout: stallTimeout, submitTimeout: submitTimeout, tls: tf, corsOrigins: corsOrigins, blobPeers: blobPeerURLs}
			if v, ok := os.LookupEnv(PassphraseEnv); ok && v != "" {
				opts.passphrase = []byte(v)
			}
			return runNode(cmd.Context(), node.Home(home), opts, logger, func(n *node.Node, _ *nodeKeys, base string) error {
				fmt.Fprintf(c.out, "carechain node %s serving %s (Ctrl-C to stop)\n", n.Config().Moniker, base)
				return nil
			})
		},
	}
	pathVar(cmd.Flags(), &home, "home", defaultHome("node"), "node home directory")
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", "HTTP address host:port (default: from the home's config, 127.0.0.1:8080)")
	cmd.Flags().DurationVar(&maxLag, "audit-max-lag", records.DefaultMaxLag, "how long access events may wait to be anchored before reads of health data stop (503)")
	cmd.Flags().DurationVar(&anchorEvery, "anchor-every", defaultAnchorEvery, anchorEveryUsage)
	cmd.Flags().IntVar(&maxConns, "max-connections", nodeapi.DefaultServerOptions().MaxConnections, maxConnectionsUsage)
	cmd.Flags().DurationVar(&stallTimeout, "stall-timeout", nodeapi.DefaultStallTimeout, stallTimeoutUsage)
	cmd.Flags().DurationVar(&submitTimeout, "submit-timeout", nodeapi.DefaultSubmitTimeout, submitTimeoutUsage)
	tf.register(cmd)
	cmd.Flags().StringSliceVar(&corsOrigins, "cors-origin", nil, corsOriginUsage)
	cmd.Flags().StringSliceVar(&blobPeerURLs, "blob-peer", nil, "another node's API URL (repeat, or comma-separate) to fetch Binary contents (images) this node lacks from: at a read, and every 10s in the background")
	cmd.Flags().StringVar(&anchorAs, "anchor-as", "", "node principal whose key (in HOME/keys) anchors access events (default: the one registered with this node's ID)")
	return cmd
}

// defaultAnchorEvery is how often a node anchors its access events unless
// --anchor-every says otherwise: the most a node destroyed with its disk loses.
const defaultAnchorEvery = 2 * time.Second

// anchorEveryUsage documents --anchor-every of start and demo.
const anchorEveryUsage = "how often access events are anchored on the ledger; until then they wait in HOME/audit-journal"

// maxConnectionsUsage documents --max-connections of start and demo.
const maxConnectionsUsage = "how many HTTP connections are served at once; further ones wait until one closes"

// stallTimeoutUsage documents --stall-timeout of start and demo.
const stallTimeoutUsage = "how long transactions may wait in the mempool without a new block before /healthz answers 503"

// corsOriginUsage documents --cors-origin of start and demo.
const corsOriginUsage = "a browser origin (scheme://host[:port]) that may call the FHIR API and /auth/token (CORS); repeat or comma-separate for several; none by default"

// submitTimeoutUsage documents --submit-timeout of start and demo.
const submitTimeoutUsage = "how long POST /v1/txs waits for its transaction to commit before answering 504"

func (c *cli) testnetCmd() *cobra.Command {
	var (
		dir, chainID string
		validators   int
		basePort     int
		withTLS      bool
	)
	cmd := &cobra.Command{
		Use:   "testnet",
		Short: "Create homes for a local N-validator consortium on 127.0.0.1",
		Long: `testnet writes homes DIR/node0 … DIR/node{N-1} for a consortium of N validators
on 127.0.0.1 with distinct ports: node i uses p2p port BASE+2i and HTTP port
BASE+2i+1. Each node's organization ("org<i>", a hospital) has its admin key
("org<i>.admin", ID org<i>/admin) in that node's keystore, encrypted with the
passphrase from $` + PassphraseEnv + ` or a prompt. Each node is registered in
the genesis as a node principal (org<i>/node<i>, its key "org<i>.node<i>" in
the same keystore) with its CometBFT node ID: only registered nodes peer.
With --tls every node serves https with a certificate from one new CA
(DIR/node0/tls/ca.pem, copied to each home), as init --tls makes.

Start each node in its own terminal:  carechain start --home DIR/nodeI`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if validators < 1 || validators > 64 {
				return fmt.Errorf("--validators must be between 1 and 64")
			}
			pass, err := c.passphrase("Passphrase for the admin and node keys", true)
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
				ek, err := records.CreateEncryptionKey(ks, id, pass)
				if err != nil {
					return err
				}
				g.Organizations = append(g.Organizations, ledger.FoundingOrg(
					carechain.Organization{ID: id, Name: fmt.Sprintf("Hospital %d", i), Type: carechain.OrgHospital, EncryptionKey: ek.Public().Bytes()},
					ledger.GenesisAdmin{ID: id + "/admin", PublicKey: pub}))
			}
			homes, err := node.Testnet(dir, node.TestnetOptions{Validators: validators, ChainID: chainID, Genesis: g, BasePort: basePort,
				Node: func(i int, h node.Home) (ledger.GenesisNode, error) {
					return node.NewNodePrincipal(h, keys[i], fmt.Sprintf("org%d/node%d", i, i), pass)
				}})
			if err != nil {
				return err
			}
			if withTLS {
				if err := testnetTLS(homes); err != nil {
					return err
				}
			}
			for i, h := range homes {
				cfg, _ := h.LoadConfig()
				fmt.Fprintf(c.out, "node%d: home %s  p2p %s  http %s\n", i, h, cfg.P2PAddr, cfg.HTTPAddr)
			}
			fmt.Fprintf(c.out, "Start each with: carechain start --home %s/nodeI\n", dir)
			if withTLS {
				fmt.Fprintf(c.out, "They serve https; clients trust %s (carechain --ca).\n", filepath.Join(homes[0].TLSDir(), node.CAFile))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&validators, "validators", 4, "number of validators")
	pathVar(f, &dir, "dir", "./testnet", "directory for the node homes")
	f.StringVar(&chainID, "chain-id", "carechain-testnet", "chain ID")
	f.IntVar(&basePort, "base-port", 26656, "first port; 0 lets the OS choose free ports")
	f.BoolVar(&withTLS, "tls", false, "serve every node's HTTP listener over TLS, with certificates from one new CA")
	return cmd
}

// testnetTLS gives each of homes a server certificate from one new CA, the
// first home's, and turns TLS on in its config.
func testnetTLS(homes []node.Home) error {
	for i, h := range homes {
		cfg, err := h.LoadConfig()
		if err != nil {
			return err
		}
		var caFrom node.Home
		if i > 0 {
			caFrom = homes[0]
		}
		if err := node.InitTLS(h, &cfg, caFrom, nil); err != nil {
			return fmt.Errorf("TLS certificates of %s: %w", h, err)
		}
		if err := h.SaveConfig(cfg); err != nil {
			return err
		}
	}
	return nil
}
