package nodeapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/carechain/carechain"
)

// Blobs between nodes. GET /v1/blobs/{hash} gives this node's copy of a
// sealed blob named on the ledger (records.Service.SealedBlob) to another
// node: the request must be signed by an active node principal, and the
// answer is ciphertext only, which the fetching node checks against the
// ledger's hash before it keeps it. A node never asks a third node on
// another's behalf.

// maxBlobAnswer bounds what a node reads of another's blob answer.
const maxBlobAnswer = carechain.MaxSealedBlobBytes

func (s *server) sealedBlob(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if p.Kind != carechain.KindNode {
		s.fail(w, http.StatusForbidden, fmt.Errorf("%s is a %s: only node principals copy blobs", p.ID, p.Kind))
		return
	}
	hash, err := hex.DecodeString(r.PathValue("hash"))
	if err != nil || len(hash) != 32 {
		s.fail(w, http.StatusBadRequest, errors.New("a blob is named by the hex SHA-256 of its sealed bytes"))
		return
	}
	sealed, err := s.opts.Records.SealedBlob(hash)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(sealed)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(sealed)
}

// Blob fetches a sealed blob from the client's node; the client must sign
// as a node principal (As). size is the size the ledger gives: a longer
// answer is refused. The caller checks the hash.
func (c *Client) Blob(ctx context.Context, hash []byte, size int64) ([]byte, error) {
	path := "/v1/blobs/" + hex.EncodeToString(hash)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	if err := c.sign(ctx, req); err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	limit := min(size, maxBlobAnswer)
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("GET %s: %w", path, err)
	case resp.StatusCode != http.StatusOK:
		return nil, &StatusError{Method: http.MethodGet, Path: path, Status: resp.StatusCode}
	case int64(len(b)) > limit:
		return nil, fmt.Errorf("GET %s: the answer is over the %d bytes the ledger gives", path, limit)
	}
	return b, nil
}

// BlobPeers are other nodes to fetch blobs from (records.BlobSource),
// each a client that signs as this node's principal; they are asked in
// turn until one has the blob.
type BlobPeers []*Client

// FetchBlob implements records.BlobSource.
func (ps BlobPeers) FetchBlob(ctx context.Context, hash []byte, size int64) ([]byte, error) {
	var errs []error
	for _, c := range ps {
		b, err := c.Blob(ctx, hash, size)
		if err == nil {
			return b, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", c.Base, err))
	}
	if len(errs) == 0 {
		return nil, errors.New("no peers to fetch blobs from")
	}
	return nil, errors.Join(errs...)
}
