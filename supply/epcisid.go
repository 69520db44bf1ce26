package supply

import (
	"fmt"
	"net/url"
	"strings"
)

// Identifiers in EPCIS documents. A unit (GTIN + serial, an SGTIN) is
// written as a GS1 Digital Link URI, https://id.gs1.org/01/{gtin}/21/{serial}
// (the serial percent-encoded); its SGTIN pure-identity URN,
// urn:epc:id:sgtin:{company prefix}.{indicator and item reference}.{serial},
// is read too. A lot of a product (an LGTIN) is
// https://id.gs1.org/01/{gtin}/10/{lot}. An organization of the consortium
// is urn:carechain:org:{id}: it has no GLN of its own on the ledger.

// DigitalLinkPrefix starts the GS1 Digital Link URIs of units and lots.
const DigitalLinkPrefix = "https://id.gs1.org/01/"

// OrgURNPrefix starts the URN of a consortium organization.
const OrgURNPrefix = "urn:carechain:org:"

const sgtinURNPrefix = "urn:epc:id:sgtin:"

// UnitURI is the GS1 Digital Link URI of serial of gtin.
func UnitURI(gtin, serial string) string {
	return DigitalLinkPrefix + gtin + "/21/" + url.PathEscape(serial)
}

// LotURI is the GS1 Digital Link URI of lot of gtin (an LGTIN class).
func LotURI(gtin, lot string) string {
	return DigitalLinkPrefix + gtin + "/10/" + url.PathEscape(lot)
}

// OrgURN is the URN of organization org.
func OrgURN(org string) string { return OrgURNPrefix + org }

// ParseOrgURN reads an organization's URN.
func ParseOrgURN(s string) (string, error) {
	org, ok := strings.CutPrefix(s, OrgURNPrefix)
	if !ok || org == "" || len(org) > 64 {
		return "", fmt.Errorf("%w: party %q: want %s<organization>", ErrInvalid, s, OrgURNPrefix)
	}
	return org, nil
}

// ParseUnitEPC reads a unit's EPC, a GS1 Digital Link URI or an SGTIN URN,
// into its GTIN-14 and serial.
func ParseUnitEPC(epc string) (gtin, serial string, err error) {
	if strings.HasPrefix(epc, sgtinURNPrefix) {
		gtin, serial, err = parseSGTIN(strings.TrimPrefix(epc, sgtinURNPrefix))
	} else {
		gtin, serial, err = parseDigitalLink(epc, "21")
	}
	if err != nil {
		return "", "", fmt.Errorf("%w: EPC %q: %w", ErrInvalid, epc, err)
	}
	return gtin, serial, nil
}

// ParseLotURI reads a lot's Digital Link URI (an LGTIN class).
func ParseLotURI(s string) (gtin, lot string, err error) {
	gtin, lot, err = parseDigitalLink(s, "10")
	if err != nil {
		return "", "", fmt.Errorf("%w: lot class %q: %w", ErrInvalid, s, err)
	}
	return gtin, lot, nil
}

// parseDigitalLink reads https://id.gs1.org/01/{gtin}/{ai}/{value}.
func parseDigitalLink(s, ai string) (string, string, error) {
	rest, ok := strings.CutPrefix(s, DigitalLinkPrefix)
	if !ok {
		return "", "", fmt.Errorf("want %s{gtin}/%s/{value} or an SGTIN URN", DigitalLinkPrefix, ai)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[1] != ai {
		return "", "", fmt.Errorf("want %s{gtin}/%s/{value}", DigitalLinkPrefix, ai)
	}
	gtin := parts[0]
	if n := len(gtin); n == 8 || n == 12 || n == 13 { // GTIN-8, -12, -13 pad to 14
		gtin = strings.Repeat("0", 14-n) + gtin
	}
	if err := CheckGTIN(gtin); err != nil {
		return "", "", err
	}
	v, err := url.PathUnescape(parts[2])
	if err != nil {
		return "", "", fmt.Errorf("bad percent-encoding: %w", err)
	}
	if err := CheckSerial(v); err != nil { // serials and lots share GS1's format
		return "", "", err
	}
	return gtin, v, nil
}

// parseSGTIN reads the part of an SGTIN URN after urn:epc:id:sgtin:.
func parseSGTIN(s string) (string, string, error) {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) != 3 || len(parts[0])+len(parts[1]) != 13 || len(parts[1]) < 1 || !digits(parts[0]+parts[1]) {
		return "", "", fmt.Errorf("want urn:epc:id:sgtin:{company prefix}.{indicator+item reference}.{serial}, 13 digits before the serial")
	}
	d13 := parts[1][:1] + parts[0] + parts[1][1:]
	gtin := d13 + string(rune('0'+checkDigit(d13)))
	sn, err := url.PathUnescape(parts[2])
	if err != nil {
		return "", "", fmt.Errorf("bad escape in the serial: %w", err)
	}
	if err := CheckSerial(sn); err != nil {
		return "", "", err
	}
	return gtin, sn, nil
}

func digits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// checkDigit is the GS1 check digit of the 13 digits d13.
func checkDigit(d13 string) int {
	sum := 0
	for i := range 13 {
		w := 1
		if i%2 == 0 {
			w = 3
		}
		sum += int(d13[i]-'0') * w
	}
	return (10 - sum%10) % 10
}
