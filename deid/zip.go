package deid

import "slices"

// restrictedZIP3 are the three-digit ZIP prefixes whose areas held 20,000
// people or fewer in the 2000 census (HHS guidance on 164.514(b)(2)(i)(B)):
// Safe Harbor turns them into 000.
var restrictedZIP3 = []string{"036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831",
	"878", "879", "884", "890", "893"}

// zip3 is a postal code cut to its first three digits, 000 for the
// restricted prefixes; a code that does not start with three digits (not a
// US ZIP code) gives "", which removes it.
func zip3(code string) string {
	if len(code) < 3 || !isDigits(code[:3]) {
		return ""
	}
	if slices.Contains(restrictedZIP3, code[:3]) {
		return "000"
	}
	return code[:3]
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
