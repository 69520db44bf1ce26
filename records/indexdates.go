package records

import (
	"strings"
	"time"
)

// Dates in the blind search index: see indexterms.go.

// utcDay is the date part of a FHIR date, dateTime or instant: of its UTC
// time if it has a time and zone (as search compares them), else as it is
// ("1980", "1980-05", "1980-05-17").
func utcDay(d string) string {
	d = strings.TrimSpace(d)
	if t, err := time.Parse(time.RFC3339, d); err == nil {
		return t.UTC().Format(time.DateOnly)
	}
	return d[:min(len(d), len(time.DateOnly))]
}

// dateBuckets are the year, month and day of a FHIR date: "1980-05-17" →
// "1980", "1980-05", "1980-05-17"; a partial date has fewer, and its
// precision's mark: "1980-05" → "1980", "1980-05", "~1980-05".
func dateBuckets(d string) []string {
	d = utcDay(d)
	if len(d) < 4 {
		return nil
	}
	var out []string
	for _, n := range []int{4, 7, 10} {
		if len(d) >= n {
			out = append(out, d[:n])
		}
	}
	if len(d) < 10 {
		out = append(out, partialDate+d)
	}
	return out
}

// effectiveBuckets are the date buckets of an Observation's or
// DiagnosticReport's effective[x]: of its dateTime or instant, or of every
// day of its Period (wideDate if the Period is open, partial, or longer
// than maxIndexedPeriodDays).
func effectiveBuckets(r *indexedResource) []string {
	out := append(dateBuckets(r.EffectiveDateTime), dateBuckets(r.EffectiveInstant)...)
	if p := r.EffectivePeriod; p != nil {
		out = append(out, periodBuckets(p.Start, p.End)...)
	}
	return out
}

// periodBuckets are the buckets of the days from start to end.
func periodBuckets(start, end string) []string {
	from, err1 := time.Parse(time.DateOnly, utcDay(start))
	to, err2 := time.Parse(time.DateOnly, utcDay(end))
	if err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) > maxIndexedPeriodDays*24*time.Hour {
		return []string{wideDate}
	}
	var out []string
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, dateBuckets(d.Format(time.DateOnly))...)
	}
	return out
}

// dateCondition is the condition of a date search value: eq (or no
// prefix) and a date of year, month or day precision; false otherwise (a
// range, a time). It holds the value's bucket, the marks of the partial
// dates it matches (1980-05-17 matches a record dated 1980-05 or 1980),
// and wideDate.
func dateCondition(typ, param, value string) (IndexCondition, bool) {
	value = strings.TrimPrefix(value, "eq")
	if len(value) != 4 && len(value) != 7 && len(value) != 10 {
		return nil, false
	}
	if _, err := time.Parse(time.DateOnly[:len(value)], value); err != nil {
		return nil, false
	}
	c := IndexCondition{{typ, param, value}, {typ, param, wideDate}}
	for _, n := range []int{4, 7} {
		if n < len(value) {
			c = append(c, IndexTerm{typ, param, partialDate + value[:n]})
		}
	}
	return c, true
}
