package supply

import (
	"bytes"
	"testing"
	"time"
)

func TestValidGTIN(t *testing.T) {
	for g, want := range map[string]bool{
		"00312345678906": true,  // GS1 example, check digit 6
		"09506000134352": true,  // GS1 DataMatrix example
		"00312345678907": false, // wrong check digit
		"0031234567890":  false, // 13 digits
		"0031234567890a": false,
	} {
		if got := ValidGTIN(g); got != want {
			t.Errorf("ValidGTIN(%s) = %v, want %v", g, got, want)
		}
	}
}

func TestParseExpiry(t *testing.T) {
	for in, want := range map[string]string{"2027-06-30": "2027-06-30", "270630": "2027-06-30", "270600": "2027-06-30", "240200": "2024-02-29"} {
		if got, err := ParseExpiry(in); err != nil || got != want {
			t.Errorf("ParseExpiry(%s) = %q, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"271330", "2027-02-30", "", "27063"} {
		if _, err := ParseExpiry(in); err == nil {
			t.Errorf("ParseExpiry(%q) accepted", in)
		}
	}
}

func TestExpiredAfterTheExpiryDay(t *testing.T) {
	day := time.Date(2027, 6, 30, 23, 59, 59, 0, time.UTC)
	if Expired("2027-06-30", day) || !Expired("2027-06-30", day.Add(time.Second)) {
		t.Fatal("a unit is usable through its expiry day, and not after")
	}
}

func TestCommitmentIsKeyedAndBoundToGTIN(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	c := Commitment(k1, "00312345678906", "SN1")
	if len(c) != CommitmentSize || bytes.Equal(c, Commitment(k2, "00312345678906", "SN1")) ||
		bytes.Equal(c, Commitment(k1, "09506000134352", "SN1")) || bytes.Equal(c, Commitment(k1, "00312345678906", "SN2")) {
		t.Fatal("a commitment depends on the key, the GTIN and the serial")
	}
	if bytes.Equal(Commitment(k1, "00312345678906", "106141412345678908"), CaseCommitment(k1, "00312345678906", "106141412345678908")) {
		t.Fatal("a case's commitment equals a unit's with its SSCC as serial")
	}
}

func TestEffectiveStatusPrecedence(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := Lot{Expiry: "2027-01-01"}
	for _, tc := range []struct {
		u    Unit
		lot  Lot
		want Status
	}{
		{Unit{Status: StatusActive}, good, StatusActive},
		{Unit{Status: StatusInTransit}, good, StatusInTransit},
		{Unit{Status: StatusActive}, Lot{Expiry: "2025-12-31"}, StatusExpired},
		{Unit{Status: StatusActive, Suspicion: SuspicionFlagged}, Lot{Expiry: "2025-12-31"}, StatusSuspect},
		{Unit{Status: StatusActive, Suspicion: SuspicionFlagged}, Lot{Expiry: "2027-01-01", Recalled: true}, StatusRecalled},
		{Unit{Status: StatusActive}, Lot{Expiry: "2027-01-01", Recalled: true, Suspicion: SuspicionConfirmed}, StatusIllegitimate},
		{Unit{Status: StatusDispensed, Suspicion: SuspicionConfirmed}, Lot{Expiry: "2027-01-01", Recalled: true}, StatusDispensed},
	} {
		if got := Effective(tc.u, tc.lot, now); got != tc.want {
			t.Errorf("Effective(%+v, %+v) = %s, want %s", tc.u, tc.lot, got, tc.want)
		}
	}
}
