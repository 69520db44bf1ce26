package nodeapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Private custody (supply/custody.go; records/supplytransfer.go), for the
// supply staff of the organizations whose keys this node holds:
//
//	POST /v1/supply/custody-keys  {gtin, serials} → CustodyKeyResponse: a new custody key to commission the units of a private product to
//	POST /v1/supply/transfers     records.SupplyTransferRequest → records.SupplyTransferResult
//	                              (ssccs: pack or unpack a case, ship or receive cases; records/supplytransfercase.go;
//	                              shipment: receive a whole pending shipment named by the stock)
//	GET  /v1/supply/stock         records.SupplyStock: the organization's stock, open and private, and its pending shipments
//
// A transfer is signed by the node with the organization's custody keys
// (derived from its encryption key, never stored) and waited for; a
// dispense or ship is asked twice: first without signatures (the answer
// names the groups of units to sign, and for a ship their claim keys and
// the nonce they derive from), then with them (records.CosignDigest) and,
// for a ship, the nonce.

// CustodyKeyRequest is the body of POST /v1/supply/custody-keys.
type CustodyKeyRequest struct {
	GTIN    string   `json:"gtin"`
	Serials []string `json:"serials"` // to commission to the key
}

// CustodyKeyResponse answers it: the public key to commission to, and its
// label, which the node has noted for the serials (supply.CustodyNote).
type CustodyKeyResponse struct {
	Label     string `json:"label"`
	PublicKey []byte `json:"public_key"`
}

func (s *server) supplyCustodyKey(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var req CustodyKeyRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	label, pub, err := s.opts.Records.SupplyCustodyKey(p, req.GTIN, req.Serials)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, CustodyKeyResponse{Label: label, PublicKey: pub})
}

func (s *server) supplyTransfer(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var req records.SupplyTransferRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.SubmitTimeout*time.Duration(max(1, len(req.Serials)+len(req.SSCCs))))
	defer cancel()
	out, err := s.opts.Records.SupplyTransfer(ctx, p, req)
	switch {
	case errors.Is(err, ledger.ErrRejected):
		s.fail(w, http.StatusUnprocessableEntity, err)
	case err != nil:
		s.queryFail(w, err)
	default:
		writeJSON(w, http.StatusOK, out)
	}
}

// SupplyCustodyKey asks the signer's node for a new custody key of its
// organization to commission units of private product gtin to.
func (c *Client) SupplyCustodyKey(ctx context.Context, gtin string, serials []string) (*CustodyKeyResponse, error) {
	var out CustodyKeyResponse
	if err := c.postChecked(ctx, "/v1/supply/custody-keys", CustodyKeyRequest{GTIN: gtin, Serials: serials}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SupplyTransfer asks the signer's node to move units of a private product.
func (c *Client) SupplyTransfer(ctx context.Context, req records.SupplyTransferRequest) (*records.SupplyTransferResult, error) {
	var out records.SupplyTransferResult
	if err := c.postChecked(ctx, "/v1/supply/transfers", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// postChecked posts in as JSON and decodes a 200 answer into out; any
// other status, 422 (refused) included, is a *StatusError.
func (c *Client) postChecked(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	status, err := c.do(ctx, http.MethodPost, path, body, &raw)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		var e Error
		_ = json.Unmarshal(raw, &e)
		return &StatusError{Method: http.MethodPost, Path: path, Status: status, Message: e.Error}
	}
	return json.Unmarshal(raw, out)
}

func (s *server) supplyStock(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	out, err := s.opts.Records.SupplyStock(p)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// SupplyStock asks the signer's node for its organization's stock.
func (c *Client) SupplyStock(ctx context.Context) (*records.SupplyStock, error) {
	var out records.SupplyStock
	if _, err := c.do(ctx, http.MethodGet, "/v1/supply/stock", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
