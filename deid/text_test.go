package deid

import "testing"

func TestTextScrubber(t *testing.T) {
	known := &Known{}
	known.Add("Eleanor Rigby", "Eleanor", "Rigby")
	d := &deidentifier{o: Options{Known: known}, year: 2026}
	for _, tc := range []struct{ in, want string }{
		{"Seen ELEANOR  rigby today", "Seen [redacted] today"},
		{"call (603) 555-0142 or +44 20 7946 0958", "call [phone] or [phone]"},
		{"mail a.b@example.org", "mail [email]"},
		{"SSN 078-05-1120", "SSN [ssn]"},
		{"on 2024-03-12T10:00:00Z and 03/12/2024", "on 2024 and 2024"},
		{"March 12, 2024; 12 March 2024; Mar 2024; March 12", "2024; 2024; 2024; [date]"},
		{"seen 20-Feb-2026 and Feb-2026, call 555-0142", "seen 2026 and 2026, call [phone]"},
		{"a 93-year-old, aged 91, 45 yo, 95 years", "a 90+-year-old, aged 90+, 45 yo, 90+ years"},
		{"see https://x.example/a?b=1 from 10.0.0.1 or fe80::1", "see [url] from [ip] or [ip]"},
		{"MRN-0042117 and plate 7ABC123 and 1HGCM82633A004352", "[id] and plate [id] and [id]"},
		{"lives at 12 Penny Lane, Boston, MA 02139", "lives at [address], Boston, MA 021"},
		{"BP 120/80 at 10:30, HbA1c 7.5%, B12, COVID-19, year 2024", "BP 120/80 at 10:30, HbA1c 7.5%, B12, COVID-19, year 2024"},
	} {
		if got := d.text(tc.in); got != tc.want {
			t.Errorf("text(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestZIP3(t *testing.T) {
	for in, want := range map[string]string{
		"02139": "021", "02139-4307": "021", "03601": "000", "89301": "000", "82301": "000", "SW1A 1AA": "", "12": "",
	} {
		if got := zip3(in); got != want {
			t.Errorf("zip3(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestShortPatientIDIsScrubbed: a hand-picked patient id of two letters is
// a record number like any other: it goes from free text as a whole word,
// and a word that merely contains it stays.
func TestShortPatientIDIsScrubbed(t *testing.T) {
	known := KnownFrom([]byte(`{"resourceType":"Patient","id":"s1","name":[{"family":"Ng"}]}`))
	d := &deidentifier{o: Options{Known: known}, year: 2026}
	if got, want := d.text("Glucose of patient (s1), Mr NG; s1x stays"), "Glucose of patient ([redacted]), Mr [redacted]; s1x stays"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
