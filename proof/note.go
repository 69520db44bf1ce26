package proof

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoints for outsiders are C2SP signed notes (https://c2sp.org/tlog-checkpoint):
//
//	carechain/<chain-id>
//	<log size>
//	<log root, base64>
//	height <block height>
//
//	— <key name> <signature>
//
// signed by a validator's Ed25519 key. A third party polls every node's
// checkpoint; two valid notes with the same size and different roots are a
// split view (CheckConsistency).

// NoteOrigin is the origin line of a chain's checkpoints.
func NoteOrigin(chainID string) string { return "carechain/" + chainID }

// NoteBody is the signed text of a checkpoint.
func NoteBody(chainID string, height int64, info AppInfo) string {
	return fmt.Sprintf("%s\n%d\n%s\nheight %d\n", NoteOrigin(chainID), info.LogSize, base64.StdEncoding.EncodeToString(info.LogRoot), height)
}

// NoteVerifierKey is the note verifier key of a validator: its name and Ed25519 public key.
func NoteVerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	return note.NewEd25519VerifierKey(name, pub)
}

// NoteCheckpoint is a verified checkpoint note.
type NoteCheckpoint struct {
	Origin  string
	Height  int64
	LogSize uint64
	LogRoot []byte
	Signer  string
}

// OpenNote verifies a checkpoint note against verifier keys (NoteVerifierKey)
// and parses it.
func OpenNote(text []byte, verifierKeys ...string) (*NoteCheckpoint, error) {
	var vs []note.Verifier
	for _, k := range verifierKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("verifier key: %w", err)
		}
		vs = append(vs, v)
	}
	n, err := note.Open(text, note.VerifierList(vs...))
	if err != nil {
		return nil, fail("checkpoint note: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[3], "height ") {
		return nil, fail("checkpoint note: want origin, size, root and height lines")
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return nil, fail("checkpoint note size: %v", err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		return nil, fail("checkpoint note root")
	}
	height, err := strconv.ParseInt(strings.TrimPrefix(lines[3], "height "), 10, 64)
	if err != nil {
		return nil, fail("checkpoint note height: %v", err)
	}
	return &NoteCheckpoint{Origin: lines[0], Height: height, LogSize: size, LogRoot: root, Signer: n.Sigs[0].Name}, nil
}
