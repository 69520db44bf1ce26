package records

import (
	"crypto/ed25519"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/seal"
)

// Which keys a node unlocks with its own passphrase ($CARECHAIN_PASSPHRASE
// at start): its organizations' encryption keys and the signing keys of the
// staff and nodes it keeps, whatever opens with it. A key that does not is
// skipped: it belongs to someone else. Patients' keys (patient.*) are never
// tried with the node's passphrase: they open only with the patient's own,
// when the patient signs in (POST /auth/login), so that whoever runs the
// node cannot use them. Keys added to the keystore while the node runs (an
// organization or a member of staff made later) are found when first
// needed, without a restart.

// OpenNodeKeys unlocks the keys in ks that open with the node's passphrase,
// except patients', into a keyring and a custodian that also find keys added
// to ks later.
func OpenNodeKeys(ks *keystore.Store, passphrase []byte, logger *slog.Logger) (*Keyring, *Custodian, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	src := &keySource{ks: ks, pass: passphrase, tried: map[string]keyVersion{}}
	kr, cust := &Keyring{src: src}, &Custodian{src: src}
	entries, err := ks.List()
	if err != nil {
		return nil, nil, err
	}
	skipped := 0
	for _, e := range entries {
		if isPatientKey(e.Name) {
			continue
		}
		if _, _, enc := readerOfKeyName(e.Name); enc {
			continue // below, newest last, so the current key ends up first
		}
		id, ok := PrincipalOfKeyName(e.Name)
		if !ok {
			continue
		}
		if k, ok := src.open(e); ok {
			cust.Add(id, k)
		} else {
			skipped++
		}
	}
	for _, e := range encryptionEntries(entries) {
		reader, _, _ := readerOfKeyName(e.Name)
		if k, ok := src.open(e); ok {
			kr.Add(reader, asEncryptionKey(k))
		} else {
			skipped++
		}
	}
	logger.Debug("keys that do not open with the node's passphrase are left locked", "count", skipped)
	return kr, cust, nil
}

// encryptionEntries are the encryption keys among entries, but patients',
// by reader, oldest first within each.
func encryptionEntries(entries []keystore.Entry) []keystore.Entry {
	var readers []string
	for _, e := range entries {
		if rd, _, ok := readerOfKeyName(e.Name); ok && !isPatientKey(e.Name) && !slices.Contains(readers, rd) {
			readers = append(readers, rd)
		}
	}
	var out []keystore.Entry
	for _, rd := range readers {
		out = append(out, byGeneration(entries, rd)...)
	}
	return out
}

// byGeneration are reader's encryption keys among entries, oldest first:
// the replaced ones (1, 2, …), then the current one.
func byGeneration(entries []keystore.Entry, reader string) []keystore.Entry {
	var out []keystore.Entry
	for _, e := range entries {
		if rd, _, ok := readerOfKeyName(e.Name); ok && rd == reader {
			out = append(out, e)
		}
	}
	rank := func(e keystore.Entry) int {
		if _, gen, _ := readerOfKeyName(e.Name); gen > 0 {
			return gen
		}
		return math.MaxInt32
	}
	slices.SortStableFunc(out, func(a, b keystore.Entry) int { return rank(a) - rank(b) })
	return out
}

func asEncryptionKey(k ed25519.PrivateKey) *seal.PrivateKey {
	seed := k.Seed()
	defer clear(seed)
	defer clear(k)
	sk, _ := seal.ParsePrivateKey(seed) // any 32 bytes are a valid seed
	return sk
}

// keySource unlocks keys of the node's keystore with the node's passphrase
// on demand. Each version of a key file is tried once: scrypt costs about
// 0.1 s, and a key that does not open (another passphrase) must not cost
// that on every request. A file replaced (a new creation time or key) is a
// new version.
type keySource struct {
	ks   *keystore.Store
	pass []byte

	mu    sync.Mutex // held while unlocking: one scrypt at a time
	tried map[string]keyVersion
}

// keyVersion tells versions of a key file apart.
type keyVersion struct {
	created time.Time
	pub     string
}

func versionOf(e keystore.Entry) keyVersion { return keyVersion{e.Created, string(e.PublicKey)} }

// open unlocks e unless this version of it was tried before; false if it
// was, or it does not open.
func (s *keySource) open(e keystore.Entry) (ed25519.PrivateKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openLocked(e)
}

func (s *keySource) openLocked(e keystore.Entry) (ed25519.PrivateKey, bool) {
	v := versionOf(e)
	if s.tried[e.Name] == v {
		return nil, false
	}
	s.tried[e.Name] = v
	k, err := s.ks.Unlock(e.Name, s.pass)
	return k, err == nil
}

// signingKey finds the signing key of staff member or node id in the
// keystore. Patients' keys are not looked for.
func (s *keySource) signingKey(id string) (ed25519.PrivateKey, bool) {
	if carechain.OrgOf(id) == "" || carechain.ValidatePrincipalID(id) != nil {
		return nil, false
	}
	e, err := s.ks.Entry(strings.ReplaceAll(id, "/", "."))
	if err != nil {
		return nil, false
	}
	return s.open(e)
}

// encryptionKeys unlocks reader's encryption keys in the keystore not tried
// yet, oldest first, when its current key is new (a first key, or a
// rotation): a lookup for a reader with nothing new reads one file.
// Patients' keys are not looked for.
func (s *keySource) encryptionKeys(reader string) []*seal.PrivateKey {
	if strings.HasPrefix(reader, carechain.PatientPrefix) {
		return nil
	}
	cur, err := s.ks.Entry(EncryptionKeyName(reader))
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tried[cur.Name] == versionOf(cur) {
		return nil
	}
	entries, err := s.ks.List()
	if err != nil {
		return nil
	}
	var out []*seal.PrivateKey
	for _, e := range byGeneration(entries, reader) {
		if k, ok := s.openLocked(e); ok {
			out = append(out, asEncryptionKey(k))
		}
	}
	return out
}
