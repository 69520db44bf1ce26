package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

// Data locks (ledger/studylock.go): the sponsor commits a dataset's Merkle
// root; anyone holding the dataset checks it against the ledger.

// datasetRoot reads NDJSON dataset files and returns their root and count.
func datasetRoot(files []string) ([]byte, int, error) {
	var all [][]byte
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, 0, fmt.Errorf("dataset: %w", err)
		}
		res, err := study.ReadDataset(fh)
		fh.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f, err)
		}
		all = append(all, res...)
	}
	root, err := study.DatasetRoot(all)
	return root, len(all), err
}

func (c *cli) studyLockCmd() *cobra.Command {
	var s signerFlags
	var id, name string
	var files []string
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Lock a study's dataset, as its sponsor's admin: its Merkle root goes on the ledger",
		Long: `lock reads the dataset (NDJSON files of FHIR resources: the study's case
report data, such as a de-identified export), computes its Merkle root over
the SHA-256 of each resource's compact JSON, sorted, and commits it with
the number of resources under --name. Keep the files: anyone holding them
checks them against the lock (carechain study check-lock).`,
		Example: `  carechain study lock --study dm-1 --name primary-analysis --dataset observations.ndjson --as uni/admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, n, err := datasetRoot(files)
			if err != nil {
				return err
			}
			body := tx.StudyLock{Study: id, Name: name, Root: root, Count: uint64(n)}
			if err := body.Validate(); err != nil {
				return err
			}
			if err := c.submit(cmd.Context(), &s, tx.TypeStudyLock, func(string, uint64) (any, error) { return &body, nil }); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "locked dataset %s of study %s: %d resources, Merkle root %x\n", name, id, n, root)
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.Flags().StringVar(&name, "name", "", "the dataset's name (1-64 of [a-z0-9._-])")
	cmd.Flags().StringArrayVar(&files, "dataset", nil, "an NDJSON file of the dataset (repeat)")
	for _, f := range []string{"study", "name", "dataset"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

func (c *cli) studyCheckLockCmd() *cobra.Command {
	var s signerFlags
	var id, name string
	var files []string
	cmd := &cobra.Command{
		Use:     "check-lock",
		Short:   "Check a dataset against a study's data lock on the ledger (the latest of --name)",
		Example: `  carechain study check-lock --study dm-1 --name primary-analysis --dataset observations.ndjson --as city-general/admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			root, n, err := datasetRoot(files)
			if err != nil {
				return err
			}
			cur, err := c.studyOf(cmd.Context(), &s, id)
			if err != nil {
				return err
			}
			var lock *ledger.StudyLockState
			for i := range cur.Locks {
				if cur.Locks[i].Name == name {
					lock = &cur.Locks[i]
				}
			}
			switch {
			case lock == nil:
				return fmt.Errorf("study %s has no data lock %s", id, name)
			case !bytes.Equal(lock.Root, root) || lock.Count != uint64(n):
				return fmt.Errorf("the dataset does not match lock %d (%s) of study %s: %d resources, root %x; locked at height %d: %d resources, root %x",
					lock.Number, name, id, n, root, lock.Height, lock.Count, lock.Root)
			}
			fmt.Fprintf(c.out, "the dataset matches lock %d (%s) of study %s, committed by %s at height %d: %d resources, Merkle root %x\n",
				lock.Number, name, id, lock.Locker, lock.Height, n, root)
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.Flags().StringVar(&name, "name", "", "the dataset's name")
	cmd.Flags().StringArrayVar(&files, "dataset", nil, "an NDJSON file of the dataset (repeat)")
	for _, f := range []string{"study", "name", "dataset"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}
