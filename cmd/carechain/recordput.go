package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirjson"
	"github.com/carechain/carechain/records"
)

// patientReported is the category of what patients write themselves.
const patientReported = "patient-reported"

func (c *cli) recordPutCmd() *cobra.Command {
	var s signerFlags
	var file, id string
	cmd := &cobra.Command{
		Use:   "put",
		Short: "A patient adds their own data (category patient-reported), sealed and signed on this machine",
		Long: `put stores a FHIR resource the patient wrote themselves (a home glucose
reading, a symptom diary entry) as a record in the category patient-reported,
marked patient-authored: the FHIR API serves it with the tag
https://carechain.dev/fhir/tag|patient-reported, and no clinician can write
into that category. It runs on this machine with the patient's keys from the
keystore (see carechain consent): the resource is validated, sealed and
signed here. Its subject must be the patient. Clinicians write through the
FHIR API of their organization's node.

With --id of a record the patient wrote, put adds a new version of it.`,
		Example: `  carechain record put --as patient/k7q2m9 --keys-dir ~/my-keys --file glucose.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !strings.HasPrefix(s.as, carechain.PatientPrefix) {
				return fmt.Errorf("record put is for patients' own data; %s writes through the FHIR API of its organization's node (POST /fhir/{type})", s.as)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			res, err := fhirjson.Parse(data)
			if err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if id == "" {
				id = records.NewRecordID()
			}
			if err := res.SetID(id); err != nil {
				return err
			}
			res.DropMeta()
			want := "Patient/" + strings.TrimPrefix(s.as, carechain.PatientPrefix)
			if ref := cmp.Or(res.Reference("subject"), res.Reference("patient")); ref != want {
				return fmt.Errorf("%s: its subject is %q; a patient writes about themselves: %q", file, ref, want)
			}
			return c.onDevice(cmd, &s, func(ctx context.Context, d *device) error {
				r, err := d.svc.Put(ctx, d.me, records.PutItem{Patient: s.as, Category: patientReported, RecordID: id, Parsed: res})
				if err != nil {
					return fmt.Errorf("put: %w", err)
				}
				fmt.Fprintf(c.out, "stored %s version %d (%s) at height %d\n", r.RecordID, r.Version, patientReported, r.Height)
				return nil
			})
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&file, "file", "", "the FHIR resource (JSON)")
	cmd.Flags().StringVar(&id, "id", "", "record ID (default: a new one; a record you wrote: a new version)")
	cmd.MarkFlagRequired("file")
	return cmd
}
