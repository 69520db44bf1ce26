package study

import (
	"fmt"
	"strings"
	"time"
)

// ConsentSummary is what a patient reads before consenting to study id
// (title, sponsored by sponsor) under protocol p: in plain language, who
// reads what, for how long, and what withdrawing does. The CLI prints it
// before signing and the node API returns it with the study.
func (p *Protocol) ConsentSummary(id, title, sponsor string) string {
	until := "until you withdraw"
	if p.DataUntil != 0 {
		until = "until " + time.Unix(p.DataUntil, 0).UTC().Format(time.DateOnly) + " or until you withdraw, whichever comes first"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Joining study %s (%q) lets researchers of its sponsor %s read your records in these categories: %s, %s, for research only.\n",
		id, title, sponsor, strings.Join(p.DataCategories, ", "), until)
	fmt.Fprintf(&b, "They receive them de-identified: without your name, contact details, record numbers or exact dates.\n")
	fmt.Fprintf(&b, "Whether you may take part is checked against the study's eligibility criteria (%s) where your records are decrypted; the ledger records only yes and the criteria's version.\n",
		strings.TrimSpace(p.Eligibility))
	fmt.Fprintf(&b, "You may withdraw at any time (carechain study withdraw --study %s): nothing you record from then on is shared with the study; what was recorded before stays in the study's data, as in any clinical trial.\n", id)
	return b.String()
}
