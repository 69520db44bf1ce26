package nodeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/proof"
	"github.com/carechain/carechain/supply"
)

// The supply chain (package supply), for members' supply staff, by signed
// requests to their own organization's node, which holds its product keys:
//
//	GET  /v1/supply/products/{gtin}  a registered product (public catalogue data)
//	POST /v1/supply/commitments      serials → the commitments the ledger knows units by
//	POST /v1/supply/verify           a scanned unit → supply.Verification
//	POST /v1/supply/proof            a scanned unit → SupplyProof: the answer and its proof bundle
//
// Serials travel in request bodies only, never in URLs, and are neither
// stored nor logged.

// CommitmentsRequest is the body of POST /v1/supply/commitments.
type CommitmentsRequest struct {
	GTIN    string   `json:"gtin"`
	Serials []string `json:"serials"`
	// ShareWith, if set, is an organization to ship to: if it holds no key
	// of the product yet, the answer carries one wrapped to it.
	ShareWith string `json:"share_with,omitempty"`
	// SSCCs are cases or pallets of the product (supply/case.go) whose
	// commitments the answer carries too; with them, Serials may be empty.
	SSCCs []string `json:"ssccs,omitempty"`
}

// CommitmentsResponse answers a CommitmentsRequest.
type CommitmentsResponse struct {
	Commitments [][]byte `json:"commitments"`
	KeyWrap     []byte   `json:"key_wrap,omitempty"`
	Cases       [][]byte `json:"cases,omitempty"` // of the SSCCs, in order
}

func (s *server) supplyProduct(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r); !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	p, err := v.SupplyProduct(r.PathValue("gtin"))
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// readJSON decodes a bounded JSON request body into v, or writes 400.
func (s *server) readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	b, err := io.ReadAll(io.LimitReader(r.Body, carechain.MaxRequestBytes+1))
	if err == nil && len(b) > carechain.MaxRequestBytes {
		err = fmt.Errorf("the body is over %d bytes", carechain.MaxRequestBytes)
	}
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		s.fail(w, http.StatusBadRequest, fmt.Errorf("read the request body: %w", err))
		return false
	}
	return true
}

func (s *server) supplyCommitments(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var req CommitmentsRequest
	if !s.readJSON(w, r, &req) {
		return
	}
	var out CommitmentsResponse
	var err error
	if len(req.Serials) > 0 || len(req.SSCCs) == 0 {
		out.Commitments, out.KeyWrap, err = s.opts.Records.SupplyCommitments(p, req.GTIN, req.Serials, req.ShareWith)
	}
	if err == nil && len(req.SSCCs) > 0 {
		out.Cases, out.KeyWrap, err = s.opts.Records.SupplyCaseCommitments(p, req.GTIN, req.SSCCs, req.ShareWith)
	}
	if err != nil {
		s.queryFail(w, err)
		return
	}
	if out.Commitments == nil {
		out.Commitments = [][]byte{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) supplyVerify(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var scan supply.Scan
	if !s.readJSON(w, r, &scan) {
		return
	}
	out, err := s.opts.Records.VerifyUnit(p, scan)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// SupplyProof answers POST /v1/supply/proof: the verification of a scan at
// the newest signed checkpoint, and the bundle that proves it offline
// (proof.CheckSupply).
type SupplyProof struct {
	Verification supply.Verification `json:"verification"`
	Bundle       *proof.SupplyBundle `json:"bundle"`
}

// supplyProof answers a scan as the ledger stood at the newest signed
// checkpoint, with the map proofs of the product, unit and lot it read
// (trusted_height: as for other proofs).
func (s *server) supplyProof(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	trusted, ok := s.trustedHeight(w, r)
	if !ok {
		return
	}
	var scan supply.Scan
	if !s.readJSON(w, r, &scan) {
		return
	}
	cp, v, err := s.opts.Proofs.CheckpointView(r.Context(), trusted, supplyProofWait)
	if err != nil {
		s.fail(w, http.StatusServiceUnavailable, err)
		return
	}
	out, b, err := s.opts.Records.ProveUnit(v, p, scan, cp)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, SupplyProof{Verification: out, Bundle: b})
}

// supplyProofWait bounds the wait for a checkpoint that covers the newest
// state: the block after one that changed state comes within a block's time.
const supplyProofWait = 10 * time.Second

// doJSON is do with a JSON request body.
func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, method, path, body, out)
	return err
}

// SupplyProduct reads a registered product.
func (c *Client) SupplyProduct(ctx context.Context, gtin string) (*supply.Product, error) {
	if err := supply.CheckGTIN(gtin); err != nil {
		return nil, err
	}
	var p supply.Product
	if _, err := c.do(ctx, http.MethodGet, "/v1/supply/products/"+gtin, nil, &p); err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			return nil, fmt.Errorf("product %s is not registered", gtin)
		}
		return nil, err
	}
	return &p, nil
}

// SupplyCommitments asks the signer's node for the commitments of serials.
func (c *Client) SupplyCommitments(ctx context.Context, req CommitmentsRequest) (*CommitmentsResponse, error) {
	var out CommitmentsResponse
	if err := c.doJSON(ctx, http.MethodPost, "/v1/supply/commitments", req, &out); err != nil {
		return nil, err
	}
	if len(out.Commitments) != len(req.Serials) || len(out.Cases) != len(req.SSCCs) {
		return nil, fmt.Errorf("the node answered %d commitments for %d serials and %d for %d SSCCs", len(out.Commitments), len(req.Serials), len(out.Cases), len(req.SSCCs))
	}
	return &out, nil
}

// SupplyProof asks the signer's node to verify a scanned unit at its newest
// signed checkpoint, with the bundle that proves the answer; trustedHeight
// as for ProveTrusting (0: the first block).
func (c *Client) SupplyProof(ctx context.Context, scan supply.Scan, trustedHeight int64) (*SupplyProof, error) {
	path := "/v1/supply/proof"
	if trustedHeight > 0 {
		path += "?trusted_height=" + strconv.FormatInt(trustedHeight, 10)
	}
	var out SupplyProof
	if err := c.doJSON(ctx, http.MethodPost, path, scan, &out); err != nil {
		return nil, err
	}
	if out.Bundle == nil {
		return nil, errors.New("the node answered no bundle")
	}
	return &out, nil
}

// SupplyVerify asks the signer's node to verify a scanned unit.
func (c *Client) SupplyVerify(ctx context.Context, scan supply.Scan) (*supply.Verification, error) {
	var out supply.Verification
	if err := c.doJSON(ctx, http.MethodPost, "/v1/supply/verify", scan, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
