package tx

import (
	"fmt"
	"slices"

	"github.com/carechain/carechain/study"
)

// Clinical trials with a locked protocol (package study). A sponsor's admin
// registers a study (StudyRegister) with its protocol: the protocol
// document's and analysis plan's hashes, endpoints, arms and eligibility
// criteria, and the ethics board that approves its amendments. A change is
// an amendment (StudyAmend) with its reason, in force only once an admin
// of the ethics board approves it (StudyDecide). Results are reported
// (StudyReport) against the protocol in force, naming the endpoints
// reported: an endpoint that was never registered, or a primary endpoint
// left out, is refused.
const (
	TypeStudyRegister Type = "study.register"
	TypeStudyAmend    Type = "study.amend"
	TypeStudyDecide   Type = "study.decide"
	TypeStudyReport   Type = "study.report"
)

func init() {
	register[StudyRegister](TypeStudyRegister)
	register[StudyAmend](TypeStudyAmend)
	register[StudyDecide](TypeStudyDecide)
	register[StudyReport](TypeStudyReport)
}

// StudyRegister registers study ID of the signer's organization (the
// sponsor), under the ethics board EthicsBoard (another organization).
type StudyRegister struct {
	ID          string         `cbor:"1,keyasint"`
	Title       string         `cbor:"2,keyasint"`
	EthicsBoard string         `cbor:"3,keyasint"`
	Protocol    study.Protocol `cbor:"4,keyasint"`
}

// Validate implements Body.
func (r *StudyRegister) Validate() error {
	switch {
	case !recordIDPattern.MatchString(r.ID):
		return fmt.Errorf("%w: study id %q: want 1-64 of [a-z0-9._-]", ErrInvalid, r.ID)
	case r.Title == "" || len(r.Title) > 256:
		return fmt.Errorf("%w: a study has a title of 1 to 256 bytes", ErrInvalid)
	case r.EthicsBoard == "" || len(r.EthicsBoard) > 64:
		return fmt.Errorf("%w: a study names its ethics board (an organization)", ErrInvalid)
	}
	if err := r.Protocol.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// StudyAmend proposes version Version (the next) of study Study's
// protocol, for Reason.
type StudyAmend struct {
	Study    string         `cbor:"1,keyasint"`
	Version  uint64         `cbor:"2,keyasint"`
	Protocol study.Protocol `cbor:"3,keyasint"`
	Reason   string         `cbor:"4,keyasint"`
}

// Validate implements Body.
func (a *StudyAmend) Validate() error {
	switch {
	case !recordIDPattern.MatchString(a.Study) || a.Version < 2:
		return fmt.Errorf("%w: an amendment names its study and the version it makes (2 or more)", ErrInvalid)
	case a.Reason == "" || len(a.Reason) > 1024:
		return fmt.Errorf("%w: an amendment gives its reason (1 to 1024 bytes)", ErrInvalid)
	}
	if err := a.Protocol.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// StudyDecide is the ethics board's decision on the pending amendment
// Version of study Study: approved (it is in force from this height) or
// not (it is dropped), for Reason.
type StudyDecide struct {
	Study    string `cbor:"1,keyasint"`
	Version  uint64 `cbor:"2,keyasint"`
	Approved bool   `cbor:"3,keyasint"`
	Reason   string `cbor:"4,keyasint,omitempty"`
}

// Validate implements Body.
func (d *StudyDecide) Validate() error {
	if !recordIDPattern.MatchString(d.Study) || d.Version < 2 || len(d.Reason) > 1024 {
		return fmt.Errorf("%w: a decision names its study and the amendment's version (2 or more); a reason is at most 1024 bytes", ErrInvalid)
	}
	return nil
}

// StudyReport reports results of study Study against protocol version
// Version: the endpoints reported and the SHA-256 of the results document.
type StudyReport struct {
	Study       string   `cbor:"1,keyasint"`
	Version     uint64   `cbor:"2,keyasint"`
	Endpoints   []string `cbor:"3,keyasint"`
	ResultsHash []byte   `cbor:"4,keyasint"`
}

// Validate implements Body.
func (r *StudyReport) Validate() error {
	switch {
	case !recordIDPattern.MatchString(r.Study) || r.Version == 0:
		return fmt.Errorf("%w: a report names its study and protocol version", ErrInvalid)
	case len(r.ResultsHash) != 32:
		return fmt.Errorf("%w: the results hash is a SHA-256 (32 bytes)", ErrInvalid)
	case len(r.Endpoints) == 0 || len(r.Endpoints) > study.MaxEndpoints:
		return fmt.Errorf("%w: a report names 1 to %d endpoints", ErrInvalid, study.MaxEndpoints)
	}
	for i, e := range r.Endpoints {
		if slices.Contains(r.Endpoints[:i], e) {
			return fmt.Errorf("%w: endpoint %q is named twice", ErrInvalid, e)
		}
	}
	return nil
}
