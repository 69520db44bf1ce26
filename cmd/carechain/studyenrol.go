package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/ledger"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/study"
	"github.com/carechain/carechain/tx"
)

// Enrolment and randomization by commit-reveal (ledger/enrolment.go):
// the sponsor commits its seed's hash, a site enrols eligible consenting
// patients (the criteria run here, over what the site's node decrypts),
// the sponsor tells the site each arm from its seed, and at unblinding
// reveals the seed so anyone recomputes every allocation.

// readSeed reads study's randomization seed from path: sealed under the
// passphrase by randomize, or, a file of exactly tx.SeedSize bytes, in the
// clear (a seed already revealed).
func (c *cli) readSeed(path, study string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seed file: %w", err)
	}
	if len(b) == tx.SeedSize {
		return b, nil
	}
	pass, err := c.passphrase("Passphrase of the seed file "+path, false)
	if err != nil {
		return nil, err
	}
	seed, err := keystore.OpenBlob(b, pass, seedContext(study))
	if err != nil {
		return nil, fmt.Errorf("seed file %s: %w", path, err)
	}
	if len(seed) != tx.SeedSize {
		return nil, fmt.Errorf("seed file %s holds %d bytes, want %d", path, len(seed), tx.SeedSize)
	}
	return seed, nil
}

// seedContext binds a sealed seed file to its study.
func seedContext(study string) []byte {
	return []byte("carechain study randomization seed\x00" + study)
}

// newSeed makes a random seed for study and seals it in path under a
// passphrase; it refuses to overwrite a file.
func (c *cli) newSeed(path, study string) ([]byte, error) {
	seed := make([]byte, tx.SeedSize)
	rand.Read(seed)
	pass, err := c.passphrase("Passphrase to seal the seed in "+path, true)
	if err != nil {
		return nil, err
	}
	sealed, err := keystore.SealBlob(seed, pass, seedContext(study), keystore.DefaultKDF)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("seed file: %w", err)
	}
	if _, err := f.Write(sealed); err != nil {
		f.Close()
		return nil, fmt.Errorf("seed file: %w", err)
	}
	return seed, f.Close()
}

func (c *cli) studyRandomizeCmd() *cobra.Command {
	var s signerFlags
	var id, seedFile string
	cmd := &cobra.Command{
		Use:   "randomize",
		Short: "Commit a study's randomization seed, as its sponsor's admin, before the first enrolment",
		Long: `randomize makes a random 32-byte seed, seals it in --seed-file under your
passphrase (from $` + PassphraseEnv + ` or a prompt; scrypt and XChaCha20-Poly1305,
as key files) and puts its SHA-256 on the ledger. Keep the file secret and
safe until unblinding: whoever opens it knows every arm. An existing seed
file is used as it is. Enrolment waits for this commitment.`,
		Example: `  carechain study randomize --study dm-1 --seed-file dm-1.seed --as uni/admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seed, err := c.readSeed(seedFile, id)
			if errors.Is(err, os.ErrNotExist) {
				seed, err = c.newSeed(seedFile, id)
			}
			if err != nil {
				return err
			}
			sum := sha256.Sum256(seed)
			body := tx.StudyRandomization{Study: id, SeedHash: sum[:]}
			if err := c.submit(cmd.Context(), &s, tx.TypeStudyRandomization, func(string, uint64) (any, error) { return &body, nil }); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "study %s's randomization seed is committed: sha256 %x (the seed stays in %s until unblinding)\n", id, sum, seedFile)
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.Flags().StringVar(&seedFile, "seed-file", "", "the seed's file (made if it does not exist)")
	cmd.MarkFlagRequired("study")
	cmd.MarkFlagRequired("seed-file")
	return cmd
}

func (c *cli) studyEnrolCmd() *cobra.Command {
	var s signerFlags
	var id, patient string
	cmd := &cobra.Command{
		Use:   "enrol",
		Short: "Enrol a patient who consented to a study, as a site's practitioner or the patient, once the criteria find them eligible",
		Long: `enrol checks the eligibility criteria of the protocol in force (CEL) over the
patient's records, here: a site's practitioner reads those their node
decrypts for them (each read in the patient's access log); a patient whose
keys are in this keystore (--as the patient) reads their own, decrypted on
this machine. An ineligible patient is refused with the criterion that
failed, and nothing reaches the ledger; an eligible one is enrolled: the
ledger gets the study, the patient's study consent (their pseudonym in the
study), yes, the protocol version and you. The arm stays concealed until
unblinding: the sponsor tells it (carechain study arm).`,
		Example: `  carechain study enrol --study dm-1 --patient patient/k7q2m9 --as city-general/dr-chen
  carechain study enrol --study dm-1 --as patient/k7q2m9`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			if c.ownKeys(cmd) && (patient == "" || patient == s.as) {
				return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
					return c.enrolOwn(ctx, &s, d, id)
				})
			}
			if patient == "" {
				return errors.New("--patient is required, unless --as is the patient with their keys in this keystore")
			}
			cl, err := c.signedClient(&s)
			if err != nil {
				return err
			}
			cur, err := cl.Study(ctx, id)
			if err != nil {
				return err
			}
			sc, err := cl.StudyConsent(ctx, id, patient)
			if err != nil {
				return fmt.Errorf("enrolment requires the patient's consent to study %s: %w", id, err)
			}
			subject, err := decryptedSubject(ctx, cl, patient)
			if err != nil {
				return err
			}
			return c.enrol(ctx, &s, cl, cur, patient, sc.Grant, subject)
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.Flags().StringVar(&patient, "patient", "", "the patient (default: --as, a patient)")
	cmd.MarkFlagRequired("study")
	return cmd
}

// enrolOwn enrols the signer, a patient, checking the criteria over their
// own records decrypted on this device.
func (c *cli) enrolOwn(ctx context.Context, s *signerFlags, d *device, id string) error {
	me := d.me.ID
	grants, err := d.chain.Latest().Grants(me)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(grants, func(g ledger.StoredGrant) bool { return g.Study == id && !g.Revoked })
	if i < 0 {
		return fmt.Errorf("enrolment requires the patient's consent to study %s: %s has none in force (carechain consent grant --study %s)", id, me, id)
	}
	recs, err := d.svc.ReadPatient(ctx, records.Query{Requester: me, Patient: me, Purpose: consent.PurposeTreatment,
		Keep: func(h *carechain.RecordHead) bool { return !h.Deleted && study.CriteriaReads(h.ResourceType) }})
	if err != nil {
		return fmt.Errorf("reading your records: %w", err)
	}
	resources := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		resources[i] = r.Resource
	}
	cur, err := d.client.Study(ctx, id)
	if err != nil {
		return err
	}
	return c.enrol(ctx, s, d.client, cur, me, grants[i].ID, study.SubjectOf(resources, time.Now()))
}

// enrol evaluates the criteria in force of study cur over subject and, if
// they hold, submits the enrolment of patient under consent grant.
func (c *cli) enrol(ctx context.Context, s *signerFlags, cl *nodeapi.Client, cur *nodeapi.StudyResponse, patient, grant string, subject study.Subject) error {
	id := cur.Study.ID
	if err := inForce(cur).Eligible(subject); err != nil {
		return fmt.Errorf("%s is not eligible for study %s (criteria of version %d): %w; nothing was put on the ledger", patient, id, cur.Study.Version, err)
	}
	body := tx.StudyEnrol{Study: id, Consent: grant, Eligible: true, Version: cur.Study.Version}
	if err := c.submit(ctx, s, tx.TypeStudyEnrol, func(string, uint64) (any, error) { return &body, nil }); err != nil {
		return err
	}
	after, err := cl.Study(ctx, id)
	if err != nil {
		return err
	}
	for _, e := range after.Enrolments {
		if e.Consent == grant {
			fmt.Fprintf(c.out, "enrolled %s in study %s as subject %s (eligible by the criteria of version %d); the arm is concealed until unblinding: the sponsor tells it\n",
				patient, id, e.SubjectID(), e.Version)
		}
	}
	return nil
}

// inForce is the protocol in force of a study read from the node.
func inForce(r *nodeapi.StudyResponse) *study.Protocol {
	i := slices.IndexFunc(r.Versions, func(v ledger.StudyVersion) bool { return v.Version == r.Study.Version })
	return &r.Versions[i].Protocol
}

// decryptedSubject reads, through the signer's node, the patient's records
// the criteria can see (Patient, Condition, Observation) that the signer
// may read for treatment, and builds the subject from them.
func decryptedSubject(ctx context.Context, cl *nodeapi.Client, patient string) (study.Subject, error) {
	heads, err := cl.Records(ctx, patient, "treatment")
	if err != nil {
		return study.Subject{}, fmt.Errorf("reading %s's records: %w", patient, err)
	}
	var resources []json.RawMessage
	for _, h := range heads {
		if h.Deleted || !study.CriteriaReads(h.ResourceType) {
			continue
		}
		r, err := cl.Record(ctx, h.RecordID, 0, "treatment")
		if err != nil {
			continue // not readable by the signer: the criteria do without it
		}
		resources = append(resources, r.Resource)
	}
	return study.SubjectOf(resources, time.Now()), nil
}

func (c *cli) studyArmCmd() *cobra.Command {
	var s signerFlags
	var id, seedFile string
	var subject uint64
	cmd := &cobra.Command{
		Use:   "arm",
		Short: "Tell a subject's arm from the study's seed, as its sponsor, before unblinding",
		Long: `arm computes, from the seed file that only the sponsor holds, the arm of
enrolment --subject (its number), after checking the seed against the
commitment on the ledger; the sponsor passes it to the site.`,
		Example: `  carechain study arm --study dm-1 --subject 1 --seed-file dm-1.seed --as uni/admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seed, err := c.readSeed(seedFile, id)
			if err != nil {
				return err
			}
			cur, err := c.studyOf(cmd.Context(), &s, id)
			if err != nil {
				return err
			}
			en, err := checkedEnrolment(cur, seed, subject)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.out, "subject %s: arm %s\n", en.SubjectID(), study.Allocate(seed, en.Number, protocolOf(cur, en.Version).Arms))
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.Flags().StringVar(&seedFile, "seed-file", "", "the seed's file")
	cmd.Flags().Uint64Var(&subject, "subject", 0, "the enrolment's number")
	for _, f := range []string{"study", "seed-file", "subject"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}

// checkedEnrolment is enrolment n of a study, once seed matches its commitment.
func checkedEnrolment(cur *nodeapi.StudyResponse, seed []byte, n uint64) (*ledger.Enrolment, error) {
	sum := sha256.Sum256(seed)
	if !bytes.Equal(sum[:], cur.Study.SeedHash) {
		return nil, fmt.Errorf("the seed does not match study %s's commitment", cur.Study.ID)
	}
	i := slices.IndexFunc(cur.Enrolments, func(e ledger.Enrolment) bool { return e.Number == n })
	if i < 0 {
		return nil, fmt.Errorf("study %s has no enrolment %d", cur.Study.ID, n)
	}
	return &cur.Enrolments[i], nil
}

// protocolOf is version v of a study's protocol.
func protocolOf(r *nodeapi.StudyResponse, v uint64) *study.Protocol {
	i := slices.IndexFunc(r.Versions, func(x ledger.StudyVersion) bool { return x.Version == v })
	return &r.Versions[i].Protocol
}

func (c *cli) studyUnblindCmd() *cobra.Command {
	var s signerFlags
	var id, seedFile string
	cmd := &cobra.Command{
		Use:     "unblind",
		Short:   "Reveal a study's randomization seed, as its sponsor's admin: the ledger checks it against the commitment",
		Example: `  carechain study unblind --study dm-1 --seed-file dm-1.seed --as uni/admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seed, err := c.readSeed(seedFile, id)
			if err != nil {
				return err
			}
			body := tx.StudyUnblind{Study: id, Seed: seed}
			if err := c.submit(cmd.Context(), &s, tx.TypeStudyUnblind, func(string, uint64) (any, error) { return &body, nil }); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "study %s is unblinded: anyone recomputes its allocations (carechain study allocations --study %s)\n", id, id)
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.Flags().StringVar(&seedFile, "seed-file", "", "the seed's file")
	cmd.MarkFlagRequired("study")
	cmd.MarkFlagRequired("seed-file")
	return cmd
}

func (c *cli) studyAllocationsCmd() *cobra.Command {
	var s signerFlags
	var id string
	cmd := &cobra.Command{
		Use:   "allocations",
		Short: "List a study's enrolments and, once unblinded, recompute and check every arm from the revealed seed",
		Long: `allocations lists the enrolments on the ledger: subject, the patient's
study consent, the protocol version whose criteria found them eligible, the
enroller and the height. Once the study is unblinded it checks the revealed
seed against the commitment made before the first enrolment and recomputes
each arm (study.Allocate), here.`,
		Example: `  carechain study allocations --study dm-1 --as city-general/admin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cur, err := c.studyOf(cmd.Context(), &s, id)
			if err != nil {
				return err
			}
			return c.printAllocations(cur)
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&id, "study", "", "the study")
	cmd.MarkFlagRequired("study")
	return cmd
}

// printAllocations prints a study's enrolments with their arms if unblinded.
func (c *cli) printAllocations(cur *nodeapi.StudyResponse) error {
	st := cur.Study
	blinded := st.Seed == nil
	if blinded {
		fmt.Fprintf(c.out, "study %s: %d enrolments; blinded (seed committed: sha256 %x): arms are concealed until unblinding\n", st.ID, len(cur.Enrolments), st.SeedHash)
	} else {
		sum := sha256.Sum256(st.Seed)
		if !bytes.Equal(sum[:], st.SeedHash) {
			return fmt.Errorf("study %s: the revealed seed does not match the commitment %x", st.ID, st.SeedHash)
		}
		fmt.Fprintf(c.out, "study %s: %d enrolments; unblinded at height %d: the seed matches the commitment sha256 %x\n", st.ID, len(cur.Enrolments), st.UnblindedHeight, st.SeedHash)
	}
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SUBJECT\tCONSENT\tELIGIBLE BY\tENROLLED BY\tHEIGHT\tARM")
	for _, e := range cur.Enrolments {
		arm := "(concealed)"
		if !blinded {
			arm = study.Allocate(st.Seed, e.Number, protocolOf(cur, e.Version).Arms)
		}
		fmt.Fprintf(w, "%s\t%s\tversion %d\t%s\t%s\t%s\n", e.SubjectID(), e.Consent, e.Version, e.Enroller, strconv.FormatInt(e.Height, 10), arm)
	}
	return w.Flush()
}
