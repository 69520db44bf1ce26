package ledger

import (
	"bytes"
	"errors"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// Encryption-key rotation. A reader (an organization or a patient) replaces
// its encryption key with identity.rotate-encryption. From then on no
// version may be written into an epoch whose key is wrapped to the reader's
// old key: the write is refused with CodeStaleEpoch and the writer starts a
// new epoch, wrapped to the new key. Versions already written stay under
// their epochs, which the reader opens with the old key it keeps.
//
// Which key a wrap was made to, the ledger learns from the wrap: wraps carry
// the ID of their key (seal.WrapKeyID), and a wrap tagged with another key
// than its reader's current one is stale. Wraps made before tags carry no
// ID; they count as made to the reader's current key unless the reader has
// rotated with identity.rotate-encryption (its marker, rotatedKey), after
// which they are stale too.
//
// Chains from before this rule: no committed block holds a rotate-encryption
// (the type is new) and carechain never made a tagged wrap before, so the
// rule refuses nothing that such a block holds.

func init() {
	handle(tx.TypeRotateEncryption, (*App).applyRotateEncryption)
}

// rotatedKey marks a reader that has rotated its encryption key; its value
// is the height of the last rotation.
func rotatedKey(reader string) string { return "enckey-rotated/" + reader }

func (a *App) applyRotateEncryption(b *store.Block, c *checked, r *tx.RotateEncryption) *Rejection {
	if rej := checkEncryptionKey(r.NewEncryptionKey); rej != nil {
		return rej
	}
	var reader string
	var current []byte
	var write func() *Rejection
	switch {
	case r.Org != "":
		if c.signer.Kind != carechain.KindAdmin || c.signer.Org != r.Org {
			return reject(CodeUnauthorized, "%q may not change the encryption key of %q: needs an admin of %q", c.signer.ID, r.Org, r.Org)
		}
		o, err := getOrg(b, r.Org)
		if errors.Is(err, ErrNotFound) {
			return reject(CodeInvalid, "organization %q does not exist", r.Org)
		} else if err != nil {
			return reject(CodeInternal, "%v", err)
		}
		reader, current = o.ID, o.EncryptionKey
		write = func() *Rejection {
			o.EncryptionKey = r.NewEncryptionKey
			if err := setLogged(b, orgKey(o.ID), o, tlog.KindIdentity, identityLogKey(o.ID, b.Height())); err != nil {
				return reject(CodeInternal, "%v", err)
			}
			return nil
		}
	case c.signer.Kind == carechain.KindPatient:
		p := *c.signer
		reader, current = p.ID, p.EncryptionKey
		write = func() *Rejection {
			p.EncryptionKey = r.NewEncryptionKey
			return a.putPrincipal(b, &p)
		}
	default:
		return reject(CodeUnauthorized, "%q holds no encryption key of its own: staff read through their organization's (name it to change it)", c.signer.ID)
	}
	if bytes.Equal(current, r.NewEncryptionKey) {
		return reject(CodeInvalid, "the encryption key of %s is already this key", reader)
	}
	if rej := write(); rej != nil {
		return rej
	}
	if err := setCBOR(b, rotatedKey(reader), b.Height()); err != nil {
		return reject(CodeInternal, "%v", err)
	}
	return nil
}

// wrapCurrent reports whether wrapped, an epoch key wrapped to reader, was
// made to reader's current encryption key (see the rule above).
func wrapCurrent(r reader, reader string, wrapped []byte) (bool, error) {
	id := seal.WrapKeyID(wrapped)
	if id == nil {
		_, err := r.Get(rotatedKey(reader))
		if errors.Is(err, store.ErrNotFound) {
			return true, nil
		}
		return false, err
	}
	k, err := readerKey(r, reader)
	if err != nil {
		return false, err
	}
	return len(k) > 0 && bytes.Equal(seal.KeyIDOf(k), id), nil
}

// checkWrapCurrent refuses a wrap to reader that was not made to its
// current key.
func checkWrapCurrent(r reader, reader string, wrapped []byte) *Rejection {
	ok, err := wrapCurrent(r, reader, wrapped)
	if err != nil {
		return reject(CodeInternal, "%v", err)
	}
	if !ok {
		return reject(CodeStaleEpoch, "a key is wrapped to an encryption key %s has replaced: wrap it to its current key", reader)
	}
	return nil
}

// staleReader returns a reader of the current epoch of a patient's category
// whose wrap was made to a key it has since replaced, or that is an
// organization removed from the consortium ("" if none): no version may be
// written into that epoch.
func staleReader(r reader, patient, category string, cur EpochState) (string, error) {
	for _, rd := range cur.Readers {
		if removed, err := isRemovedReader(r, rd); err != nil {
			return "", err
		} else if removed {
			return rd, nil
		}
		w, err := r.Get(wrapKey(patient, category, cur.Epoch, rd))
		if err != nil {
			return "", err
		}
		ok, err := wrapCurrent(r, rd, w)
		if err != nil {
			return "", err
		}
		if !ok {
			return rd, nil
		}
	}
	return "", nil
}

// EpochStale reports whether the current epoch of a patient's category is
// wrapped to a key one of its readers has replaced, or to an organization
// removed since: a write must start a new epoch (the ledger refuses one
// into it with CodeStaleEpoch).
func (v *View) EpochStale(patient, category string) (bool, error) {
	cur, err := getEpoch(v, patient, category)
	if err != nil || cur.Epoch == 0 {
		return false, err
	}
	rd, err := staleReader(v, patient, category, cur)
	return rd != "", err
}
