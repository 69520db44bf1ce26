package proof_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/carechain/carechain/proof"
)

func noteKey(t *testing.T) string {
	t.Helper()
	return strings.TrimSpace(string(readVector(t, vectorNoteKey)))
}

// TestNoteVector: the signed note is the record bundle's checkpoint, and it
// is signed by a validator of the trusted set.
func TestNoteVector(t *testing.T) {
	text := readVector(t, vectorNote)
	got, err := proof.OpenNote(text, noteKey(t))
	if err != nil {
		t.Fatalf("%s: %v", vectorNote, err)
	}
	cp := loadBundle(t).At
	if err := proof.VerifyCheckpoint(cp, trustedSet(t)); err != nil {
		t.Fatalf("the bundle's checkpoint: %v", err)
	}
	if got.Origin != proof.NoteOrigin(cp.ChainID) || got.Height != cp.Height ||
		got.LogSize != cp.Info.LogSize || !bytes.Equal(got.LogRoot, cp.Info.LogRoot) {
		t.Errorf("note %+v is not the bundle's checkpoint %+v at height %d", got, cp.Info, cp.Height)
	}
	if body := proof.NoteBody(cp.ChainID, cp.Height, cp.Info); !bytes.HasPrefix(text, []byte(body+"\n")) {
		t.Errorf("NoteBody of the checkpoint:\n%s\nis not the note's text:\n%s", body, text)
	}
	signedBy := false
	for _, v := range trustedSet(t).Validators {
		key, err := proof.NoteVerifierKey(got.Signer, v.PubKey.Bytes())
		signedBy = signedBy || err == nil && key == noteKey(t)
	}
	if !signedBy {
		t.Errorf("note signer %q is not a validator of the trusted set", got.Signer)
	}
}

// TestNoteMutationsFail: any change to the note's text or signature, or
// another key, fails.
func TestNoteMutationsFail(t *testing.T) {
	text := string(readVector(t, vectorNote))
	vkey := noteKey(t)
	body, sigs, _ := strings.Cut(text, "\n\n")
	lines := strings.Split(body, "\n")
	withLine := func(i int, s string) string {
		l := append([]string(nil), lines...)
		l[i] = s
		return strings.Join(l, "\n") + "\n\n" + sigs
	}
	_, otherKey, err := note.GenerateKey(rand.Reader, strings.SplitN(vkey, "+", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, text string
		keys       []string
	}{
		{"origin", withLine(0, lines[0]+"x"), []string{vkey}},
		{"tree size", withLine(1, lines[1]+"0"), []string{vkey}},
		{"root", withLine(2, strings.Replace(lines[2], lines[2][:1], string(lines[2][0]^1), 1)), []string{vkey}},
		{"height", withLine(3, lines[3]+"0"), []string{vkey}},
		{"signature byte", body + "\n\n" + flipSignature(t, sigs), []string{vkey}},
		{"signature removed", body + "\n", []string{vkey}},
		{"another key of the same name", text, []string{otherKey}},
		{"no key", text, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := proof.OpenNote([]byte(tt.text), tt.keys...)
			wantFailure(t, err, proof.ErrInvalid, "checkpoint note")
		})
	}
	if _, err := proof.OpenNote([]byte(text), "not a key"); err == nil || !strings.Contains(err.Error(), "verifier key") {
		t.Errorf("malformed verifier key: %v", err)
	}
}

// flipSignature changes one byte of the signature on a note's "— name sig" line.
func flipSignature(t *testing.T, sigLine string) string {
	t.Helper()
	i := strings.LastIndex(sigLine, " ")
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sigLine[i+1:]))
	if err != nil {
		t.Fatal(err)
	}
	return sigLine[:i+1] + base64.StdEncoding.EncodeToString(flip(sig, len(sig)-1)) + "\n"
}

// TestNoteBodies signs note texts with a test key: NoteBody round-trips
// through OpenNote, and each malformed line is refused by name.
func TestNoteBodies(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "test")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	open := func(body string) (*proof.NoteCheckpoint, error) {
		signed, err := note.Sign(&note.Note{Text: body}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return proof.OpenNote(signed, vkey)
	}
	info := loadBundle(t).At.Info
	got, err := open(proof.NoteBody("chain-x", 42, info))
	if err != nil {
		t.Fatal(err)
	}
	want := proof.NoteCheckpoint{Origin: proof.NoteOrigin("chain-x"), Height: 42, LogSize: info.LogSize, LogRoot: info.LogRoot, Signer: "test"}
	if got.Origin != want.Origin || got.Height != want.Height || got.LogSize != want.LogSize ||
		!bytes.Equal(got.LogRoot, want.LogRoot) || got.Signer != want.Signer {
		t.Errorf("OpenNote(NoteBody) = %+v, want %+v", got, want)
	}

	root := base64.StdEncoding.EncodeToString(info.LogRoot)
	bad := []struct{ name, body, says string }{
		{"no height line", "carechain/x\n5\n" + root + "\n", "want origin, size, root and height lines"},
		{"height line misnamed", "carechain/x\n5\n" + root + "\nheigh 3\n", "want origin, size, root and height lines"},
		{"size not a number", "carechain/x\nfive\n" + root + "\nheight 3\n", "note size"},
		{"negative size", "carechain/x\n-5\n" + root + "\nheight 3\n", "note size"},
		{"root not base64", "carechain/x\n5\n" + root[1:] + "\nheight 3\n", "note root"},
		{"root too short", "carechain/x\n5\n" + base64.StdEncoding.EncodeToString(info.LogRoot[1:]) + "\nheight 3\n", "note root"},
		{"height not a number", "carechain/x\n5\n" + root + "\nheight three\n", "note height"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := open(tt.body)
			wantFailure(t, err, proof.ErrInvalid, tt.says)
		})
	}
}
