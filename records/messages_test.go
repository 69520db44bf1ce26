package records_test

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/records"
)

// message is a Communication about patient p1 from sender to recipients.
func message(sender, text, inResponseTo string, extra string, recipients ...string) []byte {
	var rs []string
	for _, r := range recipients {
		rs = append(rs, `{"reference":"`+r+`"}`)
	}
	irt := ""
	if inResponseTo != "" {
		irt = `"inResponseTo":[{"reference":"Communication/` + inResponseTo + `"}],`
	}
	return []byte(`{"resourceType":"Communication","status":"completed","subject":{"reference":"Patient/p1"},` + irt +
		`"sent":"` + time.Now().UTC().Format(time.RFC3339Nano) + `","sender":{"reference":"` + sender + `"},` +
		`"recipient":[` + strings.Join(rs, ",") + `],"payload":[{"contentString":"` + text + `"}` + extra + `]}`)
}

func attachment(data []byte, hash []byte) string {
	return `,{"contentAttachment":{"contentType":"text/plain","title":"note.txt","size":` + strconv.Itoa(len(data)) +
		`,"data":"` + base64.StdEncoding.EncodeToString(data) + `","hash":"` + base64.StdEncoding.EncodeToString(hash) + `"}}`
}

// TestMessagesAreReadByTheirPartiesOnly: a patient writes to a physician,
// who replies linking a record; a physician with a grant to all of the
// patient's records, another of the same organization, and the patient's
// records' other readers cannot read the thread; every read is in the
// patient's access log.
func TestMessagesAreReadByTheirPartiesOnly(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w.svc[0].Keys().Add(w.patient.ID, w.patientK)
	drA := w.signers["hosp-a/dr-a"]
	if _, err := w.svc[0].Put(ctx, drA, records.PutItem{Patient: w.patient.ID, Category: "lab", RecordID: "rec-glucose", Resource: observation("glucose")}); err != nil {
		t.Fatal(err)
	}
	// dr-b (hosp-b, node1) may read every category of the patient's records.
	if _, err := w.svc[0].Grant(ctx, w.patient, consent.Grant{
		Grantee: consent.Grantee{Principal: "hosp-b/dr-b"}, Categories: []string{consent.AnyCategory},
		Actions: []consent.Action{consent.ActionRead}, Purposes: []consent.Purpose{consent.PurposeTreatment}, NotBefore: time.Now().Unix() - 60,
	}); err != nil {
		t.Fatal(err)
	}
	note := []byte("home glucose readings")
	sum := sha1.Sum(note)
	q, err := w.svc[0].Put(ctx, w.patient, records.PutItem{Patient: w.patient.ID, Category: carechain.CategoryPatientReported, RecordID: "msg-1",
		Resource: message("Patient/p1", "question-marker", "", attachment(note, sum[:]), "Practitioner/hosp-a.dr-a")})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := w.svc[0].Put(ctx, drA, records.PutItem{Patient: w.patient.ID, Category: "general", RecordID: "msg-2",
		Resource: message("Practitioner/hosp-a.dr-a", "reply-marker", "msg-1", `,{"contentReference":{"reference":"Observation/rec-glucose"}}`, "Patient/p1")})
	if err != nil {
		t.Fatal(err)
	}
	w.waitHeight(1, max(q.Height, reply.Height))

	for _, c := range []struct {
		node      int
		requester string
		record    string
		allowed   bool
	}{
		{0, "hosp-a/dr-a", "msg-1", true},
		{0, w.patient.ID, "msg-1", true},
		{0, w.patient.ID, "msg-2", true},
		{0, "hosp-a/dr-a", "msg-2", true},
		{0, "hosp-a/dr-a2", "msg-1", false}, // same organization, no party
		{1, "hosp-b/dr-b", "msg-1", false},  // a grant to everything, no party
		{1, "hosp-b/dr-b", "msg-2", false},
		{1, "lab-c/dr-e", "msg-2", false},
	} {
		rec, err := w.svc[c.node].Read(ctx, c.requester, c.record, 0, consent.PurposeTreatment)
		var denied *records.DeniedError
		switch {
		case c.allowed && err != nil:
			t.Errorf("%s reading %s: %v", c.requester, c.record, err)
		case c.allowed && !strings.Contains(string(rec.Resource), "-marker"):
			t.Errorf("%s reading %s: got %s", c.requester, c.record, rec.Resource)
		case !c.allowed && (!errors.As(err, &denied) || !strings.Contains(denied.Reason, "not a party")):
			t.Errorf("%s reading %s: want a refusal as no party, got %v", c.requester, c.record, err)
		}
	}
	// The grantee's search of the patient's records holds the lab record
	// but no message.
	got, err := w.svc[1].ReadPatient(ctx, records.Query{Requester: "hosp-b/dr-b", Patient: w.patient.ID, Purpose: consent.PurposeTreatment})
	if err != nil || len(got) != 1 || got[0].ResourceType != "Observation" {
		t.Fatalf("dr-b's search: %d records, %v", len(got), err)
	}
	for i, who := range map[int]string{1: "hosp-b/dr-b", 0: "hosp-a/dr-a2"} {
		if ms, err := w.svc[i].Inbox(ctx, who); err != nil || len(ms) != 0 {
			t.Fatalf("%s's inbox: %d messages, %v", who, len(ms), err)
		}
	}

	// The thread, in order, as the physician sees it; the attachment checks.
	ms, err := w.svc[0].Inbox(ctx, "hosp-a/dr-a")
	if err != nil || len(ms) != 2 {
		t.Fatalf("dr-a's inbox: %d messages, %v", len(ms), err)
	}
	if ms[0].RecordID != "msg-1" || records.ThreadRoot(ms, &ms[1]) != "msg-1" || ms[1].Message.Links[0] != "Observation/rec-glucose" {
		t.Fatalf("thread: %+v then %+v", ms[0].Message, ms[1].Message)
	}
	a, err := records.AttachmentData(ms[0].Message, 0)
	if err != nil || string(a.Data) != string(note) {
		t.Fatalf("attachment: %v", err)
	}
	ms[0].Message.Attachments[0].Data[0] ^= 1
	if _, err := records.AttachmentData(ms[0].Message, 0); !errors.Is(err, records.ErrAttachmentHash) {
		t.Fatalf("altered attachment: %v", err)
	}

	// Refused writes, which change nothing: a wrong hash, another patient,
	// a sender who is not the author, deleting a message.
	h0, _ := w.nodes[0].App().Height()
	bad := []struct {
		name   string
		author records.Signer
		cat    string
		res    []byte
	}{
		{"hash mismatch", w.patient, carechain.CategoryPatientReported, message("Patient/p1", "x", "", attachment(note, make([]byte, 20)), "Practitioner/hosp-a.dr-a")},
		{"another patient", drA, "general", message("Practitioner/hosp-a.dr-a", "x", "", "", "Patient/p2")},
		{"not the sender", drA, "general", message("Practitioner/hosp-a.dr-a2", "x", "", "", "Patient/p1")},
	}
	for _, b := range bad {
		if _, err := w.svc[0].Put(ctx, b.author, records.PutItem{Patient: w.patient.ID, Category: b.cat, RecordID: "msg-bad", Resource: b.res}); !errors.Is(err, records.ErrInvalid) {
			t.Errorf("%s: want ErrInvalid, got %v", b.name, err)
		}
	}
	if _, err := w.svc[0].Delete(ctx, drA, "msg-2"); !errors.Is(err, records.ErrInvalid) {
		t.Errorf("deleting a message: %v", err)
	}
	if h, _ := w.nodes[0].App().Height(); h != h0 {
		if _, err := w.nodes[0].App().Latest().Record("msg-bad"); err == nil {
			t.Fatal("a refused message was written")
		}
	}

	// The patient's access log has the physician's read of the question and
	// the grantee's refusal.
	if err := w.svc[0].Flush(ctx, w.anchorer()); err != nil {
		t.Fatal(err)
	}
	if err := w.svc[1].Flush(ctx, w.signers["hosp-b/node1"]); err != nil {
		t.Fatal(err)
	}
	h, _ := w.nodes[1].App().Height()
	w.waitHeight(0, h)
	var allowedRead, refused bool
	for _, e := range w.auditLog(t) {
		if e.RecordID == "msg-1" && e.Requester == "hosp-a/dr-a" && e.Decision == carechain.DecisionAllow {
			allowedRead = true
		}
		if e.RecordID == "msg-1" && e.Requester == "hosp-b/dr-b" && e.Decision == carechain.DecisionDeny {
			refused = true
		}
		if e.RecordID == "msg-2" && e.Requester == "hosp-a/dr-a2" {
			t.Errorf("dr-a2's inbox logged an attempt on a message they never tried to open: %+v", e)
		}
	}
	if !allowedRead || !refused {
		t.Fatalf("access log: physician's read %v, grantee's refusal %v", allowedRead, refused)
	}
}
