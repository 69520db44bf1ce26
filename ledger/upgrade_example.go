//go:build carechain_upgrade_example

package ledger

import "time"

// This file is the example of a release's consensus upgrade, built only
// with -tags carechain_upgrade_example: the upgrade tests (cmd/carechain
// TestUpgradeAtApprovedHeight) build a second carechain with it to show an
// upgrade end to end. A real release adds its Upgrade to Upgrades
// (upgrade.go) in an ordinary file.
//
// The rule change: from the height of the approved plan "example-v2" on,
// a governance proposal stays open for at most a day (before: tx.MaxGovTTL).

// ExampleUpgrade is the name of the example upgrade.
const ExampleUpgrade = "example-v2"

// exampleMaxGovTTL is the example upgrade's new limit.
const exampleMaxGovTTL = 24 * time.Hour

func exampleUpgrades() []Upgrade {
	return []Upgrade{{
		Name:  ExampleUpgrade,
		Rules: func(r *Rules) { r.MaxGovTTL = exampleMaxGovTTL },
	}}
}
