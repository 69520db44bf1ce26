package portal

import (
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/records"
)

// Messages: a patient and their care team write to each other. A message is
// a FHIR Communication stored through records.Service, sealed to its
// parties and readable by them only (records/messages.go); every page that
// shows one reads it through the service, so each showing is an access
// event in the patient's access log.

// maxMessageText bounds what the compose and reply forms accept.
const maxMessageText = 4000

// threadRow is one thread of the inbox.
type threadRow struct {
	ID, Patient, With, First, Last string
	Count                          int
}

type inboxPage struct {
	Threads []threadRow
	Done    string
}

// inbox lists the threads the signed-in user is a party to, newest last
// message first.
func (p *Portal) inbox(w http.ResponseWriter, r *http.Request, s *session) {
	ms, err := p.records.Inbox(r.Context(), s.who.ID)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	v := p.app.Latest()
	byRoot := map[string]*threadRow{}
	var order []string
	for i := range ms {
		root := records.ThreadRoot(ms, &ms[i])
		t, ok := byRoot[root]
		if !ok {
			t = &threadRow{ID: root, Patient: ms[i].Patient, First: snippet(ms[i].Message), With: others(v, ms[i].Message, s.who.ID)}
			byRoot[root] = t
			order = append(order, root)
		}
		t.Count++
		t.Last = sentLabel(ms[i].Message.Sent)
		clear(ms[i].Resource)
	}
	page := inboxPage{}
	if r.URL.Query().Get("done") == "sent" {
		page.Done = "Message sent."
	}
	for i := len(order) - 1; i >= 0; i-- {
		page.Threads = append(page.Threads, *byRoot[order[i]])
	}
	p.render(w, s, http.StatusOK, "messages", "Messages", page)
}

// others names a message's parties other than me.
func others(v *ledger.View, m *records.Message, me string) string {
	var names []string
	for _, id := range m.Parties() {
		if id != me {
			names = append(names, principalLabel(v, id))
		}
	}
	return strings.Join(names, "; ")
}

func snippet(m *records.Message) string {
	t := strings.Join(m.Texts, " ")
	if r := []rune(t); len(r) > 80 {
		return string(r[:80]) + "…"
	}
	return t
}

func sentLabel(sent string) string {
	if t, err := time.Parse(time.RFC3339Nano, sent); err == nil {
		return t.UTC().Format("2 Jan 2006 15:04 UTC")
	}
	return sent
}

type composePage struct {
	To      []option // recipients a patient may write to, or patients a practitioner may
	Patient bool     // the writer is a patient
}

// compose is the form for a new thread: a patient writes to a
// practitioner, a practitioner to one of their patients.
func (p *Portal) compose(w http.ResponseWriter, r *http.Request, s *session) {
	v := p.app.Latest()
	page := composePage{Patient: s.who.Kind == carechain.KindPatient}
	if page.Patient {
		ps, err := v.Principals("")
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		for _, pr := range ps {
			if pr.Kind == carechain.KindPractitioner && pr.Status == carechain.StatusActive && pr.HasRole(carechain.RolePhysician) {
				page.To = append(page.To, option{pr.ID, principalLabel(v, pr.ID)})
			}
		}
	} else {
		rows, err := p.visiblePatients(v, s.who)
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		for _, row := range rows {
			page.To = append(page.To, option{row.ID, row.ID + " (" + row.Why + ")"})
		}
	}
	p.render(w, s, http.StatusOK, "messages-new", "New message", page)
}

// send writes a new thread's first message from the compose form.
func (p *Portal) send(w http.ResponseWriter, r *http.Request, s *session) {
	to := r.PostForm.Get("to")
	patient, recipient := s.who.ID, to
	if s.who.Kind != carechain.KindPatient {
		patient = to
		rows, err := p.visiblePatients(p.app.Latest(), s.who)
		if err != nil {
			p.failErr(w, r, s, err)
			return
		}
		if !containsRow(rows, to) {
			p.fail(w, r, s, http.StatusBadRequest, "The message was not sent: choose one of your patients.")
			return
		}
	}
	id, err := p.writeMessage(r, s, patient, []string{recipient}, "")
	if err != nil {
		p.failWrite(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/portal/messages/"+id+"?done=sent", http.StatusSeeOther)
}

func containsRow(rows []patientRow, id string) bool {
	for _, r := range rows {
		if r.ID == id {
			return true
		}
	}
	return false
}

// errForm is a form the portal refuses before writing anything.
var errForm = errors.New("form")

// failWrite answers a refused message write.
func (p *Portal) failWrite(w http.ResponseWriter, r *http.Request, s *session, err error) {
	if errors.Is(err, errForm) || errors.Is(err, records.ErrInvalid) {
		p.fail(w, r, s, http.StatusBadRequest, "The message was not sent: "+strings.TrimPrefix(err.Error(), "form: "))
		return
	}
	p.failErr(w, r, s, err)
}

// writeMessage writes a Communication from the signed-in user about
// patient to recipients, in response to inResponseTo if set, with the
// form's text and, from a practitioner, a linked record (form field
// "link", a record ID they may read). It returns the new record's ID.
func (p *Portal) writeMessage(r *http.Request, s *session, patient string, recipients []string, inResponseTo string) (string, error) {
	text := strings.TrimSpace(r.PostForm.Get("text"))
	if text == "" || len(text) > maxMessageText {
		return "", fmt.Errorf("%w: write a message of 1 to %d characters", errForm, maxMessageText)
	}
	signer, ok := p.custodian.Signer(s.who.ID)
	if !ok {
		return "", fmt.Errorf("%w: this node no longer holds your key: sign in again", errForm)
	}
	payload := []any{map[string]string{"contentString": text}}
	if link := strings.TrimSpace(r.PostForm.Get("link")); link != "" {
		head, err := p.records.Visible(r.Context(), s.who.ID, link, purpose, consent.ActionRead)
		if err != nil || head.Patient != patient {
			return "", fmt.Errorf("%w: the linked record is not one of this patient's records you may read", errForm)
		}
		payload = append(payload, map[string]any{"contentReference": map[string]string{"reference": head.ResourceType + "/" + link}})
	}
	att, err := uploaded(r)
	if err != nil {
		return "", err
	}
	if att != nil {
		payload = append(payload, map[string]any{"contentAttachment": att})
	}
	var to []map[string]string
	for _, rc := range recipients {
		to = append(to, map[string]string{"reference": reference(rc)})
	}
	c := map[string]any{"resourceType": records.MessageType, "status": "completed",
		"subject": map[string]string{"reference": reference(patient)}, "sender": map[string]string{"reference": reference(s.who.ID)},
		"recipient": to, "sent": p.now().UTC().Format(time.RFC3339Nano), "payload": payload}
	if inResponseTo != "" {
		c["inResponseTo"] = []map[string]string{{"reference": records.MessageType + "/" + inResponseTo}}
	}
	res, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	defer clear(res)
	category := "general"
	if s.who.Kind == carechain.KindPatient {
		category = carechain.CategoryPatientReported // the one a patient writes in
	}
	id := records.NewRecordID()
	_, err = p.records.Put(r.Context(), signer, records.PutItem{Patient: patient, Category: category, RecordID: id, Resource: res})
	return id, err
}

// maxAttachmentBytes bounds a file attached in the portal (the whole form
// is bounded by carechain.MaxSmallRequestBytes).
const maxAttachmentBytes = 32 << 10

// uploaded is the form's optional file "attachment" as a FHIR Attachment
// with its data, size and SHA-1 hash; nil if none was chosen.
func uploaded(r *http.Request) (map[string]any, error) {
	if r.MultipartForm == nil || len(r.MultipartForm.File["attachment"]) == 0 {
		return nil, nil
	}
	fh := r.MultipartForm.File["attachment"][0]
	if fh.Size == 0 {
		return nil, nil // the field was left empty
	}
	if fh.Size > maxAttachmentBytes {
		return nil, fmt.Errorf("%w: an attachment is at most %d KiB", errForm, maxAttachmentBytes>>10)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAttachmentBytes+1))
	if err != nil || len(data) > maxAttachmentBytes {
		return nil, fmt.Errorf("%w: the attachment could not be read", errForm)
	}
	sum := sha1.Sum(data)
	return map[string]any{"contentType": "application/octet-stream", "title": filepath.Base(fh.Filename),
		"data": data, "size": len(data), "hash": sum[:]}, nil
}

// reference is the FHIR reference of a principal.
func reference(id string) string {
	if rest, ok := strings.CutPrefix(id, carechain.PatientPrefix); ok {
		return "Patient/" + rest
	}
	return "Practitioner/" + strings.ReplaceAll(id, "/", ".")
}

type threadMessage struct {
	ID, From, Sent string
	Texts          []string
	Links          []link
	Attachments    []attachmentLink
	Mine           bool
}

type link struct{ Href, Label string }

type attachmentLink struct {
	Href, Label string
}

type threadPage struct {
	ID, Patient, With string
	Messages          []threadMessage
	Practitioner      bool
	Links             []option // records the practitioner may link
	Done              string
}

// thread shows the thread of message {id}, read through the service: only
// a party reads it (a refusal is a 403 page naming no one's data), and
// each message shown is an access event.
func (p *Portal) thread(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ms, root, err := p.threadOf(r, s, id)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	v := p.app.Latest()
	page := threadPage{ID: root.RecordID, Patient: root.Patient, With: others(v, root.Message, s.who.ID),
		Practitioner: s.who.Kind == carechain.KindPractitioner}
	if r.URL.Query().Get("done") == "sent" {
		page.Done = "Message sent."
	}
	for _, m := range ms {
		page.Messages = append(page.Messages, threadMessageOf(v, m, s.who.ID))
		clear(m.Resource)
	}
	if page.Practitioner {
		page.Links = p.linkable(r, s, root.Patient)
	}
	p.render(w, s, http.StatusOK, "messages-thread", "Conversation", page)
}

// threadOf reads message id (refused unless the user is a party) and the
// messages of its thread the user may read, in order.
func (p *Portal) threadOf(r *http.Request, s *session, id string) ([]records.MessageRecord, *records.MessageRecord, error) {
	rec, err := p.records.Read(r.Context(), s.who.ID, id, 0, purpose)
	if err != nil {
		return nil, nil, err
	}
	clear(rec.Resource)
	if rec.ResourceType != records.MessageType {
		return nil, nil, records.ErrNotVisible
	}
	all, err := p.records.Messages(r.Context(), s.who.ID, rec.Patient)
	if err != nil {
		return nil, nil, err
	}
	var at *records.MessageRecord
	for i := range all {
		if all[i].RecordID == id {
			at = &all[i]
		}
	}
	if at == nil {
		return nil, nil, records.ErrNotVisible
	}
	root := records.ThreadRoot(all, at)
	var out []records.MessageRecord
	var rootMsg *records.MessageRecord
	for i := range all {
		if records.ThreadRoot(all, &all[i]) == root {
			out = append(out, all[i])
		}
		if all[i].RecordID == root {
			rootMsg = &all[i]
		}
	}
	return out, rootMsg, nil
}

func threadMessageOf(v *ledger.View, m records.MessageRecord, me string) threadMessage {
	t := threadMessage{ID: m.RecordID, From: principalLabel(v, m.Message.Sender), Sent: sentLabel(m.Message.Sent), Texts: m.Message.Texts, Mine: m.Message.Sender == me}
	for _, l := range m.Message.Links {
		typ, id, ok := strings.Cut(l, "/")
		if !ok || typ == records.MessageType {
			continue
		}
		t.Links = append(t.Links, link{Href: "/portal/raw/" + id, Label: typ + " " + id})
	}
	for i, a := range m.Message.Attachments {
		if a.Data != nil {
			t.Attachments = append(t.Attachments, attachmentLink{Href: fmt.Sprintf("/portal/messages/%s/attachments/%d", m.RecordID, i),
				Label: fmt.Sprintf("%s (%d bytes)", cmpOr(a.Title, "attachment"), a.Size)})
		}
	}
	return t
}

// linkable are the patient's records the practitioner may read, to link
// in a reply (the listing is logged, as any listing is).
func (p *Portal) linkable(r *http.Request, s *session, patient string) []option {
	heads, err := p.records.List(r.Context(), s.who.ID, patient, purpose)
	if err != nil {
		return nil
	}
	var out []option
	for _, h := range heads {
		if h.ResourceType != records.MessageType && !h.Deleted {
			out = append(out, option{h.RecordID, h.ResourceType + " " + h.RecordID + " (" + h.Category + ")"})
		}
	}
	return out
}

// reply answers the thread of message {id}: to every other party of it.
func (p *Portal) reply(w http.ResponseWriter, r *http.Request, s *session) {
	ms, root, err := p.threadOf(r, s, r.PathValue("id"))
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	var to []string
	for _, id := range root.Message.Parties() {
		if id != s.who.ID {
			to = append(to, id)
		}
	}
	last := ms[len(ms)-1].RecordID
	for _, m := range ms {
		clear(m.Resource)
	}
	if _, err := p.writeMessage(r, s, root.Patient, to, last); err != nil {
		p.failWrite(w, r, s, err)
		return
	}
	http.Redirect(w, r, "/portal/messages/"+root.RecordID+"?done=sent", http.StatusSeeOther)
}

// attachment serves attachment {n} of message {id} to a party, after its
// bytes are checked against its hash (a mismatch is refused), as a
// download: never rendered by the browser as a page of the portal.
func (p *Portal) attachment(w http.ResponseWriter, r *http.Request, s *session) {
	rec, err := p.records.Read(r.Context(), s.who.ID, r.PathValue("id"), 0, purpose)
	if err != nil {
		p.failErr(w, r, s, err)
		return
	}
	defer clear(rec.Resource)
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || rec.ResourceType != records.MessageType {
		p.failErr(w, r, s, records.ErrNotVisible)
		return
	}
	m, err := records.ParseMessage(rec.Resource)
	var a *records.Attachment
	if err == nil {
		a, err = records.AttachmentData(m, n)
	}
	if errors.Is(err, records.ErrAttachmentHash) {
		p.fail(w, r, s, http.StatusConflict, "The attachment was refused: its bytes do not match its hash.")
		return
	}
	if err != nil || a.Data == nil {
		p.failErr(w, r, s, records.ErrNotVisible)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="attachment-`+strconv.Itoa(n)+`"`)
	w.Write(a.Data)
}
