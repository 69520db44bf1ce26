package node

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// A clean stop leaves a manifest of the data directory: the SHA-256 of every
// file. Nothing may change those files until the node starts again, so a
// start or `carechain verify` that finds a difference knows the directory
// was altered, and names the file, even where the change would not break a
// checksum (a recycled WAL, a journal tail). After a crash there is no
// manifest and only the data's own checks apply.
const manifestName = "files.sha256"

func (h Home) manifestFile() string { return filepath.Join(h.DataDir(), manifestName) }

// dataFileHashes hashes every file under the data directory but the manifest
// and lock files, by path relative to it.
func (h Home) dataFileHashes() (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(h.DataDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || d.Name() == manifestName || d.Name() == "LOCK" {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sum := sha256.New()
		if _, err := io.Copy(sum, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(h.DataDir(), p)
		out[rel] = hex.EncodeToString(sum.Sum(nil))
		return nil
	})
	return out, err
}

// hasManifest reports whether h's data directory holds the manifest of a
// clean stop.
func (h Home) hasManifest() bool {
	_, err := os.Stat(h.manifestFile())
	return err == nil
}

// writeManifest records the data files after a clean stop.
func (h Home) writeManifest() error {
	hashes, err := h.dataFileHashes()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(hashes))
	for n := range hashes {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	for _, n := range names {
		fmt.Fprintf(&b, "%s  %s\n", hashes[n], n)
	}
	return writeFileAtomic(h.manifestFile(), b.Bytes(), 0o600)
}

// ErrAltered reports a data directory changed since the node's clean stop.
var ErrAltered = errors.New("data directory was altered after the node stopped")

// checkManifest compares the data files with the manifest of the last clean
// stop; no manifest (a new home, or a crash) is not an error.
func (h Home) checkManifest() error {
	f, err := os.Open(h.manifestFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			return fmt.Errorf("%w: %s is malformed", ErrAltered, h.manifestFile())
		}
		want[name] = sum
	}
	if err := sc.Err(); err != nil {
		return err
	}
	got, err := h.dataFileHashes()
	if err != nil {
		return err
	}
	var diffs []string
	for name, sum := range want {
		switch g, ok := got[name]; {
		case !ok:
			diffs = append(diffs, name+" is missing")
		case g != sum:
			diffs = append(diffs, name+" changed")
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, name+" was added")
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		return fmt.Errorf("%w: %s", ErrAltered, strings.Join(diffs, "; "))
	}
	return nil
}
