package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

const chainID = "test-chain"

func key(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func pub(seed byte) ed25519.PublicKey { return key(seed).Public().(ed25519.PublicKey) }

// encKey is a deterministic HPKE key, so genesis (and app hashes) repeat.
func encKey(t testing.TB, seed byte) *seal.PrivateKey {
	k, err := seal.ParsePrivateKey(bytes.Repeat([]byte{seed}, seal.PrivateKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// harness drives an App through ABCI calls, as CometBFT would.
type harness struct {
	t      testing.TB
	app    *App
	height int64
	nonces map[string]uint64
	keys   map[string]ed25519.PrivateKey
	// shift moves block times from blockTime's, for rules CheckTx judges
	// at the wall clock.
	shift time.Duration
}

// at returns the committed state at height (0: the last).
func (h *harness) at(height int64) *View {
	h.t.Helper()
	v, err := h.app.View(height)
	if err != nil {
		h.t.Fatal(err)
	}
	return v
}

func newHarness(t testing.TB) *harness { return newHarnessWith(t, nil) }

// newHarnessWith starts from the harness's genesis after edit (nil: as is).
func newHarnessWith(t testing.TB, edit func(*Genesis)) *harness {
	t.Helper()
	return newHarnessInit(t, edit, nil)
}

// newHarnessInit is newHarnessWith with vals as CometBFT's genesis validators.
func newHarnessInit(t testing.TB, edit func(*Genesis), vals []abci.ValidatorUpdate) *harness {
	t.Helper()
	return newHarnessOpts(t, edit, vals, Options{ChainID: chainID})
}

// newHarnessOpts is newHarnessInit with the app's options.
func newHarnessOpts(t testing.TB, edit func(*Genesis), vals []abci.ValidatorUpdate, opts Options) *harness {
	t.Helper()
	return newHarnessParams(t, edit, vals, opts, nil)
}

// newHarnessParams is newHarnessOpts with params as the genesis consensus parameters.
func newHarnessParams(t testing.TB, edit func(*Genesis), vals []abci.ValidatorUpdate, opts Options, params *cmtproto.ConsensusParams) *harness {
	t.Helper()
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	g := Genesis{Organizations: []GenesisOrg{
		{Organization: carechain.Organization{ID: "hosp-a", Name: "Hospital A", Type: carechain.OrgHospital, EncryptionKey: encKey(t, 1).Public().Bytes()},
			Admins: []GenesisAdmin{{ID: "hosp-a/admin", PublicKey: pub(1)}}},
		{Organization: carechain.Organization{ID: "hosp-b", Name: "Hospital B", Type: carechain.OrgHospital, EncryptionKey: encKey(t, 2).Public().Bytes()},
			Admins: []GenesisAdmin{{ID: "hosp-b/admin", PublicKey: pub(2)}}},
	}}
	if edit != nil {
		edit(&g)
	}
	state, _ := json.Marshal(g)
	if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: chainID, AppStateBytes: state, InitialHeight: 1, Validators: vals, ConsensusParams: params}); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, app: app, nonces: map[string]uint64{}, keys: map[string]ed25519.PrivateKey{
		"hosp-a/admin": key(1), "hosp-b/admin": key(2),
	}}
}

// sign builds a tx from signer with its next nonce.
func (h *harness) sign(signer string, typ tx.Type, body any) []byte {
	h.t.Helper()
	h.nonces[signer]++
	raw, err := tx.Sign(h.keys[signer], chainID, signer, h.nonces[signer], typ, body)
	if err != nil {
		h.t.Fatal(err)
	}
	return raw
}

func (h *harness) checkResp(raw []byte) *abci.CheckTxResponse {
	h.t.Helper()
	resp, err := h.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_CHECK})
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

// blockResp commits a block of one tx and returns its code and log.
func (h *harness) blockResp(raw []byte) (Code, string) {
	h.t.Helper()
	h.height++
	resp, err := h.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: h.height, Txs: [][]byte{raw}, Time: blockTime(h.height).Add(h.shift)})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		h.t.Fatal(err)
	}
	return Code(resp.TxResults[0].Code), resp.TxResults[0].Log
}

// blockTime is a deterministic block time: a second per height from 2026-01-01.
func blockTime(height int64) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(height) * time.Second)
}

func (h *harness) check(raw []byte) Code {
	h.t.Helper()
	resp, err := h.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: raw, Type: abci.CHECK_TX_TYPE_CHECK})
	if err != nil {
		h.t.Fatal(err)
	}
	return Code(resp.Code)
}

// block finalizes and commits txs, returning their codes.
func (h *harness) block(txs ...[]byte) []Code {
	h.t.Helper()
	h.height++
	resp, err := h.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: h.height, Txs: txs, Time: blockTime(h.height).Add(h.shift)})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		h.t.Fatal(err)
	}
	codes := make([]Code, len(txs))
	for i, r := range resp.TxResults {
		codes[i] = Code(r.Code)
	}
	return codes
}

// commitEdited commits a block of state that edit writes directly, not
// through transactions: state as an older carechain left it.
func (h *harness) commitEdited(edit func(b *store.Block) error) {
	h.t.Helper()
	b := h.app.store.NewBlock(h.height + 1)
	if err := edit(b); err != nil {
		h.t.Fatal(err)
	}
	prev, err := h.app.CommitInfo(h.height)
	if err != nil {
		h.t.Fatal(err)
	}
	info, err := blockInfo(prev, b)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.app.store.Commit(b, info.AppHash(), mustMarshal(info)); err != nil {
		h.t.Fatal(err)
	}
	h.height++
}

func (h *harness) register(signer, id string, kind carechain.Kind, seed byte, roles ...carechain.Role) []byte {
	h.keys[id] = key(seed)
	return h.sign(signer, tx.TypeRegister, &tx.Register{ID: id, Kind: kind, Roles: roles, PublicKey: pub(seed)})
}

func TestRegisterIsQueryableAtHeight(t *testing.T) {
	h := newHarness(t)
	raw := h.register("hosp-a/admin", "hosp-a/dr-house", carechain.KindPractitioner, 10, carechain.RolePhysician)
	if c := h.check(raw); c != CodeOK {
		t.Fatalf("CheckTx = %v", c)
	}
	if c := h.block(raw); c[0] != CodeOK {
		t.Fatalf("FinalizeBlock = %v", c)
	}
	p, err := h.at(0).Principal("hosp-a/dr-house")
	if err != nil {
		t.Fatal(err)
	}
	if p.Kind != carechain.KindPractitioner || p.Org != "hosp-a" || !p.HasRole(carechain.RolePhysician) || !p.PublicKey.Equal(pub(10)) || p.RegisteredAt != 1 {
		t.Fatalf("principal = %+v", p)
	}
	if _, err := h.at(0 + 0).Principal("hosp-a/dr-house"); err != nil {
		t.Fatal(err)
	}
	h.block() // height 2
	if _, err := h.at(1).Principal("hosp-a/dr-house"); err != nil {
		t.Fatalf("at height 1: %v", err)
	}
	// Genesis is height 0 internally; at the first block the admin exists, the practitioner did not before it.
	st, err := h.at(0).Tx(sha(raw))
	if err != nil || st.Height != 1 || st.Signer != "hosp-a/admin" {
		t.Fatalf("tx status = %+v, %v", st, err)
	}
	if n, _ := h.at(0).NextNonce("hosp-a/admin"); n != 2 {
		t.Fatalf("next nonce = %d, want 2", n)
	}
}

func TestPrincipalHistoryAcrossRotateAndRevoke(t *testing.T) {
	h := newHarness(t)
	h.block(h.register("hosp-a/admin", "hosp-a/dr-a", carechain.KindPractitioner, 10, carechain.RolePhysician)) // 1
	h.block(h.rotate("hosp-a/dr-a", 11))                                                                        // 2
	h.block(h.sign("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/dr-a", Reason: "left"}))               // 3
	for _, c := range []struct {
		height  int64
		key     ed25519.PublicKey
		status  carechain.Status
		version uint32
	}{{1, pub(10), carechain.StatusActive, 1}, {2, pub(11), carechain.StatusActive, 2}, {3, pub(11), carechain.StatusRevoked, 2}} {
		p, err := h.at(c.height).Principal("hosp-a/dr-a")
		if err != nil {
			t.Fatal(err)
		}
		if !p.PublicKey.Equal(c.key) || p.Status != c.status || p.KeyVersion != c.version {
			t.Errorf("at %d: %+v", c.height, p)
		}
	}
}

func (h *harness) rotate(id string, seed byte) []byte {
	h.t.Helper()
	nonce := h.nonces[id] + 1
	proof := ed25519.Sign(key(seed), tx.RotationMessage(chainID, id, nonce, pub(seed)))
	raw := h.sign(id, tx.TypeRotate, &tx.Rotate{NewKey: pub(seed), Proof: proof})
	h.keys[id] = key(seed)
	return raw
}

func sha(raw []byte) [32]byte {
	s, _ := tx.Decode(raw)
	return s.Hash
}

// TestRejections produces every rejection code and states which refusals
// are admission refusals: CheckTx refuses those (bytes, size, the body's
// stateless rules, chain, signer, signature, nonce), so they never reach
// the mempool. Every other refusal comes from the rules of the
// transaction's type, which CheckTx does not run: it admits the
// transaction. FinalizeBlock refuses every one of them, admission refusals
// included (a proposer need not have checked), with the same code, and a
// refused transaction changes no state: not even its signer's nonce.
func TestRejections(t *testing.T) {
	type setup func(h *harness) []byte
	signRaw := func(k ed25519.PrivateKey, chain, signer string, nonce uint64, typ tx.Type, body any) []byte {
		raw, err := tx.Sign(k, chain, signer, nonce, typ, body)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	reg := func(id string, seed byte) *tx.Register {
		return &tx.Register{ID: id, Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician}, PublicKey: pub(seed)}
	}
	const admission, commit = true, false
	cases := []struct {
		name string
		make setup
		want Code
		// admission: CheckTx refuses it; else CheckTx admits it and only
		// FinalizeBlock refuses it.
		admission bool
	}{
		{"malformed bytes", func(h *harness) []byte { return []byte("\xa1\x01hello") }, CodeMalformed, admission},
		{"too large", func(h *harness) []byte { return make([]byte, tx.MaxTxBytes+1) }, CodeTooLarge, admission},
		{"unknown type", func(h *harness) []byte {
			return signRaw(key(1), chainID, "hosp-a/admin", 1, "record.burn", &tx.Revoke{ID: "hosp-a/x"})
		}, CodeUnknownType, admission},
		{"bad signature", func(h *harness) []byte {
			return signRaw(key(99), chainID, "hosp-a/admin", 1, tx.TypeRegister, reg("hosp-a/x", 20))
		}, CodeBadSignature, admission},
		{"wrong chain id", func(h *harness) []byte {
			return signRaw(key(1), "other-chain", "hosp-a/admin", 1, tx.TypeRegister, reg("hosp-a/x", 20))
		}, CodeWrongChain, admission},
		{"replayed nonce", func(h *harness) []byte {
			h.block(h.register("hosp-a/admin", "hosp-a/y", carechain.KindPractitioner, 21)) // uses nonce 1
			return signRaw(key(1), chainID, "hosp-a/admin", 1, tx.TypeRegister, reg("hosp-a/x", 20))
		}, CodeBadNonce, admission},
		{"stale nonce", func(h *harness) []byte {
			h.nonces["hosp-a/admin"] = 5
			h.block(h.register("hosp-a/admin", "hosp-a/y", carechain.KindPractitioner, 21)) // uses nonce 6
			return signRaw(key(1), chainID, "hosp-a/admin", 3, tx.TypeRegister, reg("hosp-a/x", 20))
		}, CodeBadNonce, admission},
		{"unknown signer", func(h *harness) []byte {
			return signRaw(key(50), chainID, "hosp-a/ghost", 1, tx.TypeRegister, reg("hosp-a/x", 20))
		}, CodeUnknownSigner, admission},
		{"revoked signer", func(h *harness) []byte {
			h.block(h.register("hosp-a/admin", "hosp-a/dr-r", carechain.KindPractitioner, 22, carechain.RoleRegistrationClerk))
			h.block(h.sign("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/dr-r"}))
			return h.register("hosp-a/dr-r", "patient/p1", carechain.KindPatient, 23)
		}, CodeRevokedSigner, admission},
		{"unauthorized: other org's admin", func(h *harness) []byte {
			return h.register("hosp-b/admin", "hosp-a/x", carechain.KindPractitioner, 20)
		}, CodeUnauthorized, commit},
		{"unauthorized: physician registers patient", func(h *harness) []byte {
			h.block(h.register("hosp-a/admin", "hosp-a/dr-p", carechain.KindPractitioner, 24, carechain.RolePhysician))
			return h.register("hosp-a/dr-p", "patient/p2", carechain.KindPatient, 25)
		}, CodeUnauthorized, commit},
		{"unauthorized: admin revokes patient", func(h *harness) []byte {
			h.block(h.register("hosp-a/admin", "patient/p3", carechain.KindPatient, 26))
			return h.sign("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "patient/p3"})
		}, CodeUnauthorized, commit},
		{"unauthorized: a node signs what nodes may not", func(h *harness) []byte {
			h.block(h.registerNode("hosp-a/admin", "hosp-a/node0", nodeID(1), 27))
			return h.register("hosp-a/node0", "hosp-a/x", carechain.KindPractitioner, 20)
		}, CodeUnauthorized, admission},
		{"invalid: unknown org", func(h *harness) []byte {
			return h.register("hosp-a/admin", "nowhere/x", carechain.KindPractitioner, 20)
		}, CodeInvalid, commit},
		{"invalid: body rule", func(h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: "patient/p", Kind: carechain.KindPatient, Name: "Alice", PublicKey: pub(20)})
		}, CodeInvalid, admission},
		{"conflict: id taken", func(h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeRegister, &tx.Register{ID: "hosp-a/admin", Kind: carechain.KindAdmin, PublicKey: pub(20)})
		}, CodeConflict, commit},
		{"conflict: key reused", func(h *harness) []byte {
			return h.register("hosp-a/admin", "hosp-a/x", carechain.KindPractitioner, 2) // hosp-b admin's key
		}, CodeConflict, commit},
		{"bad rotation proof", func(h *harness) []byte {
			return h.sign("hosp-a/admin", tx.TypeRotate, &tx.Rotate{NewKey: pub(30), Proof: make([]byte, 64)})
		}, CodeBadSignature, commit},
	}
	for _, c := range cases {
		for _, stage := range []Stage{StageCheck, StageFinalize} {
			t.Run(c.name+"/"+string(stage), func(t *testing.T) {
				h := newHarness(t)
				raw := c.make(h)
				before, err := h.app.LastCommit()
				if err != nil {
					t.Fatal(err)
				}
				beforeState := dumpState(t, h.app)
				if stage == StageCheck {
					want := CodeOK // admitted: the rules of its type are FinalizeBlock's
					if c.admission {
						want = c.want
					}
					if got := h.check(raw); got != want {
						t.Fatalf("CheckTx: code = %v, want %v", got, want)
					}
					if after := dumpState(t, h.app); after != beforeState {
						t.Fatal("CheckTx changed state")
					}
					return
				}
				if got := h.block(raw)[0]; got != c.want {
					t.Fatalf("FinalizeBlock: code = %v, want %v", got, c.want)
				}
				// The block committed, but the rejected tx wrote nothing.
				after := dumpState(t, h.app)
				if after != beforeState {
					t.Fatalf("rejected tx changed state:\nbefore %s\nafter  %s", beforeState, after)
				}
				last, _ := h.app.LastCommit()
				if last.Height != before.Height+1 {
					t.Fatalf("height %d -> %d", before.Height, last.Height)
				}
			})
		}
	}
}

func dumpState(t testing.TB, a *App) string {
	t.Helper()
	var buf bytes.Buffer
	if err := a.store.Scan("", 0, func(k string, v []byte) error {
		buf.WriteString(k)
		buf.WriteByte('=')
		buf.Write(v)
		buf.WriteByte(';')
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// judge submits raw at stage and checks it is refused with code, a reason
// containing reason, and no change of state. At StageCheck the transaction
// goes the way of a submitted one: through CheckTx and, if admitted (the
// refusal is not one of admission, see TestRejections), into a block, where
// FinalizeBlock must refuse it.
func (h *harness) judge(raw []byte, stage Stage, want Code, reason string) {
	h.t.Helper()
	before := dumpState(h.t, h.app)
	var code Code
	var log string
	if stage == StageCheck {
		resp := h.checkResp(raw)
		code, log = Code(resp.Code), resp.Log
	}
	if code == CodeOK {
		code, log = h.blockResp(raw)
	}
	if code != want || !strings.Contains(log, reason) {
		h.t.Fatalf("got %v %q, want %v containing %q", code, log, want, reason)
	}
	if after := dumpState(h.t, h.app); after != before {
		h.t.Fatal("a rejected transaction changed state")
	}
}

func TestRevokedKeyRejectedFromThatHeightOn(t *testing.T) {
	h := newHarness(t)
	h.block(h.register("hosp-a/admin", "hosp-a/clerk", carechain.KindPractitioner, 10, carechain.RoleRegistrationClerk))
	// Same block: the clerk registers a patient, then is revoked, then tries again.
	first := h.register("hosp-a/clerk", "patient/one", carechain.KindPatient, 11)
	revoke := h.sign("hosp-a/admin", tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/clerk"})
	second := h.register("hosp-a/clerk", "patient/two", carechain.KindPatient, 12)
	got := h.block(first, revoke, second)
	if want := []Code{CodeOK, CodeOK, CodeRevokedSigner}; !equalCodes(got, want) {
		t.Fatalf("codes %v, want %v", got, want)
	}
	if _, err := h.at(0).Principal("patient/two"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("patient/two: %v, want not found", err)
	}
	// Patients revoke their own key.
	h.keys["patient/one"] = key(11)
	if got := h.block(h.sign("patient/one", tx.TypeRevoke, &tx.Revoke{ID: "patient/one"})); got[0] != CodeOK {
		t.Fatalf("self-revoke: %v", got)
	}
}

func TestRotatedOldKeyNoLongerSigns(t *testing.T) {
	h := newHarness(t)
	h.block(h.rotate("hosp-a/admin", 40))
	old, err := tx.Sign(key(1), chainID, "hosp-a/admin", 10, tx.TypeRevoke, &tx.Revoke{ID: "hosp-a/admin"})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.block(old); got[0] != CodeBadSignature {
		t.Fatalf("old key: %v", got)
	}
	if got := h.block(h.register("hosp-a/admin", "hosp-a/new", carechain.KindPractitioner, 41)); got[0] != CodeOK {
		t.Fatalf("new key: %v", got)
	}
}

func TestCheckTxRejectsSecondUseOfNonceInMempool(t *testing.T) {
	h := newHarness(t)
	a := h.register("hosp-a/admin", "hosp-a/x", carechain.KindPractitioner, 10)
	h.nonces["hosp-a/admin"]-- // same nonce, different tx
	b := h.register("hosp-a/admin", "hosp-a/y", carechain.KindPractitioner, 11)
	if c := h.check(a); c != CodeOK {
		t.Fatal(c)
	}
	if c := h.check(b); c != CodeBadNonce {
		t.Fatalf("second tx with same nonce: %v", c)
	}
}

// TestAdmittedThenRefusedInBlock: CheckTx admits a signer's transaction
// that the rules of its type refuse, and the next one after it; the block
// refuses the first, which writes nothing and leaves its nonce unused, and
// accepts the second (nonces must rise, not be consecutive).
func TestAdmittedThenRefusedInBlock(t *testing.T) {
	h := newHarness(t)
	refused := h.register("hosp-a/admin", "nowhere/x", carechain.KindPractitioner, 10) // no organization "nowhere"
	next := h.register("hosp-a/admin", "hosp-a/y", carechain.KindPractitioner, 11)
	for _, raw := range [][]byte{refused, next} {
		if c := h.check(raw); c != CodeOK {
			t.Fatalf("CheckTx = %v, want ok", c)
		}
	}
	if got := h.block(refused, next); !equalCodes(got, []Code{CodeInvalid, CodeOK}) {
		t.Fatalf("codes %v, want [invalid ok]", got)
	}
	if _, err := h.at(0).Principal("nowhere/x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused registration: %v, want not found", err)
	}
	if _, err := h.at(0).Tx(sha(refused)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("refused tx status: %v, want not found", err)
	}
	if n, _ := h.at(0).NextNonce("hosp-a/admin"); n != 3 {
		t.Fatalf("next nonce = %d, want 3", n)
	}
}

func TestSameTxsSameAppHash(t *testing.T) {
	run := func() []byte {
		h := newHarness(t)
		h.block(h.register("hosp-a/admin", "hosp-a/x", carechain.KindPractitioner, 10), []byte("junk"))
		h.block(h.register("hosp-b/admin", "hosp-b/y", carechain.KindPractitioner, 11))
		c, _ := h.app.LastCommit()
		return c.AppHash
	}
	a, b := run(), run()
	if !bytes.Equal(a, b) {
		t.Fatalf("app hashes differ: %X vs %X", a, b)
	}
	h := newHarness(t)
	h.block(h.register("hosp-a/admin", "hosp-a/x", carechain.KindPractitioner, 10))
	h.block(h.register("hosp-b/admin", "hosp-b/z", carechain.KindPractitioner, 11))
	c, _ := h.app.LastCommit()
	if bytes.Equal(a, c.AppHash) {
		t.Fatal("different txs give the same app hash")
	}
}

func equalCodes(a, b []Code) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
