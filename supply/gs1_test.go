package supply

import "testing"

func TestParseElementString(t *testing.T) {
	want := Scan{GTIN: "09506000134352", Serial: "SN-7", Lot: "L2401", Expiry: "270630"}
	for _, in := range []string{
		"(01)09506000134352(21)SN-7(10)L2401(17)270630",
		"(01)09506000134352(17)270630(10)L2401(21)SN-7",
		"0109506000134352" + "21SN-7" + GS + "10L2401" + GS + "17270630",
		"]d2010950600013435217270630" + "10L2401" + GS + "21SN-7",
	} {
		if got, err := ParseElementString(in); err != nil || got != want {
			t.Errorf("ParseElementString(%q) = %+v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "(01)09506000134352", "(01)09506000134352(21)A(21)B", "(01)09506000134352(21)A(99)x", "01095060001343", "(01"} {
		if _, err := ParseElementString(in); err == nil {
			t.Errorf("ParseElementString(%q) accepted", in)
		}
	}
}

func TestValidSSCC(t *testing.T) {
	for s, want := range map[string]bool{
		"106141412345678908": true, // GS1 General Specifications example
		"003123450000000011": true,
		"106141412345678907": false, // wrong check digit
		"10614141234567890":  false, // 17 digits
		"10614141234567890a": false,
	} {
		if got := ValidSSCC(s); got != want {
			t.Errorf("ValidSSCC(%s) = %v, want %v", s, got, want)
		}
	}
}
