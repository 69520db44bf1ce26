package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
	"github.com/carechain/carechain/tx"
)

// The supply bench for a product registered as private (README "Private
// custody"): its units move only by supply.transfer, signed by one-time
// custody keys the organizations' node derives and journals, so the bench
// cannot sign them itself as it does an ordinary product's. It goes through
// the node's own path (records.Service, as the portal and EPCIS capture
// do): each call submits and waits for the commit, so supplyWindow
// goroutines keep that many batches in flight. The manufacturer admin's
// commissions share its nonces, which records.Service hands out in order;
// a ship or receive is signed by the batch's own custody or claim key.

// PrivateSupplyReport is Supply's run of a private product.
type PrivateSupplyReport struct {
	Window int // batches in flight in each phase, one goroutine each
	// CommissionPerSecond, ShipPerSecond and ReceivePerSecond are serials a
	// second: a commission derives and journals a custody key first; a
	// ship is two rounds (the groups and claim keys, then the shipper's
	// signed statements) and seals the shipment to both organizations; a
	// receive opens the shipments sealed to the hospital and hands each to
	// a new key.
	CommissionPerSecond, ShipPerSecond, ReceivePerSecond float64
	// StateBytesPerSerial and DataBytesPerSerial are the growth per serial
	// from the commission and ship, as SupplyReport's (the sealed
	// shipments included); ReceiveStateBytesPerSerial and
	// ReceiveDataBytesPerSerial that of the receive.
	StateBytesPerSerial, DataBytesPerSerial               float64
	ReceiveStateBytesPerSerial, ReceiveDataBytesPerSerial float64
	// JournalBytesPerSerial is the node's sealed supply journal per serial
	// after the three phases (custody notes and events, with the serials).
	JournalBytesPerSerial float64
	// InTransit is the hospital's verification of scans offered by the
	// manufacturer while the units are shipped to it, before the receive
	// (bundles of version 2 with the shipper's statement); Received that of
	// scans of its own stock after the receive.
	InTransit, Received SupplyVerify
	// CheckPerSecond and CheckWarmPerSecond are the offline check of the
	// in-transit bundles, as SupplyReport's.
	CheckPerSecond, CheckWarmPerSecond float64
	// Genuine is how many scans of commissioned units each verification
	// (plain and with bundle, in transit and after the receive, and the
	// offline check) judged genuine: all of them, or Supply fails.
	Genuine int
	Scanned int // scans of commissioned units in each verification
}

// supplyPrivate runs the phases of Supply for a private product on a fresh
// node.
func supplyPrivate(ctx context.Context, opts SupplyOptions) (PrivateSupplyReport, error) {
	rep := PrivateSupplyReport{Window: supplyWindow}
	sn, err := startSupplyNode(ctx)
	if err != nil {
		return rep, err
	}
	defer sn.Close()
	batches := supplyBatches(opts)
	if err := sn.loadPrivate(ctx, opts, batches, &rep); err != nil {
		return rep, err
	}
	inTransit := scanOf(opts, mfrOrg)
	var genuine atomic.Int64
	vf, bundles, err := sn.timeVerifications(ctx, opts, inTransit, genuineCheck("in transit", &genuine))
	if err != nil {
		return rep, err
	}
	rep.InTransit = vf
	rep.CheckPerSecond, rep.CheckWarmPerSecond, err = timeChecks(ctx, sn, bundles, opts, inTransit, genuineCheck("offline", &genuine))
	if err != nil {
		return rep, err
	}
	if err := sn.receivePrivate(ctx, opts, batches, &rep); err != nil {
		return rep, err
	}
	if rep.Received, _, err = sn.timeVerifications(ctx, opts, scanOf(opts, org), genuineCheck("received", &genuine)); err != nil {
		return rep, err
	}
	journal, err := dirBytes(sn.supplyJournalDir())
	rep.JournalBytesPerSerial = float64(journal) / float64(opts.Serials)
	// Each scan of a commissioned unit was judged six times.
	rep.Genuine, rep.Scanned = int(genuine.Load())/6, opts.Verifications-opts.Verifications/10
	return rep, err
}

// genuineCheck judges a scan of a private unit: genuine if it names a
// commissioned serial, counted in n; not genuine if not.
func genuineCheck(phase string, n *atomic.Int64) func(int, supply.Verification) error {
	return func(i int, v supply.Verification) error {
		if want := i%10 != 9; v.Genuine != want {
			return fmt.Errorf("bench: %s scan %d of a private unit: genuine %v, want %v (%v)", phase, i, v.Genuine, want, v.Reasons)
		}
		if v.Genuine {
			n.Add(1)
		}
		return nil
	}
}

// serialsOf is b's serials.
func serialsOf(b supplyBatch) []string {
	out := make([]string, 0, b.to-b.from)
	for i := b.from; i < b.to; i++ {
		out = append(out, supplySerial(i))
	}
	return out
}

// inWindows runs f on each batch, supplyWindow at a time, and returns
// serials a second.
func inWindows(batches []supplyBatch, serials int, f func(b supplyBatch) error) (float64, error) {
	begin := time.Now()
	err := inParallel(supplyWindow, func(w int) error {
		for i := w; i < len(batches); i += supplyWindow {
			if err := f(batches[i]); err != nil {
				return fmt.Errorf("batch %d: %w", i, err)
			}
		}
		return nil
	})
	return float64(serials) / time.Since(begin).Seconds(), err
}

// loadPrivate registers the product as private, then commissions every
// serial and ships it to the hospital, through the node's path, timing
// each phase and the state's growth.
func (sn *supplyNode) loadPrivate(ctx context.Context, opts SupplyOptions, batches []supplyBatch, rep *PrivateSupplyReport) error {
	mfr := records.Signer{ID: mfrAdmin, Key: sn.mfr}
	p := supply.Product{GTIN: supplyGTIN, Name: "Bench 500 mg", Kind: supply.KindDrug, Private: true}
	if err := sn.svc.SupplyRegister(ctx, mfr, p); err != nil {
		return fmt.Errorf("register the private product: %w", err)
	}
	before, err := sn.sizes()
	if err != nil {
		return err
	}
	rep.CommissionPerSecond, err = inWindows(batches, opts.Serials, func(b supplyBatch) error {
		return sn.svc.SupplyCommission(ctx, mfr, supplyGTIN, b.lotName(), supplyExpiry, serialsOf(b))
	})
	if err != nil {
		return fmt.Errorf("commission: %w", err)
	}
	rep.ShipPerSecond, err = inWindows(batches, opts.Serials, func(b supplyBatch) error {
		return sn.svc.SupplyMove(ctx, mfr, tx.MoveShip, supplyGTIN, org, serialsOf(b))
	})
	if err != nil {
		return fmt.Errorf("ship: %w", err)
	}
	after, err := sn.sizes()
	rep.StateBytesPerSerial, rep.DataBytesPerSerial = perSerial(before, after, opts.Serials)
	return err
}

// receivePrivate receives every shipment at the hospital, timed.
func (sn *supplyNode) receivePrivate(ctx context.Context, opts SupplyOptions, batches []supplyBatch, rep *PrivateSupplyReport) error {
	before, err := sn.sizes()
	if err != nil {
		return err
	}
	rep.ReceivePerSecond, err = inWindows(batches, opts.Serials, func(b supplyBatch) error {
		return sn.svc.SupplyMove(ctx, sn.admin, tx.MoveReceive, supplyGTIN, "", serialsOf(b))
	})
	if err != nil {
		return fmt.Errorf("receive: %w", err)
	}
	after, err := sn.sizes()
	rep.ReceiveStateBytesPerSerial, rep.ReceiveDataBytesPerSerial = perSerial(before, after, opts.Serials)
	return err
}
