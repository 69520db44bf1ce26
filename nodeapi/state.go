package nodeapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/store"
	"github.com/carechain/carechain/tlog"
	"github.com/carechain/carechain/tx"
)

// GET /v1/state serves raw ledger state (the CBOR values of state keys) to
// signed requests, so that a client can run the records service's logic on
// its own device against a node's state (State, RemoteChain): a patient who
// keeps their keys themselves wraps, seals and signs locally, and the node
// never sees a private key. What a caller may read is what the ledger lets
// them act on, and no more (mayReadState): consortium configuration, any
// principal's public record, a patient's consent, key and access-log state
// only for the patient and the delegates they named, and the sealed
// versions of their records only for the patient.
//
//	GET /v1/state?key=K[&height=H]      one value: {"key", "value" (base64)}, 404 if absent
//	GET /v1/state?key=K&at=A[&height=H] the value K was given at exactly height A (what a log leaf commits to)
//	GET /v1/state?prefix=P[&height=H][&after=K]
//	                                    the keys under P (after K), in order: {"entries": [...]},
//	                                    at most Options.StatePage; "next" is the after of the next page
const defaultStatePage = 10_000

// noStateKey begins the 404 answer for a key with no value: the client
// tells it from a 404 of a node that does not serve /v1/state.
const noStateKey = "no state key"

// StateEntry is one state key and its value (CBOR, base64 in JSON).
type StateEntry struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// StateResponse is the body of GET /v1/state.
type StateResponse struct {
	Height  int64        `json:"height"`
	Key     string       `json:"key,omitempty"`
	Value   []byte       `json:"value,omitempty"`
	Entries []StateEntry `json:"entries,omitempty"`
	// Next, if set, is where the next page of a scan starts (its after).
	Next string `json:"next,omitempty"`
}

func (s *server) state(w http.ResponseWriter, r *http.Request) {
	caller, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	key, prefix := q.Get("key"), q.Get("prefix")
	if (key == "") == (prefix == "") {
		s.fail(w, http.StatusBadRequest, errors.New("give exactly one of key and prefix"))
		return
	}
	scan := prefix != ""
	if err := mayReadState(v, caller, key+prefix, scan); err != nil {
		s.fail(w, http.StatusForbidden, err)
		return
	}
	resp := StateResponse{Height: v.Height()}
	if !scan {
		val, err := readValue(v, key, q.Get("at"))
		if errors.Is(err, store.ErrNotFound) {
			s.fail(w, http.StatusNotFound, fmt.Errorf("%s %q at height %d", noStateKey, key, v.Height()))
			return
		}
		if err != nil {
			s.queryFail(w, err)
			return
		}
		if val, err = redactPatient(v, caller, key, val); err != nil {
			s.queryFail(w, err)
			return
		}
		resp.Key, resp.Value = key, val
		writeJSON(w, http.StatusOK, resp)
		return
	}
	after := q.Get("after")
	errFull := errors.New("page full")
	err := v.Scan(prefix, func(k string, val []byte) error {
		switch {
		case k <= after:
			return nil
		case len(resp.Entries) == s.opts.StatePage:
			resp.Next = resp.Entries[len(resp.Entries)-1].Key
			return errFull
		}
		resp.Entries = append(resp.Entries, StateEntry{Key: k, Value: val})
		return nil
	})
	if err != nil && !errors.Is(err, errFull) {
		s.queryFail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// patientScoped reports whether the state namespace ns has keys that start
// with a patient ID ("<ns>/patient/<pseudonym>[/…]"): that patient's keys,
// consents and log.
func patientScoped(ns string) bool {
	switch ns {
	case "epoch", "authors", "wrap", "grant", "emergency", "delegate", "audit", "patient-record", "order-rule":
		return true
	}
	return false
}

// consortiumWide reports whether anyone signed in may read namespace ns:
// organizations, their policies, chain parameters, node IDs, anchored
// batch roots, governance and upgrade plans, and practitioners'
// credentials (public, like staff registrations: a device that decides a
// consent condition reads the requester's), and studies with their
// protocols and reports (trial metadata: a patient's device reads the
// study it consents to).
func consortiumWide(ns string) bool {
	switch ns {
	case "org", "role-policy", "param", "policy", "nodeid", "audit-batch", "gov-proposal", "validator", "validator-update", "org-removed", "upgrade",
		"credential", "practitioner-credential", "study", "study-version", "study-report", "study-lock":
		return true
	}
	return false
}

// mayReadState decides whether caller may read key (or, with scan, every
// key under the prefix key) at v. Deny by default.
func mayReadState(v *ledger.View, caller *carechain.Principal, key string, scan bool) error {
	ns, rest, _ := strings.Cut(key, "/")
	denied := fmt.Errorf("%s may not read state %q", caller.ID, key)
	switch {
	case consortiumWide(ns):
		return nil
	case ns == "tx" && !scan: // whether a transaction committed, by its hash
		return nil
	case ns == "nonce" && !scan:
		if rest != caller.ID {
			return denied
		}
		return nil
	case ns == "principal":
		return mayReadPrincipals(rest, scan, denied)
	case patientScoped(ns):
		patient, ok := patientOfScoped(rest, scan)
		if !ok || !v.ActsFor(caller, patient) && !replacedByCaller(v, caller, patient) {
			return denied
		}
		return nil
	case ns == "merge" || ns == "replaces":
		patient, ok := patientOfScoped(rest, scan)
		if !ok || !mayReadMerges(v, caller, patient) {
			return denied
		}
		return nil
	case ns == "tlog" && !scan:
		return mayReadLogEntry(v, caller, rest, denied)
	case ns == "record" || ns == "version":
		id, _, _ := strings.Cut(rest, "/")
		if id == "" || ns == "record" && scan || ns == "version" && scan && !strings.HasPrefix(rest, id+"/") {
			return denied
		}
		head, err := v.Record(id)
		if errors.Is(err, ledger.ErrNotFound) {
			return nil // nothing to show: a new record's ID
		}
		if err != nil || caller.ID != head.Patient && !replacedByCaller(v, caller, head.Patient) { // a delegate manages consent; reads go through a node, logged
			return denied
		}
		return nil
	}
	return denied
}

// mayReadPrincipals: any principal's record by its ID (a clinician seals a
// reason to a patient; a patient names a delegate, and sees only their keys:
// redactPatient); lists only within an organization, not of patients.
func mayReadPrincipals(id string, scan bool, denied error) error {
	if !scan {
		return nil
	}
	org, _, ok := strings.Cut(id, "/")
	if !ok || org == "" || org+"/" == carechain.PatientPrefix {
		return denied
	}
	return nil
}

// patientOfScoped is the patient a patient-scoped key (after its namespace)
// starts with. A scan's prefix must hold the whole patient ID and the "/"
// after it, so that it cannot reach another patient's keys.
func patientOfScoped(rest string, scan bool) (string, bool) {
	local, ok := strings.CutPrefix(rest, carechain.PatientPrefix)
	if !ok {
		return "", false
	}
	pseudonym, _, more := strings.Cut(local, "/")
	if pseudonym == "" || scan && !more {
		return "", false
	}
	return carechain.PatientPrefix + pseudonym, true
}

// redactPatient gives a patient who neither is, acts for, nor is acted for
// by the patient whose principal record val is only what naming them a
// delegate needs: their ID and keys, not where they registered. Staff,
// admins and nodes see patients as /v1/principals shows them.
func redactPatient(v *ledger.View, caller *carechain.Principal, key string, val []byte) ([]byte, error) {
	id, ok := strings.CutPrefix(key, "principal/")
	if !ok || !strings.HasPrefix(id, carechain.PatientPrefix) || caller.Kind != carechain.KindPatient || caller.ID == id || v.ActsFor(caller, id) {
		return val, nil
	}
	var p carechain.Principal
	if err := tx.Unmarshal(val, &p); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	if v.ActsFor(&p, caller.ID) {
		return val, nil // the caller's own delegate
	}
	return tx.Marshal(carechain.Principal{ID: p.ID, Kind: p.Kind, PublicKey: p.PublicKey, Status: p.Status,
		KeyVersion: p.KeyVersion, EncryptionKey: p.EncryptionKey})
}

// readValue reads key at v, or with at (a height) the value key was given
// at exactly that height.
func readValue(v *ledger.View, key, at string) ([]byte, error) {
	if at == "" {
		return v.Get(key)
	}
	h, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return nil, carechain.E(carechain.KindInvalid, fmt.Errorf("at %q is not a height", at))
	}
	return v.ValueAt(key, h)
}

// mayReadLogEntry: the Merkle log's entries that a patient's device
// verifies a record version against: the index entry of a version of their
// record, and a leaf whose state key the caller may read.
func mayReadLogEntry(v *ledger.View, caller *carechain.Principal, rest string, denied error) error {
	if key, ok := strings.CutPrefix(rest, "index/"+tlog.KindRecord+"/"); ok {
		return mayReadState(v, caller, "record/"+key, false)
	}
	n, ok := strings.CutPrefix(rest, "leaf/")
	index, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil {
		return denied
	}
	leaf, err := v.LogLeaf(index)
	if err != nil {
		return nil // absent: the read answers 404
	}
	if mayReadState(v, caller, leaf.StateKey, false) != nil {
		return denied
	}
	return nil
}

// mayReadMerges reports whether caller may read patient's merges (which
// tell that two pseudonyms are one person): those who act for the
// patient, and the other patient of a merge of patient's.
func mayReadMerges(v *ledger.View, caller *carechain.Principal, patient string) bool {
	if v.ActsFor(caller, patient) {
		return true
	}
	if m, err := v.Merge(patient); err == nil && m.Target == caller.ID {
		return true
	}
	_, replaces, err := v.Links(patient)
	return err == nil && slices.Contains(replaces, caller.ID)
}

// replacedByCaller reports whether patient was merged into caller: the same
// person, who reads what was theirs as they read their own.
func replacedByCaller(v *ledger.View, caller *carechain.Principal, patient string) bool {
	by, _, err := v.Links(patient)
	return err == nil && by == caller.ID
}
