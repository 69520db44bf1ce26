package fhirjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// parseError is produced by the parser. It never carries input bytes: only a
// byte offset, a fixed reason, and (for structural errors) the key/index path
// collected while unwinding.
type parseError struct {
	kind   error
	offset int
	reason string
	rev    []string // path tokens, innermost first
}

func (e *parseError) Error() string { return e.reason }

// parseJSON decodes data into the generic form used by the schema library
// (map[string]any, []any, string, json.Number, bool, nil). Unlike
// encoding/json it rejects duplicate object keys and nesting deeper than
// MaxDepth, and its errors never quote input text.
func parseJSON(data []byte) (any, *parseError) {
	if !utf8.Valid(data) {
		return nil, &parseError{kind: ErrMalformedJSON, offset: firstInvalidUTF8(data), reason: "invalid UTF-8"}
	}
	p := parser{data: data}
	p.skipWS()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.pos != len(p.data) {
		return nil, p.syntax("unexpected data after top-level value")
	}
	return v, nil
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

type parser struct {
	data []byte
	pos  int
}

func (p *parser) syntax(reason string) *parseError {
	return &parseError{kind: ErrMalformedJSON, offset: p.pos, reason: reason}
}

func (p *parser) eof() *parseError {
	return &parseError{kind: ErrMalformedJSON, offset: len(p.data), reason: "unexpected end of input"}
}

func (p *parser) skipWS() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value parses one JSON value at p.pos; depth is the number of enclosing
// containers.
func (p *parser) value(depth int) (any, *parseError) {
	if p.pos >= len(p.data) {
		return nil, p.eof()
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	default:
		return nil, p.syntax("unexpected character")
	}
}

func (p *parser) literal(lit string) *parseError {
	if len(p.data)-p.pos < len(lit) {
		return p.eof()
	}
	if string(p.data[p.pos:p.pos+len(lit)]) != lit {
		return p.syntax("invalid literal")
	}
	p.pos += len(lit)
	return nil
}

func (p *parser) object(depth int) (any, *parseError) {
	if depth > MaxDepth {
		return nil, &parseError{kind: ErrTooDeep, offset: p.pos, reason: fmt.Sprintf("nesting deeper than %d levels", MaxDepth)}
	}
	p.pos++ // '{'
	obj := make(map[string]any)
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj, nil
	}
	for {
		if p.pos >= len(p.data) {
			return nil, p.eof()
		}
		if p.data[p.pos] != '"' {
			return nil, p.syntax("expected string object key")
		}
		keyOff := p.pos
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := obj[key]; dup {
			return nil, &parseError{kind: ErrDuplicateKey, offset: keyOff, reason: "duplicate object key", rev: []string{key}}
		}
		p.skipWS()
		if p.pos >= len(p.data) {
			return nil, p.eof()
		}
		if p.data[p.pos] != ':' {
			return nil, p.syntax("expected ':' after object key")
		}
		p.pos++
		p.skipWS()
		v, err := p.value(depth)
		if err != nil {
			err.rev = append(err.rev, key)
			return nil, err
		}
		obj[key] = v
		p.skipWS()
		if p.pos >= len(p.data) {
			return nil, p.eof()
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
		case '}':
			p.pos++
			return obj, nil
		default:
			return nil, p.syntax("expected ',' or '}' in object")
		}
	}
}

func (p *parser) array(depth int) (any, *parseError) {
	if depth > MaxDepth {
		return nil, &parseError{kind: ErrTooDeep, offset: p.pos, reason: fmt.Sprintf("nesting deeper than %d levels", MaxDepth)}
	}
	p.pos++ // '['
	arr := make([]any, 0, 4)
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return arr, nil
	}
	for {
		v, err := p.value(depth)
		if err != nil {
			err.rev = append(err.rev, "["+strconv.Itoa(len(arr))+"]")
			return nil, err
		}
		arr = append(arr, v)
		p.skipWS()
		if p.pos >= len(p.data) {
			return nil, p.eof()
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
		case ']':
			p.pos++
			return arr, nil
		default:
			return nil, p.syntax("expected ',' or ']' in array")
		}
	}
}

// number validates RFC 8259 number syntax and keeps the literal text, so that
// FHIR decimal precision ("1.50" vs "1.5") is preserved.
func (p *parser) number() (any, *parseError) {
	start := p.pos
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		p.pos = i
		return nil, p.syntax("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			p.pos = i
			return nil, p.syntax("invalid number")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			p.pos = i
			return nil, p.syntax("invalid number")
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	p.pos = i
	if !inFloat64Range(d[start:i]) {
		return nil, &parseError{kind: ErrNumberRange, offset: start, reason: "number out of range (beyond a 64-bit float)"}
	}
	return json.Number(d[start:i]), nil
}

// inFloat64Range reports whether a number literal (valid JSON syntax) is
// within the range of a 64-bit float: neither overflowing to infinity
// ("1e999999999") nor, if it is not zero, underflowing to zero. The parser
// keeps a number's literal text, so without this check such a number would
// be stored and then read by every client as infinity or zero.
func inFloat64Range(lit []byte) bool {
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return false
	}
	if f != 0 {
		return true
	}
	mantissa := lit
	if e := bytes.IndexAny(lit, "eE"); e >= 0 {
		mantissa = lit[:e]
	}
	return len(bytes.Trim(mantissa, "-0.")) == 0 // a zero literal: "0", "-0.00e5"
}

// str parses a JSON string starting at the opening quote. The input is
// already known to be valid UTF-8.
func (p *parser) str() (string, *parseError) {
	p.pos++ // opening quote
	start := p.pos
	d := p.data
	for i := start; i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			p.pos = i + 1
			return string(d[start:i]), nil
		case c == '\\':
			p.pos = i
			return p.strSlow(start)
		case c < 0x20:
			p.pos = i
			return "", p.syntax("control character in string")
		}
	}
	return "", p.eof()
}

// strSlow handles strings containing escapes. Unpaired surrogates decode to
// U+FFFD, as encoding/json does.
func (p *parser) strSlow(start int) (string, *parseError) {
	d := p.data
	b := make([]byte, 0, p.pos-start+16)
	b = append(b, d[start:p.pos]...)
	i := p.pos
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return string(b), nil
		case c < 0x20:
			p.pos = i
			return "", p.syntax("control character in string")
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		// escape
		if i+1 >= len(d) {
			return "", p.eof()
		}
		switch d[i+1] {
		case '"', '\\', '/':
			b = append(b, d[i+1])
			i += 2
		case 'b':
			b = append(b, '\b')
			i += 2
		case 'f':
			b = append(b, '\f')
			i += 2
		case 'n':
			b = append(b, '\n')
			i += 2
		case 'r':
			b = append(b, '\r')
			i += 2
		case 't':
			b = append(b, '\t')
			i += 2
		case 'u':
			r, ok := hex4(d, i+2)
			if !ok {
				p.pos = i
				return "", p.syntax("invalid \\u escape")
			}
			i += 6
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if i+1 < len(d) && d[i] == '\\' && d[i+1] == 'u' {
					r2, ok2 = hex4(d, i+2)
				}
				if ok2 {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						b = utf8.AppendRune(b, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b = utf8.AppendRune(b, r)
		default:
			p.pos = i
			return "", p.syntax("invalid escape")
		}
	}
	return "", p.eof()
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	default:
		return "unknown"
	}
}
