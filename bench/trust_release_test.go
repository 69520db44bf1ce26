//go:build !notrust

package bench

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/carechain/carechain/trust"
)

// TestTrustNeedsTheNotrustBuild: in a build without -tags notrust no bypass
// can be made, and Trust (so `bench trust`, and the cost-of-trust rows of
// `bench all`) refuses with trust.ErrNotBuilt, naming the command that
// measures it, before starting any node.
func TestTrustNeedsTheNotrustBuild(t *testing.T) {
	if trust.Built {
		t.Fatal("trust.Built in a build without -tags notrust")
	}
	if b, err := trust.Switched(); !errors.Is(err, trust.ErrNotBuilt) || b.Off() {
		t.Fatalf("trust.Switched() = %+v, %v; want trust on and ErrNotBuilt", b, err)
	}
	_, err := Trust(context.Background(), DefaultTrustOptions())
	if !errors.Is(err, trust.ErrNotBuilt) {
		t.Fatalf("Trust: %v, want ErrNotBuilt", err)
	}
	if want := "go run -tags notrust ./cmd/carechain bench trust"; !strings.Contains(err.Error(), want) {
		t.Errorf("Trust's error %q does not name %q", err, want)
	}
}
