package node

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// recordHome builds a stopped single-node home holding n record versions
// and returns it with the ID of one record and the keys to read it.
func recordHome(t *testing.T, n int) (Home, string, *records.Keyring) {
	t.Helper()
	orgKey, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	g := testGenesis()
	g.Organizations[0].EncryptionKey = orgKey.Public().Bytes()
	h := Home(t.TempDir())
	c := DefaultConfig(testChain, "tamper")
	fastConfig(&c)
	port, _ := freePort()
	c.P2PAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := Init(h, InitOptions{Config: c, Genesis: g}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nd, err := Start(ctx, h, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := nd.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	kr := &records.Keyring{}
	kr.Add("hosp-a", orgKey)
	svc, err := records.New(nd, kr, records.Options{Node: "tamper"})
	if err != nil {
		t.Fatal(err)
	}
	_, drKey, _ := ed25519.GenerateKey(nil)
	dr := records.Signer{ID: "hosp-a/dr", Key: drKey}
	pek, _ := seal.GenerateKey()
	var setup [][]byte
	for i, r := range []*tx.Register{
		{ID: dr.ID, Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician}, PublicKey: drKey.Public().(ed25519.PublicKey)},
		{ID: "patient/t", Kind: carechain.KindPatient, PublicKey: seedKey(50).Public().(ed25519.PublicKey), EncryptionKey: pek.Public().Bytes()},
	} {
		raw, err := tx.Sign(seedKey(1), testChain, "hosp-a/admin", uint64(i+1), tx.TypeRegister, r)
		if err != nil {
			t.Fatal(err)
		}
		setup = append(setup, raw)
	}
	if err := allAccepted(nd.SubmitAll(ctx, setup)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Put(ctx, dr, records.PutItem{Patient: "patient/t", Category: "lab", RecordID: "rec-0", Resource: benchObservation(0)}); err != nil {
		t.Fatal(err)
	}
	var work [][]byte
	for i := 1; i < n; i++ {
		raw, err := svc.PreparePut(dr, uint64(i+1), "patient/t", "lab", fmt.Sprintf("rec-%d", i), 1, benchObservation(i))
		if err != nil {
			t.Fatal(err)
		}
		work = append(work, raw)
	}
	if _, err := nd.pipeline(ctx, work, 500); err != nil {
		t.Fatal(err)
	}
	// Wait for the proof block after the last write, then stop.
	top, _ := nd.App().Height()
	if err := nd.WaitHeight(ctx, top+1); err != nil {
		t.Fatal(err)
	}
	if err := nd.Stop(); err != nil {
		t.Fatal(err)
	}
	return h, "rec-500", kr
}

// alteration changes a copy of a home.
type alteration struct {
	name  string
	apply func(t *testing.T, h Home) error // an error: not applicable to this home
	// semantic alterations change committed data in a way the data's own
	// checks (checksums, hashes, signatures) must catch even without the
	// clean-stop manifest.
	semantic bool
}

func flipMiddle(path string) error {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return fmt.Errorf("nothing to flip in %s", path)
	}
	b[len(b)/2] ^= 0x40
	return os.WriteFile(path, b, 0o600)
}

func truncateHalf(path string) error {
	st, err := os.Stat(path)
	if err != nil || st.Size() < 2 {
		return fmt.Errorf("nothing to truncate in %s", path)
	}
	return os.Truncate(path, st.Size()/2)
}

// dataFiles lists the files of one kind under dir, largest first.
func dataFiles(dir string, match func(name string) bool) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && match(d.Name()) {
			out = append(out, p)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		a, _ := os.Stat(out[i])
		b, _ := os.Stat(out[j])
		return a.Size() > b.Size()
	})
	return out
}

func alterations(h Home) []alteration {
	var alts []alteration
	kinds := []struct {
		dir, kind string
		match     func(string) bool
	}{
		{h.StateDir(), "Pebble SST", func(n string) bool { return strings.HasSuffix(n, ".sst") }},
		{h.StateDir(), "Pebble WAL", func(n string) bool { return strings.HasSuffix(n, ".log") }},
		{h.StateDir(), "Pebble MANIFEST", func(n string) bool { return strings.HasPrefix(n, "MANIFEST-") }},
		{filepath.Join(h.DataDir(), "blockstore.db"), "block store table", func(n string) bool { return strings.HasSuffix(n, ".ldb") }},
		{filepath.Join(h.DataDir(), "blockstore.db"), "block store journal", func(n string) bool { return strings.HasSuffix(n, ".log") }},
		{filepath.Join(h.DataDir(), "state.db"), "state table", func(n string) bool { return strings.HasSuffix(n, ".ldb") }},
		{filepath.Join(h.DataDir(), "state.db"), "state journal", func(n string) bool { return strings.HasSuffix(n, ".log") }},
		{filepath.Join(h.DataDir(), "cs.wal"), "consensus WAL", func(n string) bool { return n == "wal" }},
	}
	for _, k := range kinds {
		for i, f := range dataFiles(k.dir, k.match) {
			if i >= 3 {
				break // the three largest of each kind
			}
			rel, _ := filepath.Rel(string(h), f)
			sem := strings.Contains(k.kind, "SST") || strings.Contains(k.kind, "table")
			alts = append(alts, alteration{fmt.Sprintf("flip a byte in %s %s", k.kind, rel), func(t *testing.T, h Home) error { return flipMiddle(filepath.Join(string(h), rel)) }, sem})
			if i == 0 {
				alts = append(alts, alteration{fmt.Sprintf("truncate %s %s", k.kind, rel), func(t *testing.T, h Home) error { return truncateHalf(filepath.Join(string(h), rel)) }, sem})
			}
		}
	}
	return append(alts,
		alteration{"delete a record version through Pebble's API", func(t *testing.T, h Home) error {
			return withPebble(h, func(db *pebble.DB, height int64) error {
				key := "version/rec-500/00000000000000000001"
				if err := db.Delete(rawStateKey(key, height), pebble.Sync); err != nil {
					return err
				}
				return db.Delete(append([]byte{'l'}, key...), pebble.Sync)
			})
		}, true},
		alteration{"rewrite a record ciphertext with a valid-looking value (hash updated)", func(t *testing.T, h Home) error {
			return withPebble(h, func(db *pebble.DB, height int64) error {
				return rewriteRecord(db, height, "rec-500", func(rv *carechain.RecordVersion) {
					rv.Ciphertext[10] ^= 1
					sum := sha256Sum(rv.Ciphertext)
					rv.CiphertextHash = sum
				})
			})
		}, true},
		alteration{"move a record to another patient", func(t *testing.T, h Home) error {
			return withPebble(h, func(db *pebble.DB, height int64) error {
				return rewriteRecord(db, height, "rec-500", func(rv *carechain.RecordVersion) { rv.Patient = "patient/other" })
			})
		}, true},
	)
}

// recordHeight finds the height rec-500 version 1 was written at.
func withPebble(h Home, fn func(db *pebble.DB, height int64) error) error {
	db, err := pebble.Open(h.StateDir(), &pebble.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	key := "version/rec-500/00000000000000000001"
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: append([]byte{'s'}, key...), UpperBound: append(append([]byte{'s'}, key...), 1)})
	if err != nil {
		return err
	}
	if !it.First() {
		it.Close()
		return errors.New("record version not found")
	}
	k := it.Key()
	height := int64(^binary.BigEndian.Uint64(k[len(k)-8:]))
	it.Close()
	return fn(db, height)
}

func rawStateKey(key string, height int64) []byte {
	b := append([]byte{'s'}, key...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, ^uint64(height))
}

func rewriteRecord(db *pebble.DB, height int64, id string, change func(*carechain.RecordVersion)) error {
	key := "version/" + id + "/00000000000000000001"
	v, closer, err := db.Get(rawStateKey(key, height))
	if err != nil {
		return err
	}
	var rv carechain.RecordVersion
	err = tx.Unmarshal(v[1:], &rv)
	closer.Close()
	if err != nil {
		return err
	}
	change(&rv)
	enc, err := tx.Marshal(rv)
	if err != nil {
		return err
	}
	val := append([]byte{1}, enc...)
	if err := db.Set(rawStateKey(key, height), val, pebble.Sync); err != nil {
		return err
	}
	return db.Set(append([]byte{'l'}, key...), val, pebble.Sync)
}

// TestTamperMatrix applies many alterations to copies of a stopped node's
// home with 1,000 records; each must be caught by VerifyHome, or the node must
// refuse to start, or refuse to serve the altered record.
func TestTamperMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a home with 1,000 records")
	}
	template, recID, kr := recordHome(t, 1000)
	if rep, err := VerifyHome(template, nil); err != nil {
		t.Fatalf("untouched home: %v", err)
	} else if rep.Records < 1000 {
		t.Fatalf("home has %d records", rep.Records)
	}
	tried, detected := 0, 0
	for _, alt := range alterations(template) {
		t.Run(alt.name, func(t *testing.T) {
			h := Home(t.TempDir())
			if err := os.CopyFS(string(h), os.DirFS(string(template))); err != nil {
				t.Fatal(err)
			}
			if err := alt.apply(t, h); err != nil {
				t.Skipf("not applicable: %v", err)
			}
			tried++
			how, err := detect(h, recID, kr)
			if err != nil {
				t.Errorf("NOT DETECTED: %v", err)
				return
			}
			detected++
			t.Logf("detected: %s", how)
			// Without the clean-stop manifest (as after a crash), changes to
			// committed data must still be caught by the data's own checks.
			if alt.semantic {
				if err := os.Remove(h.manifestFile()); err != nil {
					t.Fatal(err)
				}
				how, err := detect(h, recID, kr)
				if err != nil {
					t.Errorf("NOT DETECTED without the manifest: %v", err)
					return
				}
				t.Logf("detected without the manifest: %s", how)
			}
			// A record changed through Pebble is refused by a running node
			// itself, without `carechain verify`.
			if strings.Contains(alt.name, "record") {
				how, err := serves(h, recID, kr)
				if err != nil {
					t.Errorf("a running node served the altered record: %v", err)
					return
				}
				t.Logf("running node: %s", how)
			}
		})
	}
	t.Logf("tamper matrix: %d alterations tried, %d detected", tried, detected)
	if tried < 10 || detected != tried {
		t.Fatalf("%d of %d alterations detected", detected, tried)
	}
}

// detect reports how an altered home was caught, or an error if it was not.
func detect(h Home, recID string, kr *records.Keyring) (string, error) {
	if _, err := VerifyHome(h, nil); err != nil {
		return "verify: " + err.Error(), nil
	}
	return serves(h, recID, kr)
}

// serves starts the node on h and reads the record; it reports how the node
// refused, or an error if it served the record.
func serves(h Home, recID string, kr *records.Keyring) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, h, StartOptions{})
	if err != nil {
		return "refused to start: " + err.Error(), nil
	}
	defer n.Stop()
	if err := n.WaitReady(ctx); err != nil {
		return "never became ready: " + err.Error(), nil
	}
	svc, err := records.New(n, kr, records.Options{Node: "check"})
	if err != nil {
		return "", err
	}
	if _, err := svc.Read(ctx, "hosp-a/dr", recID, 0, consent.PurposeTreatment); err != nil {
		return "refused to serve: " + err.Error(), nil
	}
	return "", errors.New("verify passed, the node started and served the record")
}

func sha256Sum(b []byte) []byte { return tlog.ContentHash(b) }
