//go:build browser

package main

// browserTests reports that the portal's tests in Chromium run: they are
// built with the tag browser (.ci/run runs them), so the default
// go test ./... stays short (see nobrowser_test.go).
const browserTests = true
