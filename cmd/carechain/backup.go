package main

import (
	"cmp"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/node"
	"github.com/carechain/carechain/nodeapi"
)

// BackupPassphraseEnv names the environment variable read for the
// passphrase that seals (backup --keys) and opens (restore) a backup's keys.
const BackupPassphraseEnv = "CARECHAIN_BACKUP_PASSPHRASE"

func (c *cli) backupCmd() *cobra.Command {
	var home, nodeAddr, out string
	var keys bool
	cmd := &cobra.Command{
		Use:   "backup --home H --out FILE [--keys]",
		Short: "Back up a node, running or stopped: its state, blocks and access-event journal, consistent as of one moment",
		Long: `Backup writes a snapshot of the node of --home to --out, a gzipped tar.
A running node makes it while it runs (asked over its API, or --node's): a
Pebble checkpoint of its state first, then copies of CometBFT's stores, so
that a node restored from it replays the blocks between forward on its
first start. The request is signed with the node's own key
(config/node_key.json), so only someone who can read the home can ask for
one. A stopped node's home is read directly, read-only: it stays as the
node's clean stop left it.

Private keys (the node and validator keys, the keystore of keys/, the TLS
keys) are in it only with --keys, and then sealed under a passphrase
(scrypt, XChaCha20-Poly1305) from $` + BackupPassphraseEnv + ` or a prompt.
Without --keys, keep the keys in a backup of their own.

carechain restore makes a new home from the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists: back up to a new file", out)
			}
			h := node.Home(home)
			key, err := h.OperatorKey()
			if err != nil {
				return err
			}
			var passphrase []byte
			if keys {
				if passphrase, err = c.passphraseFrom(BackupPassphraseEnv, "Passphrase to seal the backup's keys", true); err != nil {
					return err
				}
			}
			info, size, err := c.backup(cmd, h, nodeAddr, key, out, passphrase)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "backup of %s (node %s, chain %s) written to %s (%.1f MiB)\n", info.Moniker, info.NodeID, info.ChainID, out, float64(size)/(1<<20))
			fmt.Fprintf(c.out, "  state at height %d, blocks to %d; access-event journal: %s; private keys: %s\n",
				info.AppHeight, info.BlockHeight, cmp.Or(map[bool]string{true: "in it"}[info.Journal], "none (records API off)"),
				cmp.Or(map[bool]string{true: "sealed in it"}[info.Keys], "not in it"))
			return nil
		},
	}
	pathVar(cmd.Flags(), &home, "home", defaultHome("node"), "home of the node to back up, running or stopped")
	cmd.Flags().StringVar(&nodeAddr, "node", "", nodeUsage)
	pathVar(cmd.Flags(), &out, "out", "", "file to write the backup to (must not exist)")
	cmd.Flags().BoolVar(&keys, "keys", false, "include the home's private keys, sealed under a passphrase ($"+BackupPassphraseEnv+" or a prompt)")
	return cmd
}

// backup writes the backup archive of h to out: from the stopped home
// itself if its node is not running (and --node is not given), else from
// the running node.
func (c *cli) backup(cmd *cobra.Command, h node.Home, nodeAddr string, key ed25519.PrivateKey, out string, passphrase []byte) (node.BackupInfo, int64, error) {
	if nodeAddr == "" {
		pr, pw := io.Pipe()
		go func() {
			_, err := node.SnapshotStopped(cmd.Context(), h, pw)
			pw.CloseWithError(err)
		}()
		info, size, err := writeBackupFile(out, pr, h, passphrase)
		pr.CloseWithError(err)
		if !errors.Is(err, node.ErrNodeRunning) {
			return info, size, err
		}
	}
	cl, err := c.nodeClient(nodeAddr, string(h))
	if err != nil {
		return node.BackupInfo{}, 0, err
	}
	resp, err := cl.As(nodeapi.OperatorPrincipal, key).Snapshot(cmd.Context())
	if err != nil {
		return node.BackupInfo{}, 0, fmt.Errorf("backup: %w", err)
	}
	defer resp.Body.Close()
	info, size, err := writeBackupFile(out, resp.Body, h, passphrase)
	if err != nil {
		_, _ = io.Copy(io.Discard, resp.Body) // to its end, for the trailer
		if nerr := nodeapi.BackupError(resp); nerr != nil {
			err = fmt.Errorf("backup: %w", nerr)
		}
	}
	return info, size, err
}

// writeBackupFile writes the archive of a snapshot to out, through a
// temporary file renamed into place once complete.
func writeBackupFile(out string, snapshot io.Reader, h node.Home, passphrase []byte) (node.BackupInfo, int64, error) {
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-")
	if err != nil {
		return node.BackupInfo{}, 0, err
	}
	defer os.Remove(f.Name())
	info, err := node.WriteBackup(f, snapshot, h, passphrase, keystore.DefaultKDF)
	if err != nil {
		f.Close()
		return node.BackupInfo{}, 0, fmt.Errorf("backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return node.BackupInfo{}, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return node.BackupInfo{}, 0, err
	}
	if err := f.Close(); err != nil {
		return node.BackupInfo{}, 0, err
	}
	return info, st.Size(), os.Rename(f.Name(), out)
}

func (c *cli) restoreCmd() *cobra.Command {
	var home, from string
	var guard int
	var release bool
	cmd := &cobra.Command{
		Use:   "restore --from FILE --home NEWHOME [--guard-blocks N]",
		Short: "Make a new home from a backup; a restored validator does not sign until it is safe",
		Long: `Restore makes --home, which must not exist or be empty, from a file of
carechain backup. If the backup holds sealed keys, their passphrase comes
from $` + BackupPassphraseEnv + ` or a prompt.

A restored validator never double-signs: restore marks the home, and on its
first start the node neither proposes nor votes until it has synced and then
seen --guard-blocks blocks in a row without its validator's signature (the
restore guard). A signature of its key in that time means another node runs
with it: the node says so in its log and keeps waiting. It also never signs
a height its validator signed before the backup was made.

A chain whose other validators cannot make blocks without this one (a
one-validator consortium) cannot show the guard it is safe; once the node
the backup came from is stopped for good, release the guard with
restore --release-guard --home H.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" {
				return errors.New("--home is required: the new home to make, or with --release-guard the restored one")
			}
			h := node.Home(home)
			if release {
				return c.releaseGuard(h, from)
			}
			if from == "" {
				return errors.New("--from FILE is required (the file of carechain backup)")
			}
			if guard < 0 {
				return fmt.Errorf("--guard-blocks %d: want 0 or more", guard)
			}
			f, err := os.Open(from)
			if err != nil {
				return err
			}
			defer f.Close()
			info, err := node.Restore(h, f, node.RestoreOptions{GuardBlocks: guard, Passphrase: func() ([]byte, error) {
				return c.passphraseFrom(BackupPassphraseEnv, "Passphrase of the backup's keys", false)
			}})
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			c.printRestored(h, info, guard)
			return nil
		},
	}
	pathVar(cmd.Flags(), &from, "from", "", "the backup file")
	pathVar(cmd.Flags(), &home, "home", "", "the new home to make (must not exist or be empty)")
	cmd.Flags().IntVar(&guard, "guard-blocks", node.DefaultGuardBlocks, "blocks without its signature a restored validator waits for before it signs (0: no guard)")
	cmd.Flags().BoolVar(&release, "release-guard", false, "remove the restore guard of --home, whose node then signs on its next start")
	_ = cmd.MarkFlagRequired("home")
	return cmd
}

func (c *cli) releaseGuard(h node.Home, from string) error {
	if from != "" {
		return errors.New("--release-guard takes no --from: it acts on the restored home --home")
	}
	had, err := h.ReleaseRestoreGuard()
	if err != nil {
		return err
	}
	if !had {
		return fmt.Errorf("%s has no restore guard (it was never restored, or its guard already released)", h)
	}
	fmt.Fprintf(c.out, "restore guard of %s released: its node signs from its next start\n", h)
	return nil
}

func (c *cli) printRestored(h node.Home, info node.BackupInfo, guard int) {
	fmt.Fprintf(c.out, "restored %s (node %s, chain %s) into %s, from the backup of %s\n",
		info.Moniker, info.NodeID, info.ChainID, h, info.Created.Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(c.out, "  state at height %d; its first start replays the blocks to %d, then syncs from its peers\n", info.AppHeight, info.BlockHeight)
	if !info.Keys {
		fmt.Fprintf(c.out, "  the backup holds no private keys: before carechain start, copy config/node_key.json, "+
			"config/priv_validator_key.json, keys/ and tls/*-key.pem from the node's key backup into %s\n", h)
	}
	if guard > 0 {
		fmt.Fprintf(c.out, "  restore guard: on its first start the node neither proposes nor votes until it has synced and seen %d blocks without its validator's signature\n", guard)
	}
	fmt.Fprintf(c.out, "start it with: carechain start --home %s\n", h)
}
