package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/consent"
	"github.com/carechain/carechain/nodeapi"
	"github.com/carechain/carechain/records"
)

// signedClient unlocks the --as key and returns a client that signs requests with it.
func (c *cli) signedClient(s *signerFlags) (*nodeapi.Client, error) {
	key, err := c.unlock(s)
	if err != nil {
		return nil, err
	}
	cl, err := c.nodeClient(s.nodeAddr, s.home)
	if err != nil {
		return nil, err
	}
	return cl.As(s.as, key), nil
}

func (c *cli) recordCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Read encrypted records through a node, as a principal, for a purpose; a patient adds their own",
		Long: `record reads patients' records through a running node. Requests are signed
with the --as principal's key (from the keystore; passphrase from $` + PassphraseEnv + `
or a prompt). The node decrypts only what the patient's consent allows for
--purpose (treatment, emergency, research, billing, second-opinion), and every
attempt, allowed or denied, goes into the patient's access log.

A patient whose keys are in this keystore (--as the patient, their
encryption key beside their signing key) reads their own records on this
machine: the node serves the sealed versions and the patient's key opens
them here (these reads of their own data are not in their access log).`,
	}
	var purpose, breakGlass, glassPatient string
	var version uint64
	get := &cobra.Command{
		Use:   "get RECORD-ID",
		Short: "Print one version (default: the latest) as FHIR JSON",
		Long: `get prints one version of a record. With --break-glass REASON a clinician
first invokes emergency access to --patient under the patient's
rule (see carechain emergency), then reads for the purpose emergency.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			read := func(ctx context.Context, cl *nodeapi.Client) error {
				r, err := cl.Record(ctx, args[0], version, purpose)
				if err != nil {
					return err
				}
				return c.printJSON(r)
			}
			if breakGlass == "" && c.ownKeys(cmd) {
				return c.onDevice(cmd, signerOf(cmd), func(ctx context.Context, d *device) error {
					r, err := d.svc.Read(ctx, d.me.ID, args[0], version, consent.Purpose(purpose))
					if err != nil {
						return err
					}
					return c.printJSON(nodeapi.RecordResponse{RecordVersion: r.RecordVersion, Resource: r.Resource})
				})
			}
			if breakGlass == "" {
				return c.withSigned(cmd, read)
			}
			if glassPatient == "" {
				return errors.New("--break-glass needs --patient: the patient whose emergency rule to invoke")
			}
			return c.onDevice(cmd, signerOf(cmd), func(ctx context.Context, d *device) error {
				if err := c.breakGlass(ctx, d, glassPatient, breakGlass); err != nil {
					return err
				}
				purpose = "emergency"
				return read(ctx, d.client)
			})
		},
	}
	get.Flags().StringVar(&glassPatient, "patient", "", "with --break-glass: the record's patient")
	get.Flags().Uint64Var(&version, "version", 0, "version to read (0: latest)")
	get.Flags().StringVar(&breakGlass, "break-glass", "", "invoke emergency access with this reason first, then read for the purpose emergency")
	history := &cobra.Command{
		Use:   "history RECORD-ID",
		Short: "Print every version, oldest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if c.ownKeys(cmd) {
				return c.onDevice(cmd, signerOf(cmd), func(ctx context.Context, d *device) error {
					rs, err := d.svc.History(ctx, d.me.ID, args[0], consent.Purpose(purpose))
					if err != nil {
						return err
					}
					out := make([]nodeapi.RecordResponse, len(rs))
					for i, r := range rs {
						out[i] = nodeapi.RecordResponse{RecordVersion: r.RecordVersion, Resource: r.Resource}
					}
					return c.printJSON(out)
				})
			}
			return c.withSigned(cmd, func(ctx context.Context, cl *nodeapi.Client) error {
				rs, err := cl.RecordHistory(ctx, args[0], purpose)
				if err != nil {
					return err
				}
				return c.printJSON(rs)
			})
		},
	}
	var patient string
	list := &cobra.Command{
		Use:   "list",
		Short: "List a patient's records that you may read",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withSigned(cmd, func(ctx context.Context, cl *nodeapi.Client) error {
				heads, err := cl.Records(ctx, patient, purpose)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "RECORD\tTYPE\tCATEGORY\tVERSIONS")
				for _, h := range heads {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", h.RecordID, h.ResourceType, h.Category, h.Latest)
				}
				return w.Flush()
			})
		},
	}
	list.Flags().StringVar(&patient, "patient", "", "patient ID (required)")
	list.MarkFlagRequired("patient")
	for _, sub := range []*cobra.Command{get, history, list} {
		sf := &signerFlags{}
		sf.register(sub)
		sub.Flags().StringVar(&purpose, "purpose", "treatment", "purpose of use")
		cmd.AddCommand(sub)
	}
	cmd.AddCommand(c.recordPutCmd())
	return cmd
}

// withSigned runs fn with a client signing as the command's --as principal.
func (c *cli) withSigned(cmd *cobra.Command, fn func(context.Context, *nodeapi.Client) error) error {
	cl, err := c.signedClient(signerOf(cmd))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	return fn(ctx, cl)
}

// signerOf reads the signer flags of cmd.
func signerOf(cmd *cobra.Command) *signerFlags {
	s := &signerFlags{}
	s.home, _ = cmd.Flags().GetString("home")
	s.dir, _ = cmd.Flags().GetString("keys-dir")
	s.as, _ = cmd.Flags().GetString("as")
	s.key, _ = cmd.Flags().GetString("key")
	s.nodeAddr, _ = cmd.Flags().GetString("node")
	return s
}

func (c *cli) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, string(b))
	return nil
}

func (c *cli) auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "A patient's access log: who accessed what, when, why, and the decision",
	}
	var patient string
	list := &cobra.Command{
		Use:   "list",
		Short: "List a patient's access events, newest first (signed as the patient)",
		Long: `audit list shows every access attempt on a patient's records, through any node
of the consortium, newest first: emergency (break-glass) accesses are flagged.
Events are encrypted to the patient. When this keystore holds the patient's
encryption key (a patient who keeps their own keys), they are decrypted on
this machine; otherwise the node decrypts them with the patient's custodial
key, and only for a request signed by the patient (--as defaults to --patient).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if as, _ := cmd.Flags().GetString("as"); as == "" {
				cmd.Flags().Set("as", patient)
			}
			sf := signerOf(cmd)
			if sf.as == patient && c.holdsEncryptionKey(sf) {
				// The patient's keys are here: decrypt on this machine.
				return c.onDevice(cmd, sf, func(ctx context.Context, d *device) error {
					k, _ := d.keys.Identity(patient)
					events, err := records.AuditLog(d.chain.Latest(), patient, k)
					if err != nil {
						return err
					}
					return c.printEvents(events)
				})
			}
			return c.withSigned(cmd, func(ctx context.Context, cl *nodeapi.Client) error {
				events, err := cl.AuditLog(ctx, patient)
				if err != nil {
					return err
				}
				return c.printEvents(events)
			})
		},
	}
	list.Flags().StringVar(&patient, "patient", "", "patient ID (required)")
	list.MarkFlagRequired("patient")
	sf := &signerFlags{}
	sf.keyFlags.register(list)
	list.Flags().StringVar(&sf.as, "as", "", "principal that signs (default: the patient)")
	list.Flags().StringVar(&sf.key, "key", "", "keystore name of the signing key")
	list.Flags().StringVar(&sf.nodeAddr, "node", "", nodeUsage)
	cmd.AddCommand(list)
	return cmd
}

// printEvents prints access events as a table, newest first.
func (c *cli) printEvents(events []records.Event) error {
	w := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tWHO\tACTION\tRECORD\tPURPOSE\tDECISION\tNODE\tREASON")
	for _, e := range events {
		flag := ""
		switch {
		case e.Unverifiable:
			flag = " [UNVERIFIABLE]"
		case e.Emergency:
			flag = " [EMERGENCY]"
		case e.Count > 1:
			flag = fmt.Sprintf(" [x%d from %s]", e.Count, e.Source)
		}
		rec := e.RecordID
		if e.Version > 0 {
			rec = fmt.Sprintf("%s v%d (%s)", e.RecordID, e.Version, e.Category)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Requester,
			e.Action, rec, e.Purpose, e.Decision, flag, e.Node, e.Reason)
	}
	return w.Flush()
}

// ownKeys reports whether cmd runs as a patient whose encryption key is in
// its keystore: a patient reading their own records on their own machine.
func (c *cli) ownKeys(cmd *cobra.Command) bool {
	sf := signerOf(cmd)
	return strings.HasPrefix(sf.as, carechain.PatientPrefix) && c.holdsEncryptionKey(sf)
}

// holdsEncryptionKey reports whether the keystore of s holds the --as
// patient's encryption key.
func (c *cli) holdsEncryptionKey(s *signerFlags) bool {
	ks, err := s.open()
	if err != nil {
		return false
	}
	_, err = ks.Public(records.EncryptionKeyName(s.as))
	return err == nil
}
