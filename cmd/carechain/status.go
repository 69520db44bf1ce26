package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/nodeapi"
)

// errUnhealthy is status's error when /healthz or /readyz answers 503.
var errUnhealthy = errors.New("node is not healthy")

func (c *cli) statusCmd() *cobra.Command {
	var nodeAddr, home string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "One screen for the on-call engineer: chain, height, peers, mempool, access log, disk, /healthz and /readyz",
		Long: `Status asks a running node (--node, or --home's) for its status, its
/healthz and /readyz verdicts and its /metrics, and prints what to look at
first when an alert fires (deploy/prometheus/carechain.rules.yml). It exits
non-zero when /healthz or /readyz answers 503.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			cl, err := c.nodeClient(nodeAddr, home)
			if err != nil {
				return err
			}
			r, err := readStatus(ctx, cl)
			if err != nil {
				return err
			}
			r.print(c, time.Now())
			if !r.live || !r.ready {
				return errUnhealthy
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&nodeAddr, "node", "", nodeUsage)
	pathVar(cmd.Flags(), &home, "home", defaultHome("node"), "node home whose node to ask (the http_addr of its config)")
	return cmd
}

// statusReport is what status read from the node.
type statusReport struct {
	st          nodeapi.Status
	healthz     nodeapi.Health
	readyz      nodeapi.Health
	live, ready bool
	metric      map[string]float64    // unlabelled series of /metrics
	nodes       []carechain.Principal // the active node principals
}

// readStatus asks cl for everything status prints.
func readStatus(ctx context.Context, cl *nodeapi.Client) (*statusReport, error) {
	r := &statusReport{}
	var err error
	if r.st, err = cl.Status(ctx); err != nil {
		return nil, err
	}
	if r.healthz, r.live, err = cl.Check(ctx, "/healthz"); err != nil {
		return nil, err
	}
	if r.readyz, r.ready, err = cl.Check(ctx, "/readyz"); err != nil {
		return nil, err
	}
	body, err := cl.Raw(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	r.metric = parseMetrics(body)
	ps, err := cl.Principals(ctx, "", 0)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.Kind == carechain.KindNode && p.Status == carechain.StatusActive && p.NodeID != "" {
			r.nodes = append(r.nodes, p)
		}
	}
	return r, nil
}

// print writes the report to c.out, ages measured from now.
func (r *statusReport) print(c *cli, now time.Time) {
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	m := func(name string) float64 { return r.metric[name] }
	line := func(k, format string, a ...any) { fmt.Fprintf(w, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	line("chain", "%s", r.st.ChainID)
	line("node ID", "%s", r.st.NodeID)
	line("node principal", "%s", cmp.Or(r.st.NodePrincipal, "(records API off)"))
	line("height", "%d (last block %s)", r.st.Height, age(now, m("carechain_last_block_timestamp_seconds")))
	line("catching up", "%s", yesNo(r.st.Syncing))
	if r.st.PBTSHeight > 0 {
		line("block times", "proposer's clock (PBTS) from height %d", r.st.PBTSHeight)
	} else {
		line("block times", "BFT time: stale after idling (gov propose --upgrade pbts)")
	}
	vals, peers := m("carechain_validators"), m("carechain_peers")
	line("peers", "%.0f connected; %.0f validators (%s)", peers, vals, quorum(peers, vals))
	if connected, missing := r.peerNodes(); len(connected)+len(missing) > 0 {
		line("  connected", "%s", cmp.Or(strings.Join(connected, ", "), "none"))
		line("  missing", "%s", cmp.Or(strings.Join(missing, ", "), "none"))
	}
	line("mempool", "%.0f of %.0f txs; waiting %s without a block", m("carechain_mempool_txs"), m("carechain_mempool_max_txs"),
		seconds(m("carechain_mempool_wait_seconds")))
	if _, ok := r.metric["carechain_access_events_pending"]; ok {
		line("access log", "%.0f events unanchored, oldest %s (limit %s); %.0f anchor failures; last anchor %s",
			m("carechain_access_events_pending"), seconds(m("carechain_access_log_lag_seconds")),
			seconds(m("carechain_access_log_max_lag_seconds")), m("carechain_anchor_failures_total"),
			age(now, m("carechain_anchor_last_success_timestamp_seconds")))
	}
	if m("carechain_restore_guard_holding") == 1 {
		line("restore guard", "holding: this restored validator does not sign yet (its log says why)")
	}
	if n := m("carechain_misbehavior_total"); n > 0 {
		line("misbehavior", "%.0f evidence of double signing committed since start: see the node's log", n)
	}
	free, size := m("carechain_disk_free_bytes"), m("carechain_disk_size_bytes")
	if size > 0 {
		line("disk (home)", "%s free of %s (%.0f%%)", bytesIEC(free), bytesIEC(size), 100*free/size)
	}
	line("/healthz", "%s", verdict(r.live, r.healthz.Reason))
	line("/readyz", "%s", verdict(r.ready, r.readyz.Reason))
	w.Flush()
}

// peerNodes names the connected peers by node principal (by node ID if
// the ledger knows none), and the other registered nodes as missing.
func (r *statusReport) peerNodes() (connected, missing []string) {
	named := make(map[string]string, len(r.nodes))
	for _, p := range r.nodes {
		named[p.NodeID] = p.ID
		if p.NodeID != r.st.NodeID && !slices.Contains(r.st.Peers, p.NodeID) {
			missing = append(missing, p.ID)
		}
	}
	for _, id := range r.st.Peers {
		connected = append(connected, cmp.Or(named[id], id))
	}
	return connected, missing
}

// parseMetrics reads the unlabelled series of a Prometheus text exposition:
// name → value. (Labelled series are left out: status needs none.)
func parseMetrics(body []byte) map[string]float64 {
	out := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(value)[0], 64); err == nil {
			out[name] = v
		}
	}
	return out
}

// quorum says whether this node and its peers can make up more than 2/3 of
// vals validators, counting every peer a validator of equal power: a
// necessary condition, not proof of one.
func quorum(peers, vals float64) string {
	switch {
	case vals <= 1:
		return "a single validator needs no peers"
	case (peers+1)*3 > vals*2:
		return "enough for a quorum"
	default:
		return "TOO FEW for a quorum: blocks cannot commit through this node"
	}
}

func verdict(ok bool, reason string) string {
	if ok {
		return "ok"
	}
	return "503: " + reason
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// age is how long before now a Unix time in seconds was; 0 is "none since start".
func age(now time.Time, unix float64) string {
	if unix <= 0 || math.IsNaN(unix) {
		return "none since the node started"
	}
	return now.Sub(time.UnixMilli(int64(unix*1000))).Round(time.Second).String() + " ago"
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}

// bytesIEC writes n bytes in KiB, MiB, GiB or TiB.
func bytesIEC(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}
