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
