package ledger

import (
	"errors"
	"fmt"

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
)

// Codespace names carechain's codes in ABCI responses.
const Codespace = "carechain"

var codeNames = map[Code]string{
	CodeOK: "ok", CodeMalformed: "malformed", CodeUnknownType: "unknown_type",
	CodeBadSignature: "bad_signature", CodeWrongChain: "wrong_chain", CodeBadNonce: "bad_nonce",
	CodeUnknownSigner: "unknown_signer", CodeRevokedSigner: "revoked_signer",
	CodeUnauthorized: "unauthorized", CodeInvalid: "invalid", CodeConflict: "conflict",
	CodeTooLarge: "too_large", CodeInternal: "internal",
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
