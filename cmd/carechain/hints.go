package main

import (
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"syscall"

	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/nodeapi"
)

// hint says what to do next about a command's error, or "" if the error
// says it already.
func hint(err error) string {
	var rej *ledger.Rejection
	var status *nodeapi.StatusError
	var unknownCA x509.UnknownAuthorityError
	var wrongHost x509.HostnameError
	var remote *net.OpError
	switch {
	case errors.Is(err, keystore.ErrWrongPassphrase):
		return "the passphrase comes from $" + PassphraseEnv + " (or a prompt): use the one the key was made with"
	case errors.Is(err, keystore.ErrNotFound):
		return "list the keys with `carechain keys list --home HOME` (or --keys-dir DIR); make one with `carechain keys new NAME`"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "no node answers at that address: start it (`carechain start --home HOME`) or point --node at a running node"
	case errors.As(err, &unknownCA):
		return "the node's TLS certificate is not from a CA this command trusts: give its CA with --ca FILE (init --tls made HOME/tls/ca.pem)"
	case errors.As(err, &wrongHost):
		return "the node's TLS certificate is not for this host: reach it by a name it is for, or renew it for this one (`carechain tls renew --tls-host HOST`)"
	case errors.As(err, &remote) && remote.Op == tlsRemoteAlert:
		return "the node refused the TLS handshake; a node started with --tls-client-ca requires a client certificate from its CA: give --client-cert and --client-key (`carechain tls client-cert NAME` issues one)"
	case errors.As(err, &rej):
		return rejectionHint(rej.Code)
	case errors.As(err, &status):
		return statusHint(status.Status)
	}
	return ""
}

// tlsRemoteAlert is the net.OpError.Op with which crypto/tls reports an
// alert from the peer, such as a node's refusal of a client without an
// accepted certificate (the alert's own type is not exported).
const tlsRemoteAlert = "remote error"

func rejectionHint(code ledger.Code) string {
	switch code {
	case ledger.CodeUnknownSigner:
		return "the --as principal is not registered: an admin of its organization registers it (`carechain tx register`)"
	case ledger.CodeRevokedSigner:
		return "the --as principal's key is revoked: its organization's admin registers a new identity"
	case ledger.CodeBadSignature:
		return "the key in this keystore is not the --as principal's current key: see `carechain identity show ID` and `carechain keys list`"
	case ledger.CodeUnauthorized:
		return "sign as a principal allowed to do this (--as): an organization's admin for its staff and policies, the patient (or a delegate) for consent"
	case ledger.CodeDenied:
		return "the patient's consent, their emergency rule or the organization's role policy does not allow it: see `carechain consent list` and `carechain role-policy show ORG`"
	case ledger.CodeBadNonce, ledger.CodeStaleEpoch, ledger.CodeStaleVersion:
		return "the ledger changed while this was built: run the command again"
	case ledger.CodeWrongChain:
		return "the node belongs to another chain: check --node and --home"
	}
	return ""
}

func statusHint(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "the node did not accept the request's signature: check that --as is registered and active (`carechain identity show ID`) and that this keystore holds its current key"
	case http.StatusNotFound:
		return "it does not exist, or --as may not see it (a refused read looks absent and is in the patient's access log): check the ID, --as and --purpose"
	case http.StatusForbidden:
		return "--as may not see or do this: a patient's records and consents are theirs, their delegates' and those they granted"
	case http.StatusServiceUnavailable:
		return "the node cannot serve this now (see its /readyz): wait, or ask another node with --node"
	}
	return ""
}
