package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/carechain/carechain"
)

// Open opens or creates the state database in dir. Pebble's own messages go
// to logger (nil: discarded), errors at Error level and the rest at Debug.
// A damaged database is a *CorruptError, here or from any later read.
func Open(dir string, logger *slog.Logger) (*Store, error) {
	return open(dir, logger, false)
}

// OpenReadOnly opens the existing state database in dir for reading only:
// nothing under dir is created, replayed to disk or compacted, so a stopped
// node's files stay byte for byte as they were (carechain verify). A
// missing database is a *CorruptError.
func OpenReadOnly(dir string, logger *slog.Logger) (*Store, error) {
	return open(dir, logger, true)
}

func open(dir string, logger *slog.Logger, readOnly bool) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "pebble")
	cache := pebble.NewCache(cacheBytes)
	defer cache.Unref() // the DB holds its own reference
	opts := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		Cache:              cache,
		Logger:             pebbleLogger{logger},
		ReadOnly:           readOnly,
		// Pebble's default for a damaged file is its logger's Fatalf, which
		// must not return: the process would die on a read. Log it and let
		// the read return its corruption error, which names the file.
		EventListener: &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
			logger.Error("state store file is damaged", "file", info.Path)
		}},
	}
	// Bloom filters: most lookups on the write path are for keys that do not
	// exist yet (a new ID, a new public key) and should not touch a data block.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		var missing *fs.PathError
		switch {
		case errors.As(err, &missing) && errors.Is(err, fs.ErrNotExist):
			// A store whose MANIFEST, or a table it lists, is gone.
			return nil, &CorruptError{File: missing.Path, Missing: true, Err: err}
		case errors.Is(err, pebble.ErrDBDoesNotExist):
			return nil, &CorruptError{File: dir, Missing: true, Err: err}
		case pebble.IsCorruptionError(err):
			return nil, Corrupt(dir, err)
		}
		return nil, fmt.Errorf("open state db %s: %w", dir, err)
	}
	s := &Store{db: db, dir: dir, readOnly: readOnly}
	last, err := s.readLastCommit()
	if err != nil {
		db.Close()
		return nil, Corrupt(dir, err)
	}
	s.last.Store(&last)
	return s, nil
}

// CheckFiles reads every entry of every table of the store, shadowed
// versions included, so that every block's checksum is checked: a damaged
// file is found now rather than by the read that happens to reach it. It
// reads the whole store; a node runs it when it starts without the
// manifest of a clean stop (after a crash), verify always.
func (s *Store) CheckFiles() error {
	if !s.enter() {
		return ErrClosed
	}
	defer s.leave()
	if err := s.db.CheckLevels(nil); err != nil {
		return Corrupt(s.dir, fmt.Errorf("check tables: %w", err))
	}
	return nil
}

// CorruptError reports state that cannot be read back as it was written: a
// damaged or missing file of the Pebble store.
type CorruptError struct {
	// File is the damaged file when Pebble names it, else the store's
	// directory.
	File string
	// Missing: the file is not there at all.
	Missing bool
	Err     error
}

func (e *CorruptError) Error() string {
	// Pebble joins a corruption error with a carrier of its details, which
	// prints as a second line of no use to a reader.
	msg, _, _ := strings.Cut(e.Err.Error(), "\n")
	what := "damaged"
	if e.Missing {
		what = "missing"
	}
	return fmt.Sprintf("%s is %s: %s", e.File, what, msg)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrorKind implements carechain.Kinded: a damaged store is the node's
// failure, never the caller's.
func (e *CorruptError) ErrorKind() carechain.ErrorKind { return carechain.KindInternal }

// Corrupt returns err as a *CorruptError naming the damaged file if Pebble
// reported on-disk corruption of the store in dir anywhere in err's chain,
// and err unchanged otherwise.
func Corrupt(dir string, err error) error {
	if err == nil || errors.As(err, new(*CorruptError)) || !pebble.IsCorruptionError(err) {
		return err
	}
	file := dir
	if info := pebble.ExtractDataCorruptionInfo(err); info != nil && info.Path != "" {
		file = info.Path
	}
	return &CorruptError{File: file, Err: err}
}

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Fatalf(format string, args ...any) {
	// Pebble expects Fatalf not to return.
	p.l.Error(fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
