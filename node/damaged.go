package node

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
)

// DamagedError reports a home whose data cannot be trusted: a file of a
// store is damaged or missing (store.CorruptError), or the data directory
// changed after the node's clean stop (ErrAltered). Its message names the
// file and says what the operator does about it; start and verify refuse
// such a home rather than run on it or panic.
type DamagedError struct {
	Home Home
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%v\nThe data of %s cannot be trusted and the node must not run on it. "+
		"Keep a copy of %s for inspection, then restore it from a backup of this node "+
		"(or make a new home that syncs from the consortium's other nodes).", e.Err, e.Home, e.Home.DataDir())
}

func (e *DamagedError) Unwrap() error { return e.Err }

// ErrorKind implements carechain.Kinded.
func (e *DamagedError) ErrorKind() carechain.ErrorKind { return carechain.KindInternal }

// damaged wraps err in a *DamagedError if it says h's data is damaged or
// altered, and returns it unchanged otherwise.
func damaged(h Home, err error) error {
	if err == nil || errors.As(err, new(*DamagedError)) {
		return err
	}
	if errors.As(err, new(*store.CorruptError)) || errors.Is(err, ErrAltered) {
		return &DamagedError{Home: h, Err: err}
	}
	return err
}
