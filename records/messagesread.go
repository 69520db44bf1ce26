package records

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
)

// MessageRecord is a decrypted message with what the portal shows of it.
type MessageRecord struct {
	Record
	Message *Message
}

// Messages decrypts the messages of patient that requester is a party to,
// in the order they were sent. Each read is an access event in the
// patient's access log, like any read. A message sealed to requester's
// reader that does not name requester (a colleague's) is left out without
// an event: the listing does not try to read it.
func (s *Service) Messages(ctx context.Context, requester, patient string) ([]MessageRecord, error) {
	v := s.latest()
	p, err := v.Principal(requester)
	if err != nil {
		return nil, &DeniedError{Reason: requester + " is not a registered principal"}
	}
	return s.messagesOf(ctx, v, p, []string{patient})
}

// Inbox is Messages over every patient: the messages requester is a party
// to. Only messages sealed to requester's reader (their organization, or a
// patient themselves) are tried; the readers of a sealed message are public
// (seal.PartySealed), so nothing is decrypted to pick them.
func (s *Service) Inbox(ctx context.Context, requester string) ([]MessageRecord, error) {
	v := s.latest()
	p, err := v.Principal(requester)
	if err != nil {
		return nil, &DeniedError{Reason: requester + " is not a registered principal"}
	}
	if p.Kind == carechain.KindPatient {
		return s.messagesOf(ctx, v, p, []string{p.ID})
	}
	all, err := v.Principals("")
	if err != nil {
		return nil, err
	}
	var patients []string
	for _, pr := range all {
		if pr.Kind == carechain.KindPatient {
			patients = append(patients, pr.ID)
		}
	}
	return s.messagesOf(ctx, v, p, patients)
}

// messagesOf reads the messages of patients sealed to p's reader.
func (s *Service) messagesOf(ctx context.Context, v *ledger.View, p *carechain.Principal, patients []string) (out []MessageRecord, err error) {
	reader := consent.ReaderOf(p)
	var log []Event
	defer func() {
		if lerr := s.record(ctx, v, log...); lerr != nil {
			out, err = nil, lerr // read, but not durably logged: not served
		}
	}()
	for _, patient := range patients {
		heads, err := v.PatientRecords(patient)
		if err != nil {
			return nil, err
		}
		for _, h := range heads {
			if h.ResourceType != MessageType || h.Deleted {
				continue
			}
			rv, err := v.RecordVersion(h.RecordID, 0)
			if err != nil {
				return nil, err
			}
			if !sealedTo(rv, reader) {
				continue
			}
			if _, _, err := s.partyAllowed(p, rv, decision{}); err != nil {
				// Not a party (a colleague of one): the listing does not try
				// it, so the patient's log shows no attempt that nobody made.
				continue
			}
			r, err := s.read(v, p.ID, h.RecordID, 0, consent.PurposeTreatment, &log)
			var denied *DeniedError
			if errors.As(err, &denied) {
				continue
			}
			if err != nil {
				return nil, err
			}
			m, err := ParseMessage(r.Resource)
			if err != nil {
				return nil, err
			}
			out = append(out, MessageRecord{Record: *r, Message: m})
		}
	}
	SortMessages(out)
	return out, nil
}

// sealedTo reports whether rv is a message whose data key is wrapped to
// reader.
func sealedTo(rv *carechain.RecordVersion, reader string) bool {
	if !isPartySealed(rv) {
		return false
	}
	var ps seal.PartySealed
	if json.Unmarshal(rv.Ciphertext, &ps) != nil {
		return false
	}
	return slices.Contains(ps.Readers(), reader)
}

// SortMessages orders messages by when they were sent (FHIR sent), then by
// the time their record was written.
func SortMessages(ms []MessageRecord) {
	slices.SortStableFunc(ms, func(a, b MessageRecord) int {
		if a.Message.Sent != b.Message.Sent {
			if a.Message.Sent < b.Message.Sent {
				return -1
			}
			return 1
		}
		return int(a.Time - b.Time)
	})
}

// ThreadRoot is the first message of m's thread among ms: follow
// inResponseTo while the message it names is there.
func ThreadRoot(ms []MessageRecord, m *MessageRecord) string {
	byID := map[string]*MessageRecord{}
	for i := range ms {
		byID[ms[i].RecordID] = &ms[i]
	}
	cur := m
	for range len(ms) { // bounded: a cycle cannot loop forever
		parent, ok := byID[cur.Message.InResponseTo]
		if !ok {
			break
		}
		cur = parent
	}
	return cur.RecordID
}

// AttachmentData returns attachment n of m after checking its bytes against
// its hash again; a mismatch is ErrAttachmentHash.
func AttachmentData(m *Message, n int) (*Attachment, error) {
	if n < 0 || n >= len(m.Attachments) {
		return nil, ErrNotVisible
	}
	a := m.Attachments[n]
	if _, err := checkAttachment(&attachmentJSON{Hash: a.Hash, Data: a.Data, Size: &a.Size}); err != nil {
		return nil, err
	}
	return &a, nil
}
