package records

import (
	"errors"
	"testing"
)

func TestHeightMemoLoadsOncePerKeyAndHeight(t *testing.T) {
	m := newHeightMemo[int](3)
	loads := 0
	load := func(v int, err error) func() (int, error) {
		return func() (int, error) { loads++; return v, err }
	}
	for range 3 {
		if v, err := m.get("p", 7, load(1, nil)); v != 1 || err != nil {
			t.Fatalf("get = %d, %v", v, err)
		}
	}
	if loads != 1 {
		t.Fatalf("%d loads for one key at one height, want 1", loads)
	}
	if v, _ := m.get("p", 8, load(2, nil)); v != 2 || loads != 2 {
		t.Fatalf("a new height reused the old value: %d after %d loads", v, loads)
	}
	boom := errors.New("boom")
	if _, err := m.get("q", 8, load(0, boom)); !errors.Is(err, boom) {
		t.Fatalf("error: %v", err)
	}
	if _, err := m.get("q", 8, load(3, nil)); err != nil || loads != 4 {
		t.Fatalf("an error was kept: %v after %d loads", err, loads)
	}
	m.get("r", 8, load(4, nil)) // the fourth entry starts the memo over
	if len(m.m) > 3 {
		t.Fatalf("memo holds %d entries, bound 3", len(m.m))
	}
}
