package node

import (
	"archive/tar"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/p2p"
	sm "github.com/cometbft/cometbft/state"
	cmtstore "github.com/cometbft/cometbft/store"

	"github.com/carechain/carechain/store"
)

// Backups (carechain backup, carechain restore).
//
// Only a running node can read its stores consistently while they change,
// so the node itself makes the snapshot (Snapshot), in this order:
//
//  1. the app state, as a Pebble checkpoint (its height A);
//  2. the access-event journal, as a Pebble checkpoint, if the node has one;
//  3. CometBFT's state store (height S), then its block store (height B ≥ S)
//     and evidence store, each copied from a goleveldb snapshot. Blocks above
//     S+1 are removed from the copy, so that the copies are what CometBFT's
//     handshake accepts (S ≤ B ≤ S+1, A ≤ B): on restore it replays blocks
//     A+1…B into the app;
//  4. priv_validator_state.json and the home's public files.
//
// The snapshot is a tar stream whose first entry is its BackupInfo and whose
// last is an end marker, so a cut stream is never taken for a whole one.
// WriteBackup makes the archive of it (gzip), adding the home's private
// keys sealed under a passphrase if asked; Restore makes a home of one.

// BackupFormat is the version of the archive layout this build writes and reads.
const BackupFormat = 1

const (
	backupInfoName = "carechain-backup.json"
	backupEndName  = "carechain-backup.end"
	backupKeysName = "keys.sealed.json"
	journalDir     = "audit-journal"
)

// BackupInfo describes a backup; it is the archive's first entry.
type BackupInfo struct {
	Format  int       `json:"format"`
	ChainID string    `json:"chain_id"`
	Moniker string    `json:"moniker"`
	NodeID  string    `json:"node_id"`
	Created time.Time `json:"created"`
	// AppHeight is the height of the app state; BlockHeight that of the
	// block store (the node replays the blocks between on its first start).
	AppHeight   int64 `json:"app_height"`
	BlockHeight int64 `json:"block_height"`
	// Journal says whether the node's access-event journal is in it.
	Journal bool `json:"journal"`
	// Keys says whether the home's private keys are in it, sealed.
	Keys bool `json:"keys"`
}

// Checkpointer is a database that can write a consistent copy of itself
// (store.Store, store.Queue).
type Checkpointer interface {
	Checkpoint(dir string) error
}

// Snapshot writes a backup snapshot of the running node to w (see above).
// journal, if not nil, is the node's access-event journal.
func (n *Node) Snapshot(ctx context.Context, w io.Writer, journal Checkpointer) (BackupInfo, error) {
	if n.store == nil {
		return BackupInfo{}, errors.New("backup: this node runs no ledger")
	}
	src := snapshotSource{home: n.home, app: n.store, journal: journal, dbs: n.cometDBs}
	info, err := src.snapshot(ctx, n.config, w, nil)
	if err == nil {
		n.log.Info("backup snapshot made", "app_height", info.AppHeight, "block_height", info.BlockHeight, "journal", info.Journal)
	}
	return info, err
}

// ErrNodeRunning is SnapshotStopped's answer for a home whose node runs:
// ask the node (Node.Snapshot, carechain backup does) instead.
var ErrNodeRunning = errors.New("the node of this home is running")

// SnapshotStopped writes a backup snapshot of h, whose node is stopped, to
// w, as Node.Snapshot does for a running node. It opens every store
// read-only, so the home stays as the node's clean stop left it.
func SnapshotStopped(ctx context.Context, h Home, w io.Writer) (BackupInfo, error) {
	c, err := h.LoadConfig()
	if err != nil {
		return BackupInfo{}, err
	}
	// A clean stop leaves the manifest and a start removes it first: its
	// presence before and after the copy says no node ran meanwhile.
	if !h.hasManifest() {
		return BackupInfo{}, fmt.Errorf("backup: the node of %s runs, or did not stop cleanly: %w", h, ErrNodeRunning)
	}
	dbs := map[string]dbm.DB{}
	for _, id := range cometDBOrder {
		db, err := openReadOnlyDB(h, id)
		if errors.Is(err, errLocked) {
			return BackupInfo{}, ErrNodeRunning
		}
		if err != nil {
			return BackupInfo{}, fmt.Errorf("backup: %w", err)
		}
		defer db.Close()
		dbs[id] = db
	}
	src := snapshotSource{home: h, app: stoppedDB(h.StateDir()), dbs: dbs}
	if _, err := os.Stat(filepath.Join(string(h), journalDir)); err == nil {
		src.journal = stoppedDB(filepath.Join(string(h), journalDir))
	}
	return src.snapshot(ctx, c, w, func() error {
		if !h.hasManifest() {
			return fmt.Errorf("backup: the node of %s started while its files were copied: %w", h, ErrNodeRunning)
		}
		return nil
	})
}

// snapshot copies src into a staging directory of its home, checks the
// copy with copied (if not nil), and writes it to w as a tar stream.
func (s snapshotSource) snapshot(ctx context.Context, c Config, w io.Writer, copied func() error) (BackupInfo, error) {
	nk, err := p2p.LoadNodeKey(s.home.NodeKeyFile())
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup: node key: %w", err)
	}
	staging, err := s.home.stagingDir()
	if err != nil {
		return BackupInfo{}, err
	}
	defer os.RemoveAll(staging)
	info := BackupInfo{Format: BackupFormat, ChainID: c.ChainID, Moniker: c.Moniker, NodeID: string(nk.ID()),
		Created: time.Now().UTC(), Journal: s.journal != nil}
	if err := s.copyTo(ctx, staging, &info); err != nil {
		return BackupInfo{}, fmt.Errorf("backup: %w", err)
	}
	if copied != nil {
		if err := copied(); err != nil {
			return BackupInfo{}, err
		}
	}
	return info, writeSnapshot(w, staging, info)
}

// stoppedDB is the directory of a stopped node's Pebble database: its
// files do not change, so a copy of them is a checkpoint.
type stoppedDB string

func (d stoppedDB) Checkpoint(dir string) error { return copyTree(string(d), dir) }

// stagingDir makes a directory for a snapshot under the home, on the same
// filesystem as the stores, so that Pebble links its tables instead of
// copying them.
func (h Home) stagingDir() (string, error) {
	dir := filepath.Join(string(h), "backups")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	d, err := os.MkdirTemp(dir, ".staging-")
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	return d, nil
}

// removeStaleStaging removes the staging directories of snapshots a node
// of h was making when it stopped (crashed): they hold links to tables the
// stores have since dropped. It runs before the node starts, when no
// snapshot can be under way, and logs how many it removed.
func (h Home) removeStaleStaging(logger *slog.Logger) error {
	stale, err := filepath.Glob(filepath.Join(string(h), "backups", ".staging-*"))
	if err != nil {
		return err
	}
	for _, d := range stale {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("remove a backup's stale staging directory: %w", err)
		}
	}
	if len(stale) > 0 {
		logger.Info("removed the staging directories of backups cut short", "count", len(stale))
	}
	return nil
}

// snapshotSource is what a snapshot copies: the open stores of a node.
type snapshotSource struct {
	home    Home
	app     Checkpointer
	journal Checkpointer
	dbs     map[string]dbm.DB // CometBFT's, by DBContext.ID
}

// cometDBOrder is the order CometBFT's stores are copied in: the state
// store before the block store (a block is saved before the state that
// applies it), so the copied block store is never behind the state.
var cometDBOrder = []string{"state", "blockstore", "evidence"}

func (s snapshotSource) copyTo(ctx context.Context, dir string, info *BackupInfo) error {
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	if err := s.app.Checkpoint(filepath.Join(data, "state")); err != nil {
		return err
	}
	st, err := store.OpenReadOnly(filepath.Join(data, "state"), nil)
	if err != nil {
		return fmt.Errorf("the state checkpoint does not open: %w", err)
	}
	info.AppHeight = st.LastHeight()
	st.Close()
	if s.journal != nil {
		if err := s.journal.Checkpoint(filepath.Join(dir, journalDir)); err != nil {
			return err
		}
	}
	for _, id := range cometDBOrder {
		db, ok := s.dbs[id]
		if !ok {
			return fmt.Errorf("CometBFT's %s store is not open", id)
		}
		if err := copyDB(ctx, db, data, id); err != nil {
			return fmt.Errorf("copy %s.db: %w", id, err)
		}
	}
	if info.BlockHeight, err = trimBlocks(data, info.AppHeight); err != nil {
		return err
	}
	if err := copyFile(s.home.ValidatorStateFile(), filepath.Join(data, filepath.Base(s.home.ValidatorStateFile()))); err != nil {
		return err
	}
	return s.home.copyFiles(dir, filePublic)
}

// copyDB copies every entry of src, as of one moment (a goleveldb iterator
// reads a snapshot), into a new goleveldb database name in dir.
func copyDB(ctx context.Context, src dbm.DB, dir, name string) error {
	dst, err := dbm.NewGoLevelDB(name, dir)
	if err != nil {
		return err
	}
	defer dst.Close()
	it, err := src.Iterator(nil, nil)
	if err != nil {
		return err
	}
	defer it.Close()
	batch, size := dst.NewBatch(), 0
	defer func() { batch.Close() }()
	for ; it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := batch.Set(it.Key(), it.Value()); err != nil {
			return err
		}
		if size += len(it.Key()) + len(it.Value()); size >= 4<<20 {
			if err := batch.Write(); err != nil {
				return err
			}
			batch.Close()
			batch, size = dst.NewBatch(), 0
		}
	}
	if err := it.Error(); err != nil {
		return err
	}
	return batch.WriteSync()
}

// trimBlocks removes from the copied block store in dir the blocks above
// the copied state's height + 1, and checks that the copies are what
// CometBFT's handshake accepts with an app at appHeight. It returns the
// block store's height.
func trimBlocks(dir string, appHeight int64) (int64, error) {
	sdb, err := dbm.NewGoLevelDB("state", dir)
	if err != nil {
		return 0, err
	}
	defer sdb.Close()
	bdb, err := dbm.NewGoLevelDB("blockstore", dir)
	if err != nil {
		return 0, err
	}
	defer bdb.Close()
	st, err := sm.NewStore(sdb, sm.StoreOptions{}).Load()
	if err != nil {
		return 0, fmt.Errorf("copied state store: %w", err)
	}
	bs := cmtstore.NewBlockStore(bdb)
	for bs.Height() > st.LastBlockHeight+1 {
		if err := bs.DeleteLatestBlock(); err != nil {
			return 0, fmt.Errorf("trim copied block store: %w", err)
		}
	}
	if b := bs.Height(); b < st.LastBlockHeight || b < appHeight {
		return 0, fmt.Errorf("inconsistent copies: block store at %d, state at %d, app at %d", b, st.LastBlockHeight, appHeight)
	}
	return bs.Height(), nil
}

// fileKind is what a backup does with a file of a home.
type fileKind int

const (
	fileSkip   fileKind = iota // data, copied by the snapshot, or not the node's
	filePublic                 // configuration and certificates
	fileSecret                 // private keys: only sealed
)

// homeFileKind classifies a file of a home by its slash-separated path
// relative to the home.
func homeFileKind(rel string) fileKind {
	dir, name, _ := strings.Cut(rel, "/")
	switch {
	case rel == "config/restored.json": // the restore mark (guard.go): a restore writes its own
		return fileSkip
	case rel == "config/node_key.json", rel == "config/priv_validator_key.json", dir == "keys",
		dir == "tls" && strings.HasSuffix(name, "-key.pem"):
		return fileSecret
	case dir == "config", dir == "tls", rel == "application.json":
		return filePublic
	}
	return fileSkip
}

// copyFiles copies the home's files of kind into dir, by the same paths.
func (h Home) copyFiles(dir string, kind fileKind) error {
	return filepath.WalkDir(string(h), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(string(h), p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if top, _, _ := strings.Cut(rel, "/"); top == "data" || top == "backups" || top == journalDir {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || homeFileKind(rel) != kind {
			return nil
		}
		return copyFile(p, filepath.Join(dir, filepath.FromSlash(rel)))
	})
}

// writeSnapshot writes the snapshot in dir to w as a tar stream: info,
// every file, the end marker.
func writeSnapshot(w io.Writer, dir string, info BackupInfo) error {
	tw := tar.NewWriter(w)
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return err
	}
	if err := writeTarFile(tw, backupInfoName, b); err != nil {
		return err
	}
	if err := tarDir(tw, dir); err != nil {
		return err
	}
	if err := writeTarFile(tw, backupEndName, nil); err != nil {
		return err
	}
	return tw.Close()
}

func writeTarFile(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// tarDir writes the regular files under dir to tw, by slash-separated paths
// relative to dir.
func tarDir(tw *tar.Writer, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Mode: 0o600, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	})
}

// OperatorKey is h's node key (config/node_key.json) as an Ed25519 key: it
// signs the operator's requests to the node (nodeapi.OperatorPrincipal),
// which only someone who can read the home can make.
func (h Home) OperatorKey() (ed25519.PrivateKey, error) {
	nk, err := p2p.LoadNodeKey(h.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("node key of %s: %w", h, err)
	}
	return ed25519.PrivateKey(nk.PrivKey.Bytes()), nil
}
