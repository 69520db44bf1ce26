//go:build !browser

package main

// browserTests reports that the portal's tests in Chromium run; without the
// tag browser they skip (see browser_test.go).
const browserTests = false
