package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// Home format. The layout of a home and of the data under it (which files,
// which databases, how they are encoded) has a version: HOME/config/
// format.json, {"format": N}. It lives in config/, not data/, so that the
// data manifest of a clean stop (manifest.go) never covers it, and writing
// it never makes the data look altered. A home without it is format 0, the
// legacy format of every home made before the version was recorded.
//
// Start migrates an older home forward, one registered step at a time
// (formatMigrations), after copying its data and configuration to
// HOME/backups/pre-format-<N>-<UTC time>/; a home of a newer format than
// this build knows is refused (*FormatError), as etcd refuses a data
// directory of a newer version: an older build must not guess at data it
// does not understand. Verify, which writes nothing, refuses both a newer
// home and one that needs a migration of its data first.

// CurrentFormat is the home format this build writes and runs.
const CurrentFormat = 1

// LegacyFormat is the format of a home that records none.
const LegacyFormat = 0

// formatMigration brings a home from format From to From+1.
type formatMigration struct {
	From int
	// What says what the step changes, for the log.
	What string
	// Data reports whether the step changes data/: a home that needs such
	// a step cannot be read (verified) by this build until start runs it.
	Data bool
	// Migrate does the step on the stopped home; nil: nothing but the
	// version changes. It must leave the home as it was if it fails, or
	// be safe to run again: the version is written only after it succeeds.
	Migrate func(h Home) error
}

// formatMigrations are the steps from LegacyFormat to CurrentFormat, in
// order: step i goes from format i to i+1. A release that changes the
// home's layout raises CurrentFormat and appends its step.
func formatMigrations() []formatMigration {
	return []formatMigration{
		{From: LegacyFormat, What: "record the home format (the layout is unchanged)"},
	}
}

// FormatError reports a home written by a newer carechain than this one.
type FormatError struct {
	Home      Home
	Format    int // the home's
	Supported int // this build's CurrentFormat
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s is home format %d, but this carechain supports home formats up to %d: "+
		"a newer carechain wrote it. Run that carechain version or a newer one on this home; this one changes nothing in it",
		e.Home, e.Format, e.Supported)
}

type formatFile struct {
	Format int `json:"format"`
}

// FormatFile is where h records its home format.
func (h Home) FormatFile() string { return filepath.Join(h.configDir(), "format.json") }

// Format returns h's home format: LegacyFormat if it records none.
func (h Home) Format() (int, error) {
	b, err := os.ReadFile(h.FormatFile())
	if errors.Is(err, os.ErrNotExist) {
		return LegacyFormat, nil
	}
	if err != nil {
		return 0, err
	}
	var f formatFile
	if err := json.Unmarshal(b, &f); err != nil || f.Format < 1 {
		return 0, fmt.Errorf("%s: want {\"format\": N} with N at least 1 (got %q)", h.FormatFile(), b)
	}
	return f.Format, nil
}

// writeFormat records format as h's, atomically.
func (h Home) writeFormat(format int) error {
	b, err := json.Marshal(formatFile{Format: format})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(h.configDir(), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(h.FormatFile(), append(b, '\n'), 0o600)
}

// checkFormat returns h's format, or a *FormatError if it is newer than
// this build's.
func (h Home) checkFormat() (int, error) {
	f, err := h.Format()
	if err != nil {
		return 0, err
	}
	if f > CurrentFormat {
		return f, &FormatError{Home: h, Format: f, Supported: CurrentFormat}
	}
	return f, nil
}

// checkReadableFormat is verify's check: h is not newer than this build,
// and needs no migration of its data before this build can read it. It
// returns h's format.
func (h Home) checkReadableFormat() (int, error) {
	f, err := h.checkFormat()
	if err != nil {
		return f, err
	}
	for _, m := range formatMigrations()[f:] {
		if m.Data {
			return f, fmt.Errorf("%s is home format %d; this carechain reads format %d: run `carechain start` on it once to migrate it (it makes a backup first), then verify",
				h, f, CurrentFormat)
		}
	}
	return f, nil
}

// migrateFormat brings the stopped home h to CurrentFormat, backing it up
// first; it refuses a newer home.
func (h Home) migrateFormat(log *slog.Logger) error {
	f, err := h.checkFormat()
	if err != nil || f == CurrentFormat {
		return err
	}
	backup := filepath.Join(string(h), "backups", fmt.Sprintf("pre-format-%d-%s", CurrentFormat, time.Now().UTC().Format("20060102T150405Z")))
	if err := h.backup(backup); err != nil {
		return fmt.Errorf("back up %s before migrating it from home format %d: %w (nothing was changed)", h, f, err)
	}
	log.Info("home backed up before migrating its format", "home", string(h), "backup", backup, "from", f, "to", CurrentFormat)
	for _, m := range formatMigrations()[f:] {
		if m.Migrate != nil {
			if err := m.Migrate(h); err != nil {
				return fmt.Errorf("migrate %s from home format %d to %d (%s): %w; the home is still format %d, and its copy from before the migration is in %s",
					h, m.From, m.From+1, m.What, err, m.From, backup)
			}
		}
		// Last: the step counts as done only once this is written.
		if err := h.writeFormat(m.From + 1); err != nil {
			return fmt.Errorf("record home format %d in %s: %w", m.From+1, h.FormatFile(), err)
		}
		log.Info("home migrated", "home", string(h), "from", m.From, "to", m.From+1, "change", m.What)
	}
	return nil
}

// backup copies h's data and configuration directories (not its keys,
// which no migration changes) to dir, which must not exist yet.
func (h Home) backup(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	for _, d := range []string{h.configDir(), h.DataDir()} {
		if err := copyTree(d, filepath.Join(dir, filepath.Base(d))); err != nil {
			return err
		}
	}
	return nil
}

// copyTree copies the directory src to dst: directories, and regular files
// with their modes, synced to disk.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			return copyFile(p, target)
		}
		return nil // sockets and the like: nothing a home keeps
	})
}

// copyFile copies the regular file src to dst, which must not exist,
// with its mode, making dst's directory if needed.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if err := writeNewFile(dst, in, info.Mode().Perm()); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
