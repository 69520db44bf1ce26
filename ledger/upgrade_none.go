//go:build !carechain_upgrade_example

package ledger

// exampleUpgrades is empty in ordinary builds; see upgrade_example.go.
func exampleUpgrades() []Upgrade { return nil }
