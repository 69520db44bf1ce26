// Package demo defines the demonstration consortium of `carechain demo`:
// organizations, staff with roles, and patients, with their keys in the node's
// custodial keystore under a published passphrase. Nothing here is real data.
package demo

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/tx"
)

// ChainID of the demo consortium.
const ChainID = "carechain-demo"

// Passphrase protects every demo key. It is printed by `carechain demo`: the
// demo's keys protect nothing.
const Passphrase = "demo"

// Organizations of the demo consortium.
func Organizations() []carechain.Organization {
	return []carechain.Organization{
		{ID: "st-mary", Name: "St Mary's Hospital", Type: carechain.OrgHospital},
		{ID: "city-general", Name: "City General Hospital", Type: carechain.OrgHospital},
		{ID: "northlab", Name: "North Diagnostics Laboratory", Type: carechain.OrgLab},
		{ID: "greenleaf", Name: "Greenleaf Pharmacy", Type: carechain.OrgPharmacy},
		{ID: "carewell", Name: "Carewell Health Insurance", Type: carechain.OrgInsurer},
		{ID: "biomed", Name: "BioMed Research Institute", Type: carechain.OrgResearch},
		{ID: Manufacturer, Name: "Acme Pharma", Type: carechain.OrgManufacturer},
		{ID: Wholesaler, Name: "MedSupply Wholesale", Type: carechain.OrgWholesaler},
	}
}

// Staff is a demo practitioner.
type Staff struct {
	ID    string
	Name  string
	Roles []carechain.Role
}

// StaffMembers returns the demo practitioners of every organization.
func StaffMembers() []Staff {
	r := func(roles ...carechain.Role) []carechain.Role { return roles }
	return []Staff{
		{"st-mary/dr-chen", "Dr. Mei Chen", r(carechain.RolePhysician)},
		{"st-mary/dr-okafor", "Dr. Emeka Okafor", r(carechain.RoleRadiologist)},
		{"st-mary/dr-novak", "Dr. Jana Novak", r(carechain.RoleHeadOfRadiology, carechain.RoleRadiologist)},
		{"st-mary/dr-ito", "Dr. Kenji Ito", r(carechain.RoleSpecialist, carechain.RolePhysician)},
		{"st-mary/ms-reyes", "Ana Reyes", r(carechain.RoleHospitalAuthority)},
		{"st-mary/nurse-berg", "Lena Berg", r(carechain.RoleNurse)},
		{"st-mary/clerk-singh", "Ravi Singh", r(carechain.RoleRegistrationClerk)},
		{"city-general/dr-meyer", "Dr. Paul Meyer", r(carechain.RolePhysician)},
		{"city-general/dr-haddad", "Dr. Layla Haddad", r(carechain.RoleSpecialist, carechain.RoleRadiologist)},
		{"city-general/dr-lindqvist", "Dr. Erik Lindqvist", r(carechain.RoleHeadOfDepartment, carechain.RolePhysician)},
		{"city-general/clerk-lee", "Grace Lee", r(carechain.RoleRegistrationClerk)},
		{"northlab/tech-kim", "Min-jun Kim", r(carechain.RoleLabTechnician)},
		{"greenleaf/ph-rossi", "Giulia Rossi", r(carechain.RolePharmacist)},
		{"carewell/claims-ward", "Tom Ward", r(carechain.RoleClaimsOfficer)},
		{"biomed/res-patel", "Dr. Priya Patel", r(carechain.RoleResearcher)},
		{Manufacturer + "/officer-dubois", "Claire Dubois", r(carechain.RoleSupplyOfficer)},
		{Wholesaler + "/officer-nowak", "Piotr Nowak", r(carechain.RoleSupplyOfficer)},
	}
}

// PatientCount is how many demo patients there are.
const PatientCount = 20

// PatientID returns the pseudonymous ID of demo patient i (1-based).
func PatientID(i int) string { return fmt.Sprintf("%sdemo-%02d", carechain.PatientPrefix, i) }

// AdminID is the ID of an organization's genesis admin.
func AdminID(org string) string { return org + "/admin" }

// KeyName is the keystore name holding a principal's key: the ID with '/' as '.'.
func KeyName(principalID string) string { return strings.ReplaceAll(principalID, "/", ".") }

// ensureKey returns the public key stored for id, creating the key if missing.
func ensureKey(ks *keystore.Store, id string) (ed25519.PublicKey, error) {
	pub, err := ks.Public(KeyName(id))
	if errors.Is(err, keystore.ErrNotFound) {
		return ks.Create(KeyName(id), []byte(Passphrase))
	}
	return pub, err
}

// NodePrincipal is the demo node's principal: St Mary's runs the demo's one
// node, which anchors the access events.
const NodePrincipal = "st-mary/node"

// Genesis returns the demo genesis, creating the admins' and the node's keys
// in ks if missing. nodeID is the demo node's CometBFT node ID.
func Genesis(ks *keystore.Store, nodeID string) (*ledger.Genesis, error) {
	pub, err := ensureKey(ks, NodePrincipal)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	g := &ledger.Genesis{Nodes: []ledger.GenesisNode{{ID: NodePrincipal, Name: "St Mary's demo node", NodeID: nodeID, PublicKey: pub}}}
	for _, o := range Organizations() {
		pub, err := ensureKey(ks, AdminID(o.ID))
		if err != nil {
			return nil, fmt.Errorf("admin key of %s: %w", o.ID, err)
		}
		ek, err := records.EnsureEncryptionKey(ks, o.ID, []byte(Passphrase))
		if err != nil {
			return nil, err
		}
		o.EncryptionKey = ek.Public().Bytes()
		g.Organizations = append(g.Organizations, ledger.FoundingOrg(o,
			ledger.GenesisAdmin{ID: AdminID(o.ID), Name: o.Name + " administrator", PublicKey: pub}))
	}
	return g, nil
}

// Chain is what Seed needs of a running node.
type Chain interface {
	SubmitAll(ctx context.Context, raws [][]byte) ([]ledger.Outcome, error)
	App() *ledger.App
}

// Summary says what Seed did.
type Summary struct {
	Registered, AlreadyThere int
	Records                  int // demo records written now
}

// Seed registers the demo staff and patients that are not on the chain yet,
// so a demo interrupted halfway completes on the next run.
func Seed(ctx context.Context, chain Chain, ks *keystore.Store) (Summary, error) {
	var sum Summary
	byOrg := map[string][]tx.Register{}
	for _, s := range StaffMembers() {
		pub, err := ensureKey(ks, s.ID)
		if err != nil {
			return sum, err
		}
		org := carechain.OrgOf(s.ID)
		byOrg[org] = append(byOrg[org], tx.Register{ID: s.ID, Kind: carechain.KindPractitioner, Roles: s.Roles, Name: s.Name, PublicKey: pub})
	}
	v, err := chain.App().View(0)
	if err != nil {
		return sum, err
	}
	for _, o := range Organizations() {
		if _, err := v.Organization(o.ID); errors.Is(err, ledger.ErrNotFound) {
			continue // a demo chain made before this organization joined the demo
		}
		if err := register(ctx, chain, ks, AdminID(o.ID), byOrg[o.ID], &sum); err != nil {
			return sum, err
		}
	}
	// Patients register at the front desk of one hospital or the other.
	byClerk := map[string][]tx.Register{}
	for i := 1; i <= PatientCount; i++ {
		pub, err := ensureKey(ks, PatientID(i))
		if err != nil {
			return sum, err
		}
		ek, err := records.EnsureEncryptionKey(ks, PatientID(i), []byte(Passphrase))
		if err != nil {
			return sum, err
		}
		clerk := registeringClerk(i)
		byClerk[clerk] = append(byClerk[clerk], tx.Register{ID: PatientID(i), Kind: carechain.KindPatient, PublicKey: pub, EncryptionKey: ek.Public().Bytes()})
	}
	for _, clerk := range registeringClerks {
		if err := register(ctx, chain, ks, clerk, byClerk[clerk], &sum); err != nil {
			return sum, err
		}
	}
	_, err = SeedPlanning(ctx, chain, ks, time.Now()) // St Mary's schedules, slots and price catalogue (planning.go)
	return sum, err
}

// registeringClerks are the desks where demo patients register.
var registeringClerks = []string{"st-mary/clerk-singh", "city-general/clerk-lee"}

// registeringClerk is the clerk who registered demo patient i: St Mary's
// registers the even ones.
func registeringClerk(i int) string { return registeringClerks[i%2] }

// register signs, with signer's key, the registrations not on the chain yet and commits them.
func register(ctx context.Context, chain Chain, ks *keystore.Store, signer string, regs []tx.Register, sum *Summary) error {
	app := chain.App()
	v, err := app.View(0)
	if err != nil {
		return err
	}
	var todo []tx.Register
	for _, r := range regs {
		if _, err := v.Principal(r.ID); err == nil {
			sum.AlreadyThere++
			continue
		} else if !errors.Is(err, ledger.ErrNotFound) {
			return err
		}
		todo = append(todo, r)
	}
	if len(todo) == 0 {
		return nil
	}
	key, err := ks.Unlock(KeyName(signer), []byte(Passphrase))
	if err != nil {
		return fmt.Errorf("unlock %s: %w", signer, err)
	}
	nonce, err := v.NextNonce(signer)
	if err != nil {
		return err
	}
	raws := make([][]byte, len(todo))
	for i := range todo {
		if raws[i], err = tx.Sign(key, app.ChainID(), signer, nonce+uint64(i), tx.TypeRegister, &todo[i]); err != nil {
			return err
		}
	}
	outs, err := chain.SubmitAll(ctx, raws)
	if err != nil {
		return fmt.Errorf("register by %s: %w", signer, err)
	}
	for i, o := range outs {
		if !o.Accepted() {
			return fmt.Errorf("register %s by %s: %s: %s", todo[i].ID, signer, o.Code, o.Log)
		}
	}
	sum.Registered += len(todo)
	return nil
}
