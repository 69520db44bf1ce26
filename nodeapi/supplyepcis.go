package nodeapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/supply"
)

// GS1 EPCIS 2.0, in the spirit of its REST binding, for an organization's
// supply staff, by signed requests to their own organization's node:
//
//	POST /v1/supply/epcis/capture  an EPCISDocument → 202 {"captureID", "eventCount", "heights"}
//	GET  /v1/supply/epcis/events   EQ_bizStep, MATCH_epc, GE_eventTime, LT_eventTime → an EPCISQueryDocument
//	POST /v1/supply/journal        a supply.Event the caller committed → 200 {"recorded": true} (the CLI's record)
//
// A capture is submitted as the caller, with the signing key this node
// keeps for it (Options.Custodian), as the supply transactions its events
// mean (records.SupplyCapture); a malformed document is refused whole with
// a 400 problem naming the event, nothing written. Queries answer only the
// caller's organization's own events, from the node's supply journal.

// CaptureResponse answers an accepted capture.
type CaptureResponse struct {
	CaptureID  string  `json:"captureID"`
	EventCount int     `json:"eventCount"`
	Heights    []int64 `json:"heights"` // where each event's transaction committed
}

// Problem is an RFC 9457 problem, as the EPCIS REST binding answers
// errors, with the index of the event at fault (from 0) and, for a capture
// stopped by the ledger, the heights of the events committed before it.
type Problem struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Status  int     `json:"status"`
	Detail  string  `json:"detail"`
	Error   string  `json:"error"` // Detail again, as every error body of this API has it
	Event   *int    `json:"event,omitempty"`
	Heights []int64 `json:"heights,omitempty"`
}

func (s *server) problem(w http.ResponseWriter, status int, typ string, err error, heights []int64) {
	p := Problem{Type: "epcisException:" + typ, Title: typ, Status: status, Detail: err.Error(), Error: err.Error(), Heights: heights}
	var ee *supply.EventError
	if errors.As(err, &ee) {
		p.Event = &ee.Index
	}
	if status >= 500 {
		s.log.Error("EPCIS request failed", "status", status, "err", err)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	writeJSONBody(w, status, p)
}

func writeJSONBody(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (s *server) epcisCapture(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, carechain.MaxRequestBytes+1))
	if err == nil && len(b) > carechain.MaxRequestBytes {
		err = fmt.Errorf("the document is over %d bytes", carechain.MaxRequestBytes)
	}
	if err != nil {
		s.problem(w, http.StatusRequestEntityTooLarge, "CaptureLimitExceededException", err, nil)
		return
	}
	events, err := supply.ParseEPCIS(b)
	if err != nil {
		s.problem(w, http.StatusBadRequest, "ValidationException", err, nil)
		return
	}
	var signer records.Signer
	if s.opts.Custodian != nil {
		signer, ok = s.opts.Custodian.Signer(p.ID)
	}
	if s.opts.Custodian == nil || !ok {
		s.problem(w, http.StatusForbidden, "SecurityException",
			fmt.Errorf("this node keeps no signing key of %s: capture with carechain supply import, which signs on your device", p.ID), nil)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.SubmitTimeout*time.Duration(max(1, len(events))))
	defer cancel()
	heights, err := s.opts.Records.SupplyCapture(ctx, signer, events)
	if err != nil {
		// Refused before anything was submitted: the kind's status (400 for
		// a malformed event); stopped by the ledger: 422, with the heights
		// of the events committed before.
		status := http.StatusUnprocessableEntity
		if k := carechain.KindOf(err).Status(); len(heights) == 0 && k >= 400 && k < 500 {
			status = k
		}
		s.problem(w, status, "ValidationException", err, heights)
		return
	}
	id := make([]byte, 12)
	rand.Read(id)
	out := CaptureResponse{CaptureID: hex.EncodeToString(id), EventCount: len(events), Heights: heights}
	w.Header().Set("Location", "/v1/supply/epcis/capture/"+out.CaptureID)
	writeJSONBody(w, http.StatusAccepted, out)
}

func (s *server) epcisEvents(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	q, err := supply.ParseEventQuery(r.URL.Query())
	if err != nil {
		s.problem(w, http.StatusBadRequest, "QueryParameterException", err, nil)
		return
	}
	events, err := s.opts.Records.SupplyEvents(p, q)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSONBody(w, http.StatusOK, supply.NewEPCISQueryDocument(events, time.Now()))
}

func (s *server) supplyJournal(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var e supply.Event
	if !s.readJSON(w, r, &e) {
		return
	}
	if err := s.opts.Records.RecordSupplyEvent(p, e); err != nil {
		s.queryFail(w, err)
		return
	}
	writeJSONBody(w, http.StatusOK, map[string]bool{"recorded": true})
}

// SupplyJournal records in the signer's organization's supply journal an
// event the signer committed.
func (c *Client) SupplyJournal(ctx context.Context, e supply.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	const path = "/v1/supply/journal"
	var out Error
	status, err := c.do(ctx, http.MethodPost, path, body, &out)
	if err == nil && status != http.StatusOK { // 422: refused
		err = &StatusError{Method: http.MethodPost, Path: path, Status: status, Message: out.Error}
	}
	return err
}

// CaptureError is a refused EPCIS capture: the node's problem, with the
// index of the event at fault and the heights of the events committed
// before it.
type CaptureError struct{ Problem }

func (e *CaptureError) Error() string {
	return fmt.Sprintf("EPCIS capture: HTTP %d: %s", e.Status, e.Detail)
}

// SupplyCapture submits an EPCIS document (EPCIS capture); a refusal is a
// *CaptureError.
func (c *Client) SupplyCapture(ctx context.Context, doc []byte) (*CaptureResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+"/v1/supply/epcis/capture", bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/ld+json")
	if err := c.sign(ctx, req); err != nil {
		return nil, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("EPCIS capture: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("EPCIS capture: %w", err)
	}
	if resp.StatusCode != http.StatusAccepted {
		var p Problem
		if json.Unmarshal(b, &p) != nil || p.Detail == "" {
			p = Problem{Status: resp.StatusCode, Detail: strings.TrimSpace(string(b))}
		}
		p.Status = resp.StatusCode
		return nil, &CaptureError{p}
	}
	var out CaptureResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("EPCIS capture: decode the answer: %w", err)
	}
	return &out, nil
}

// SupplyEvents queries the signer's organization's supply events; the
// answer is an EPCIS query document.
func (c *Client) SupplyEvents(ctx context.Context, q supply.EventQuery) (*supply.EPCISDocument, error) {
	var out supply.EPCISDocument
	path := "/v1/supply/epcis/events"
	if v := q.Values(); len(v) > 0 {
		path += "?" + v.Encode()
	}
	if _, err := c.do(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
