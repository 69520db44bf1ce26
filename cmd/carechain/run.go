package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/deid"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/launch"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/portal"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/store"
)

// runOptions configure runNode.
type runOptions struct {
	httpAddr string
	// passphrase unlocks the node's keystore (encryption keys and the
	// anchoring identity); nil leaves the records API off.
	passphrase []byte
	// anchorAs is the node principal that anchors access events; empty picks
	// the one registered with this node's ID.
	anchorAs string
	// anchorEvery is how often access events are anchored (--anchor-every).
	anchorEvery time.Duration
	// maxLag is records.Options.MaxLag (0: the default).
	maxLag time.Duration
	// maxConnections is nodeapi.ServerOptions.MaxConnections (--max-connections).
	maxConnections int
	// stallTimeout is nodeapi.Options.StallTimeout (--stall-timeout).
	stallTimeout time.Duration
	// submitTimeout is nodeapi.Options.SubmitTimeout (--submit-timeout).
	submitTimeout time.Duration
	// tls names the listener's certificate (--tls-cert …); empty fields
	// take the home's config.
	tls tlsFlags
	// corsOrigins are fhirrest.Options.AllowedOrigins (--cors-origin).
	corsOrigins []string
	// blobPeers are other nodes' API URLs to fetch Binary contents from
	// (--blob-peer): missing ones at a read, and all of them in the
	// background every replicateEvery.
	blobPeers []string
}

// replicateEvery is how often a node fetches the blobs named on the ledger
// that it lacks from its --blob-peer nodes.
const replicateEvery = 10 * time.Second

// check refuses flag values runNode cannot run with; demo checks before it
// creates anything.
func (o runOptions) check() error {
	if o.anchorEvery <= 0 {
		return fmt.Errorf("--anchor-every %v: want a positive duration", o.anchorEvery)
	}
	if o.maxConnections < 1 {
		return fmt.Errorf("--max-connections %d: want at least 1", o.maxConnections)
	}
	if o.stallTimeout <= 0 {
		return fmt.Errorf("--stall-timeout %v: want a positive duration", o.stallTimeout)
	}
	if o.submitTimeout <= 0 {
		return fmt.Errorf("--submit-timeout %v: want a positive duration", o.submitTimeout)
	}
	for _, peer := range o.blobPeers {
		if u, err := url.Parse(peer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--blob-peer %q: want a node's API URL, http(s)://host:port", peer)
		}
	}
	for _, origin := range o.corsOrigins {
		if err := fhirrest.CheckOrigin(origin); err != nil {
			return fmt.Errorf("--cors-origin: %w", err)
		}
	}
	return nil
}

// backupOf makes n's backup snapshots, with the access-event journal of
// its records service if it runs one.
func backupOf(n *node.Node, keys *nodeKeys) nodeapi.Backup {
	return func(ctx context.Context, w io.Writer) error {
		var journal node.Checkpointer
		if keys != nil {
			journal = keys.journal
		}
		_, err := n.Snapshot(ctx, w, journal)
		return err
	}
}

// runNode starts the node of h, its records service (when keys are
// available) and its HTTP server, calls ready, and runs until ctx is
// cancelled; then it shuts everything down cleanly, anchoring the last
// access events first. ready gets the listener's base URL (http:// or,
// with TLS, https://).
//
// A node that is not yet a registered node principal (a joining
// organization's, before the members admit it and it syncs past that)
// serves without the records API and turns it on by itself once its
// registration is in its state.
func runNode(ctx context.Context, h node.Home, opts runOptions, logger *slog.Logger, ready func(n *node.Node, keys *nodeKeys, base string) error) error {
	if err := opts.check(); err != nil {
		return err
	}
	n, err := node.Start(ctx, h, node.StartOptions{Logger: logger, HTTPAddr: opts.httpAddr})
	if err != nil {
		return err
	}
	defer func() {
		if err := n.Stop(); err != nil {
			logger.Error("stop node", "err", err)
		}
	}()
	certs, clientCA, err := listenerTLS(h, n.Config(), opts.tls)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", n.Config().HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	base := "http://" + l.Addr().String()
	if certs != nil {
		base = "https://" + l.Addr().String()
	}
	nodeID, err := h.NodeID()
	if err != nil {
		return fmt.Errorf("node ID (signed requests name it): %w", err)
	}
	operator, err := h.OperatorKey()
	if err != nil {
		return err
	}
	// Per-study pseudonyms (fhirrest.StudyParam) come from a secret derived
	// from the node key: the same after a restart, never stored apart.
	deidSecret, err := deid.SecretFrom(operator.Seed())
	if err != nil {
		return err
	}
	routes := func(keys *nodeKeys) http.Handler {
		mux := http.NewServeMux()
		var svc *records.Service
		var custodian *records.Custodian
		if keys != nil {
			svc, custodian = keys.svc, keys.custodian
		}
		mux.Handle("/", nodeapi.NewHandler(n, nodeapi.Options{Logger: logger, Metrics: n.Metrics(), Records: svc, Custodian: custodian, Proofs: n, Certs: certs, NodeID: nodeID,
			StallTimeout: opts.stallTimeout, SubmitTimeout: opts.submitTimeout,
			Backup: backupOf(n, keys), NodeKey: operator.Public().(ed25519.PublicKey)}))
		if keys != nil {
			// One sign-in for the FHIR login and the portal: one throttle,
			// one record of whose keys a sign-in holds.
			signIns := records.NewSignIns(n.App(), keys.ks, keys.custodian, svc.Keys(), runtime.GOMAXPROCS(0), logger)
			// The portal's /auth/authorize issues the App Launch codes the
			// FHIR API's /auth/token takes.
			codes := launch.NewCodes()
			fhirrest.Register(mux, fhirrest.Options{App: n.App(), Records: svc, Custodian: keys.custodian, Keystore: keys.ks,
				SignIns: signIns, BaseURL: base, Logger: logger, AllowedOrigins: opts.corsOrigins, Codes: codes, DeidSecret: deidSecret})
			if err := portal.Register(mux, portal.Options{App: n.App(), Records: svc, SignIns: signIns, Custodian: keys.custodian,
				Proofs: n, Node: n, Keystore: keys.ks, BaseURL: base, Logger: logger, Codes: codes, Grantable: fhirrest.GrantableScopes}); err != nil {
				logger.Error("portal off", "err", err)
			}
		}
		return mux
	}
	var keys *nodeKeys
	var handler swappable
	recordsDone := make(chan struct{})
	recordsCtx, stopRecords := context.WithCancel(context.Background())
	defer func() {
		stopRecords()
		<-recordsDone // the last flush, then the journal can close
	}()
	switch {
	case opts.passphrase == nil:
		close(recordsDone)
		logger.Info("records API off: set " + PassphraseEnv + " to unlock this node's keys")
		handler.set(routes(nil))
	default:
		keys, err = startRecords(n, h, opts, logger)
		switch {
		case errors.Is(err, errNoNodePrincipal):
			logger.Info("records API off until this node is registered and synced past its registration: " + err.Error())
			handler.set(routes(nil))
			go func() {
				defer close(recordsDone)
				if k := awaitRecords(recordsCtx, n, h, opts, logger); k != nil {
					handler.set(routes(k))
					logger.Info("records API on")
					runRecords(recordsCtx, n, k, opts, logger)
				}
			}()
		case err != nil:
			close(recordsDone)
			return err
		default:
			handler.set(routes(keys))
			go func() {
				defer close(recordsDone)
				runRecords(recordsCtx, n, keys, opts, logger)
			}()
		}
	}
	srvOpts := nodeapi.ServerOptions{MaxConnections: opts.maxConnections, Logger: logger}
	if certs != nil {
		if srvOpts.TLS, err = nodeapi.ServerTLSConfig(certs, clientCA); err != nil {
			return err
		}
		reloadOnHangup(ctx, certs, logger)
	}
	srv := nodeapi.NewServer(&handler, srvOpts)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := ready(n, keys, base); err != nil {
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
	case <-n.Halted():
		logger.Info("node halted; shutting down")
		return n.HaltErr()
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	}
}

// runRecords anchors keys' access events and keeps the search index up
// to date with n's chain until ctx is done, then closes the journal and
// the search index. An insurer's node also adjudicates the claims to its
// insurer (records.RunAdjudicator), signed with its node key.
func runRecords(ctx context.Context, n *node.Node, keys *nodeKeys, opts runOptions, logger *slog.Logger) {
	if o, err := n.App().Latest().Organization(carechain.OrgOf(keys.anchorer.ID)); err == nil && o.Type == carechain.OrgInsurer {
		go keys.svc.RunAdjudicator(ctx, keys.anchorer, time.Second)
	}
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		if err := keys.svc.RunIndex(ctx, n.Follow); err != nil {
			logger.Error("search index stopped: searches across patients miss what changed since", "err", err)
		}
	}()
	replicated := make(chan struct{})
	go func() {
		defer close(replicated)
		keys.svc.RunReplication(ctx, replicateEvery)
	}()
	keys.svc.RunAnchors(ctx, keys.anchorer, opts.anchorEvery)
	<-indexed
	<-replicated
	keys.journal.Close()
	keys.index.Close()
	keys.supplyJournal.Close()
}

// awaitRecords starts the records service once the node's state registers
// it (checked every second, once it has caught up); nil if ctx ends first
// or it cannot start.
func awaitRecords(ctx context.Context, n *node.Node, h node.Home, opts runOptions, logger *slog.Logger) *nodeKeys {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if n.Syncing() {
			continue
		}
		keys, err := startRecords(n, h, opts, logger)
		switch {
		case errors.Is(err, errNoNodePrincipal):
			continue
		case err != nil:
			logger.Error("records API stays off", "err", err)
			return nil
		}
		return keys
	}
}

// swappable is an http.Handler that can be replaced while it serves.
type swappable struct{ h atomic.Pointer[http.Handler] }

func (s *swappable) set(h http.Handler) { s.h.Store(&h) }

func (s *swappable) ServeHTTP(w http.ResponseWriter, r *http.Request) { (*s.h.Load()).ServeHTTP(w, r) }

// nodeKeys is what a node unlocks from its keystore.
type nodeKeys struct {
	ks        *keystore.Store
	svc       *records.Service
	custodian *records.Custodian
	anchorer  records.Signer
	journal   *store.Queue
	index     *store.Index // the blind search index
	// supplyJournal holds the organizations' supply events, sealed
	// (records/supplyjournal.go).
	supplyJournal *store.Queue
}

// startRecords unlocks the node's encryption keys, the signing keys it keeps
// for its staff, and its anchoring identity: those that open with the node's
// passphrase, but patients' (records.OpenNodeKeys).
func startRecords(n *node.Node, h node.Home, opts runOptions, logger *slog.Logger) (*nodeKeys, error) {
	anchorAs, err := anchoringIdentity(n, h, opts.anchorAs) // first: it unlocks nothing
	if err != nil {
		return nil, err
	}
	ks, err := keystore.Open(h.KeysDir(), keystore.DefaultKDF)
	if err != nil {
		return nil, err
	}
	kr, cust, err := records.OpenNodeKeys(ks, opts.passphrase, logger)
	if err != nil {
		return nil, err
	}
	anchorer, ok := cust.Signer(anchorAs)
	if !ok {
		return nil, fmt.Errorf("anchoring identity %s: no key %s in %s", anchorAs, strings.ReplaceAll(anchorAs, "/", "."), h.KeysDir())
	}
	journal, err := store.OpenQueue(filepath.Join(string(h), "audit-journal"))
	if err != nil {
		return nil, fmt.Errorf("access-event journal: %w", err)
	}
	// The blind search index: node-local, like the journal (records/index.go).
	index, err := store.OpenIndex(filepath.Join(string(h), "search-index"))
	if err != nil {
		journal.Close()
		return nil, fmt.Errorf("search index: %w", err)
	}
	// Binary contents, sealed, off the ledger (records/blobs.go).
	blobs, err := store.OpenBlobs(filepath.Join(string(h), "blobs"))
	if err != nil {
		journal.Close()
		index.Close()
		return nil, err
	}
	// The supply journal: node-local, sealed (records/supplyjournal.go).
	supplyJournal, err := store.OpenQueue(filepath.Join(string(h), "supply-journal"))
	if err != nil {
		journal.Close()
		index.Close()
		return nil, fmt.Errorf("supply journal: %w", err)
	}
	peers, err := blobPeers(h, opts.blobPeers, anchorer)
	if err != nil {
		journal.Close()
		index.Close()
		supplyJournal.Close()
		return nil, err
	}
	svc, err := records.New(n, kr, records.Options{Node: anchorAs, Logger: logger, Journal: journal, MaxLag: opts.maxLag, Index: index,
		Blobs: blobs, BlobPeers: peers, SupplyJournal: supplyJournal})
	if err != nil {
		journal.Close()
		index.Close()
		supplyJournal.Close()
		return nil, err
	}
	return &nodeKeys{ks: ks, svc: svc, custodian: cust, anchorer: anchorer, journal: journal, index: index, supplyJournal: supplyJournal}, nil
}

// blobPeers are the nodes at urls, asked for blobs with requests signed by
// this node's principal; they trust h's CA if it has one. None: nil.
func blobPeers(h node.Home, urls []string, as records.Signer) (records.BlobSource, error) {
	if len(urls) == 0 {
		return nil, nil
	}
	hc := http.DefaultClient
	if ca := homeCA(string(h)); ca != "" {
		tc, err := nodeapi.ClientTLSConfig(ca, "", "")
		if err != nil {
			return nil, err
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		hc = &http.Client{Transport: tr}
	}
	var peers nodeapi.BlobPeers
	for _, u := range urls {
		c := nodeapi.NewClient(u).As(as.ID, as.Key)
		c.HTTP = hc
		peers = append(peers, c)
	}
	return peers, nil
}

// errNoNodePrincipal: no active node principal is registered with this
// node's ID, so nothing can anchor its access events and the node serves
// without the records API.
var errNoNodePrincipal = errors.New("no node principal")

// anchoringIdentity is the principal that anchors h's access events: anchorAs
// if given, else the node principal registered with h's node ID. Only node
// principals anchor.
func anchoringIdentity(n *node.Node, h node.Home, anchorAs string) (string, error) {
	v := n.App().Latest()
	if anchorAs != "" {
		if p, err := v.Principal(anchorAs); err == nil && p.Kind != carechain.KindNode {
			return "", fmt.Errorf("--anchor-as %s is a %s: only node principals anchor access events", anchorAs, p.Kind)
		}
		return anchorAs, nil
	}
	nodeID, err := h.NodeID()
	if err != nil {
		return "", err
	}
	p, err := v.NodePrincipal(nodeID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return "", fmt.Errorf("%w: this node (node ID %s) is not a registered node principal at height %d. "+
			"An admin of its organization registers it: `carechain keys new <org>.<name> --home %s`, then "+
			"`carechain tx register --as <org>/admin --kind node --id <org>/<name> --node-id %s --pubkey <its public key>`; "+
			"the node turns its records API on once it has synced past that registration", errNoNodePrincipal, nodeID, v.Height(), h, nodeID)
	case err != nil:
		return "", err
	case p.Status != carechain.StatusActive:
		return "", fmt.Errorf("%w: this node's principal %s was revoked at height %d", errNoNodePrincipal, p.ID, p.RevokedAt)
	}
	return p.ID, nil
}
