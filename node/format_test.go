package node

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFormatMigrationsAreOneStepEach(t *testing.T) {
	ms := formatMigrations()
	if len(ms) != CurrentFormat-LegacyFormat {
		t.Fatalf("%d migrations from format %d to %d", len(ms), LegacyFormat, CurrentFormat)
	}
	for i, m := range ms {
		if m.From != LegacyFormat+i || m.What == "" {
			t.Errorf("migration %d: %+v", i, m)
		}
	}
}

// TestLegacyHomeMigrates: a home stopped cleanly before the format was
// recorded is migrated as Start does first: it is backed up (data and
// config as they were), gets the current format, and then starts without
// being reported as altered; it is not backed up again.
func TestLegacyHomeMigrates(t *testing.T) {
	n := startSingle(t)
	h := n.Home()
	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	if f, err := h.Format(); err != nil || f != CurrentFormat {
		t.Fatalf("a new home's format: %d, %v", f, err)
	}
	if err := os.Remove(h.FormatFile()); err != nil { // as before formats
		t.Fatal(err)
	}
	if f, err := h.Format(); err != nil || f != LegacyFormat {
		t.Fatalf("format without the file: %d, %v", f, err)
	}
	manifest, err := os.ReadFile(h.manifestFile())
	if err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	if err := h.migrateFormat(slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	backups, _ := filepath.Glob(filepath.Join(string(h), "backups", "pre-format-1-*"))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	if !strings.Contains(logs.String(), backups[0]) {
		t.Errorf("the log does not say where the backup is:\n%s", logs.String())
	}
	for _, f := range []string{"data/files.sha256", "data/state", "data/blockstore.db", "config/node.json", "config/genesis.json"} {
		if _, err := os.Stat(filepath.Join(backups[0], f)); err != nil {
			t.Errorf("backup: %v", err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(backups[0], "data", manifestName)); !bytes.Equal(got, manifest) {
		t.Error("the backup's manifest differs from the home's")
	}
	if _, err := os.Stat(filepath.Join(backups[0], "config", "format.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the backup has a format file: %v", err)
	}
	if f, err := h.Format(); err != nil || f != CurrentFormat {
		t.Fatalf("format after migrating: %d, %v", f, err)
	}
	// The migrated home starts (its data manifest still matches) and is
	// not backed up again.
	n2 := startHome(t, h)
	if err := n2.Stop(); err != nil {
		t.Fatal(err)
	}
	if again, _ := filepath.Glob(filepath.Join(string(h), "backups", "*")); len(again) != 1 {
		t.Fatalf("backups after a second start: %v", again)
	}
}

// TestNewerFormatRefused: start and verify refuse a home of a newer format,
// naming both formats, and change nothing.
func TestNewerFormatRefused(t *testing.T) {
	h := Home(t.TempDir())
	c := DefaultConfig(testChain, "solo")
	if err := Init(h, InitOptions{Config: c, Genesis: testGenesis()}); err != nil {
		t.Fatal(err)
	}
	if err := h.writeFormat(CurrentFormat + 1); err != nil {
		t.Fatal(err)
	}
	_, err := Start(t.Context(), h, StartOptions{})
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Format != CurrentFormat+1 || fe.Supported != CurrentFormat {
		t.Fatalf("start: %v", err)
	}
	if _, err := VerifyHome(h, nil); !errors.As(err, &fe) {
		t.Fatalf("verify: %v", err)
	}
	if f, _ := h.Format(); f != CurrentFormat+1 {
		t.Fatalf("format now %d", f)
	}
	if _, err := os.Stat(filepath.Join(string(h), "backups")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("backups made: %v", err)
	}
}
