package ledger

import (
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tx"
)

// handler applies one transaction type: it authorizes c against the state in
// b and writes its effects there, or rejects it.
type handler func(a *App, b *store.Block, c *checked) *Rejection

// handlers maps each transaction type to its rules. Every type registers
// itself, once, in the file that holds its rules (an init calling handle), so
// adding a type adds a file here and one in tx; TestEveryTypeHasHandler
// checks that the two registries agree. The map is written only while the
// package initializes.
var handlers = map[tx.Type]handler{}

// handle registers f as the rules of transaction type t, whose body is a B.
func handle[B tx.Body](t tx.Type, f func(a *App, b *store.Block, c *checked, body B) *Rejection) {
	if _, dup := handlers[t]; dup {
		panic("ledger: handler registered twice: " + string(t))
	}
	handlers[t] = func(a *App, b *store.Block, c *checked) *Rejection { return f(a, b, c, c.body.(B)) }
}
