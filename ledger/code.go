package ledger

import (
	"errors"
	"fmt"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/tx"
)

// Code is the result code of a transaction in CheckTx and FinalizeBlock.
// Codes are part of the protocol: never renumber them.
type Code uint32

// Result codes.
const (
	CodeOK            Code = 0
	CodeMalformed     Code = 1  // bytes do not decode as a canonical transaction
	CodeUnknownType   Code = 2  // transaction type unknown to this version
	CodeBadSignature  Code = 3  // signature (or key-possession proof) does not verify
	CodeWrongChain    Code = 4  // signed for another chain
	CodeBadNonce      Code = 5  // nonce not above the signer's last one: replayed or stale
	CodeUnknownSigner Code = 6  // signer is not a registered principal
	CodeRevokedSigner Code = 7  // signer's key is revoked
	CodeUnauthorized  Code = 8  // signer may not do this
	CodeInvalid       Code = 9  // body breaks a rule of its type
	CodeConflict      Code = 10 // clashes with existing state (ID or key already in use)
	CodeTooLarge      Code = 11 // over the size limit
	CodeInternal      Code = 12 // the node failed; not the transaction's fault
	CodeStaleEpoch    Code = 13 // built under a key epoch (or reader set) that has since changed: rebuild and retry
	CodeStaleVersion  Code = 14 // not the next version of the record: it changed since it was read
	CodeDenied        Code = 15 // the patient's consent (or emergency rule) does not allow it
)

// Codespace names carechain's codes in ABCI responses.
const Codespace = "carechain"

var codeNames = map[Code]string{
	CodeOK: "ok", CodeMalformed: "malformed", CodeUnknownType: "unknown_type",
	CodeBadSignature: "bad_signature", CodeWrongChain: "wrong_chain", CodeBadNonce: "bad_nonce",
	CodeUnknownSigner: "unknown_signer", CodeRevokedSigner: "revoked_signer",
	CodeUnauthorized: "unauthorized", CodeInvalid: "invalid", CodeConflict: "conflict",
	CodeTooLarge: "too_large", CodeInternal: "internal", CodeStaleEpoch: "stale_epoch",
	CodeStaleVersion: "stale_version", CodeDenied: "denied",
}

// Kind is the error kind of a rejection with code c, for HTTP statuses and
// retries (carechain.ErrorKind).
//
// Most rejections are business-rule failures (KindInvalid, HTTP 422): the
// signer is known, and the ledger's rules (roles, approval policies, who
// manages a patient's consent) refuse what it asks. A refusal by the
// patient's own consent is CodeDenied, KindPermission (403).
func (c Code) Kind() carechain.ErrorKind {
	switch c {
	case CodeMalformed, CodeUnknownType:
		return carechain.KindMalformed
	case CodeDenied:
		return carechain.KindPermission
	case CodeConflict, CodeStaleEpoch, CodeStaleVersion:
		return carechain.KindConflict
	case CodeTooLarge:
		return carechain.KindTooLarge
	case CodeInternal:
		return carechain.KindInternal
	}
	return carechain.KindInvalid
}

// String returns the code's stable name, used in logs and metrics labels.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("code_%d", uint32(c))
}

// Rejection is why a transaction was not accepted.
type Rejection struct {
	Code Code
	Msg  string
}

func (r *Rejection) Error() string { return r.Code.String() + ": " + r.Msg }

// ErrorKind implements carechain.Kinded.
func (r *Rejection) ErrorKind() carechain.ErrorKind { return r.Code.Kind() }

// Is makes every rejection match ErrRejected.
func (r *Rejection) Is(target error) bool { return target == ErrRejected }

// ErrRejected matches (errors.Is) every *Rejection: the ledger judged the
// transaction and refused it. errors.As gives its code and reason.
var ErrRejected = errors.New("rejected by the ledger")

func reject(code Code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// rejectDecode classifies an error from tx.Decode or DecodeBody.
func rejectDecode(err error) *Rejection {
	switch {
	case errors.Is(err, tx.ErrTooLarge):
		return reject(CodeTooLarge, "%v", err)
	case errors.Is(err, tx.ErrUnknownType):
		return reject(CodeUnknownType, "%v", err)
	case errors.Is(err, tx.ErrInvalid):
		return reject(CodeInvalid, "%v", err)
	default:
		return reject(CodeMalformed, "%v", err)
	}
}
