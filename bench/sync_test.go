package bench

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// TestSyncJoinsAndCatchesUp: a node joining a chain of a few hundred
// records syncs it to the validator's height with the same app hash.
func TestSyncJoinsAndCatchesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := SyncOptions{Records: 300, Authors: 2, Patients: 2, Window: 50}
	rep, err := Sync(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records in %d blocks: write %v, sync %v, ratio %.2f", rep.Records, rep.Height, rep.Write, rep.Sync, rep.Ratio())
	if want := 300 + 2*2; rep.Records != want || rep.WritePuts != 300 {
		t.Errorf("%d records (%d timed), want %d (300 timed)", rep.Records, rep.WritePuts, want)
	}
	if rep.Height <= rep.WriteBlocks || rep.WriteBlocks < 1 || len(rep.AppHash) == 0 {
		t.Errorf("synced height %d, %d blocks written, app hash %X", rep.Height, rep.WriteBlocks, rep.AppHash)
	}
	if rep.Sync <= 0 || rep.Write <= 0 || rep.ChainBytes <= 0 || rep.JoinedBytes <= 0 || rep.Ratio() <= 0 {
		t.Errorf("report %+v", rep)
	}
}

// fixedHashes is a node that committed the app hash hashes[h] at height h.
type fixedHashes map[int64][]byte

func (f fixedHashes) AppHash(h int64) ([]byte, error) {
	if b, ok := f[h]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("no app hash at %d", h)
}

// TestSameAppHashRefusesADifferentState: Sync fails a joined node whose
// state differs from the validator's at the synced height, or that has none.
func TestSameAppHashRefusesADifferentState(t *testing.T) {
	validator := fixedHashes{5: []byte{1, 2}}
	if got, err := sameAppHash(5, validator, fixedHashes{5: []byte{1, 2}}); err != nil || !bytes.Equal(got, []byte{1, 2}) {
		t.Errorf("same app hash: %X, %v", got, err)
	}
	for name, joined := range map[string]fixedHashes{
		"different hash": {5: []byte{1, 3}},
		"not at height":  {4: []byte{1, 2}},
	} {
		if _, err := sameAppHash(5, validator, joined); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := sameAppHash(6, validator, validator); err == nil {
		t.Error("a height the validator has not committed: accepted")
	}
}

// TestBackupRestoresTheChain: a node's online backup restores to a home
// whose node starts with the validator's app hash.
func TestBackupRestoresTheChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Backup(ctx, SyncOptions{Records: 200, Authors: 2, Patients: 2, Window: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v ratio %.2f", rep, rep.Ratio())
	if rep.Records != 204 || rep.Height < 2 || rep.ArchiveBytes <= 0 || rep.DataBytes <= 0 || rep.Backup <= 0 || rep.Start <= 0 || rep.Ratio() <= 0 {
		t.Errorf("report %+v", rep)
	}
}
