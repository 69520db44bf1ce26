package records

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/carechain/carechain/seal"
)

// Access events are sealed under a per-patient audit key: a key this node
// makes for a patient and wraps to the patient's encryption key with HPKE
// once, then reuses for the patient's events until it has sealed
// auditKeyUses of them, is auditKeyAge old, or the patient's encryption key
// changes. An event then costs AES-GCM (a fresh data key wrapped under the
// audit key, as seal.Seal does for records) instead of an HPKE
// encapsulation and a check of the patient's public key.
//
// The sealed form is the one events always had (sealedEvent: the wrap, the
// ciphertext, the wrapped data key), so OpenSealed and every reader of the
// access log read events sealed either way. Events sealed under one audit
// key carry the same wrap, which tells that they are the same patient's:
// anchored events name their patient in the clear anyway.
const (
	// auditKeyUses bounds the data keys one audit key wraps, far below the
	// 2^32 random GCM nonces one key may take.
	auditKeyUses = 1 << 20
	// auditKeyAge bounds how long this node keeps using one audit key.
	auditKeyAge = time.Hour
	// maxAuditKeys bounds the audit keys kept in memory (each holds a wrap
	// of about 1.1 KB); past it, one is dropped and made again when needed.
	maxAuditKeys = 16384
)

// auditKeys are this node's current audit keys, in memory only.
type auditKeys struct {
	now  func() time.Time
	mu   sync.Mutex
	keys map[auditKeyRef]*auditKey
}

// auditKeyRef names an audit key: its patient and the encryption key
// (its SHA-256) it is wrapped to.
type auditKeyRef struct {
	patient string
	pub     [sha256.Size]byte
}

type auditKey struct {
	key     seal.EpochKey
	wrapped []byte // key wrapped to the patient, bound to (patient, auditContext, 1)
	uses    int
	made    time.Time
}

func newAuditKeys(now func() time.Time) *auditKeys {
	return &auditKeys{now: now, keys: make(map[auditKeyRef]*auditKey)}
}

// get returns the audit key to seal one more event of patient under, and
// its wrap to the patient's encryption key as of v (a *ledger.View), making a new one if
// there is none that may seal it.
func (a *auditKeys) get(v encryptionKeys, patient string) (seal.EpochKey, []byte, error) {
	kb, err := v.EncryptionKey(patient)
	if err != nil || len(kb) == 0 {
		// encryptionKey says why, as for any reader without a key.
		_, err := encryptionKey(v, patient)
		return seal.EpochKey{}, nil, err
	}
	ref := auditKeyRef{patient: patient, pub: sha256.Sum256(kb)}
	now := a.now()
	a.mu.Lock()
	k, ok := a.keys[ref]
	ok = ok && k.uses < auditKeyUses && now.Sub(k.made) < auditKeyAge
	if ok {
		k.uses++
	}
	a.mu.Unlock()
	if ok {
		return k.key, k.wrapped, nil
	}
	key, wrapped, err := newPatientKey(v, patient, auditContext)
	if err != nil {
		return seal.EpochKey{}, nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.keys) >= maxAuditKeys {
		for r := range a.keys {
			delete(a.keys, r)
			break
		}
	}
	a.keys[ref] = &auditKey{key: key, wrapped: wrapped, uses: 1, made: now}
	return key, wrapped, nil
}
