package node

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/carechain/carechain/keystore"
)

// WriteBackup writes a backup archive to out: the snapshot read from
// snapshot (Node.Snapshot's tar stream), gzipped, with the private keys of
// h sealed under passphrase if passphrase is not nil.
func WriteBackup(out io.Writer, snapshot io.Reader, h Home, passphrase []byte, kdf keystore.KDFParams) (BackupInfo, error) {
	tr := tar.NewReader(snapshot)
	info, err := readBackupInfo(tr)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("backup snapshot: %w", err)
	}
	var sealed []byte
	if passphrase != nil {
		info.Keys = true
		if sealed, err = h.sealKeys(info, passphrase, kdf); err != nil {
			return BackupInfo{}, err
		}
	}
	// The fastest level: the stores' tables are compressed already, and the
	// rest (blocks, their signatures) gains little from more effort.
	zw, err := gzip.NewWriterLevel(out, gzip.BestSpeed)
	if err != nil {
		return BackupInfo{}, err
	}
	tw := tar.NewWriter(zw)
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return BackupInfo{}, err
	}
	if err := writeTarFile(tw, backupInfoName, b); err != nil {
		return BackupInfo{}, err
	}
	if err := copyEntries(tw, tr); err != nil {
		return BackupInfo{}, fmt.Errorf("backup snapshot: %w", err)
	}
	if sealed != nil {
		if err := writeTarFile(tw, backupKeysName, sealed); err != nil {
			return BackupInfo{}, err
		}
	}
	if err := writeTarFile(tw, backupEndName, nil); err != nil {
		return BackupInfo{}, err
	}
	if err := tw.Close(); err != nil {
		return BackupInfo{}, err
	}
	return info, zw.Close()
}

// readBackupInfo reads the first entry of a snapshot or archive.
func readBackupInfo(tr *tar.Reader) (BackupInfo, error) {
	hdr, err := tr.Next()
	if err != nil {
		return BackupInfo{}, fmt.Errorf("no backup description: %w", err)
	}
	if hdr.Name != backupInfoName {
		return BackupInfo{}, fmt.Errorf("first entry is %q, not %s: not a carechain backup", hdr.Name, backupInfoName)
	}
	var info BackupInfo
	if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&info); err != nil {
		return BackupInfo{}, fmt.Errorf("%s: %w", backupInfoName, err)
	}
	if info.Format != BackupFormat {
		return BackupInfo{}, fmt.Errorf("backup format %d: this carechain reads format %d", info.Format, BackupFormat)
	}
	return info, nil
}

// copyEntries copies the entries of tr up to its end marker to tw; a
// stream that ends before the marker is an error.
func copyEntries(tw *tar.Writer, tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("the snapshot ended before its end marker: it is incomplete")
		}
		if err != nil {
			return err
		}
		if hdr.Name == backupEndName {
			return nil
		}
		if err := tw.WriteHeader(&tar.Header{Name: hdr.Name, Mode: 0o600, Size: hdr.Size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// keysContext is the associated data of a backup's sealed keys: they open
// only in the backup they were made for.
func keysContext(info BackupInfo) []byte {
	return fmt.Appendf(nil, "carechain-backup-keys/v1\x00%s\x00%s\x00%s", info.ChainID, info.NodeID, info.Created.Format(time.RFC3339Nano))
}

// sealKeys is a tar of h's private key files, sealed under passphrase.
func (h Home) sealKeys(info BackupInfo, passphrase []byte, kdf keystore.KDFParams) ([]byte, error) {
	dir, err := os.MkdirTemp("", "carechain-keys-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := h.copyFiles(dir, fileSecret); err != nil {
		return nil, fmt.Errorf("backup keys: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tarDir(tw, dir); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	defer clear(buf.Bytes())
	return keystore.SealBlob(buf.Bytes(), passphrase, keysContext(info), kdf)
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Passphrase is asked for when the backup holds sealed keys.
	Passphrase func() ([]byte, error)
	// GuardBlocks is how many blocks without this validator's signature the
	// restored node must see before it signs (restore guard); 0: none.
	GuardBlocks int
}

// Restore makes the home h, which must not exist or be empty, from the
// backup archive r. On an error it removes what it wrote.
func Restore(h Home, r io.Reader, opts RestoreOptions) (info BackupInfo, err error) {
	if entries, err := os.ReadDir(string(h)); err == nil && len(entries) > 0 {
		return BackupInfo{}, fmt.Errorf("%s is not empty: restore makes a new home", h)
	}
	if err := os.MkdirAll(string(h), 0o700); err != nil {
		return BackupInfo{}, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(string(h))
		}
	}()
	zr, err := gzip.NewReader(r)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("not a carechain backup (gzip): %w", err)
	}
	tr := tar.NewReader(zr)
	if info, err = readBackupInfo(tr); err != nil {
		return BackupInfo{}, err
	}
	config, err := h.extract(tr, info, opts)
	if err != nil {
		return BackupInfo{}, err
	}
	if opts.GuardBlocks > 0 {
		if err := h.markRestored(info, opts.GuardBlocks); err != nil {
			return BackupInfo{}, err
		}
	}
	// Written last: a home counts as initialized only when all is there.
	return info, writeFileAtomic(h.ConfigFile(), config, 0o600)
}

// extract writes the archive's entries into h, but returns the node
// configuration's bytes instead of writing them.
func (h Home) extract(tr *tar.Reader, info BackupInfo, opts RestoreOptions) (config []byte, err error) {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the archive ends before its end marker: it is incomplete")
		}
		if err != nil {
			return nil, fmt.Errorf("read backup: %w", err)
		}
		switch name := hdr.Name; {
		case name == backupEndName:
			if config == nil {
				return nil, errors.New("the archive holds no config/node.json")
			}
			return config, nil
		case hdr.Typeflag != tar.TypeReg || !filepath.IsLocal(name) || path.Clean(name) != name:
			return nil, fmt.Errorf("archive entry %q: only plain files with relative paths are restored", name)
		case name != backupKeysName && !restorable(name):
			return nil, fmt.Errorf("archive entry %q is not part of a node's home", name)
		case name == backupKeysName:
			if err := h.openKeys(tr, info, opts.Passphrase); err != nil {
				return nil, err
			}
		case name == "config/node.json":
			if config, err = io.ReadAll(io.LimitReader(tr, 1<<20)); err != nil {
				return nil, err
			}
		default:
			if err := writeNewFile(filepath.Join(string(h), filepath.FromSlash(name)), tr, 0o600); err != nil {
				return nil, err
			}
		}
	}
}

// writeNewFile writes r to the new file to, making its directory if
// needed, synced to disk; to must not exist.
func writeNewFile(to string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// openKeys opens the sealed keys of a backup into h.
func (h Home) openKeys(r io.Reader, info BackupInfo, passphrase func() ([]byte, error)) error {
	sealed, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return err
	}
	if passphrase == nil {
		return errors.New("this backup holds the node's private keys, sealed: give the passphrase it was made with")
	}
	p, err := passphrase()
	if err != nil {
		return err
	}
	plain, err := keystore.OpenBlob(sealed, p, keysContext(info))
	if errors.Is(err, keystore.ErrWrongPassphrase) {
		return errors.New("the backup's keys do not open with this passphrase (wrong passphrase, or the archive was altered)")
	}
	if err != nil {
		return err
	}
	defer clear(plain)
	tr := tar.NewReader(bytes.NewReader(plain))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("sealed keys: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg || !filepath.IsLocal(hdr.Name) || homeFileKind(hdr.Name) != fileSecret {
			return fmt.Errorf("sealed keys: entry %q is not a key file of a home", hdr.Name)
		}
		if err := writeNewFile(filepath.Join(string(h), filepath.FromSlash(hdr.Name)), tr, 0o600); err != nil {
			return err
		}
	}
}

// HasKeys reports whether h holds the node and validator keys start needs.
func (h Home) HasKeys() bool {
	for _, f := range []string{h.NodeKeyFile(), h.ValidatorKeyFile()} {
		if _, err := os.Stat(f); err != nil {
			return false
		}
	}
	return true
}

// restorable reports whether an archive's plain entry may be written into
// a home: data, configuration, certificates, the journal; never a private
// key (those come only sealed).
func restorable(name string) bool {
	top, _, _ := strings.Cut(name, "/")
	switch {
	case homeFileKind(name) == fileSecret:
		return false
	case top == "data", top == "config", top == "tls", top == journalDir, name == "application.json":
		return true
	}
	return false
}
