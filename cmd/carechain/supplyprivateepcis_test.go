package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// TestPrivateEPCISThroughCLI carries the units of a private product
// through EPCIS documents on a real init-made node: acme commissions,
// ships, flags and decommissions by "supply import" (signed on the
// device: the commissioning to a custody key the node derives, the rest
// as transfers the node signs with its custody keys); dist receives and
// ships on by an HTTP capture, which its node signs with the key it keeps
// for dist's admin; the pharmacy receives and dispenses by import, the
// dispense co-signed on the device. A document with a malformed event
// commissions nothing. Each organization's export holds its own events of
// the product, with their serials and no custody-note internals, and is
// valid for epcis2.js; rival's export and query hold none of them. Then
// the refusals of POST /v1/supply/transfers and /v1/supply/custody-keys
// (privateSupplyRefusals), and, once the node is stopped, its blocks hold
// exactly the transfers of the flow.
func TestPrivateEPCISThroughCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a node subprocess")
	}
	home, addr, env, p, sup := startSupplyNode(t, "private-epcis-test")
	started := time.Now()
	sn := func(n string) string { return "PEX9K" + n } // distinctive, to scan for
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mustRun(t, env, sup("acme/admin", "product", "register", "--gtin", supplyGTIN, "--name", "Amoxicillin 500 mg", "--kind", "drug")...) // private by default
	importDoc := func(as, name string, evs ...supply.Event) string {
		t.Helper()
		file := filepath.Join(dir, name+".json")
		writeJSONFile(t, file, supply.NewEPCISDocument(evs, time.Now()))
		return mustRun(t, env, sup(as, "import", file)...)
	}
	now := time.Now()

	// A malformed event refuses the whole document: nothing commissioned.
	bad := filepath.Join(dir, "bad.json")
	writeJSONFile(t, bad, supply.NewEPCISDocument([]supply.Event{
		{Action: supply.ActCommission, Time: now, GTIN: supplyGTIN, Serials: []string{sn("90")}, Lot: "L1", Expiry: "2030-12-31"},
		{Action: supply.ActShip, Time: now, GTIN: supplyGTIN, Serials: []string{sn("90")}, To: "dist"},
	}, now))
	os.WriteFile(bad, bytes.Replace(mustReadFile(t, bad), []byte("shipping"), []byte("packing"), 1), 0o600)
	if out, err := run(t, env, sup("acme/admin", "import", bad)...); err == nil || !strings.Contains(out, `event #1: invalid: bizStep "packing" is not supported`) ||
		!strings.Contains(out, "nothing submitted") {
		t.Fatalf("import of a malformed document: %v\n%s", err, out)
	}

	out := importDoc("acme/admin", "acme",
		supply.Event{Action: supply.ActCommission, Time: now, GTIN: supplyGTIN, Serials: []string{sn("1"), sn("2"), sn("3")}, Lot: "L1", Expiry: "2030-12-31"},
		supply.Event{Action: supply.ActShip, Time: now, GTIN: supplyGTIN, Serials: []string{sn("1"), sn("2")}, To: "dist"},
		supply.Event{Action: supply.ActFlag, Time: now, GTIN: supplyGTIN, Serials: []string{sn("3")}, Reason: "seal broken"},
		supply.Event{Action: supply.ActDecommission, Time: now, GTIN: supplyGTIN, Serials: []string{sn("3")}})
	if !strings.Contains(out, "imported 4 EPCIS events") || strings.Count(out, "private custody: 1 transfer(s) committed") != 3 || strings.Contains(out, "warning") {
		t.Fatalf("acme's import: %s", out)
	}
	clients := epcisClients(t, home, addr)
	dist := clients("dist/admin")
	doc := mustJSON(t, supply.NewEPCISDocument([]supply.Event{
		{Action: supply.ActReceive, Time: now, GTIN: supplyGTIN, Serials: []string{sn("1"), sn("2")}},
		{Action: supply.ActShip, Time: now, GTIN: supplyGTIN, Serials: []string{sn("1")}, To: "pharm"},
	}, now))
	if res, err := dist.SupplyCapture(ctx, []byte(doc)); err != nil || res.EventCount != 2 || len(res.Heights) != 2 {
		t.Fatalf("dist's capture: %+v %v", res, err)
	}
	out = importDoc("pharm/admin", "pharm",
		supply.Event{Action: supply.ActReceive, Time: now, GTIN: supplyGTIN, Serials: []string{sn("1")}},
		supply.Event{Action: supply.ActDispense, Time: now, GTIN: supplyGTIN, Serials: []string{sn("1")}})
	if !strings.Contains(out, "imported 2 EPCIS events") || strings.Contains(out, "warning") {
		t.Fatalf("pharm's import: %s", out)
	}
	for serial, want := range map[string]supply.Status{sn("1"): supply.StatusDispensed, sn("2"): supply.StatusActive, sn("3"): supply.StatusDecommissioned, sn("90"): supply.StatusUnknown} {
		if v, err := clients("acme/admin").SupplyVerify(ctx, supply.Scan{GTIN: supplyGTIN, Serial: serial}); err != nil || v.Status != want {
			t.Errorf("unit %s: %+v %v, want %s", serial, v, err, want)
		}
	}

	// Each organization exports its own events, valid for epcis2.js.
	for _, tc := range []struct{ as, want string }{
		{"acme/admin", "commission ship flag decommission"},
		{"dist/admin", "receive ship"},
		{"pharm/admin", "receive dispense"},
	} {
		file, evs := exportEPCIS(t, env, sup, filepath.Join(dir, strings.ReplaceAll(tc.as, "/", "-")+"-export.json"), tc.as, "--gtin", supplyGTIN)
		if got := actions(evs); got != tc.want || !strings.Contains(string(mustReadFile(t, file)), supply.UnitURI(supplyGTIN, sn("1"))) {
			t.Fatalf("%s's export: %s, want %s: %+v", tc.as, got, tc.want, evs)
		}
		for _, internal := range []string{"custody", "label", "claim", "receive/"} {
			if strings.Contains(strings.ToLower(string(mustReadFile(t, file))), internal) {
				t.Errorf("%s's export holds %q", tc.as, internal)
			}
		}
		validateEPCIS(t, file, true, fmt.Sprintf(`"events":%d`, len(evs)))
	}
	if _, evs := exportEPCIS(t, env, sup, filepath.Join(dir, "rival-export.json"), "rival/admin"); len(evs) != 0 {
		t.Fatalf("rival's export: %+v", evs)
	}
	rival := clients("rival/admin")
	raw, err := rival.Raw(ctx, "/v1/supply/epcis/events?MATCH_epc="+supply.UnitURI(supplyGTIN, sn("1")))
	if err != nil || strings.Contains(string(raw), sn("1")) || strings.Contains(string(raw), "eventTime") {
		t.Fatalf("rival's query by EPC: %v %s", err, raw)
	}
	t.Logf("private EPCIS import, capture and exports took %v", time.Since(started).Round(time.Millisecond))

	privateSupplyRefusals(t, env, home, addr, sn)
	p.interrupt(t)
	// acme: ship, flag, decommission; dist: receive, ship; pharm: receive,
	// dispense. Nothing more: no refused request submitted a transfer.
	if got := transferActions(t, home); got != "ship flag decommission receive ship receive dispense" {
		t.Fatalf("the transfers in the blocks: %q", got)
	}
	noPlaintext(t, home, "", inPlainOrBase64([]string{sn("1"), sn("2"), sn("3"), sn("90")})...)
}

// epcisClients makes signed API clients of the node at addr, their keys
// from home's keystore.
func epcisClients(t *testing.T, home, addr string) func(who string) *nodeapi.Client {
	t.Helper()
	ks, err := keystore.Open(node.Home(home).KeysDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	return func(who string) *nodeapi.Client {
		t.Helper()
		k, err := ks.Unlock(strings.ReplaceAll(who, "/", "."), []byte(testPassphrase))
		if err != nil {
			t.Fatal(err)
		}
		return nodeapi.NewClient(addr).As(who, k)
	}
}

// privateSupplyRefusals asks POST /v1/supply/transfers and
// /v1/supply/custody-keys as callers who may not, or with bodies that do
// not parse, and wants each refused with its status; the caller checks
// that none submitted anything.
func privateSupplyRefusals(t *testing.T, env []string, home, addr string, sn func(string) string) {
	t.Helper()
	keys := []string{"--home", home}
	pub := func(name string, extra ...string) string {
		return strings.TrimSpace(mustRun(t, env, append(append([]string{"keys", "export-public", name}, extra...), keys...)...))
	}
	mustRun(t, env, append([]string{"keys", "new", "acme.auditor"}, keys...)...)
	mustRun(t, env, append([]string{"keys", "new", "patient.pq7", "--kind", "patient"}, keys...)...)
	reg := func(args ...string) {
		mustRun(t, env, append(append([]string{"tx", "register", "--node", addr}, args...), keys...)...)
	}
	reg("--as", "acme/admin", "--id", "acme/auditor", "--role", "auditor", "--pubkey", pub("acme.auditor"))
	reg("--as", "pharm/admin", "--kind", "patient", "--id", "patient/pq7", "--pubkey", pub("patient.pq7"), "--encryption-key", pub("patient.pq7", "--encryption"))
	clients := epcisClients(t, home, addr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := nodeapi.NewClient(addr).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ship := records.SupplyTransferRequest{Action: supply.ActShip, GTIN: supplyGTIN, Serials: []string{sn("2")}, To: "pharm"}
	ck := nodeapi.CustodyKeyRequest{GTIN: supplyGTIN, Serials: []string{sn("50")}}
	anonymous := nodeapi.NewClient(addr)
	for _, tc := range []struct {
		name   string
		cl     *nodeapi.Client
		path   string
		body   any // or []byte, sent as is
		status int
		want   string
	}{
		{"anonymous transfer", anonymous, "/v1/supply/transfers", ship, 401, "sign the request"},
		{"anonymous custody key", anonymous, "/v1/supply/custody-keys", ck, 401, "sign the request"},
		{"patient's transfer", clients("patient/pq7"), "/v1/supply/transfers", ship, 403, "does not act in the supply chain"},
		{"patient's custody key", clients("patient/pq7"), "/v1/supply/custody-keys", ck, 403, "does not act in the supply chain"},
		{"auditor's transfer", clients("acme/auditor"), "/v1/supply/transfers", ship, 403, "does not act in the supply chain"},
		{"auditor's custody key", clients("acme/auditor"), "/v1/supply/custody-keys", ck, 403, "does not act in the supply chain"},
		// Staff of other organizations naming units they do not hold.
		{"rival ships dist's unit", clients("rival/admin"), "/v1/supply/transfers", ship, 403, "rival holds no key of product"},
		{"acme ships dist's unit", clients("acme/admin"), "/v1/supply/transfers", ship, 403, "not held by your organization"},
		{"pharm decommissions dist's unit", clients("pharm/admin"), "/v1/supply/transfers",
			records.SupplyTransferRequest{Action: supply.ActDecommission, GTIN: supplyGTIN, Serials: []string{sn("2")}}, 403, "not held by your organization"},
		{"dist receives its unit again", clients("dist/admin"), "/v1/supply/transfers",
			records.SupplyTransferRequest{Action: supply.ActReceive, GTIN: supplyGTIN, Serials: []string{sn("2")}}, 403, "no pending shipment"},
		{"dist's custody key for acme's product", clients("dist/admin"), "/v1/supply/custody-keys", ck, 422, "not a private product of dist"},
		{"rival's custody key for acme's product", clients("rival/admin"), "/v1/supply/custody-keys", ck, 422, "not a private product of rival"},
		// Malformed bodies.
		{"transfer not JSON", clients("dist/admin"), "/v1/supply/transfers", []byte(`{"action":`), 400, "read the request body"},
		{"transfer of a wrong shape", clients("dist/admin"), "/v1/supply/transfers", []byte(`{"serials":"PEX9K2"}`), 400, "read the request body"},
		{"custody key not JSON", clients("acme/admin"), "/v1/supply/custody-keys", []byte(`[`), 400, "read the request body"},
		{"transfer of an unknown action", clients("dist/admin"), "/v1/supply/transfers",
			records.SupplyTransferRequest{Action: "steal", GTIN: supplyGTIN, Serials: []string{sn("2")}}, 422, `action \"steal\"`},
		{"custody key for no serial", clients("acme/admin"), "/v1/supply/custody-keys", nodeapi.CustodyKeyRequest{GTIN: supplyGTIN}, 422, "name 1 to"},
	} {
		status, body := postSigned(t, ctx, tc.cl, addr, st.NodeID, tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s: HTTP %d %s, want %d and %q", tc.name, status, body, tc.status, tc.want)
		}
	}
	// The stock answers the organization's supply staff only.
	for who, want := range map[string]int{"": 401, "patient/pq7": 403, "acme/auditor": 403} {
		cl := anonymous
		if who != "" {
			cl = clients(who)
		}
		var se *nodeapi.StatusError
		if _, err := cl.SupplyStock(ctx); !errors.As(err, &se) || se.Status != want {
			t.Errorf("GET /v1/supply/stock by %q: %v, want HTTP %d", who, err, want)
		}
	}
	// The unit named stays where it was.
	if v, err := clients("dist/admin").SupplyVerify(ctx, supply.Scan{GTIN: supplyGTIN, Serial: sn("2"), Seller: "dist"}); err != nil || !v.Genuine || v.Custodian != "dist" {
		t.Fatalf("dist's unit after the refusals: %+v %v", v, err)
	}
}

// postSigned posts body (JSON, or the bytes as they are) to path as cl's
// signer (unsigned if cl signs for nobody) and returns the status and the
// answer.
func postSigned(t *testing.T, ctx context.Context, cl *nodeapi.Client, addr, nodeID, path string, body any) (int, string) {
	t.Helper()
	b, ok := body.([]byte)
	if !ok {
		b = []byte(mustJSON(t, body))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cl.Key != nil {
		nodeapi.SignRequest(req, cl.Signer, cl.Key, nodeID, time.Now())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return resp.StatusCode, out.String()
}

// transferActions is the actions of the supply.transfer transactions in
// the blocks of the stopped node at home, in order.
func transferActions(t *testing.T, home string) string {
	t.Helper()
	var got []string
	err := node.CommittedTxs(node.Home(home), func(_ int64, raw []byte) error {
		s, err := tx.Decode(raw)
		if err != nil || s.Type != tx.TypeSupplyTransfer {
			return err
		}
		var tr tx.SupplyTransfer
		if err := tx.Unmarshal(s.Body, &tr); err != nil {
			return err
		}
		got = append(got, tr.Action)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(got, " ")
}
