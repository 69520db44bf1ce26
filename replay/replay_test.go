package replay_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/replay"
)

func TestGuardRefusesReplaysOldAndFutureValues(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	now := start.Add(time.Minute)
	g := replay.New(start, 100)
	if err := g.Use("a", now, now.Add(time.Minute), now); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		id     string
		issued time.Time
	}{
		"replayed":                   {"a", now},
		"issued before the start":    {"b", start.Add(-time.Second)},
		"issued beyond MaxAhead":     {"c", now.Add(replay.MaxAhead + time.Second)},
		"replayed after a new issue": {"a", now.Add(time.Second)},
	} {
		err := g.Use(c.id, c.issued, c.issued.Add(time.Minute), now)
		if carechain.KindOf(err) != carechain.KindUnauthenticated {
			t.Errorf("%s: got %v, want an unauthenticated error", name, err)
		}
	}
	if err := g.Use("d", now.Add(replay.MaxAhead), now.Add(2*time.Minute), now); err != nil {
		t.Errorf("issued within MaxAhead: %v", err)
	}
}

func TestGuardForgetsExpiredValues(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	g := replay.New(start, 100)
	for i := range 10 {
		at := start.Add(time.Duration(i) * time.Second)
		if err := g.Use(fmt.Sprint(i), at, at.Add(time.Minute), at); err != nil {
			t.Fatal(err)
		}
	}
	later := start.Add(time.Hour)
	if err := g.Use("new", later, later.Add(time.Minute), later); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Fatalf("remembers %d values, want 1 (the others expired)", g.Len())
	}
}

func TestFullGuardRefusesWhatItForgot(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	g := replay.New(start, 3)
	at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second) }
	for i := range 5 {
		if err := g.Use(fmt.Sprint(i), at(i), at(i).Add(time.Hour), at(i)); err != nil {
			t.Fatal(err)
		}
	}
	if g.Len() > 3 {
		t.Fatalf("remembers %d values, bound 3", g.Len())
	}
	// 0 and 1 were forgotten; they must stay refused.
	for i := range 5 {
		if err := g.Use(fmt.Sprint(i), at(i), at(i).Add(time.Hour), at(5)); err == nil {
			t.Errorf("value %d accepted twice", i)
		}
	}
}
