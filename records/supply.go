package records

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/supply"
)

// The supply chain on the node (package supply). A product key is wrapped
// on the ledger to each organization that holds the product; the
// organization's node, which holds its encryption key, opens it for the
// organization's supply staff: it turns serials into the commitments the
// ledger knows units by (SupplyCommitments), wraps the key for a new
// trading partner, and verifies a scanned unit (VerifyUnit). Serials stay
// between the member and its own node: they are neither stored nor logged.

// ErrSupplyNoKey is a request about a product whose key the caller's
// organization does not hold: it comes with the first shipment of the
// product to the organization.
var ErrSupplyNoKey = carechain.NewError(carechain.KindPermission, "no key of this product")

// productKey opens the key of gtin for caller's organization.
func (s *Service) productKey(v *ledger.View, caller *carechain.Principal, gtin string) ([]byte, error) {
	if !supply.Staff(caller) {
		return nil, carechain.E(carechain.KindPermission, fmt.Errorf("%s does not act in the supply chain: its organization's admin, supply officers and pharmacists do", caller.ID))
	}
	return s.productKeyOf(v, caller.Org, gtin)
}

// productKeyOf opens the key of gtin wrapped to org, if this node holds
// org's encryption key. Callers clear it after use.
func (s *Service) productKeyOf(v *ledger.View, org, gtin string) ([]byte, error) {
	wrap, err := v.SupplyKeyWrap(gtin, org)
	if errors.Is(err, ledger.ErrNotFound) {
		if p, perr := v.SupplyProduct(gtin); perr == nil && p.Private {
			if k, err := s.privateProductKey(v, org, gtin); err != nil || k != nil {
				return k, err
			}
		}
		return nil, fmt.Errorf("%w: %s holds no key of product %s; the key comes with its first shipment to %s", ErrSupplyNoKey, org, gtin, org)
	} else if err != nil {
		return nil, err
	}
	if k := s.productKeys.get(org, gtin, wrap); k != nil {
		return k, nil
	}
	id, ok := s.keys.identity(org)
	if !ok {
		return nil, fmt.Errorf("this node holds no encryption key of %s", org)
	}
	k, err := id.Unwrap(wrap, supply.KeyWrapInfo(gtin, org))
	if err != nil {
		return nil, fmt.Errorf("open the key of product %s for %s: %w", gtin, org, err)
	}
	s.productKeys.put(org, gtin, wrap, k)
	return k, nil
}

// SupplyCommitments returns the commitments of serials of product gtin,
// for caller's organization, and, if shareWith names an organization that
// holds no key of the product yet, the key wrapped to it (for a ship).
func (s *Service) SupplyCommitments(caller *carechain.Principal, gtin string, serials []string, shareWith string) ([][]byte, []byte, error) {
	if err := supply.CheckGTIN(gtin); err != nil {
		return nil, nil, carechain.E(carechain.KindInvalid, err)
	}
	if len(serials) == 0 || len(serials) > supply.MaxUnits {
		return nil, nil, carechain.E(carechain.KindInvalid, fmt.Errorf("name 1 to %d serials", supply.MaxUnits))
	}
	for i, sn := range serials {
		if err := supply.CheckSerial(sn); err != nil {
			return nil, nil, carechain.E(carechain.KindInvalid, fmt.Errorf("serial #%d: %w", i, err))
		}
	}
	v := s.latest()
	k, err := s.productKey(v, caller, gtin)
	if err != nil {
		return nil, nil, err
	}
	defer clear(k)
	out := make([][]byte, len(serials))
	for i, sn := range serials {
		out[i] = supply.Commitment(k, gtin, sn)
	}
	wrap, err := keyFor(v, k, gtin, shareWith)
	if err != nil {
		return nil, nil, err
	}
	return out, wrap, nil
}

// keyFor is product key k of gtin wrapped to shareWith if it is an
// organization that holds no key of the product yet (nil otherwise).
func keyFor(v *ledger.View, k []byte, gtin, shareWith string) ([]byte, error) {
	if shareWith == "" {
		return nil, nil
	}
	if _, err := v.SupplyKeyWrap(gtin, shareWith); err == nil {
		return nil, nil // it has one
	} else if !errors.Is(err, ledger.ErrNotFound) {
		return nil, err
	}
	return WrapProductKey(v, k, gtin, shareWith)
}

// WrapProductKey wraps product key k of gtin to org's encryption key, as
// the ledger holds it for org.
func WrapProductKey(v *ledger.View, k []byte, gtin, org string) ([]byte, error) {
	pub, err := orgEncryptionKey(v, org)
	if err != nil {
		return nil, err
	}
	return pub.Wrap(k, supply.KeyWrapInfo(gtin, org))
}

// orgEncryptionKey is org's encryption key as the ledger holds it; an
// unknown organization or an unusable key is invalid input.
func orgEncryptionKey(v *ledger.View, org string) (*seal.PublicKey, error) {
	o, err := v.Organization(org)
	if err != nil {
		return nil, carechain.E(carechain.KindInvalid, fmt.Errorf("organization %q: %w", org, err))
	}
	pub, err := seal.ParsePublicKey(o.EncryptionKey)
	if err != nil {
		return nil, carechain.E(carechain.KindInvalid, fmt.Errorf("organization %s has no usable encryption key: %w", org, err))
	}
	return pub, nil
}

// VerifyUnit answers a scan for caller's organization.
func (s *Service) VerifyUnit(caller *carechain.Principal, scan supply.Scan) (supply.Verification, error) {
	out, _, err := s.VerifyUnitIn(s.latest(), caller, scan)
	return out, err
}

// VerifyUnitIn answers a scan for caller's organization from the state in
// v, and returns the serial's commitment (nil if the product is not
// registered), which a proof of the answer needs (ledger.View.SupplyBundle).
func (s *Service) VerifyUnitIn(v *ledger.View, caller *carechain.Principal, scan supply.Scan) (supply.Verification, []byte, error) {
	if err := scan.Check(); err != nil {
		return supply.Verification{}, nil, carechain.E(carechain.KindInvalid, err)
	}
	p, err := v.SupplyProduct(scan.GTIN)
	if errors.Is(err, ledger.ErrNotFound) {
		return s.judged(v, scan, nil, nil, nil, caller.Org), nil, nil
	} else if err != nil {
		return supply.Verification{}, nil, err
	}
	k, err := s.productKey(v, caller, scan.GTIN)
	if err != nil {
		return supply.Verification{}, nil, err
	}
	defer clear(k)
	c := supply.Commitment(k, scan.GTIN, scan.Serial)
	u, lot, err := v.SupplyUnit(scan.GTIN, c)
	if errors.Is(err, ledger.ErrNotFound) {
		return s.judged(v, scan, p, nil, nil, caller.Org), c, nil
	} else if err != nil {
		return supply.Verification{}, nil, err
	}
	var out supply.Verification
	if p.Private {
		from, err := s.knownFrom(v, caller.Org, scan.GTIN, k, c, u)
		unsigned := errors.Is(err, supply.ErrUnsigned)
		if err != nil && !unsigned {
			return supply.Verification{}, nil, err
		}
		out = supply.JudgePrivate(scan, p, u, lot, caller.Org, from, s.now())
		if unsigned { // of unknown origin
			out.Reasons, out.Genuine = append(out.Reasons, supply.ErrUnsigned.Error()), false
		}
		out.Height = v.Height()
	} else {
		out = s.judged(v, scan, p, u, lot, caller.Org)
	}
	if u.Case != nil {
		out.SSCC = s.caseSSCC(caller, scan.GTIN, u.Case)
	}
	return out, c, nil
}

// ProveUnit answers a scan for caller's organization from the state in v,
// which checkpoint cp commits to (node.CheckpointView), with the bundle
// that proves the answer offline (proof.CheckSupply): the product, unit and
// lot it read, with their proofs in the ledger's map of supply state, and cp.
func (s *Service) ProveUnit(v *ledger.View, caller *carechain.Principal, scan supply.Scan, cp proof.Checkpoint) (supply.Verification, *proof.SupplyBundle, error) {
	out, c, err := s.VerifyUnitIn(v, caller, scan)
	if err != nil {
		return supply.Verification{}, nil, err
	}
	b, err := v.SupplyBundle(scan.GTIN, c)
	if err != nil {
		return supply.Verification{}, nil, err
	}
	b.At = cp
	if err := s.proveShipment(v, caller.Org, scan.GTIN, c, b); err != nil {
		return supply.Verification{}, nil, err
	}
	return out, b, nil
}

func (s *Service) judged(v *ledger.View, scan supply.Scan, p *supply.Product, u *supply.Unit, lot *supply.Lot, verifier string) supply.Verification {
	out := supply.Judge(scan, p, u, lot, verifier, s.now())
	out.Height = v.Height()
	return out
}
