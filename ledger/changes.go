package ledger

import (
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/store"
)

// Changes names what one block changed of patients' records and consent.
// It is read from the keys the block writes, so every transaction type
// that gives a record a version (record.put, record.batch, an approved
// amendment, a removal) or changes a patient's grants (consent.grant,
// revoke, replace, delegate, emergency access) is covered without a list
// of them.
type Changes struct {
	// Records are the IDs of the records given a new head (a version, a
	// deletion, a lock), in order.
	Records []string
	// Patients are the patients whose grants or emergency access changed,
	// in order.
	Patients []string
}

// changesOf reads the Changes of the block b.
func changesOf(b *store.Block) Changes {
	var c Changes
	for _, k := range b.Written("record/") {
		c.Records = append(c.Records, strings.TrimPrefix(k, "record/"))
	}
	for _, prefix := range []string{"grant/", "emergency/"} {
		for _, k := range b.Written(prefix) {
			if p := patientOfKey(strings.TrimPrefix(k, prefix)); p != "" {
				c.Patients = append(c.Patients, p)
			}
		}
	}
	slices.Sort(c.Patients)
	c.Patients = slices.Compact(c.Patients)
	return c
}

// patientOfKey returns the patient ID ("patient/<pseudonym>") a key's rest
// starts with, or "" if it does not start with one.
func patientOfKey(rest string) string {
	name, ok := strings.CutPrefix(rest, carechain.PatientPrefix)
	if !ok || name == "" {
		return ""
	}
	name, _, _ = strings.Cut(name, "/")
	return carechain.PatientPrefix + name
}
