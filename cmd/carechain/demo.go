package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/demo"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
)

func (c *cli) demoCmd() *cobra.Command {
	var (
		home, httpAddr string
		reset          bool
		anchorEvery    time.Duration
		maxConns       int
		stallTimeout   time.Duration
		submitTimeout  time.Duration
		corsOrigins    []string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a one-node demo consortium with demo organizations, staff and patients",
		Long: `demo creates (or reuses) a home with a one-validator consortium: two hospitals,
a lab, a pharmacy, an insurer and a research institute, their staff with roles,
and ` + strconv.Itoa(demo.PatientCount) + ` patients. It starts the node and its HTTP API and prints how to use them.

Running demo again reuses the same chain: nothing is lost. --reset deletes the
demo home first, on purpose. Every demo key is in the home's keystore under the
passphrase "` + demo.Passphrase + `". Ctrl-C stops the node cleanly.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := c.logger()
			if err != nil {
				return err
			}
			opts := runOptions{httpAddr: httpAddr, passphrase: []byte(demo.Passphrase), anchorEvery: anchorEvery, maxConnections: maxConns,
				stallTimeout: stallTimeout, submitTimeout: submitTimeout, corsOrigins: corsOrigins}
			if err := opts.check(); err != nil {
				return err
			}
			h := node.Home(home)
			if reset {
				if err := resetHome(h); err != nil {
					return err
				}
			}
			ks, err := keystore.Open(h.KeysDir(), keystore.DefaultKDF)
			if err != nil {
				return err
			}
			fresh := !h.Exists()
			if fresh {
				fmt.Fprintf(c.out, "Creating the demo consortium in %s ...\n", home)
				if err := initDemo(h, ks); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(c.out, "Reusing the demo consortium in %s\n", home)
			}
			// The demo's adjudicator (below) ends with the node.
			running, stop := context.WithCancel(cmd.Context())
			defer stop()
			return runNode(running, h, opts, logger, func(n *node.Node, keys *nodeKeys, base string) error {
				addr := strings.TrimPrefix(base, "http://") // the demo serves plain HTTP: its home has no certificate
				if keys == nil {
					return fmt.Errorf("%s was made by an older carechain, without a node principal for its node: start a new demo with --reset", home)
				}
				svc := keys.svc
				ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
				defer cancel()
				if err := n.WaitReady(ctx); err != nil {
					return err
				}
				sum, err := demo.Seed(ctx, n, ks)
				if err != nil {
					return fmt.Errorf("seed demo data: %w", err)
				}
				// The demo holds its patients' keys, as if every patient had
				// signed in (a node never unlocks patients' keys itself).
				if err := signInDemoPatients(ks, svc.Keys(), keys.custodian); err != nil {
					return err
				}
				fmt.Fprintln(c.out, "Writing demo records (encrypted) ...")
				written, err := demo.SeedRecords(ctx, svc, n, ks)
				if err != nil {
					fmt.Fprintf(c.out, "demo records: %v\n", err)
				}
				sum.Records = written
				if err := demo.SeedClaims(ctx, svc, n, ks); err != nil {
					fmt.Fprintf(c.out, "demo insurance: %v\n", err)
				}
				if err := demo.SeedSupply(ctx, svc, n, ks); err != nil {
					fmt.Fprintf(c.out, "demo supply chain: %v\n", err)
				}
				if err := demo.SeedStudy(ctx, svc, n, ks); err != nil {
					fmt.Fprintf(c.out, "demo study: %v\n", err)
				}
				// The demo has no node of its insurer: Carewell's claims
				// officer, whose key the demo holds, signs its adjudications.
				if officer, ok := keys.custodian.Signer(demo.ClaimsOfficer); ok {
					go svc.RunAdjudicator(running, officer, time.Second)
				}
				height, _ := n.App().Height()
				c.printDemo(home, addr, height, sum)
				return nil
			})
		},
	}
	f := cmd.Flags()
	pathVar(f, &home, "home", defaultHome("demo"), "demo home directory")
	f.StringVar(&httpAddr, "http-addr", "127.0.0.1:8080", "HTTP address for the API, FHIR, /healthz, /readyz and /metrics")
	f.BoolVar(&reset, "reset", false, "delete the demo home and start a new chain")
	f.DurationVar(&anchorEvery, "anchor-every", defaultAnchorEvery, anchorEveryUsage)
	f.IntVar(&maxConns, "max-connections", nodeapi.DefaultServerOptions().MaxConnections, maxConnectionsUsage)
	f.DurationVar(&stallTimeout, "stall-timeout", nodeapi.DefaultStallTimeout, stallTimeoutUsage)
	f.DurationVar(&submitTimeout, "submit-timeout", nodeapi.DefaultSubmitTimeout, submitTimeoutUsage)
	f.StringSliceVar(&corsOrigins, "cors-origin", nil, corsOriginUsage)
	return cmd
}

// signInDemoPatients adds the demo patients' signing and encryption keys,
// all under demo.Passphrase, to the node's custodian and keyring.
func signInDemoPatients(ks *keystore.Store, kr *records.Keyring, cust *records.Custodian) error {
	pass := []byte(demo.Passphrase)
	for i := 1; i <= demo.PatientCount; i++ {
		id := demo.PatientID(i)
		if _, err := kr.Unlock(ks, id, pass); err != nil {
			return err
		}
		k, err := ks.Unlock(demo.KeyName(id), pass)
		if err != nil {
			return fmt.Errorf("demo patient %s: %w", id, err)
		}
		cust.Add(id, k)
	}
	return nil
}

func initDemo(h node.Home, ks *keystore.Store) error {
	nodeID, err := h.NodeID()
	if err != nil {
		return err
	}
	g, err := demo.Genesis(ks, nodeID)
	if err != nil {
		return err
	}
	cfg := node.DefaultConfig(demo.ChainID, "demo-validator")
	// The demo's p2p port only needs to be free; nobody connects to it.
	if cfg.P2PAddr, err = node.FreeLoopbackAddr(); err != nil {
		return err
	}
	return node.Init(h, node.InitOptions{Config: cfg, Genesis: g})
}

// resetHome deletes a demo home, refusing anything that does not look like one.
func resetHome(h node.Home) error {
	if _, err := os.Stat(string(h)); os.IsNotExist(err) {
		return nil
	}
	if !h.Exists() {
		entries, err := os.ReadDir(string(h))
		if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Name() != "keys" {
				return fmt.Errorf("--reset: %s is not a carechain home; not deleting it", h)
			}
		}
	}
	return os.RemoveAll(string(h))
}

func (c *cli) printDemo(home, addr string, height int64, sum demo.Summary) {
	r := strings.NewReplacer("{ADDR}", addr, "{HOME}", home, "{PASS}", demo.Passphrase, "{ENV}", PassphraseEnv)
	fmt.Fprintf(c.out, "\ncarechain demo is running (chain %s, height %d; %d identities registered now, %d already there; %d records written now).\n",
		demo.ChainID, height, sum.Registered, sum.AlreadyThere, sum.Records)
	fmt.Fprint(c.out, r.Replace(`
Portal: http://{ADDR}/   (passphrase "{PASS}" for every demo sign-in)
  Patients:   patient/demo-01 … patient/demo-20   (e.g. patient/demo-09: records, sharing, access log)
  Clinicians: st-mary/dr-chen, city-general/dr-meyer (physicians), northlab/tech-kim (lab)

  Health:         http://{ADDR}/healthz  (ready: /readyz)
  Ready:          http://{ADDR}/readyz
  Status:         http://{ADDR}/v1/status
  Organizations:  http://{ADDR}/v1/organizations
  Identities:     http://{ADDR}/v1/principals        (staff; add ?org=st-mary or ?height=N; patients: identity list --as)
  One identity:   http://{ADDR}/v1/principals/st-mary/dr-chen
  Metrics:        http://{ADDR}/metrics

Every demo key is in {HOME}/keys, passphrase "{PASS}". Records are encrypted on
the ledger; patient/demo-01 lets st-mary/dr-chen read their lab results for
treatment, patient/demo-02 has an emergency rule, patient/demo-03 shares lab
results with biomed researchers. Try, in another terminal:

  export {ENV}={PASS}
  carechain identity list --node {ADDR}
  carechain record list  --home {HOME} --node {ADDR} --as patient/demo-01 --patient patient/demo-01
  carechain record get demo-01-glucose --home {HOME} --node {ADDR} --as st-mary/dr-chen --purpose treatment   # allowed by consent
  carechain record get demo-01-glucose --home {HOME} --node {ADDR} --as st-mary/dr-chen --purpose billing     # denied by its CEL condition (404, reason in the log)
  carechain record get demo-01-glucose --home {HOME} --node {ADDR} --as northlab/tech-kim                     # denied: no consent
  carechain audit list --home {HOME} --node {ADDR} --patient patient/demo-01                                  # every attempt above

Drug supply chain: Acme Pharma made Ibuprofen 400 mg (GTIN 09506000134352),
shipped through MedSupply to Greenleaf Pharmacy. Sign in as greenleaf/ph-rossi,
"Verify a medicine", and scan the demo serials the README lists (a genuine
unit, a copied serial, a recalled lot).

Carewell's plan "standard" covers St Mary's price catalogue (a chest X-ray
needs a prior authorization; four HbA1c tests a year); every demo patient but demo-05, -10, -15 and -20
has a Coverage under it. Claims to Carewell are adjudicated on this node,
signed by its claims officer carewell/claims-ward (portal: Billing, Claims).

A correction of patient/demo-04's chest X-ray waits for four signatures
(hospital authority, head of radiology, specialist, patient):
  carechain amend list --waiting --as st-mary/ms-reyes --home {HOME} --node {ADDR}
  carechain amend approve <ID> --as st-mary/ms-reyes --home {HOME} --node {ADDR}   # then st-mary/dr-novak, st-mary/dr-ito, patient/demo-04

FHIR R4 API at http://{ADDR}/fhir (metadata: http://{ADDR}/fhir/metadata):
  TOKEN=$(carechain token --as st-mary/dr-chen --home {HOME} --node {ADDR})
  curl -H "Authorization: Bearer $TOKEN" "http://{ADDR}/fhir/Observation?patient=Patient/demo-02"

Ctrl-C stops the node; run "carechain demo" again to continue the same chain.
`))
}
