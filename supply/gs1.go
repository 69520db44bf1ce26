package supply

import (
	"fmt"
	"strings"
)

// GS is the ASCII group separator a GS1 DataMatrix scanner sends for FNC1
// between a variable-length element and the next.
const GS = "\x1d"

// maxElementString bounds a scanned GS1 element string.
const maxElementString = 200

// ParseElementString reads the GS1 element string of a unit's DataMatrix
// into a Scan (without Seller): application identifiers (01) GTIN, (21)
// serial, (10) lot and (17) expiry (YYMMDD), either in the human-readable
// form "(01)…(21)…(10)…(17)…" or as a scanner sends it, AIs without
// brackets and variable-length elements ended by FNC1 (ASCII GS, 0x1D),
// optionally after the symbology identifier "]d2". Other AIs are refused,
// so nothing is silently misread.
func ParseElementString(s string) (Scan, error) {
	var scan Scan
	if len(s) > maxElementString {
		return scan, fmt.Errorf("%w: element string over %d characters", ErrInvalid, maxElementString)
	}
	s = strings.TrimPrefix(strings.TrimSpace(s), "]d2")
	bracketed := strings.HasPrefix(s, "(")
	for s != "" {
		var ai, val string
		if bracketed {
			end := strings.IndexByte(s, ')')
			if !strings.HasPrefix(s, "(") || end < 0 {
				return scan, fmt.Errorf("%w: element string: want (AI)value…", ErrInvalid)
			}
			ai, s = s[1:end], s[end+1:]
			next := strings.IndexByte(s, '(')
			if next < 0 {
				next = len(s)
			}
			val, s = s[:next], s[next:]
		} else {
			s = strings.TrimPrefix(s, GS)
			if len(s) < 2 {
				return scan, fmt.Errorf("%w: element string ends inside an AI", ErrInvalid)
			}
			ai, s = s[:2], s[2:]
			n := fixedLength[ai]
			if n == 0 {
				n = strings.Index(s, GS)
				if n < 0 {
					n = len(s)
				}
			}
			if n > len(s) {
				return scan, fmt.Errorf("%w: AI (%s) wants %d characters", ErrInvalid, ai, n)
			}
			val, s = s[:n], s[n:]
		}
		if err := scan.set(ai, val); err != nil {
			return scan, err
		}
	}
	if scan.GTIN == "" || scan.Serial == "" {
		return scan, fmt.Errorf("%w: element string: want at least (01) GTIN and (21) serial", ErrInvalid)
	}
	return scan, nil
}

// fixedLength are the lengths of the fixed-length AIs read (others end at
// GS or at the end).
var fixedLength = map[string]int{"01": 14, "17": 6}

func (scan *Scan) set(ai, val string) error {
	var dst *string
	switch ai {
	case "01":
		dst = &scan.GTIN
	case "21":
		dst = &scan.Serial
	case "10":
		dst = &scan.Lot
	case "17":
		dst = &scan.Expiry
	default:
		return fmt.Errorf("%w: AI (%s) is not read here: want (01), (21), (10) and (17)", ErrInvalid, ai)
	}
	if *dst != "" {
		return fmt.Errorf("%w: AI (%s) twice", ErrInvalid, ai)
	}
	*dst = val
	return nil
}

// ssccLength is the length of a GS1 SSCC (AI 00), check digit included.
const ssccLength = 18

// ValidSSCC reports whether s is a GS1 Serial Shipping Container Code:
// 18 digits whose last is the GS1 check digit of the first 17.
func ValidSSCC(s string) bool {
	return len(s) == ssccLength && digits(s) && int(s[ssccLength-1]-'0') == gs1CheckDigit(s[:ssccLength-1])
}

// CheckSSCC returns an error saying why s is not an SSCC.
func CheckSSCC(s string) error {
	if !ValidSSCC(s) {
		return fmt.Errorf("%w: SSCC %q: want 18 digits with a valid GS1 check digit", ErrInvalid, s)
	}
	return nil
}

// gs1CheckDigit is the GS1 check digit of the digits d: weights 3, 1, 3, …
// from the digit left of the check digit.
func gs1CheckDigit(d string) int {
	sum := 0
	for i := range len(d) {
		w := 1
		if (len(d)-1-i)%2 == 0 {
			w = 3
		}
		sum += int(d[i]-'0') * w
	}
	return (10 - sum%10) % 10
}
