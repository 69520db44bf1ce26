//go:build race

package main

// raceEnabled reports that the tests run under the race detector. The node
// subprocesses they start are built without it, so a test that only drives
// subprocesses (and a browser) finds nothing more under -race than without
// it: such tests skip (skipUnderRace).
const raceEnabled = true
