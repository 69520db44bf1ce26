package carechain

import "errors"

// ErrorKind classifies an error for the callers that branch on it: the HTTP
// surfaces map a kind to a status and a FHIR OperationOutcome issue code in
// one place (Status, IssueCode), and services retry or give up by kind, never
// by the error's text.
//
// Errors carry their kind by implementing Kinded; KindOf finds it anywhere in
// a wrapped chain.
type ErrorKind uint8

// Error kinds.
const (
	// KindInternal: the node failed; not the caller's fault. The zero value,
	// so an unclassified error is never reported as the caller's.
	KindInternal ErrorKind = iota
	// KindMalformed: the request cannot be parsed or breaks the format
	// (bad JSON, a resource that does not validate).
	KindMalformed
	// KindInvalid: well-formed, but breaks a business rule (an unknown
	// patient, a reader without an encryption key).
	KindInvalid
	// KindUnauthenticated: no or a bad credential.
	KindUnauthenticated
	// KindPermission: the caller is known but may not do this (consent,
	// role, organization).
	KindPermission
	// KindNotFound: nothing by that name, at that height.
	KindNotFound
	// KindGone: it existed and was deleted.
	KindGone
	// KindConflict: clashes with the current state (an ID in use, a
	// version written meanwhile).
	KindConflict
	// KindPrecondition: a condition the caller set (If-Match) does not hold.
	KindPrecondition
	// KindTooLarge: over a size limit (see limits.go).
	KindTooLarge
	// KindUnavailable: the node cannot take it now; retry later.
	KindUnavailable
	// KindThrottled: this caller tried too often; retry after a delay.
	KindThrottled
)

var kindNames = [...]string{
	KindInternal: "internal", KindMalformed: "malformed", KindInvalid: "invalid",
	KindUnauthenticated: "unauthenticated", KindPermission: "permission", KindNotFound: "not_found",
	KindGone: "gone", KindConflict: "conflict", KindPrecondition: "precondition",
	KindTooLarge: "too_large", KindUnavailable: "unavailable", KindThrottled: "throttled",
}

func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Status is the HTTP status for an error of kind k.
func (k ErrorKind) Status() int {
	switch k {
	case KindMalformed:
		return 400
	case KindUnauthenticated:
		return 401
	case KindPermission:
		return 403
	case KindNotFound:
		return 404
	case KindConflict:
		return 409
	case KindGone:
		return 410
	case KindPrecondition:
		return 412
	case KindTooLarge:
		return 413
	case KindInvalid:
		return 422
	case KindUnavailable:
		return 503
	case KindThrottled:
		return 429
	}
	return 500
}

// IssueCode is the FHIR R4 OperationOutcome issue type (IssueType value set)
// for an error of kind k.
func (k ErrorKind) IssueCode() string {
	switch k {
	case KindMalformed:
		return "invalid"
	case KindInvalid:
		return "business-rule"
	case KindUnauthenticated:
		return "login"
	case KindPermission:
		return "forbidden"
	case KindNotFound:
		return "not-found"
	case KindGone:
		return "deleted"
	case KindConflict, KindPrecondition:
		return "conflict"
	case KindTooLarge:
		return "too-costly"
	case KindUnavailable:
		return "transient"
	case KindThrottled:
		return "throttled"
	}
	return "exception"
}

// Kinded is an error that knows its kind.
type Kinded interface {
	error
	ErrorKind() ErrorKind
}

// KindOf returns the kind of the first error in err's chain that has one,
// and KindInternal if none has.
func KindOf(err error) ErrorKind {
	var k Kinded
	if errors.As(err, &k) {
		return k.ErrorKind()
	}
	return KindInternal
}

// Error is an error with a kind, for sentinels and for wrapping errors that
// have none: E(KindNotFound, err).
type Error struct {
	Kind ErrorKind
	Err  error
}

// E returns err with kind k.
func E(k ErrorKind, err error) *Error { return &Error{Kind: k, Err: err} }

// NewError returns a new error of kind k with text msg, for sentinels.
func NewError(k ErrorKind, msg string) *Error { return &Error{Kind: k, Err: errors.New(msg)} }

func (e *Error) Error() string        { return e.Err.Error() }
func (e *Error) Unwrap() error        { return e.Err }
func (e *Error) ErrorKind() ErrorKind { return e.Kind }
