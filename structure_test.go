package carechain_test

import (
	"bufio"
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/carechain/carechain"

// layers ranks every package of the module: a package may import only
// packages of a lower rank. Adding a package means giving it a rank here,
// which is the moment to decide where it stands (see ARCHITECTURE.md).
var layers = map[string]int{
	"":              0, // the domain types
	"consent":       1,
	"seal":          1,
	"tlog":          1,
	"store":         1,
	"keystore":      1,
	"fhirjson":      1,
	"replay":        1, // one-time values (jti, nonces) refused when replayed
	"claims":        1, // insurance plan rules and the adjudication of claims: pure
	"supply":        1, // supply chain: GS1 identifiers, serial commitments, unit status: pure
	"smt":           1, // sparse Merkle tree: an authenticated map with (non-)membership proofs: pure
	"deid":          1, // de-identification of FHIR resources for research: pure
	"study":         1, // a clinical study's locked protocol, amendments' changes, reports' coverage: pure
	"vc":            1, // W3C Verifiable Credentials of practitioners' credentials (eddsa-jcs-2022, did:key): pure
	"trust":         1, // the cost-of-trust switch (bench trust): can be turned off only with -tags notrust
	"proof":         2, // checks tlog proofs offline
	"tx":            2,
	"ledger":        3,
	"node":          4, // runs CometBFT with the ledger; knows nothing of records
	"records":       4, // the node's application service; reaches the node through an interface
	"launch":        4, // SMART App Launch codes, shared by the portal and fhirrest
	"nodeapi":       5,
	"fhirrest":      5,
	"demo":          5,
	"portal":        5, // the web portal: pages over records, beside fhirrest
	"bench":         6,
	"cmd/carechain": 7,
}

// TestLayers fails when a package imports one of the same or a higher
// layer: dependencies flow one way, from the HTTP surfaces down to the
// domain types.
func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := rel(fields[0])
		rank, ok := layers[pkg]
		if !ok {
			t.Errorf("package %q has no layer: add it to layers", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := rel(imp)
			if r, ok := layers[dep]; ok && r >= rank {
				t.Errorf("%s (layer %d) imports %s (layer %d): a package may import only lower layers", pkg, rank, dep, r)
			}
		}
	}
}

func rel(importPath string) string {
	return strings.TrimPrefix(strings.TrimPrefix(importPath, module), "/")
}

// Size limits: a file past them is usually two concepts, a function past
// them several steps that want names.
const (
	maxFileLines = 600
	maxFuncLines = 80
)

// TestSizes fails for a non-test file over maxFileLines or a function over
// maxFuncLines. CLI wiring (cmd/) is exempt from the function limit (a cobra
// command is one long literal); elsewhere a function may be longer only if
// its doc comment says why ("Long because ...").
func TestSizes(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		if n := fset.Position(f.End()).Line; n > maxFileLines {
			t.Errorf("%s has %d lines (limit %d): split it by concern", path, n, maxFileLines)
		}
		if strings.HasPrefix(path, "cmd"+string(filepath.Separator)) {
			return nil
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
			if n > maxFuncLines && !strings.Contains(fn.Doc.Text(), "Long because") {
				t.Errorf("%s: %s has %d lines (limit %d): name its steps, or say why in its doc comment", fset.Position(fn.Pos()), fn.Name.Name, n, maxFuncLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
