package carechain

import "time"

// AccessEvent is one attempt to access a patient's data, allowed or denied,
// as the patient sees it in their access log. Nodes seal each event to the
// patient before it leaves memory, so only the patient reads its details.
type AccessEvent struct {
	ID        string    `json:"id"`
	Node      string    `json:"node"`
	Time      time.Time `json:"time"`
	Requester string    `json:"requester"`
	// Client is the registered client (a SMART app) the requester's token
	// was issued to, if any.
	Client       string `json:"client,omitempty"`
	RequesterOrg string `json:"requester_org,omitempty"`
	Patient      string `json:"patient"`
	Action       string `json:"action"` // read, list, review-proposal, emergency-access, ...
	RecordID     string `json:"record_id,omitempty"`
	Version      uint64 `json:"version,omitempty"`
	Category     string `json:"category,omitempty"`
	ResourceType string `json:"resource_type,omitempty"`
	Purpose      string `json:"purpose,omitempty"` // a consent.Purpose
	Decision     string `json:"decision"`          // DecisionAllow or DecisionDeny
	Reason       string `json:"reason"`
	Emergency    bool   `json:"emergency,omitempty"`
	// Source is the network address a refused, unauthenticated request came
	// from; Count how many such refusals (same source, record and reason)
	// this one event stands for, when they were aggregated.
	Source string `json:"source,omitempty"`
	Count  int    `json:"count,omitempty"`
	Height int64  `json:"height,omitempty"` // where it was anchored
	// Unverifiable marks an anchored entry that did not decrypt with the
	// patient's key or did not verify against the anchoring node's signed
	// batch; Reason says which. Only Node and Height are then known.
	Unverifiable bool `json:"unverifiable,omitempty"`
}

// Access decisions.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)
