//go:build !notrust

package trust

// Built reports whether this binary was built with the bypass (-tags notrust).
const Built = false

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
