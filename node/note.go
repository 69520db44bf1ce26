package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/carechain/carechain/proof"
)

// noteSigner signs checkpoint notes with the node's validator key.
type noteSigner struct {
	name string
	key  ed25519.PrivateKey
}

func (s noteSigner) Name() string { return s.name }

// KeyHash follows the note format: the first 4 bytes of
// SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).
func (s noteSigner) KeyHash() uint32 {
	h := sha256.New()
	h.Write([]byte(s.name + "\n\x01"))
	h.Write(s.key.Public().(ed25519.PublicKey))
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func (s noteSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

func (n *Node) noteSigner() (noteSigner, error) {
	key := n.pv.Key.PrivKey.Bytes()
	if len(key) != ed25519.PrivateKeySize {
		return noteSigner{}, fmt.Errorf("validator key is not Ed25519")
	}
	return noteSigner{name: "carechain-" + n.pv.Key.Address.String(), key: ed25519.PrivateKey(key)}, nil
}

// NoteVerifierKey is the key third parties use to verify this node's checkpoints.
func (n *Node) NoteVerifierKey() (string, error) {
	s, err := n.noteSigner()
	if err != nil {
		return "", err
	}
	return proof.NoteVerifierKey(s.name, s.key.Public().(ed25519.PublicKey))
}

// SignedCheckpoint returns the newest checkpoint as a C2SP signed note,
// signed with this node's validator key.
func (n *Node) SignedCheckpoint(ctx context.Context) ([]byte, error) {
	cp, err := n.Checkpoint(ctx, 0)
	if err != nil {
		return nil, err
	}
	s, err := n.noteSigner()
	if err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: proof.NoteBody(cp.ChainID, cp.Height, cp.Info)}, s)
}
