//go:build notrust

package trust

// Built reports whether this binary was built with the bypass (-tags notrust).
const Built = true

// Marker is in every binary built with the bypass and in none built without
// it: cmd/carechain TestReleaseBinaryLacksTrustBypass looks for it in the
// release binary. Warning prints it.
const Marker = "carechain-notrust-bypass-built-in"

// Warning is what a binary with the bypass says of itself.
const Warning = "WARNING: " + Marker + ": this binary can start nodes without signing, encryption or the access log; never deploy it"

// Bypass is a node's trust switch. Its zero value leaves trust on; one from
// Switched turns it off for the node (and only the node) it is given to.
type Bypass struct{ off bool }

// Off reports whether the node runs without signing, encryption and the
// access log.
func (b Bypass) Off() bool { return b.off }

// Switched is a Bypass that switches trust off.
func Switched() (Bypass, error) { return Bypass{off: true}, nil }
