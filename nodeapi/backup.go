package nodeapi

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// OperatorPrincipal is the principal an operator's request names: it is
// signed with the node's own node key (config/node_key.json), so only
// someone who can read the node's home can make it. POST /v1/admin/backup
// takes only such requests.
const OperatorPrincipal = "node-operator"

// HeaderBackupError is the trailer of a backup stream that failed after
// it began: its reason. (A failed stream also lacks its end marker.)
const HeaderBackupError = "X-Carechain-Backup-Error"

// Backup writes a backup snapshot of the node to w (node.Node.Snapshot).
type Backup func(ctx context.Context, w io.Writer) error

// verifyOperator checks that r is signed with the node's own key.
func (s *server) verifyOperator(r *http.Request, now time.Time) error {
	sr, err := s.readSigned(r, now)
	if err != nil {
		return err
	}
	if sr.id != OperatorPrincipal || s.opts.NodeKey == nil || !ed25519.Verify(s.opts.NodeKey, sr.message, sr.sig) {
		return errors.New("this request must be signed as " + OperatorPrincipal + " with the node's own key (config/node_key.json of its home)")
	}
	return s.useNonce(sr, now)
}

// backup streams a backup snapshot (a tar stream) to the node's operator.
func (s *server) backup(w http.ResponseWriter, r *http.Request) {
	if err := s.verifyOperator(r, time.Now()); err != nil {
		s.fail(w, http.StatusUnauthorized, err)
		return
	}
	// A large node's snapshot takes longer than the server's write timeout.
	if err := http.NewResponseController(w).SetWriteDeadline(time.Time{}); err != nil {
		s.fail(w, http.StatusInternalServerError, fmt.Errorf("backup: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Trailer", HeaderBackupError)
	w.WriteHeader(http.StatusOK)
	if err := s.opts.Backup(r.Context(), w); err != nil {
		s.log.Error("backup failed", "err", err)
		w.Header().Set(HeaderBackupError, err.Error())
	}
}

// Snapshot asks the node for a backup snapshot; the client must sign as
// OperatorPrincipal with the node's key (As). The caller reads the tar
// stream from the body and, once at its end, BackupError says whether
// the node failed partway.
func (c *Client) Snapshot(ctx context.Context) (*http.Response, error) {
	return c.send(ctx, http.MethodPost, "/v1/admin/backup")
}

// BackupError is the reason a backup stream failed partway, from its
// trailer (nil if it did not, or the body is not read to its end).
func BackupError(resp *http.Response) error {
	if msg := resp.Trailer.Get(HeaderBackupError); msg != "" {
		return errors.New("the node failed to make the backup: " + msg)
	}
	return nil
}
