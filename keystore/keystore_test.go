package keystore

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var pass = []byte("correct horse battery staple")

func newStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readFile(t testing.TB, s *Store, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(s.path(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func TestCreateUnlockSign(t *testing.T) {
	s := newStore(t)
	pub, err := s.Create("validator-0", pass)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := s.Unlock("validator-0", pass)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
		t.Fatal("unlocked key does not match public key returned by Create")
	}
	msg := []byte("patient record 42")
	if !ed25519.Verify(pub, msg, ed25519.Sign(priv, msg)) {
		t.Fatal("signature does not verify")
	}
	if got, err := s.Public("validator-0"); err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("Public = %x, %v; want %x", got, err, pub)
	}
}

func TestImportUnlock(t *testing.T) {
	s := newStore(t)
	priv := newKey(t)
	if err := s.Import("imported", priv, pass); err != nil {
		t.Fatal(err)
	}
	got, err := s.Unlock("imported", pass)
	if err != nil || !bytes.Equal(got, priv) {
		t.Fatalf("Unlock = %x, %v; want the imported key", got, err)
	}
}

func TestWrongPassphrase(t *testing.T) {
	s := newStore(t)
	if _, err := s.Create("k", pass); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, s, "k")
	for _, wrong := range []string{"", "x", "correct horse battery stapl", "correct horse battery staple ", "Correct horse battery staple"} {
		t.Run(wrong, func(t *testing.T) {
			priv, err := s.Unlock("k", []byte(wrong))
			if !errors.Is(err, ErrWrongPassphrase) || priv != nil {
				t.Fatalf("Unlock(%q) = %x, %v; want ErrWrongPassphrase", wrong, priv, err)
			}
		})
	}
	if !bytes.Equal(before, readFile(t, s, "k")) {
		t.Fatal("key file changed after failed unlocks")
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "keys")
	s, err := Open(dir, FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("k", pass); err != nil {
		t.Fatal(err)
	}
	if err := s.Replace("k", newKey(t), pass); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: os.ModeDir | 0o700, s.path("k"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 1 || des[0].Name() != "k.key" {
		t.Errorf("directory holds %v, want only k.key (no temporary files left)", des)
	}
}

func TestFileHoldsNoSecret(t *testing.T) {
	s := newStore(t)
	priv := newKey(t)
	if err := s.Import("k", priv, pass); err != nil {
		t.Fatal(err)
	}
	data := readFile(t, s, "k")
	for _, secret := range [][]byte{priv.Seed(), priv} {
		for _, enc := range []string{
			string(secret),
			base64.StdEncoding.EncodeToString(secret),
			base64.RawStdEncoding.EncodeToString(secret),
			base64.URLEncoding.EncodeToString(secret),
			base64.RawURLEncoding.EncodeToString(secret),
			hex.EncodeToString(secret),
		} {
			// A 16-byte prefix is enough to catch partial leaks without false positives.
			if bytes.Contains(data, []byte(enc[:16])) {
				t.Fatalf("key file contains secret material %q", enc)
			}
		}
	}
	if bytes.Contains(data, pass) {
		t.Fatal("key file contains the passphrase")
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "name", "public_key", "created", "kdf", "scrypt", "salt", "cipher", "nonce", "ciphertext"} {
		if _, ok := m[k]; !ok {
			t.Errorf("key file lacks field %q", k)
		}
	}
	if m["kdf"] != "scrypt" || m["cipher"] != "chacha20poly1305" || m["version"] != 1.0 {
		t.Errorf("unexpected header fields: %v", m)
	}
}

func TestCreateExists(t *testing.T) {
	s := newStore(t)
	pub, err := s.Create("k", pass)
	if err != nil {
		t.Fatal(err)
	}
	before := readFile(t, s, "k")
	if _, err := s.Create("k", []byte("other")); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create: %v, want ErrExists", err)
	}
	if err := s.Import("k", newKey(t), []byte("other")); !errors.Is(err, ErrExists) {
		t.Fatalf("Import over existing: %v, want ErrExists", err)
	}
	if !bytes.Equal(before, readFile(t, s, "k")) {
		t.Fatal("existing key file was modified")
	}
	if priv, err := s.Unlock("k", pass); err != nil || !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
		t.Fatalf("original key no longer unlocks: %v", err)
	}
}

func TestCreateConcurrent(t *testing.T) {
	s := newStore(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { _, errs[i] = s.Create("k", pass) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrExists):
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent Creates succeeded, want exactly 1", ok)
	}
}

func TestList(t *testing.T) {
	s := newStore(t)
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Fatalf("empty store: List = %v, %v", l, err)
	}
	names := []string{"zeta", "alpha", "m.1", "b_2", "0x"}
	pubs := map[string]ed25519.PublicKey{}
	for _, n := range names {
		pub, err := s.Create(n, []byte("pw-"+n))
		if err != nil {
			t.Fatal(err)
		}
		pubs[n] = pub
	}
	// Stray files that are not key files must be ignored.
	for _, f := range []string{"README", "notes.txt", ".tmp-x-123", "UPPER.key"} {
		if err := os.WriteFile(filepath.Join(s.dir, f), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0x", "alpha", "b_2", "m.1", "zeta"}
	if len(l) != len(want) {
		t.Fatalf("List returned %d entries, want %d", len(l), len(want))
	}
	for i, e := range l {
		if e.Name != want[i] {
			t.Errorf("List[%d].Name = %q, want %q", i, e.Name, want[i])
		}
		if !bytes.Equal(e.PublicKey, pubs[e.Name]) {
			t.Errorf("List[%d].PublicKey mismatch", i)
		}
		if time.Since(e.Created) > time.Minute || time.Until(e.Created) > time.Second {
			t.Errorf("List[%d].Created = %v, want about now", i, e.Created)
		}
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"validator-0", true},
		{"node_1.backup", true},
		{"0", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"../x", false},
		{"a/b", false},
		{`a\b`, false},
		{"/abs", false},
		{".hidden", false},
		{".", false},
		{"..", false},
		{"Upper", false},
		{"a b", false},
		{"a\x00b", false},
		{"é", false},
		{"a:b", false},
	}
	s := newStore(t)
	for _, tt := range tests {
		if got := ValidName(tt.name); got != tt.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tt.name, got, tt.ok)
		}
		if tt.ok {
			continue
		}
		if _, err := s.Create(tt.name, pass); err == nil {
			t.Errorf("Create(%q) succeeded", tt.name)
		}
		if _, err := s.Unlock(tt.name, pass); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Unlock(%q) = %v, want invalid-name error", tt.name, err)
		}
	}
	if l, err := s.List(); err != nil || len(l) != 0 {
		t.Fatalf("invalid names left keys behind: %v, %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.dir), "x.key")); err == nil {
		t.Fatal("Create(\"../x\") wrote outside the store")
	}
}

func TestEmptyPassphrase(t *testing.T) {
	s := newStore(t)
	if _, err := s.Create("k", pass); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, s, "k")
	for _, pw := range [][]byte{nil, {}} {
		for op, f := range map[string]func() error{
			"Create":  func() error { _, err := s.Create("n", pw); return err },
			"Import":  func() error { return s.Import("n", newKey(t), pw) },
			"Replace": func() error { return s.Replace("k", newKey(t), pw) },
		} {
			if err := f(); err == nil || !strings.Contains(err.Error(), "keystore: empty passphrase") {
				t.Errorf("%s with empty passphrase: %v", op, err)
			}
		}
	}
	if _, err := s.Public("n"); !errors.Is(err, ErrNotFound) {
		t.Errorf("key created despite empty passphrase: %v", err)
	}
	if !bytes.Equal(before, readFile(t, s, "k")) {
		t.Error("Replace with empty passphrase modified the file")
	}
}

func TestBadPrivateKey(t *testing.T) {
	s := newStore(t)
	priv := newKey(t)
	inconsistent := bytes.Clone(priv)
	inconsistent[40] ^= 1
	for name, k := range map[string]ed25519.PrivateKey{"nil": nil, "short": priv[:32], "inconsistent": inconsistent} {
		if err := s.Import("k", k, pass); err == nil {
			t.Errorf("Import(%s key) succeeded", name)
		}
	}
}

// editFile rewrites the JSON key file of name through f.
func editFile(t *testing.T, s *Store, name string, f func(m map[string]any)) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readFile(t, s, name), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.path(name), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTampering(t *testing.T) {
	flipB64 := func(m map[string]any, field string) {
		b, _ := base64.StdEncoding.DecodeString(m[field].(string))
		b[len(b)/2] ^= 0x01
		m[field] = base64.StdEncoding.EncodeToString(b)
	}
	tests := []struct {
		name      string
		tamper    func(t *testing.T, s *Store) // tampers with key "a"
		wrongPass bool                         // error must be ErrWrongPassphrase
	}{
		{"flipped ciphertext", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { flipB64(m, "ciphertext") })
		}, true},
		{"flipped nonce", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { flipB64(m, "nonce") })
		}, true},
		{"flipped salt", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { flipB64(m, "salt") })
		}, true},
		{"public key swapped from b", func(t *testing.T, s *Store) {
			var b map[string]any
			json.Unmarshal(readFile(t, s, "b"), &b)
			editFile(t, s, "a", func(m map[string]any) { m["public_key"] = b["public_key"] })
		}, true},
		{"ciphertext swapped from b", func(t *testing.T, s *Store) {
			var b map[string]any
			json.Unmarshal(readFile(t, s, "b"), &b)
			editFile(t, s, "a", func(m map[string]any) {
				m["ciphertext"], m["nonce"], m["salt"] = b["ciphertext"], b["nonce"], b["salt"]
			})
		}, true},
		{"b's file copied over a with name edited", func(t *testing.T, s *Store) {
			os.WriteFile(s.path("a"), readFile(t, s, "b"), 0o600)
			editFile(t, s, "a", func(m map[string]any) { m["name"] = "a" })
		}, true},
		{"b's file copied over a", func(t *testing.T, s *Store) {
			os.WriteFile(s.path("a"), readFile(t, s, "b"), 0o600)
		}, false},
		{"version changed", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["version"] = 2 })
		}, false},
		{"kdf changed", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["kdf"] = "pbkdf2" })
		}, false},
		{"cipher changed", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["cipher"] = "none" })
		}, false},
		{"short public key", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["public_key"] = base64.StdEncoding.EncodeToString(make([]byte, 31)) })
		}, false},
		{"short salt", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["salt"] = base64.StdEncoding.EncodeToString(make([]byte, 16)) })
		}, false},
		{"12-byte nonce", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["nonce"] = base64.StdEncoding.EncodeToString(make([]byte, 12)) })
		}, false},
		{"truncated ciphertext", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["ciphertext"] = m["ciphertext"].(string)[:20] })
		}, false},
		{"bad base64", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["salt"] = "!!!" })
		}, false},
		{"bad created", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["created"] = "yesterday" })
		}, false},
		{"unknown field", func(t *testing.T, s *Store) {
			editFile(t, s, "a", func(m map[string]any) { m["plaintext"] = "x" })
		}, false},
		{"truncated file", func(t *testing.T, s *Store) {
			b := readFile(t, s, "a")
			os.WriteFile(s.path("a"), b[:len(b)/2], 0o600)
		}, false},
		{"trailing garbage", func(t *testing.T, s *Store) {
			os.WriteFile(s.path("a"), append(readFile(t, s, "a"), "{}"...), 0o600)
		}, false},
		{"huge file", func(t *testing.T, s *Store) {
			os.WriteFile(s.path("a"), bytes.Repeat([]byte(" "), 1<<20), 0o600)
		}, false},
		{"directory instead of file", func(t *testing.T, s *Store) {
			os.Remove(s.path("a"))
			os.Mkdir(s.path("a"), 0o700)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if _, err := s.Create("a", pass); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Create("b", pass); err != nil {
				t.Fatal(err)
			}
			tt.tamper(t, s)
			priv, err := s.Unlock("a", pass)
			if err == nil || priv != nil {
				t.Fatalf("Unlock of tampered file succeeded")
			}
			if tt.wrongPass != errors.Is(err, ErrWrongPassphrase) {
				t.Errorf("Unlock error %v: errors.Is(ErrWrongPassphrase) = %v, want %v", err, !tt.wrongPass, tt.wrongPass)
			}
			if !strings.Contains(err.Error(), s.path("a")) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestReplace(t *testing.T) {
	s := newStore(t)
	oldPub, err := s.Create("k", []byte("old"))
	if err != nil {
		t.Fatal(err)
	}
	newPriv := newKey(t)
	if err := s.Replace("k", newPriv, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unlock("k", []byte("old")); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("old passphrase after Replace: %v, want ErrWrongPassphrase", err)
	}
	got, err := s.Unlock("k", []byte("new"))
	if err != nil || !bytes.Equal(got, newPriv) {
		t.Fatalf("Unlock after Replace = %v; want the new key", err)
	}
	if pub, _ := s.Public("k"); bytes.Equal(pub, oldPub) || !bytes.Equal(pub, newPriv.Public().(ed25519.PublicKey)) {
		t.Error("Public did not change to the new key")
	}

	// Rotation keeping the passphrase: the same passphrase unlocks the new key.
	rotated := newKey(t)
	if err := s.Replace("k", rotated, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Unlock("k", []byte("new")); err != nil || !bytes.Equal(got, rotated) {
		t.Fatalf("Unlock after same-passphrase Replace: %v", err)
	}

	if err := s.Replace("missing", newKey(t), pass); !errors.Is(err, ErrNotFound) {
		t.Errorf("Replace(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.Public("missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Replace(missing) created a key: %v", err)
	}
}

func TestNotFound(t *testing.T) {
	s := newStore(t)
	if _, err := s.Unlock("nope", pass); !errors.Is(err, ErrNotFound) {
		t.Errorf("Unlock = %v, want ErrNotFound", err)
	}
	if _, err := s.Public("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Public = %v, want ErrNotFound", err)
	}
}

func TestAbsurdScryptParams(t *testing.T) {
	tests := []struct{ n, r, p int64 }{
		{1 << 40, 8, 1},
		{1 << 21, 8, 1},
		{1 << 9, 8, 1},
		{3000, 8, 1},
		{0, 8, 1},
		{-1024, 8, 1},
		{1 << 15, 0, 1},
		{1 << 15, 33, 1},
		{1 << 15, 1 << 30, 1},
		{1 << 15, 8, 0},
		{1 << 15, 8, 17},
		{1 << 15, 8, 1 << 30},
		{1 << 20, 32, 16}, // each in range, but 64 GiB of scrypt cost
		{1 << 20, 16, 1},  // 2 GiB of memory
	}
	for _, tt := range tests {
		s := newStore(t)
		if _, err := s.Create("k", pass); err != nil {
			t.Fatal(err)
		}
		editFile(t, s, "k", func(m map[string]any) {
			m["scrypt"] = map[string]int64{"n": tt.n, "r": tt.r, "p": tt.p}
		})
		done := make(chan error, 1)
		go func() { _, err := s.Unlock("k", pass); done <- err }()
		select {
		case err := <-done:
			if err == nil || errors.Is(err, ErrWrongPassphrase) || !strings.Contains(err.Error(), "scrypt") {
				t.Errorf("N=%d r=%d p=%d: Unlock = %v, want a scrypt parameter error", tt.n, tt.r, tt.p, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("N=%d r=%d p=%d: Unlock did not return within 5s", tt.n, tt.r, tt.p)
		}
	}
	// Absurd parameters are refused for new keys too.
	for _, k := range []KDFParams{{}, {N: 1 << 25, R: 8, P: 1}, {N: 1 << 15, R: 8, P: 100}} {
		if _, err := Open(t.TempDir(), k); err == nil {
			t.Errorf("Open with %+v succeeded", k)
		}
	}
}

func TestExistingFileKeepsItsParams(t *testing.T) {
	dir := t.TempDir()
	fast, err := Open(dir, FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fast.Create("k", pass); err != nil {
		t.Fatal(err)
	}
	other, err := Open(dir, KDFParams{N: 1 << 11, R: 4, P: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Unlock("k", pass); err != nil {
		t.Fatalf("Unlock with a store using other params: %v", err)
	}
}

func BenchmarkUnlockDefaultKDF(b *testing.B) {
	s, err := Open(b.TempDir(), DefaultKDF)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Create("bench", pass); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Unlock("bench", pass); err != nil {
			b.Fatal(err)
		}
	}
}
