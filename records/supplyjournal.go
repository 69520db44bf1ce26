package records

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// The supply journal: the node's own record of its organizations' supply
// events, with their serials, from which an organization exports EPCIS
// documents (SupplyEvents). The ledger knows units only by commitments, so
// the serials an organization moved are known to nobody else, and to
// itself only through this journal. It is node-local, never on the ledger:
// each event is sealed (AES-256-GCM under a fresh key, the key wrapped
// with HPKE to the organization's encryption key), so the node's disk
// holds no serial in plain, and only a node holding the organization's
// key opens its entries. An organization's events are those its own staff
// submitted through this node (the portal's and demo's acts, EPCIS
// captures) or recorded with it after committing them (RecordSupplyEvent,
// which the CLI calls).

// supplyJournal keeps the sealed entries, on disk (a store.Queue) or, for
// tests, in memory.
type supplyJournal struct {
	mu    sync.Mutex
	queue *store.Queue // nil: mem
	mem   [][]byte
}

// journalEntry is one sealed event as stored.
type journalEntry struct {
	Org    string `cbor:"1,keyasint"` // in plain: which organization's key opens it
	Wrap   []byte `cbor:"2,keyasint"`
	Sealed []byte `cbor:"3,keyasint"` // nonce ‖ AES-GCM ciphertext of the event's JSON
}

func journalInfo(org string) []byte { return []byte("carechain/supply/journal/v1\x00" + org) }

// journalSupply seals e to org and appends it.
func (s *Service) journalSupply(v *ledger.View, org string, e supply.Event) error {
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return err
	}
	wraps, sealed, err := sealToOrgs(v, []string{org}, journalInfo, plain.Bytes(), journalInfo(org))
	if err != nil {
		return fmt.Errorf("journal a supply event of %s: %w", org, err)
	}
	je := journalEntry{Org: org, Wrap: wraps[0], Sealed: sealed}
	item, err := tx.Marshal(&je)
	if err != nil {
		return err
	}
	pos, err := s.supplyJournal.append(item)
	if err != nil {
		return err
	}
	s.custody.appended(s, pos, je, e)
	return nil
}

// append appends item and returns its position.
func (j *supplyJournal) append(item []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.queue == nil {
		j.mem = append(j.mem, item)
		return len(j.mem) - 1, nil
	}
	pos := j.queue.Len()
	if _, err := j.queue.Append(item); err != nil {
		return 0, fmt.Errorf("journal a supply event: %w", err)
	}
	return pos, nil
}

func gcm(k []byte) cipher.AEAD {
	b, err := aes.NewCipher(k)
	if err != nil {
		panic(err) // k is always 32 bytes
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return a
}

// journalItems is every sealed entry, oldest first.
func (s *Service) journalItems() ([][]byte, error) {
	j := &s.supplyJournal
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.queue == nil {
		return append([][]byte(nil), j.mem...), nil
	}
	items, err := j.queue.Items(j.queue.Len() + 1)
	if err != nil {
		return nil, fmt.Errorf("read the supply journal: %w", err)
	}
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = it.Data
	}
	return out, nil
}

// SupplyEvents returns the events of caller's organization that answer q,
// oldest first, for its supply staff.
func (s *Service) SupplyEvents(caller *carechain.Principal, q supply.EventQuery) ([]supply.Event, error) {
	if !supply.Staff(caller) {
		return nil, carechain.E(carechain.KindPermission, fmt.Errorf("%s does not act in the supply chain: its organization's admin, supply officers and pharmacists do", caller.ID))
	}
	id, ok := s.keys.identity(caller.Org)
	if !ok {
		return nil, carechain.E(carechain.KindPermission, fmt.Errorf("this node holds no encryption key of %s, so no supply journal of it", caller.Org))
	}
	items, err := s.journalItems()
	if err != nil {
		return nil, err
	}
	var out []supply.Event
	for i, item := range items {
		var je journalEntry
		if err := tx.Unmarshal(item, &je); err != nil {
			return nil, fmt.Errorf("supply journal entry #%d: %w", i, err)
		}
		if je.Org != caller.Org {
			continue
		}
		e, err := openJournalEntry(id, je)
		if err != nil {
			return nil, fmt.Errorf("supply journal entry #%d: %w", i, err)
		}
		if e.Action != supply.ActCustodyNote && q.Match(e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func openJournalEntry(id seal.Identity, je journalEntry) (supply.Event, error) {
	k, err := id.Unwrap(je.Wrap, journalInfo(je.Org))
	if err != nil {
		return supply.Event{}, err
	}
	defer clear(k)
	if len(je.Sealed) < 12 {
		return supply.Event{}, seal.ErrDecrypt
	}
	plain, err := gcm(k).Open(nil, je.Sealed[:12], je.Sealed[12:], journalInfo(je.Org))
	if err != nil {
		return supply.Event{}, seal.ErrDecrypt
	}
	var e supply.Event
	return e, json.Unmarshal(plain, &e)
}

// RecordSupplyEvent journals e, an event caller committed itself (the CLI
// signs its transactions on the member's device), for caller's
// organization, at the node's time. Each serial must name a unit of the
// product on the ledger, so the journal holds no unit that was never
// commissioned, and each SSCC (but an unpack's) a case on the ledger.
func (s *Service) RecordSupplyEvent(caller *carechain.Principal, e supply.Event) error {
	if err := e.Check(); err != nil {
		return carechain.E(carechain.KindInvalid, err)
	}
	v := s.latest()
	k, err := s.productKey(v, caller, e.GTIN)
	if err != nil {
		return err
	}
	defer clear(k)
	if e.Custody != nil {
		return carechain.E(carechain.KindInvalid, errors.New("a recorded event carries no custody note: the node keeps those"))
	}
	for i, sn := range e.Serials {
		if _, _, err := v.SupplyUnit(e.GTIN, supply.Commitment(k, e.GTIN, sn)); errors.Is(err, ledger.ErrNotFound) {
			return carechain.E(carechain.KindInvalid, fmt.Errorf("serial #%d: no unit of %s with this serial was commissioned", i, e.GTIN))
		} else if err != nil {
			return err
		}
	}
	for i, sscc := range e.SSCCs {
		if e.Action == supply.ActUnpack {
			break // an emptied case is gone from the ledger
		}
		if _, err := v.SupplyCase(e.GTIN, supply.CaseCommitment(k, e.GTIN, sscc)); errors.Is(err, ledger.ErrNotFound) {
			return carechain.E(carechain.KindInvalid, fmt.Errorf("SSCC #%d: no case of %s with this SSCC is packed", i, e.GTIN))
		} else if err != nil {
			return err
		}
	}
	e.Org, e.Time = caller.Org, s.now().UTC()
	return s.journalSupply(v, caller.Org, e)
}

// SupplyCapture submits events, an EPCIS capture of signer's organization,
// as the supply transactions they mean, in order, and journals each one
// committed. Every event is checked and turned into its transaction before
// any is submitted, so a malformed capture writes nothing (a
// *supply.EventError, KindInvalid); a ledger refusal stops the capture at
// that event (a *supply.EventError wrapping the rejection), the events
// before it staying committed. It returns the heights of the commits.
func (s *Service) SupplyCapture(ctx context.Context, signer Signer, events []supply.Event) ([]int64, error) {
	me, err := s.latest().Principal(signer.ID)
	if err != nil {
		return nil, fmt.Errorf("signer %s: %w", signer.ID, err)
	}
	plan, err := s.planCapture(me, events)
	if err != nil {
		return nil, err
	}
	heights := make([]int64, 0, len(events))
	for i, p := range plan {
		if p.transfer != nil { // a private product's: journaled by the transfer
			out, err := s.transferAs(ctx, signer, *p.transfer)
			heights = append(heights, out.Heights...)
			if err != nil {
				return heights, &supply.EventError{Index: i, Err: err}
			}
			continue
		}
		if cm, ok := p.body.(*tx.SupplyCommission); ok && isPrivate(s.latest(), cm.GTIN) {
			if _, cm.Custody, err = s.SupplyCustodyKey(me, cm.GTIN, events[i].Serials); err != nil {
				return heights, &supply.EventError{Index: i, Err: err}
			}
		}
		out, err := s.submit(ctx, signer, p.typ, p.body)
		if err != nil {
			return heights, &supply.EventError{Index: i, Err: err}
		}
		heights = append(heights, out.Height)
		e := events[i]
		e.Org, e.Time = me.Org, s.now().UTC()
		if err := s.journalSupply(s.latest(), me.Org, e); err != nil {
			return heights, &supply.EventError{Index: i, Err: fmt.Errorf("committed at height %d, not journaled: %w", out.Height, err)}
		}
	}
	return heights, nil
}

// plannedEvent is what a captured event is submitted as: a transaction,
// or a transfer of a private product's units.
type plannedEvent struct {
	typ      tx.Type
	body     tx.Body
	transfer *SupplyTransferRequest
}

// planCapture checks every event of a capture by caller and turns it into
// what it is submitted as, before anything is.
func (s *Service) planCapture(caller *carechain.Principal, events []supply.Event) ([]plannedEvent, error) {
	plan := make([]plannedEvent, len(events))
	v := s.latest()
	for i, e := range events {
		if e.Org != "" && e.Org != caller.Org {
			return nil, carechain.E(carechain.KindInvalid, &supply.EventError{Index: i, Err: fmt.Errorf("the event's owning party is %s, not %s", e.Org, caller.Org)})
		}
		var err error
		if req, ok := transferOfEvent(v, e); ok {
			plan[i].transfer, err = req, req.check()
		} else {
			plan[i].typ, plan[i].body, err = s.eventTx(caller, e)
			if err == nil {
				err = plan[i].body.Validate()
			}
		}
		if err != nil {
			kind := carechain.KindOf(err)
			if kind == carechain.KindInternal {
				kind = carechain.KindInvalid // a transaction's own check refused it
			}
			return nil, carechain.E(kind, &supply.EventError{Index: i, Err: err})
		}
	}
	return plan, nil
}

// transferOfEvent is the transfer e means if it moves, flags, packs or
// unpacks units or cases of a private product.
func transferOfEvent(v *ledger.View, e supply.Event) (*SupplyTransferRequest, bool) {
	acts := []string{supply.ActShip, supply.ActReceive, supply.ActDispense, supply.ActDecommission, supply.ActFlag, supply.ActPack, supply.ActUnpack}
	if len(e.Serials)+len(e.SSCCs) == 0 || !slices.Contains(acts, e.Action) || !isPrivate(v, e.GTIN) {
		return nil, false
	}
	req := &SupplyTransferRequest{Action: e.Action, GTIN: e.GTIN, Serials: e.Serials, SSCCs: e.SSCCs, To: e.To, Reason: e.Reason, WholeLot: e.WholeLot}
	if e.Action == supply.ActShip { // a receive's sale is the shipment's
		req.BizTransactions, req.Price = e.BizTransactions, e.Price
	}
	return req, true
}

// eventTx is the transaction e means for caller's organization, with the
// commitments of its serials (and, for a ship to an organization without
// the product's key, the key wrapped to it).
func (s *Service) eventTx(caller *carechain.Principal, e supply.Event) (tx.Type, tx.Body, error) {
	if err := e.Check(); err != nil {
		return "", nil, carechain.E(carechain.KindInvalid, err)
	}
	if e.Action == supply.ActRecall {
		return tx.SupplyEventBody(e, nil, nil)
	}
	var units, cases [][]byte
	var wrap []byte
	var err error
	if len(e.Serials) > 0 {
		units, wrap, err = s.SupplyCommitments(caller, e.GTIN, e.Serials, e.To)
	}
	if err == nil && len(e.SSCCs) > 0 {
		cases, wrap, err = s.SupplyCaseCommitments(caller, e.GTIN, e.SSCCs, e.To)
	}
	if err != nil {
		return "", nil, err
	}
	typ, body, err := tx.SupplyEventBody(e, supply.Named(e.Serials, units), supply.Named(e.SSCCs, cases))
	tx.SetKeyWrap(body, wrap)
	return typ, body, err
}
