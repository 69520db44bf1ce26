package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/nodeapi"
)

// TestNodeJoinsOnceRegistered: a founding node is a node principal of its
// genesis and anchors with its key; a node that joins with the genesis is
// refused until its admin registers it with the command init printed, and
// then it syncs.
func TestNodeJoinsOnceRegistered(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two node subprocesses")
	}
	env := passEnv(testPassphrase)
	dir := t.TempDir()
	homeA, homeB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	addrA, addrB, p2pA := freeAddr(t), freeAddr(t), freeAddr(t)
	out := mustRun(t, env, "init", "--home", homeA, "--chain-id", "join-test", "--org", "hosp:hospital:Hospital",
		"--p2p-addr", p2pA, "--http-addr", addrA)
	idA := nodeIDIn(t, out)
	out = mustRun(t, env, "init", "--home", homeB, "--genesis", filepath.Join(homeA, "config", "genesis.json"), "--peers", idA+"@"+p2pA,
		"--p2p-addr", freeAddr(t), "--http-addr", addrB, "--node-principal", "hosp/node1")
	idB := nodeIDIn(t, out)
	register := registerCommandIn(t, out)

	a := startProcess(t, env, "start", "--home", homeA)
	waitHealthy(t, a, addrA, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	founder, err := nodeapi.NewClient(addrA).Principal(ctx, "hosp/node0", 0)
	if err != nil || founder.Principal.Kind != carechain.KindNode || founder.Principal.NodeID != idA {
		t.Fatalf("founding node's principal: %+v %v", founder, err)
	}

	b := startProcess(t, env, "start", "--home", homeB)
	waitOutput(t, b, "not a registered node principal", time.Minute) // start says how to register it
	waitOutput(t, a, "peer refused", time.Minute)
	if !strings.Contains(a.output(), idB) {
		t.Fatalf("node A refused a peer, not %s:\n%s", idB, a.output())
	}

	out = mustRun(t, env, append(register, "--node", addrA, "--home", homeA)...)
	m := regexp.MustCompile(`committed identity.register at height (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("register: %s", out)
	}
	registered, _ := strconv.ParseInt(m[1], 10, 64)
	clB := nodeapi.NewClient(addrB)
	b.waitFor(t, time.Minute, fmt.Sprintf("node B past height %d", registered), func() error {
		st, err := clB.Status(ctx)
		if err == nil && st.Height < registered {
			err = fmt.Errorf("at height %d", st.Height)
		}
		return err
	})
	if strings.Contains(a.output(), "records API off") {
		t.Fatalf("the founding node does not anchor as its node principal:\n%s", a.output())
	}
	b.interrupt(t)
	a.interrupt(t)
}

// nodeIDIn finds the node ID init printed.
func nodeIDIn(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`Node ID ([0-9a-f]{40})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no node ID in:\n%s", out)
	}
	return m[1]
}

// registerCommandIn finds the registration command init printed for a
// joining node, without its placeholder for the node to submit to.
func registerCommandIn(t *testing.T, out string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if cmd, ok := strings.CutPrefix(strings.TrimSpace(line), "carechain tx register "); ok {
			cmd, _, _ = strings.Cut(cmd, " --node <")
			return append([]string{"tx", "register"}, strings.Fields(cmd)...)
		}
	}
	t.Fatalf("no registration command in:\n%s", out)
	return nil
}
