package portal

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// verifyScript runs static/verify.js in Node against the proof package's
// test vectors: the real bundle verifies; a changed byte of its content,
// of a commit signature's timestamp or of the header, a supply map root
// added to the checkpoint (hashed as v3), and another pinned validator
// set, each fail with their reason. (The demo's chain, with a supply map,
// checks the v3 hash in TestPortalInChromium.)
const verifyScript = `
import fs from "fs";
await import(process.argv[2]);
const read = () => JSON.parse(fs.readFileSync(process.argv[3]));
const pinned = carechainProof.reduce(JSON.parse(fs.readFileSync(process.argv[4])));
const cases = {
  real: (b) => b,
  content: (b) => { const c = Buffer.from(b.content, "base64"); c[10] ^= 1; b.content = c.toString("base64"); return b; },
  signature: (b) => { b.checkpoint.signed_header.commit.signatures[0].timestamp = "2026-12-02T00:32:48.097335984Z"; return b; },
  header: (b) => { b.checkpoint.signed_header.header.last_results_hash = "00" + b.checkpoint.signed_header.header.last_results_hash.slice(2); return b; },
  entry: (b) => { b.leaf.key = "rec-0/2"; return b; },
  supplyroot: (b) => { b.checkpoint.info.supply_root = Buffer.alloc(32, 1).toString("base64"); return b; },
};
for (const [name, change] of Object.entries(cases)) {
  try { await carechainProof.verify(change(read()), "record", "rec-0/1", pinned); console.log(name + ": ok"); }
  catch (e) { console.log(name + ": " + e.message); }
}
try { await carechainProof.verify(read(), "record", "rec-0/1", [{key: Buffer.alloc(32, 7).toString("base64"), power: "10"}]); console.log("other set: ok"); }
catch (e) { console.log("other set: " + e.message); }
`

func TestVerifyJSChecksProofs(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node binary: the browser test covers verify.js")
	}
	script := filepath.Join(t.TempDir(), "check.mjs")
	if err := os.WriteFile(script, []byte(verifyScript), 0o644); err != nil {
		t.Fatal(err)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	out, err := exec.Command(node, script, abs("static/verify.js"), abs("../proof/testdata/record.proof.json"),
		abs("../proof/testdata/validators.json")).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	want := []string{"real: ok", "content: the content does not match its leaf",
		"signature: the checkpoint is not signed by more than two thirds of your pinned validator set",
		"header: the commit is not of this header", "entry: the proof is of another entry",
		"supplyroot: the checkpoint's log is not the signed block's",
		"other set: the checkpoint is not signed by more than two thirds of your pinned validator set"}
	if got := strings.Split(strings.TrimSpace(string(out)), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("verify.js:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
