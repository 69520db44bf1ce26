package records

import "sync"

// heightMemo keeps values read from the ledger's state at one height. State
// at a height never changes, so every access decision made at that height
// can share one read of a patient's grants or an organization's role
// policy: a search deciding ten records reads them once, not ten times. It
// is bounded: past max entries it starts over.
type heightMemo[T any] struct {
	mu  sync.Mutex
	max int
	m   map[memoKey]T
}

type memoKey struct {
	key    string
	height int64
}

func newHeightMemo[T any](max int) *heightMemo[T] {
	return &heightMemo[T]{max: max, m: make(map[memoKey]T)}
}

// get returns the value of key at height, calling load once if it is not
// kept. Errors are not kept.
func (h *heightMemo[T]) get(key string, height int64, load func() (T, error)) (T, error) {
	k := memoKey{key, height}
	h.mu.Lock()
	v, ok := h.m[k]
	h.mu.Unlock()
	if ok {
		return v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) >= h.max {
		clear(h.m)
	}
	h.m[k] = v
	return v, nil
}
