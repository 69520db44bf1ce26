package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
)

// BackupReport is the outcome of Backup.
type BackupReport struct {
	Options SyncOptions
	Records int   // record.puts on the chain
	Height  int64 // the validator's height when the backup began
	// DataBytes is the validator's data directory; ArchiveBytes the backup.
	DataBytes, ArchiveBytes int64
	// Copy is the baseline: reading every file of the data directory and
	// writing it to another directory (what `cp -r` does), in the same run.
	Copy time.Duration
	// Backup is Node.Snapshot and WriteBackup to a file (no keys), while
	// the node runs; Restore is Restore of that file to a new home; Start
	// is the restored node's start, its handshake replaying the backup's
	// blocks past its state, until its app hash at Height matches.
	Backup, Restore, Start time.Duration
}

// Ratio is the backup's time over the baseline copy's.
func (r BackupReport) Ratio() float64 { return r.Backup.Seconds() / r.Copy.Seconds() }

// Backup measures an online backup of a node holding a chain of
// opts.Records records, its restore and the restored node's first start,
// against a plain copy of the same data directory in the same run.
func Backup(ctx context.Context, opts SyncOptions) (BackupReport, error) {
	rep := BackupReport{Options: opts}
	if opts.Records < opts.Authors || opts.Authors < 1 || opts.Patients < 1 || opts.Window < 1 {
		return rep, fmt.Errorf("bench: need records >= authors >= 1, patients >= 1 and window >= 1")
	}
	bn, err := startRecordsNode(ctx, "carechain-bench-backup")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	var sr SyncReport
	if err := writeChain(ctx, bn, opts, &sr); err != nil {
		return rep, err
	}
	rep.Records = sr.Records
	if rep.Height, err = bn.node.App().Height(); err != nil {
		return rep, err
	}
	if rep.DataBytes, err = dirBytes(bn.node.Home().DataDir()); err != nil {
		return rep, err
	}
	begin := time.Now()
	if err := copyDir(bn.node.Home().DataDir(), filepath.Join(bn.dir, "copy")); err != nil {
		return rep, fmt.Errorf("baseline copy: %w", err)
	}
	rep.Copy = time.Since(begin)
	archive := filepath.Join(bn.dir, "node.backup")
	begin = time.Now()
	var journal node.Checkpointer
	if bn.journal != nil {
		journal = bn.journal
	}
	if err := backupTo(ctx, bn.node, journal, archive); err != nil {
		return rep, err
	}
	rep.Backup = time.Since(begin)
	if st, err := os.Stat(archive); err == nil {
		rep.ArchiveBytes = st.Size()
	}
	return rep, restoreAndStart(ctx, bn, archive, &rep)
}

// backupTo writes n's backup with its access-event journal, without keys,
// to the file path.
func backupTo(ctx context.Context, n *node.Node, journal node.Checkpointer, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := n.Snapshot(ctx, pw, journal)
		pw.CloseWithError(err)
	}()
	if _, err := node.WriteBackup(f, pr, n.Home(), nil, keystore.FastKDF); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("backup: %w", err)
	}
	return f.Sync()
}

// restoreAndStart restores archive to a new home with the validator's keys
// (copied, as an operator does with a backup without keys), stops the
// validator, starts the restored node and checks its app hash at
// rep.Height.
func restoreAndStart(ctx context.Context, bn *recordsNode, archive string, rep *BackupReport) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	h := node.Home(filepath.Join(bn.dir, "restored"))
	begin := time.Now()
	if _, err := node.Restore(h, f, node.RestoreOptions{}); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	rep.Restore = time.Since(begin)
	src := bn.node.Home()
	for _, p := range []string{src.NodeKeyFile(), src.ValidatorKeyFile()} {
		if err := copyDir(p, filepath.Join(string(h), "config", filepath.Base(p))); err != nil {
			return err
		}
	}
	want, err := bn.node.App().AppHash(rep.Height)
	if err != nil {
		return err
	}
	if err := bn.node.Stop(); err != nil { // the restored node takes its place (and its ports)
		return err
	}
	begin = time.Now()
	n, err := node.Start(ctx, h, node.StartOptions{})
	if err != nil {
		return fmt.Errorf("start the restored node: %w", err)
	}
	defer n.Stop()
	if _, err := sameAppHash(rep.Height, fixedAppHash{rep.Height: want}, n.App()); err != nil {
		return fmt.Errorf("restored node: %w", err)
	}
	rep.Start = time.Since(begin)
	return nil
}

// fixedAppHash answers the app hashes it holds.
type fixedAppHash map[int64][]byte

func (f fixedAppHash) AppHash(h int64) ([]byte, error) {
	if b, ok := f[h]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("no app hash at %d", h)
}

// copyDir copies the file or directory src to dst, as `cp -r` does. A
// file that goes while it walks (the running node's compactions) is
// skipped: the copy is a baseline of the time, not a backup.
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
}
