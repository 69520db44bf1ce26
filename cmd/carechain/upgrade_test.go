package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
)

// buildUpgradeExample builds the second carechain of the upgrade test: this
// one with the example upgrade "example-v2" (ledger/upgrade_example.go).
func buildUpgradeExample(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "carechain-v2")
	build := exec.Command("go", "build", "-tags", "carechain_upgrade_example", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build carechain-v2: %v\n%s", err, out)
	}
	return bin
}

// waitExit waits until p exits and returns its error.
func (p *process) waitExit(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.err
	case <-time.After(limit):
		t.Fatalf("still running after %v:\n%s", limit, p.output())
		return nil
	}
}

// upgradeNode is one node of TestUpgradeAtApprovedHeight's consortium.
type upgradeNode struct {
	*consortium
	proc *process
}

func (n *upgradeNode) start(bin string) {
	n.t.Helper()
	n.proc = startBinary(n.t, bin, nil, "start", "--home", n.home)
}

func (n *upgradeNode) height() int64 {
	n.t.Helper()
	st, err := nodeapi.NewClient(n.addr).Status(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	return st.Height
}

// waitHeight waits until n's ledger has committed height h.
func (n *upgradeNode) waitHeight(h int64, limit time.Duration) {
	n.t.Helper()
	n.proc.waitFor(n.t, limit, fmt.Sprintf("%s at height %d", n.home, h), func() error {
		st, err := nodeapi.NewClient(n.addr).Status(context.Background())
		if err == nil && st.Height < h {
			err = fmt.Errorf("at height %d", st.Height)
		}
		return err
	})
}

// TestUpgradeAtApprovedHeight is an upgrade end to end, with two builds:
// this one, and carechain-v2, which also implements the example upgrade
// "example-v2" (from its height on, governance proposals stay open a day at
// most). Two validators, one on each build, agree on every block until the
// upgrade's height (neither makes a block without the other); there the
// old build stops, saying why, its state at the height before, and will
// not start again; started with carechain-v2 its node replays that block
// and the chain goes on under the new rule.
func TestUpgradeAtApprovedHeight(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a second carechain and runs two node subprocesses")
	}
	v2 := buildUpgradeExample(t)
	dir := filepath.Join(t.TempDir(), "tn")
	env := passEnv(testPassphrase)
	mustRun(t, env, "testnet", "--validators", "2", "--dir", dir, "--chain-id", "upgrade-test", "--base-port", "0")
	nodes := make([]*upgradeNode, 2)
	for i := range nodes {
		h := node.Home(filepath.Join(dir, fmt.Sprintf("node%d", i)))
		cfg, err := h.LoadConfig()
		if err != nil {
			t.Fatal(err)
		}
		cfg.EmptyBlockInterval = node.Duration(250 * time.Millisecond) // the chain moves on by itself
		if err := h.SaveConfig(cfg); err != nil {
			t.Fatal(err)
		}
		nodes[i] = &upgradeNode{consortium: &consortium{t: t, home: string(h), addr: cfg.HTTPAddr, env: env}}
	}
	old, upgraded := nodes[0], nodes[1]
	old.start(binary)
	upgraded.start(v2)
	old.waitHeight(2, time.Minute)
	upgraded.waitHeight(2, time.Minute)

	// Before any plan, carechain-v2 accepts a proposal open for a week,
	// as this build does.
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{"voters": ["org0", "org1"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := upgraded.cli("gov", "propose", "--as", "org1/admin", "--policy", policy); !strings.Contains(out, "is open") {
		t.Fatalf("a week-long proposal before the upgrade: %s", out)
	}

	// The upgrade, proposed by org0 and approved by org1, 60 blocks (15 s and more) ahead.
	target := old.height() + 60
	out := old.cli("gov", "propose", "--as", "org0/admin", "--upgrade", "example-v2", "--upgrade-height", strconv.FormatInt(target, 10),
		"--upgrade-info", "carechain-v2")
	out = upgraded.cli("gov", "approve", proposalIn(t, out), "--as", "org1/admin")
	if !strings.Contains(out, "carried out") {
		t.Fatalf("approving the upgrade: %s", out)
	}
	if out := old.cli("gov", "show"); !strings.Contains(out, fmt.Sprintf("upgrade example-v2 scheduled for height %d", target)) {
		t.Fatalf("gov show before the upgrade: %s", out)
	}

	// The old build stops at the upgrade's height, saying why, before
	// applying that block.
	haltLine := fmt.Sprintf("upgrade example-v2 approved for height %d: this build (version carechain/1; upgrades: pbts, supply-map) does not implement it; "+
		"install a carechain build that does and start the node again", target)
	if err := old.proc.waitExit(t, 90*time.Second); err == nil {
		t.Fatalf("the old build exited with status 0 at the upgrade:\n%s", old.proc.output())
	}
	if out := old.proc.output(); !strings.Contains(out, "level=ERROR msg=\""+strings.ReplaceAll(haltLine, `"`, `\"`)) ||
		!strings.Contains(out, "carechain: "+haltLine) {
		t.Fatalf("the old build's output does not say %q at error level and as its exit reason:\n%s", haltLine, out)
	}
	// Its state is at the height before; the block of the upgrade's height is in its block store.
	out = mustRun(t, nil, "verify", "--home", old.home)
	if want := fmt.Sprintf("block %d is saved but not executed yet", target); !strings.Contains(out, want) {
		t.Fatalf("verify after the halt: want %q: %s", want, out)
	}
	// Started again, the old build refuses at once, with the same reason.
	if out, err := run(t, nil, "start", "--home", old.home); err == nil || !strings.Contains(out, haltLine) {
		t.Fatalf("the old build started again: %v\n%s", err, out)
	}

	// carechain-v2 on the same home replays the block and the chain goes on.
	old.start(v2)
	old.waitHeight(target+3, time.Minute)
	upgraded.waitHeight(target+3, time.Minute)
	if out := upgraded.cli("gov", "show"); !strings.Contains(out, fmt.Sprintf("upgrade example-v2 applied at height %d", target)) {
		t.Fatalf("gov show after the upgrade: %s", out)
	}
	// The new rule is in force: a week-long proposal is refused, a short one is not.
	out, err := run(t, env, "gov", "propose", "--as", "org1/admin", "--policy", policy, "--home", upgraded.home)
	if err == nil || !strings.Contains(out, "expires in the future, within 24h0m0s") {
		t.Fatalf("a week-long proposal after the upgrade: %v\n%s", err, out)
	}
	if out := old.cli("gov", "propose", "--as", "org0/admin", "--policy", policy, "--ttl", "1h"); !strings.Contains(out, "is open") {
		t.Fatalf("an hour-long proposal after the upgrade: %s", out)
	}
	var g nodeapi.Governance
	if code := getJSON(t, "http://"+old.addr+"/v1/governance", &g); code != 200 || len(g.Upgrades) != 1 || g.Upgrades[0].Closed != target {
		js, _ := json.Marshal(g.Upgrades)
		t.Fatalf("GET /v1/governance: %d, upgrades %s", code, js)
	}
	for _, n := range nodes {
		n.proc.interrupt(t)
	}
}

// TestHomeFormat: `carechain start` refuses a home of a newer format,
// clearly and changing nothing (verify too); it migrates a legacy home
// (one without a format) after backing it up.
func TestHomeFormat(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home := filepath.Join(t.TempDir(), "node")
	addr := freeAddr(t)
	mustRun(t, passEnv(testPassphrase), "init", "--home", home, "--chain-id", "format-test", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", freeAddr(t), "--http-addr", addr)
	formatFile := node.Home(home).FormatFile()
	if b, err := os.ReadFile(formatFile); err != nil || !regexp.MustCompile(`"format": ?1\b`).Match(b) {
		t.Fatalf("init's format file: %q %v", b, err)
	}

	newer := fmt.Sprintf(`{"format": %d}`, node.CurrentFormat+1)
	if err := os.WriteFile(formatFile, []byte(newer), 0o600); err != nil {
		t.Fatal(err)
	}
	before := homeFiles(t, home)
	want := fmt.Sprintf("is home format %d, but this carechain supports home formats up to %d: a newer carechain wrote it", node.CurrentFormat+1, node.CurrentFormat)
	for _, args := range [][]string{{"start", "--home", home}, {"verify", "--home", home}} {
		out, err := run(t, nil, args...)
		if err == nil || !strings.Contains(out, want) || strings.Contains(out, "damaged") || strings.Contains(out, "cannot be trusted") {
			t.Fatalf("carechain %s on a newer home: %v\n%s", args[0], err, out)
		}
	}
	if after := homeFiles(t, home); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("refusing the home changed it:\nbefore %v\nafter  %v", before, after)
	}

	// A legacy home: no format file.
	if err := os.Remove(formatFile); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, nil, "start", "--home", home)
	waitHealthy(t, p, addr, time.Minute)
	p.interrupt(t)
	backups, _ := filepath.Glob(filepath.Join(home, "backups", "pre-format-1-*"))
	if len(backups) != 1 || !strings.Contains(p.output(), backups[0]) {
		t.Fatalf("backups %v; the log does not name it:\n%s", backups, p.output())
	}
	for _, f := range []string{"config/node.json", "config/genesis.json", "data"} {
		if _, err := os.Stat(filepath.Join(backups[0], f)); err != nil {
			t.Error(err)
		}
	}
	if f, err := node.Home(home).Format(); err != nil || f != node.CurrentFormat {
		t.Fatalf("format after start: %d %v", f, err)
	}
	verifyTwiceChangesNothing(t, home)
	if out := mustRun(t, nil, "verify", "--home", home); !strings.Contains(out, fmt.Sprintf("home format %d", node.CurrentFormat)) {
		t.Fatalf("verify does not name the home format: %s", out)
	}
}
