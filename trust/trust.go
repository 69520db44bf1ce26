//go:build !notrust

// Package trust is the switch that measures the cost of trust: a node whose
// FHIR creates are not signed (and signatures not checked), whose records
// are stored unencrypted and whose reads leave no access event. It exists
// only so that `carechain bench trust` can compare the real paths with the
// same paths without signing, encryption and the access log, in one run.
//
// The switch is built only with -tags notrust (notrust.go). In every other
// build, release builds included (scripts/build-static), a Bypass cannot be
// made and Off is the constant false: every branch it guards is dead code
// the compiler removes, so no node of such a binary can be switched off.
// cmd/carechain TestReleaseBinaryLacksTrustBypass checks the release binary.
package trust

import "errors"

// Built reports whether this binary was built with the bypass (-tags notrust).
const Built = false

// ErrNotBuilt is returned where a bypass is asked of a binary built without it.
var ErrNotBuilt = errors.New("this binary has no trust bypass: the cost-of-trust row needs " + Command)

// Command is how to run the cost-of-trust row.
const Command = "go run -tags notrust ./cmd/carechain bench trust"

// Warning is what a binary with the bypass says of itself: nothing, here.
const Warning = ""

// Bypass is a node's trust switch; its zero value, the only one in this
// build, leaves trust on.
type Bypass struct{}

// Off reports whether the node runs without signing, encryption and the
// access log: never, in this build.
func (Bypass) Off() bool { return false }

// Switched is a Bypass that switches trust off, or ErrNotBuilt in this build.
func Switched() (Bypass, error) { return Bypass{}, ErrNotBuilt }
