package deid

import (
	"html"
	"regexp"
	"strconv"
	"strings"
)

// Placeholders put where free text held an identifier. They name the kind
// removed, so a reader of a scrubbed note knows something was there.
const (
	redactedName    = "[redacted]"
	redactedPhone   = "[phone]"
	redactedEmail   = "[email]"
	redactedSSN     = "[ssn]"
	redactedID      = "[id]"
	redactedURL     = "[url]"
	redactedIP      = "[ip]"
	redactedDate    = "[date]"
	redactedAddress = "[address]"
	over89Text      = "90+" // in running text: "a 90+-year-old", "aged 90+"
)

// A rule is one pattern of free-text identifier and what replaces it.
type rule struct {
	re      *regexp.Regexp
	replace func(d *deidentifier, match []string) string
}

func fixed(s string) func(*deidentifier, []string) string {
	return func(*deidentifier, []string) string { return s }
}

// group returns the n-th submatch: a date's year, an age's label.
func group(n int) func(*deidentifier, []string) string {
	return func(_ *deidentifier, m []string) string { return m[n] }
}

const monthName = `(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?`

// rules run in order: the most specific patterns first, so that a phone
// number is not half eaten as a date nor a date as an identifier number.
var rules = []rule{
	{regexp.MustCompile(`(?i)\b(?:https?|ftp|file)://[^\s<>"']+|\bwww\.[^\s<>"']+|\bmailto:[^\s<>"']+`), fixed(redactedURL)},
	{regexp.MustCompile(`(?i)[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+`), fixed(redactedEmail)},
	{regexp.MustCompile(`\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}\b`), fixed(redactedIP)},
	{regexp.MustCompile(`(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b|\b(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,5})?|::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})\b`), fixed(redactedIP)},
	{regexp.MustCompile(`\b\d{3}[- ]\d{2}[- ]\d{4}\b`), fixed(redactedSSN)},
	{regexp.MustCompile(`(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)|\b\d{3})[\s.-]?\d{3}[\s.-]?\d{4}\b|\+\d[\d\s().-]{7,}\d|\b\d{3}-\d{4}\b`), fixed(redactedPhone)},
	// Dates: ISO, 03/12/2024, 12.03.2024, 2024/03/12, "March 12, 2024", "12 March 2024", "March 2024".
	{regexp.MustCompile(`\b(\d{4})-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\b|\b(\d{4})-(?:0[1-9]|1[0-2])\b`), firstGroup},
	{regexp.MustCompile(`\b\d{1,2}[/.-]\d{1,2}[/.-](\d{4})\b|\b(\d{4})/\d{1,2}/\d{1,2}\b`), firstGroup},
	{regexp.MustCompile(`(?i)\b` + monthName + `[\s-]+\d{1,2}(?:st|nd|rd|th)?,?[\s-]+(\d{4})\b|\b\d{1,2}(?:st|nd|rd|th)?[\s-]+(?:of\s+)?` + monthName + `,?[\s-]+(\d{4})\b|\b` + monthName + `,?[\s-]+(\d{4})\b`), firstGroup},
	{regexp.MustCompile(`\b\d{1,2}/\d{1,2}/\d{2}\b|(?i)\b` + monthName + `\s+\d{1,2}(?:st|nd|rd|th)?\b|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?` + monthName + `\b`), fixed(redactedDate)},
	// Ages: "93-year-old", "93 years old", "93 yo", "aged 93", "age: 93".
	{regexp.MustCompile(`(?i)\b(\d{2,3})(\s*-?\s*(?:years?|yrs?)(?:[\s-]*(?:old|of age))?\b|\s*y/?o\b)`), age(1, 2, false)},
	{regexp.MustCompile(`(?i)\b(aged?:?\s*)(\d{2,3})\b`), age(2, 1, true)},
	{regexp.MustCompile(`\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Circle)\b\.?`), fixed(redactedAddress)},
	// A state followed by a ZIP code keeps the state and the ZIP's first three digits.
	{regexp.MustCompile(`\b([A-Z]{2},?\s+)(\d{5})(?:-\d{4})?\b`), func(_ *deidentifier, m []string) string { return m[1] + zip3(m[2]) }},
	// Identifier-like: a token with five digits or more, or letters and three digits or more (MRN0042, 7ABC123).
	{regexp.MustCompile(`\b[A-Za-z0-9]*(?:\d-?){5,}[A-Za-z0-9]*\b|\b[A-Za-z]+[-#]?\d{3,}[A-Za-z0-9]*\b|\b\d+[A-Za-z]+\d{2,}[A-Za-z0-9]*\b`), fixed(redactedID)},
}

// firstGroup is the first non-empty submatch: the year of a date.
func firstGroup(_ *deidentifier, m []string) string {
	for _, g := range m[1:] {
		if g != "" {
			return g
		}
	}
	return redactedDate
}

// age rewrites an age over 89 to "90 or older" (numIndex is the age,
// labelIndex the words around it, labelFirst whether they come before).
func age(numIndex, labelIndex int, labelFirst bool) func(*deidentifier, []string) string {
	return func(_ *deidentifier, m []string) string {
		n, _ := strconv.Atoi(m[numIndex])
		num := m[numIndex]
		if n > 89 {
			num = over89Text
		}
		if labelFirst {
			return m[labelIndex] + num
		}
		return num + m[labelIndex]
	}
}

// text is s scrubbed of identifiers: first every string of Known (the
// patient's own names, numbers, address), then the patterns of rules.
func (d *deidentifier) text(s string) string {
	if s == "" {
		return s
	}
	if d.o.Known != nil {
		s = d.o.Known.scrub(s)
	}
	for _, r := range rules {
		s = r.re.ReplaceAllStringFunc(s, func(match string) string {
			return r.replace(d, r.re.FindStringSubmatch(match))
		})
	}
	if d.o.Known != nil {
		s = d.o.Known.scrubBirthYear(s, d.year)
	}
	return s
}

var (
	tags       = regexp.MustCompile(`<[^>]*>`)
	whitespace = regexp.MustCompile(`\s+`)
)

// narrative is an XHTML narrative (text.div) reduced to its scrubbed text in
// a plain div. Markup goes: attributes (href, src, title) can hold
// identifiers, and a scrubber that rewrote markup could break it.
func (d *deidentifier) narrative(div string) string {
	plain := html.UnescapeString(tags.ReplaceAllString(div, " "))
	plain = strings.TrimSpace(whitespace.ReplaceAllString(plain, " "))
	plain = d.text(plain)
	if plain == "" {
		plain = redactedName // R4 txt-2: a narrative has some content
	}
	return `<div xmlns="http://www.w3.org/1999/xhtml">` + html.EscapeString(plain) + `</div>`
}
