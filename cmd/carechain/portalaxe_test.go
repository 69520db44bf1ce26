package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// axePath is axe-core's browser build among the npm dev dependencies of
// clients/js (package.json pins its version; .ci/run's npm ci installs it).
var axePath = filepath.Join("..", "..", "clients", "js", "node_modules", "axe-core", "axe.min.js")

// loadAxe reads axe-core for the accessibility checks of the portal's
// pages, or returns "" (the checks are skipped, with a note) if it is not
// installed: run npm ci in clients/js. In CI (CI=true) it must be there.
func loadAxe(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(axePath)
	switch {
	case err == nil:
		return string(b)
	case os.Getenv("CI") == "true":
		t.Fatalf("axe-core for the accessibility checks: %v (.ci/run: npm ci in clients/js)", err)
	}
	t.Logf("no accessibility checks: %v (run npm ci in clients/js)", err)
	return ""
}

// axeViolation is one rule axe-core found broken, with the elements that
// break it.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// runAxe injects axe-core into the current page (through the DevTools
// protocol, which the page's Content-Security-Policy does not govern) and
// returns the violations of impact serious or critical.
const runAxe = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations
	.filter(v => v.impact === "serious" || v.impact === "critical")
	.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.html)})))`

// checkAccessibility fails the test if axe-core finds a serious or
// critical violation on the current page (name says which). Pages that
// are not HTML (raw FHIR JSON) are left out.
func (b *browser) checkAccessibility(name string) {
	b.t.Helper()
	if b.axe == "" {
		return
	}
	html, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.contentType === "text/html"`))
	if err != nil || !html {
		return
	}
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](b.axe+"\n;true")); err != nil {
		b.t.Fatalf("inject axe-core into %s: %v", name, err)
	}
	vs, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]axeViolation](runAxe, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe-core on %s: %v", name, err)
	}
	for _, v := range vs {
		b.t.Errorf("accessibility of %s: %s (%s): %s\n\t%s", name, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "\n\t"))
	}
	b.checked++
}
