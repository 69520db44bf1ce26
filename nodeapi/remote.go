package nodeapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/store"
)

// State reads a node's ledger state through GET /v1/state, as the signing
// client may (see mayReadState): a ledger.StateReader, so that
// ledger.NewView over it answers what a View on the node would. Values at
// a height never change, so each is asked for once.
//
// A State trusts its node for what it reads, as a node's own users do; the
// ledger checks again every transaction built from it when it commits.
type State struct {
	c   *Client
	ctx context.Context

	mu    sync.Mutex
	cache map[string]stateAnswer
}

type stateAnswer struct {
	value   []byte
	entries []StateEntry
	err     error
}

// NewState returns the state of c's node as c (a signing client) may read
// it; requests are made under ctx.
func NewState(ctx context.Context, c *Client) *State {
	return &State{c: c, ctx: ctx, cache: map[string]stateAnswer{}}
}

// ask reads the state q asks for (key=, or prefix= page by page), once.
// An absent key is store.ErrNotFound; the node says so in its answer, so a
// node without /v1/state (its 404 says nothing of a key) is an error.
func (s *State) ask(q url.Values) stateAnswer {
	id := q.Encode()
	s.mu.Lock()
	a, ok := s.cache[id]
	s.mu.Unlock()
	if ok {
		return a
	}
	for {
		var resp StateResponse
		_, err := s.c.do(s.ctx, http.MethodGet, "/v1/state?"+q.Encode(), nil, &resp)
		var status *StatusError
		switch {
		case errors.As(err, &status) && status.Status == http.StatusNotFound && strings.HasPrefix(status.Message, noStateKey):
			a.err = store.ErrNotFound
		case err != nil:
			a.err = fmt.Errorf("reading the node's state: %w", err)
		default:
			a.value, a.entries = resp.Value, append(a.entries, resp.Entries...)
		}
		if a.err != nil || resp.Next == "" {
			break
		}
		q.Set("after", resp.Next) // the next page of a scan
	}
	if a.err == nil || errors.Is(a.err, store.ErrNotFound) {
		s.mu.Lock()
		s.cache[id] = a
		s.mu.Unlock()
	}
	return a
}

// Get implements ledger.StateReader.
func (s *State) Get(key string, height int64) ([]byte, error) {
	a := s.ask(url.Values{"key": {key}, "height": {strconv.FormatInt(height, 10)}})
	return a.value, a.err
}

// GetAt implements ledger.StateReader: the value key was given at exactly
// height.
func (s *State) GetAt(key string, height int64) ([]byte, error) {
	a := s.ask(url.Values{"key": {key}, "at": {strconv.FormatInt(height, 10)}})
	return a.value, a.err
}

// Scan implements ledger.StateReader.
func (s *State) Scan(prefix string, height int64, fn func(key string, val []byte) error) error {
	a := s.ask(url.Values{"prefix": {prefix}, "height": {strconv.FormatInt(height, 10)}})
	if a.err != nil {
		return a.err
	}
	for _, e := range a.entries {
		if err := fn(e.Key, e.Value); err != nil {
			return err
		}
	}
	return nil
}

// RemoteChain is a node reached through its API, as records.Chain: the
// records service runs on the client's device, reading the node's state
// (State) and submitting through POST /v1/txs.
type RemoteChain struct {
	c     *Client
	state *State
	chain string
}

// NewRemoteChain returns the chain of c's node; c signs as the principal
// whose state it reads.
func NewRemoteChain(ctx context.Context, c *Client) (*RemoteChain, error) {
	st, err := c.Status(ctx)
	if err != nil {
		return nil, err
	}
	return &RemoteChain{c: c, state: NewState(ctx, c), chain: st.ChainID}, nil
}

// Latest implements records.Chain: the node's state at its last committed
// height. If the node cannot be asked, every read of the view fails with
// the reason.
func (r *RemoteChain) Latest() *ledger.View {
	st, err := r.c.Status(r.state.ctx)
	if err != nil {
		return ledger.NewView(unreachable{err}, 0, r.chain)
	}
	return ledger.NewView(r.state, st.Height, r.chain)
}

// unreachable is the state of a node that could not be asked.
type unreachable struct{ err error }

func (u unreachable) Get(string, int64) ([]byte, error)   { return nil, u.err }
func (u unreachable) GetAt(string, int64) ([]byte, error) { return nil, u.err }
func (u unreachable) Scan(string, int64, func(string, []byte) error) error {
	return u.err
}

// Broadcast implements records.Chain: POST /v1/txs, which answers once the
// transaction committed or was refused.
func (r *RemoteChain) Broadcast(ctx context.Context, raw []byte) (ledger.Outcome, func(context.Context) (ledger.Outcome, error), error) {
	res, err := r.c.Submit(ctx, raw)
	if err != nil {
		return ledger.Outcome{}, nil, err
	}
	out := res.Outcome
	out.Hash = sha256.Sum256(raw)
	return out, func(context.Context) (ledger.Outcome, error) { return out, nil }, nil
}
