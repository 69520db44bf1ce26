package fhirjson

import (
	"errors"
	"fmt"
	"strings"

	"github.com/carechain/carechain"
)

// Sentinel errors. A *ValidationError returned for a rejected input unwraps
// to exactly one of these (errors.Is), so callers can classify failures
// without parsing messages.
var (
	ErrTooLarge            = errors.New("fhir: resource too large")
	ErrMalformedJSON       = errors.New("fhir: malformed JSON")
	ErrDuplicateKey        = errors.New("fhir: duplicate object key")
	ErrTooDeep             = errors.New("fhir: nesting too deep")
	ErrNumberRange         = errors.New("fhir: number out of range")
	ErrNotObject           = errors.New("fhir: resource is not a JSON object")
	ErrUnknownResourceType = errors.New("fhir: missing or unknown resourceType")
	ErrSchema              = errors.New("fhir: resource does not conform to the FHIR R4 schema")
)

// ValidationError describes why a resource was rejected. It unwraps to one of
// the Err* sentinels (ErrSchema for schema and required-element failures).
type ValidationError struct {
	// ResourceType is the resource's type, or "" if it could not be
	// determined (input not parsed, resourceType missing or unknown).
	ResourceType string
	// Issues lists the failures, sorted by path; at most 100 are kept.
	Issues []Issue

	sentinel error
}

// Issue is one validation failure.
type Issue struct {
	// Path locates the failure in FHIRPath-like form, e.g.
	// "Observation.code.coding[0].system". It is "" when the failure is not
	// tied to an element (e.g. malformed JSON, where Message gives the byte
	// offset).
	Path string
	// Message says what is wrong. It never repeats resource values.
	Message string
}

func (e *ValidationError) Error() string {
	var sb strings.Builder
	if e.ResourceType != "" {
		sb.WriteString("invalid ")
		sb.WriteString(e.ResourceType)
	} else {
		sb.WriteString("invalid FHIR resource")
	}
	const shown = 3
	for i, is := range e.Issues {
		if i == shown {
			fmt.Fprintf(&sb, " (and %d more)", len(e.Issues)-shown)
			break
		}
		if i == 0 {
			sb.WriteString(": ")
		} else {
			sb.WriteString("; ")
		}
		if is.Path != "" {
			sb.WriteString(is.Path)
			sb.WriteString(": ")
		}
		sb.WriteString(is.Message)
	}
	return sb.String()
}

// Unwrap returns the sentinel classifying the failure.
func (e *ValidationError) Unwrap() error {
	if e.sentinel == nil {
		return ErrSchema
	}
	return e.sentinel
}

// ErrorKind classifies the failure for carechain.KindOf, so the HTTP layers
// map it to a status in one place: over MaxResourceSize is KindTooLarge;
// anything else is input that is not valid FHIR JSON, KindMalformed.
func (e *ValidationError) ErrorKind() carechain.ErrorKind {
	if errors.Is(e, ErrTooLarge) {
		return carechain.KindTooLarge
	}
	return carechain.KindMalformed
}

var _ carechain.Kinded = (*ValidationError)(nil)

func singleIssue(sentinel error, rt, path, msg string) *ValidationError {
	return &ValidationError{ResourceType: rt, Issues: []Issue{{Path: path, Message: msg}}, sentinel: sentinel}
}

func fromParseError(e *parseError) *ValidationError {
	if e.kind == ErrMalformedJSON {
		return singleIssue(e.kind, "", "", fmt.Sprintf("malformed JSON at byte offset %d: %s", e.offset, e.reason))
	}
	// Structural errors: the path from the resource root, tokens innermost
	// first. The resource type is not known yet, so the root is "Resource".
	var sb strings.Builder
	sb.WriteString("Resource")
	for i := len(e.rev) - 1; i >= 0; i-- {
		tok := e.rev[i]
		if strings.HasPrefix(tok, "[") {
			sb.WriteString(tok)
		} else {
			writeName(&sb, tok)
		}
	}
	return singleIssue(e.kind, "", sb.String(), e.reason)
}
