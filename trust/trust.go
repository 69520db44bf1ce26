// Package trust is the switch that measures the cost of trust: a node whose
// transactions are not signed (and signatures not checked), whose records
// are stored unencrypted and whose reads leave no access event. It exists
// only so that `carechain bench trust` can compare the real FHIR paths with
// the same paths without signing, encryption and the access log, in one run.
//
// A Bypass is given to one node (tx.Verifier, ledger.Options,
// node.StartOptions, records.Options); its zero value leaves trust on. It
// can be switched off only in a build with -tags notrust (notrust.go). In
// every other build, release builds included (scripts/build-static),
// Switched fails and Off is the constant false (release.go): every branch
// it guards is dead code, so no node of such a binary runs without trust.
// cmd/carechain TestReleaseBinaryLacksTrustBypass checks the release binary.
package trust

import "errors"

// Command is how to run the cost-of-trust row.
const Command = "go run -tags notrust ./cmd/carechain bench trust"

// ErrNotBuilt is returned where a bypass is asked of a binary built without it.
var ErrNotBuilt = errors.New("this binary has no trust bypass: the cost-of-trust row needs " + Command)
