package bench

import (
	"context"
	"testing"
	"time"
)

// TestScaleWritesEverySizeInChunks: Scale at a size that neither the
// authors nor the chunk divide writes the records in several chunks, the
// authors' shares differing by one, and verify sees every one of them.
func TestScaleWritesEverySizeInChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := ScaleOptions{Sizes: []int{75}, Authors: 2, Patients: 2, Window: 10, Reads: 50, Chunk: 10}
	rep, err := Scale(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Points) != 1 {
		t.Fatalf("%d points, want 1", len(rep.Points))
	}
	p := rep.Points[0]
	if p.Records != 75 || p.WritePuts != 71 || p.WritePerSecond() <= 0 || p.Blocks < 1 || p.SyncPerSecond() <= 0 || p.ReadP50 > p.ReadP99 {
		t.Errorf("point %+v, want 75 records of which 71 timed, rates above zero", p)
	}
}

func TestScaleRefusesImpossibleSizes(t *testing.T) {
	ctx := context.Background()
	for name, opts := range map[string]ScaleOptions{
		"no sizes":               {Authors: 2, Patients: 2, Window: 1, Reads: 1, Chunk: 1},
		"no room for timed puts": {Sizes: []int{100, 5}, Authors: 2, Patients: 2, Window: 1, Reads: 1, Chunk: 1},
		"no reads":               {Sizes: []int{100}, Authors: 2, Patients: 2, Window: 1, Chunk: 1},
		"no chunk":               {Sizes: []int{100}, Authors: 2, Patients: 2, Window: 1, Reads: 1},
	} {
		if _, err := Scale(ctx, opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
