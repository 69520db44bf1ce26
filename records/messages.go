package records

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// Messages. A FHIR Communication is a record of its patient (its subject),
// written with record.put like any other, but sealed to its parties only:
// the patient, the sender and the recipients (seal.SealToParties, to each
// party's reader: the patient's own key, a practitioner's organization's).
// Its readers are exactly its parties: a consent grant to the patient's
// records does not open a message its grantee is no party to, and a
// recipient reads it without any grant (being written to is the consent).
// The ledger sees a record version like any other; its WrappedKey is
// partySealMarker and its Ciphertext the JSON of a seal.PartySealed. The
// readers the data key is wrapped to (organizations and the patient) are
// public, as every record's epoch readers are; who within an organization
// is a party is inside the sealed message.

// MessageType is the FHIR resource type of a message.
const MessageType = "Communication"

// partySealMarker is the WrappedKey of a party-sealed record version: an
// epoch-sealed one is always seal.WrappedDataKeySize bytes, this is not.
var partySealMarker = []byte("carechain/party-sealed/v1")

// isPartySealed reports whether rv is sealed to its parties (a message).
func isPartySealed(rv *carechain.RecordVersion) bool {
	return bytes.Equal(rv.WrappedKey, partySealMarker)
}

// MaxRecipients bounds a message's recipients.
const MaxRecipients = seal.MaxParties - 2

// Message is what the portal and the rules need of a decrypted
// Communication.
type Message struct {
	Patient      string   // the subject
	Sender       string   // a principal ID
	Recipients   []string // principal IDs
	InResponseTo string   // the ID of the message this one answers, if any
	Sent         string   // FHIR dateTime
	Texts        []string // payload.contentString
	Links        []string // payload.contentReference and about: "Type/id"
	Attachments  []Attachment
}

// Attachment is a payload.contentAttachment: its bytes travel inside the
// sealed message, and its hash (SHA-1, base64, as FHIR defines it) is
// checked on write and on every retrieval.
type Attachment struct {
	ContentType string
	Title       string
	Size        int64
	Hash        []byte
	Data        []byte
}

// Parties are the principals who may read m: patient, sender, recipients.
func (m *Message) Parties() []string {
	out := []string{m.Patient}
	for _, r := range append([]string{m.Sender}, m.Recipients...) {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

type refJSON struct {
	Reference string `json:"reference"`
}

type attachmentJSON struct {
	ContentType string `json:"contentType"`
	Title       string `json:"title"`
	Size        *int64 `json:"size"`
	Hash        []byte `json:"hash"`
	Data        []byte `json:"data"`
}

type communicationJSON struct {
	ResourceType string    `json:"resourceType"`
	Subject      refJSON   `json:"subject"`
	Sender       refJSON   `json:"sender"`
	Recipient    []refJSON `json:"recipient"`
	InResponseTo []refJSON `json:"inResponseTo"`
	About        []refJSON `json:"about"`
	Sent         string    `json:"sent"`
	Payload      []struct {
		ContentString     string          `json:"contentString"`
		ContentAttachment *attachmentJSON `json:"contentAttachment"`
		ContentReference  *refJSON        `json:"contentReference"`
	} `json:"payload"`
}

// PrincipalOfReference maps a FHIR reference to a principal: "Patient/x" to
// "patient/x", "Practitioner/org.name" to "org/name".
func PrincipalOfReference(ref string) (string, bool) {
	if id, ok := strings.CutPrefix(ref, "Patient/"); ok && id != "" {
		return carechain.PatientPrefix + id, true
	}
	if id, ok := strings.CutPrefix(ref, "Practitioner/"); ok && strings.Contains(id, ".") {
		return strings.Replace(id, ".", "/", 1), true
	}
	return "", false
}

// ParseMessage reads a Communication's parties, thread, payload and
// attachments, checking each attachment's hash and size. Errors wrap
// ErrInvalid.
func ParseMessage(resource []byte) (*Message, error) {
	var c communicationJSON
	if err := json.Unmarshal(resource, &c); err != nil || c.ResourceType != MessageType {
		return nil, fmt.Errorf("%w: not a Communication", ErrInvalid)
	}
	var m Message
	var ok bool
	if m.Patient, ok = PrincipalOfReference(c.Subject.Reference); !ok || !strings.HasPrefix(m.Patient, carechain.PatientPrefix) {
		return nil, fmt.Errorf("%w: Communication.subject must reference the Patient", ErrInvalid)
	}
	if m.Sender, ok = PrincipalOfReference(c.Sender.Reference); !ok {
		return nil, fmt.Errorf("%w: Communication.sender must reference a Patient or a Practitioner", ErrInvalid)
	}
	if len(c.Recipient) == 0 || len(c.Recipient) > MaxRecipients {
		return nil, fmt.Errorf("%w: Communication.recipient must name 1 to %d recipients", ErrInvalid, MaxRecipients)
	}
	for i, r := range c.Recipient {
		id, ok := PrincipalOfReference(r.Reference)
		if !ok {
			return nil, fmt.Errorf("%w: Communication.recipient[%d] must reference a Patient or a Practitioner", ErrInvalid, i)
		}
		m.Recipients = append(m.Recipients, id)
	}
	if len(c.InResponseTo) > 0 {
		m.InResponseTo, _ = strings.CutPrefix(c.InResponseTo[0].Reference, MessageType+"/")
	}
	m.Sent = c.Sent
	for _, a := range c.About {
		m.Links = append(m.Links, a.Reference)
	}
	for i, p := range c.Payload {
		switch {
		case p.ContentAttachment != nil:
			a, err := checkAttachment(p.ContentAttachment)
			if err != nil {
				return nil, fmt.Errorf("%w: Communication.payload[%d].contentAttachment: %w", ErrInvalid, i, err)
			}
			m.Attachments = append(m.Attachments, a)
		case p.ContentReference != nil:
			m.Links = append(m.Links, p.ContentReference.Reference)
		default:
			m.Texts = append(m.Texts, p.ContentString)
		}
	}
	return &m, nil
}

// ErrAttachmentHash is an attachment whose bytes do not match its hash.
var ErrAttachmentHash = errors.New("the attachment's data does not match its hash")

// checkAttachment checks that an attachment carrying data states its SHA-1
// hash and size, and that both match.
func checkAttachment(a *attachmentJSON) (Attachment, error) {
	out := Attachment{ContentType: a.ContentType, Title: a.Title, Hash: a.Hash, Data: a.Data}
	if a.Size != nil {
		out.Size = *a.Size
	}
	if a.Data == nil {
		return out, nil // a reference to content elsewhere: nothing to check here
	}
	sum := sha1.Sum(a.Data)
	switch {
	case len(a.Hash) == 0:
		return out, errors.New("an attachment with data must state its hash (SHA-1, base64)")
	case !bytes.Equal(sum[:], a.Hash):
		return out, ErrAttachmentHash
	case a.Size != nil && *a.Size != int64(len(a.Data)):
		return out, fmt.Errorf("size is %d but the data is %d bytes", *a.Size, len(a.Data))
	}
	out.Size = int64(len(a.Data))
	return out, nil
}

// sealMessage seals canonical, a Communication written by author, to its
// parties' readers, into body (whose epoch is already chosen). The author
// must be its sender, and every party a registered, active principal; the
// only patient it may name is its subject.
func (s *Service) sealMessage(v *ledger.View, author *carechain.Principal, body *tx.RecordPut, canonical []byte) error {
	m, err := ParseMessage(canonical)
	if err != nil {
		return err
	}
	switch {
	case m.Patient != body.Patient:
		return fmt.Errorf("%w: the message's subject is not the record's patient", ErrInvalid)
	case m.Sender != author.ID:
		return fmt.Errorf("%w: a message is written by its sender: %s is not %s", ErrInvalid, author.ID, m.Sender)
	}
	readers := map[string]seal.Recipient{}
	for _, id := range m.Parties() {
		p, err := v.Principal(id)
		if err != nil || p.Status != carechain.StatusActive {
			return fmt.Errorf("%w: %s is not an active principal", ErrInvalid, id)
		}
		if p.Kind == carechain.KindPatient && p.ID != m.Patient {
			return fmt.Errorf("%w: a message is about one patient; it names %s too", ErrInvalid, p.ID)
		}
		rd := consent.ReaderOf(p)
		if _, ok := readers[rd]; ok {
			continue
		}
		k, err := v.EncryptionKey(rd)
		if err != nil {
			return fmt.Errorf("%w: %s has no encryption key: %w", ErrInvalid, rd, err)
		}
		if readers[rd], err = seal.ParsePublicKey(k); err != nil {
			return fmt.Errorf("encryption key of %s: %w", rd, err)
		}
	}
	ps, err := seal.SealToParties(canonical, partyBinding(body.RecordID, body.Version, body.Patient), readers)
	if err != nil {
		return err
	}
	ct, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	if len(ct) > tx.MaxCiphertext {
		return carechain.E(carechain.KindTooLarge, fmt.Errorf("the sealed message is %d bytes, over the %d byte limit", len(ct), tx.MaxCiphertext))
	}
	body.Ciphertext, body.WrappedKey = ct, partySealMarker
	return nil
}

// partyBinding binds a party-sealed version to its record, version and
// patient (the category and epoch are not used: SealToParties ignores them).
func partyBinding(recordID string, version uint64, patient string) seal.Binding {
	return seal.Binding{RecordID: recordID, Version: version, Patient: patient}
}

// openParty opens a party-sealed version as reader, with this node's keys.
func (s *Service) openParty(rv *carechain.RecordVersion, reader string) ([]byte, error) {
	var ps seal.PartySealed
	if err := json.Unmarshal(rv.Ciphertext, &ps); err != nil {
		return nil, fmt.Errorf("record %s version %d: sealed message is malformed: %w", rv.RecordID, rv.Version, err)
	}
	id, ok := s.keys.identity(reader)
	if !ok {
		return nil, seal.ErrDecrypt
	}
	return seal.OpenAsParty(&ps, partyBinding(rv.RecordID, rv.Version, rv.Patient), reader, id)
}

// partyAllowed decides a read of a message by p: only its parties read it,
// whatever grants p holds. The reader's key must open it (p's organization,
// or p, is among its readers) and p must be named in it.
func (s *Service) partyAllowed(p *carechain.Principal, rv *carechain.RecordVersion, d decision) (decision, string, error) {
	reader := consent.ReaderOf(p)
	plain, err := s.openParty(rv, reader)
	if err != nil {
		return d, "", &DeniedError{Reason: fmt.Sprintf("%s is not a party to this message", p.ID)}
	}
	defer clear(plain)
	m, err := ParseMessage(plain)
	if err != nil {
		return d, "", fmt.Errorf("record %s version %d: %w", rv.RecordID, rv.Version, err)
	}
	if !slices.Contains(m.Parties(), p.ID) {
		return d, "", &DeniedError{Reason: fmt.Sprintf("%s is not a party to this message", p.ID)}
	}
	d.reason = "a party to the message"
	return d, reader, nil
}
