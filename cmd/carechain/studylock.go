package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/nodeapi"
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

// lockedDataset is the root and size of the dataset a data lock names:
// the NDJSON files, or, with visits, the study's locked visits
// (ledger.VisitsRoot over those cur lists).
func lockedDataset(cur *nodeapi.StudyResponse, files []string, visits bool) ([]byte, int, error) {
	if !visits {
		return datasetRoot(files)
	}
	if len(cur.VisitLocks) == 0 {
		return nil, 0, fmt.Errorf("study %s has no locked visit (carechain study lock-visit)", cur.Study.ID)
	}
	root, n := ledger.VisitsRoot(cur.VisitLocks)
	return root, int(n), nil
}

// datasetFlags registers the flags naming a dataset: --dataset files or --visits.
func datasetFlags(cmd *cobra.Command, files *[]string, visits *bool) {
	cmd.Flags().StringArrayVar(files, "dataset", nil, "an NDJSON file of the dataset (repeat)")
	cmd.Flags().BoolVar(visits, "visits", false, "the dataset is the study's locked visits (carechain study visits), not files")
	cmd.MarkFlagsOneRequired("dataset", "visits")
	cmd.MarkFlagsMutuallyExclusive("dataset", "visits")
}

func (c *cli) studyLockCmd() *cobra.Command {
	var s signerFlags
	var id, name string
	var files []string
	var visits bool
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Lock a study's dataset, as its sponsor's admin: its Merkle root goes on the ledger",
		Long: `lock reads the dataset (NDJSON files of FHIR resources: the study's case
report data, such as a de-identified export), computes its Merkle root over
the SHA-256 of each resource's compact JSON, sorted, and commits it with
the number of resources under --name. Keep the files: anyone holding them
checks them against the lock (carechain study check-lock).

With --visits instead, the dataset is the study's locked visits (carechain
study lock-visit): the root is the Merkle root over their roots, in the
order the ledger lists them (by subject, then visit), and the count their
records; the ledger checks both against the visits locked at that height.`,
		Example: `  carechain study lock --study dm-1 --name primary-analysis --dataset observations.ndjson --as uni/admin
  carechain study lock --study dm-1 --name visits-final --visits --as uni/admin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cur *nodeapi.StudyResponse
			var err error
			if visits {
				if cur, err = c.studyOf(cmd.Context(), &s, id); err != nil {
					return err
				}
			}
			root, n, err := lockedDataset(cur, files, visits)
			if err != nil {
				return err
			}
			body := tx.StudyLock{Study: id, Name: name, Root: root, Count: uint64(n), Visits: visits}
			if err := body.Validate(); err != nil {
				return err
			}
			if err := c.submit(cmd.Context(), &s, tx.TypeStudyLock, func(string, uint64) (any, error) { return &body, nil }); err != nil {
				return err
			}
			what := fmt.Sprintf("%d resources", n)
			if visits {
				what = fmt.Sprintf("%d locked visits, %d records", len(cur.VisitLocks), n)
			}
			fmt.Fprintf(c.out, "locked dataset %s of study %s: %s, Merkle root %x\n", name, id, what, root)
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.Flags().StringVar(&name, "name", "", "the dataset's name (1-64 of [a-z0-9._-])")
	datasetFlags(cmd, &files, &visits)
	cmd.MarkFlagRequired("study")
	cmd.MarkFlagRequired("name")
	return cmd
}

func (c *cli) studyCheckLockCmd() *cobra.Command {
	var s signerFlags
	var id, name string
	var files []string
	var visits bool
	cmd := &cobra.Command{
		Use:   "check-lock",
		Short: "Check a dataset (files, or --visits: the study's locked visits now) against a study's data lock on the ledger (the latest of --name)",
		Example: `  carechain study check-lock --study dm-1 --name primary-analysis --dataset observations.ndjson --as city-general/admin
  carechain study check-lock --study dm-1 --name visits-final --visits --as city-general/admin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cur, err := c.studyOf(cmd.Context(), &s, id)
			if err != nil {
				return err
			}
			root, n, err := lockedDataset(cur, files, visits)
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
	datasetFlags(cmd, &files, &visits)
	cmd.MarkFlagRequired("study")
	cmd.MarkFlagRequired("name")
	return cmd
}
