package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

// Case report data and visit locks (ledger/studyvisit.go): the site
// captures a subject's visit data as ordinary sealed records tagged with
// the study, the subject and the visit (study.Tag), then locks the visit;
// from then on its records change only by an amendment the study's
// sponsor and ethics board approve.

// visitFlags are the flags naming one visit of one subject.
type visitFlags struct {
	study, visit string
	subject      uint64
}

func (v *visitFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&v.study, "study", "", "the study")
	cmd.Flags().Uint64Var(&v.subject, "subject", 0, "the subject's enrolment number (N of subject STUDY.N)")
	cmd.Flags().StringVar(&v.visit, "visit", "", "the visit (1-64 of [a-z0-9._-], e.g. baseline, week-4)")
	for _, f := range []string{"study", "subject", "visit"} {
		cmd.MarkFlagRequired(f)
	}
}

func (v *visitFlags) capture() study.Capture {
	return study.Capture{Study: v.study, Subject: v.subject, Visit: v.visit}
}

// subjectInStudy is subject v.subject as its enrolling site's practitioner
// (the --as) reads it, refused if the patient withdrew.
func subjectInStudy(ctx context.Context, cl *nodeapi.Client, v *visitFlags) (*ledger.Subject, error) {
	sub, err := cl.StudySubject(ctx, v.study, v.subject)
	if err != nil {
		return nil, err
	}
	if sub.Withdrawn {
		return nil, fmt.Errorf("subject %s withdrew from study %s: no new data is captured for them", sub.SubjectID(), v.study)
	}
	return sub, nil
}

func (c *cli) studyCaptureCmd() *cobra.Command {
	var s signerFlags
	var v visitFlags
	var file string
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Record case report data of a subject's visit, as a practitioner of the enrolling site, through its node",
		Long: `capture writes the FHIR resource in --file (an Observation, a
QuestionnaireResponse, ...) about the subject's patient as an ordinary
record, sealed by the site's node, after tagging it with the study, the
subject and the visit: the extensions
http://hl7.org/fhir/StructureDefinition/workflow-researchStudy,
https://carechain.dev/fhir/StructureDefinition/research-subject and
https://carechain.dev/fhir/StructureDefinition/study-visit, inside the
sealed resource, so nothing new is in plain on the ledger. The resource's
subject must be the subject's patient; a subject that is not enrolled, or
withdrew, is refused and nothing is written. FHIR clients do the same by
POSTing a resource with those three extensions.`,
		Example: `  carechain study capture --study dm-1 --subject 1 --visit baseline --file hba1c.json --as city-general/dr-chen`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			tagged, err := study.Tag(data, v.capture())
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			res, err := fhirjson.Parse(tagged)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			cl, err := c.signedClient(&s)
			if err != nil {
				return err
			}
			sub, err := subjectInStudy(cmd.Context(), cl, &v)
			if err != nil {
				return err
			}
			want := "Patient/" + strings.TrimPrefix(sub.Patient, carechain.PatientPrefix)
			if ref := cmp.Or(res.Reference("subject"), res.Reference("patient")); ref != want {
				return fmt.Errorf("%s: its subject is %q, not subject %s's patient: nothing was written", file, ref, sub.SubjectID())
			}
			f, err := c.fhirSession(&s)
			if err != nil {
				return err
			}
			var created struct{ ID string }
			if err := f.do(cmd.Context(), "POST", "/fhir/"+url.PathEscape(res.Type()), json.RawMessage(res.Canonical()), &created); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "captured %s/%s for subject %s, visit %s\n", res.Type(), created.ID, sub.SubjectID(), v.visit)
			return nil
		},
	}
	s.register(cmd)
	v.register(cmd)
	cmd.Flags().StringVar(&file, "file", "", "the FHIR resource (JSON)")
	cmd.MarkFlagRequired("file")
	return cmd
}

func (c *cli) studyLockVisitCmd() *cobra.Command {
	var s signerFlags
	var v visitFlags
	cmd := &cobra.Command{
		Use:   "lock-visit",
		Short: "Lock a subject's visit data, as a practitioner of the enrolling site: later changes need an approved amendment",
		Long: `lock-visit collects, through your node, the records of the subject's patient
that you may read and that carry the study's, the subject's and the visit's
tags (carechain study capture), and locks them at their latest versions
(study.visit-lock). The ledger checks each is the subject's patient's and
not deleted, marks it locked and logs the lock with the Merkle root of the
versions' ciphertext hashes. From then on a write or deletion of those
records is refused (FHIR: 409 naming the visit); a change is proposed with
a reason (carechain amend propose --reason, or a FHIR PUT with the
X-Amendment-Reason header) and commits once the admins of the study's
sponsor and of its ethics board approve it (carechain amend approve).`,
		Example: `  carechain study lock-visit --study dm-1 --subject 1 --visit baseline --as city-general/dr-chen`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cl, err := c.signedClient(&s)
			if err != nil {
				return err
			}
			sub, err := cl.StudySubject(ctx, v.study, v.subject)
			if err != nil {
				return err
			}
			recs, err := visitRecords(ctx, cl, sub.Patient, v.capture())
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				return fmt.Errorf("no record of subject %s that you may read is tagged with visit %s: nothing was locked", sub.SubjectID(), v.visit)
			}
			body := tx.StudyVisitLock{Study: v.study, Subject: v.subject, Visit: v.visit, Records: recs}
			if err := body.Validate(); err != nil {
				return err
			}
			if err := c.submit(ctx, &s, tx.TypeStudyVisitLock, func(string, uint64) (any, error) { return &body, nil }); err != nil {
				return err
			}
			after, err := cl.Study(ctx, v.study)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(after.VisitLocks, func(l ledger.VisitLockState) bool { return l.Subject == v.subject && l.Visit == v.visit })
			if i < 0 {
				return fmt.Errorf("visit %s of subject %s: committed but not found", v.visit, sub.SubjectID())
			}
			l := after.VisitLocks[i]
			fmt.Fprintf(c.out, "locked visit %s of subject %s at height %d: %d records (%s), Merkle root %x\n",
				v.visit, sub.SubjectID(), l.Height, len(l.Records), visitRecordList(l.Records), l.Root)
			return nil
		},
	}
	s.register(cmd)
	v.register(cmd)
	return cmd
}

// visitRecords reads, through the signer's node, patient's records the
// signer may read for treatment, and returns those tagged with capture,
// each at its latest version, sorted by ID.
func visitRecords(ctx context.Context, cl *nodeapi.Client, patient string, capture study.Capture) ([]tx.VisitRecord, error) {
	heads, err := cl.Records(ctx, patient, "treatment")
	if err != nil {
		return nil, fmt.Errorf("reading %s's records: %w", patient, err)
	}
	var out []tx.VisitRecord
	for _, h := range heads {
		if h.Deleted {
			continue
		}
		r, err := cl.Record(ctx, h.RecordID, 0, "treatment")
		if err != nil {
			continue // not readable by the signer: not theirs to lock
		}
		if got, ok := study.CaptureOf(r.Resource); ok && got == capture {
			out = append(out, tx.VisitRecord{ID: r.RecordID, Version: r.Version})
		}
	}
	slices.SortFunc(out, func(a, b tx.VisitRecord) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// visitRecordList names records with their versions: "r1 v1, r2 v3".
func visitRecordList(rs []tx.VisitRecord) string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s v%d", r.ID, r.Version)
	}
	return strings.Join(out, ", ")
}

func (c *cli) studyVisitsCmd() *cobra.Command {
	var s signerFlags
	var id string
	cmd := &cobra.Command{
		Use:     "visits",
		Short:   "List a study's locked visits: subject, visit, records and versions, who locked them, the height and the Merkle root",
		Example: `  carechain study visits --study dm-1 --as uni/admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cur, err := c.studyOf(cmd.Context(), &s, id)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "study %s: %d locked visits\n", id, len(cur.VisitLocks))
			w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "SUBJECT\tVISIT\tRECORDS\tLOCKED BY\tHEIGHT\tMERKLE ROOT")
			for _, l := range cur.VisitLocks {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%x\n", l.SubjectID(), l.Visit, visitRecordList(l.Records), l.Locker, l.Height, l.Root)
			}
			return w.Flush()
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.MarkFlagRequired("study")
	return cmd
}
