package tx

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/carechain/carechain"
)

// ErrUnknownType is returned for a transaction type this version does not know.
var ErrUnknownType = carechain.NewError(carechain.KindMalformed, "unknown transaction type")

// ErrInvalid is wrapped by stateless body checks.
var ErrInvalid = carechain.NewError(carechain.KindInvalid, "invalid transaction body")

// Body is the type-specific part of a transaction.
type Body interface {
	// Validate runs the checks that need no ledger state.
	Validate() error
}

// bodies maps each transaction type to a constructor of its body. Each
// type registers itself, once, in the file that defines its body (an init
// calling register), so adding a type touches one file of this package.
// The map is written only while the package initializes.
var bodies = map[Type]func() Body{}

// register makes type t decode into a *T.
func register[T any, P interface {
	*T
	Body
}](t Type) {
	if _, dup := bodies[t]; dup {
		panic("tx: type registered twice: " + string(t))
	}
	bodies[t] = func() Body { return P(new(T)) }
}

// Types lists every registered transaction type, sorted.
func Types() []Type {
	out := make([]Type, 0, len(bodies))
	for t := range bodies {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func newBody(t Type) (Body, error) {
	f, ok := bodies[t]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownType, t)
	}
	return f(), nil
}

func checkKey(k ed25519.PublicKey) error {
	if len(k) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: public key is %d bytes, want %d", ErrInvalid, len(k), ed25519.PublicKeySize)
	}
	return nil
}

func checkText(field, s string) error {
	if len(s) > MaxStringLen || !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s must be valid UTF-8 of at most %d bytes", ErrInvalid, field, MaxStringLen)
	}
	return nil
}
