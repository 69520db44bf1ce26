package main

import (
	"regexp"
	"testing"
)

// TestBenchSyncReportsACaughtUpNode: `carechain bench sync` at a small size
// reports the joined node at the validator's height with its app hash, and
// the rates.
func TestBenchSyncReportsACaughtUpNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	out := mustRun(t, nil, "bench", "sync", "--records", "100", "--authors", "2")
	for _, want := range []string{
		`chain: 108 records .* in \d+ blocks`,
		`write \(validator, 100 record.puts\): +\S+ +\d+ records/s`,
		`sync \(joining node, whole chain\): +\S+ +\d+ records/s +[\d.]+ blocks/s`,
		`joined node at height \d+: app hash [0-9A-F]{64}, as the validator's`,
		`ratio sync/write \(records/s\): +\d+\.\d\d`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestBenchBackupReportsTheRatio: `carechain bench backup` at a small size
// backs a node up, restores it and reports the times and the ratio.
func TestBenchBackupReportsTheRatio(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	out := mustRun(t, nil, "bench", "backup", "--records", "100")
	for _, want := range []string{
		`chain: \d+ records in \d+ blocks, data directory [\d.]+ MB; backup file [\d.]+ MB`,
		`backup of the running node: +\S+ +[\d.]+ MB/s`,
		`first start of the restored node: +\S+`,
		`ratio backup/copy: +\d+\.\d\d`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
