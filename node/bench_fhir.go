package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/carechain/carechain"
	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/records"
	"github.com/carechain/carechain/seal"
	"github.com/carechain/carechain/tx"
)

// FHIRBenchReport is the outcome of BenchFHIR.
type FHIRBenchReport struct {
	Patients, PerPatient int
	CreatesPerSecond     float64 // POST /fhir/Observation, committed
	ReadsPerSecond       float64 // GET /fhir/Observation/{id}
	ReadP50, ReadP99     time.Duration
	SearchP50, SearchP99 time.Duration // GET /fhir/Observation?patient=…
}

// BenchFHIR measures the FHIR API over HTTP on one node: it loads patients ×
// perPatient Observations (through record.batch, untimed), then times
// concurrent creates, reads and patient searches over loopback HTTP.
func BenchFHIR(ctx context.Context, patients, perPatient, creates, reads, searches int) (FHIRBenchReport, error) {
	rep := FHIRBenchReport{Patients: patients, PerPatient: perPatient}
	bn, err := startRecordsBench(ctx, "carechain-bench-fhir")
	if err != nil {
		return rep, err
	}
	defer bn.Close()
	n, svc := bn.node, bn.svc
	_, drKey, _ := ed25519.GenerateKey(nil)
	dr := records.Signer{ID: "bench/dr", Key: drKey}
	regs := [][]byte{}
	sign := func(r *tx.Register) error {
		raw, err := tx.Sign(bn.admin.Key, bn.chainID, bn.admin.ID, uint64(len(regs)+1), tx.TypeRegister, r)
		regs = append(regs, raw)
		return err
	}
	if err := sign(&tx.Register{ID: dr.ID, Kind: carechain.KindPractitioner, Roles: []carechain.Role{carechain.RolePhysician}, PublicKey: drKey.Public().(ed25519.PublicKey)}); err != nil {
		return rep, err
	}
	pek, err := seal.GenerateKey()
	if err != nil {
		return rep, err
	}
	for i := range patients {
		_, pk, _ := ed25519.GenerateKey(nil)
		if err := sign(&tx.Register{ID: fmt.Sprintf("patient/f%d", i), Kind: carechain.KindPatient, PublicKey: pk.Public().(ed25519.PublicKey), EncryptionKey: pek.Public().Bytes()}); err != nil {
			return rep, err
		}
	}
	if _, err := n.pipeline(ctx, regs, 1000); err != nil {
		return rep, err
	}
	// Load (untimed): one batch of perPatient observations per patient.
	var ids []string
	for i := range patients {
		items := make([]records.PutItem, perPatient)
		for j := range items {
			items[j] = records.PutItem{Patient: fmt.Sprintf("patient/f%d", i), Category: "lab", RecordID: fmt.Sprintf("o-%d-%d", i, j), Resource: fhirObservation(i, j)}
		}
		if _, err := svc.PutBatch(ctx, dr, items); err != nil {
			return rep, fmt.Errorf("load patient %d: %w", i, err)
		}
		ids = append(ids, items[0].RecordID)
	}
	cust := &records.Custodian{}
	cust.Add(dr.ID, dr.Key)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return rep, err
	}
	mux := http.NewServeMux()
	base := "http://" + l.Addr().String()
	fhirrest.Register(mux, fhirrest.Options{App: n.App(), Records: svc, Custodian: cust, BaseURL: base})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Close()
	tok, err := benchToken(base, dr)
	if err != nil {
		return rep, err
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	do := func(method, path string, body []byte) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		var sink bytes.Buffer
		sink.ReadFrom(resp.Body)
		return resp.StatusCode, nil
	}
	const workers = 16
	run := func(total int, op func(i int) error) ([]time.Duration, time.Duration, error) {
		lat := make([]time.Duration, total)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		begin := time.Now()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < total; i += workers {
					t0 := time.Now()
					if err := op(i); err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
					lat[i] = time.Since(t0)
				}
			}()
		}
		wg.Wait()
		el := time.Since(begin)
		slices.Sort(lat)
		return lat, el, firstErr
	}
	_, el, err := run(creates, func(i int) error {
		code, err := do("POST", "/fhir/Observation", fhirObservation(i%patients, perPatient+i))
		if err == nil && code != http.StatusCreated {
			err = fmt.Errorf("create: HTTP %d", code)
		}
		return err
	})
	if err != nil {
		return rep, err
	}
	rep.CreatesPerSecond = float64(creates) / el.Seconds()
	lat, el, err := run(reads, func(i int) error {
		code, err := do("GET", "/fhir/Observation/"+ids[i%len(ids)], nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("read: HTTP %d", code)
		}
		return err
	})
	if err != nil {
		return rep, err
	}
	rep.ReadsPerSecond, rep.ReadP50, rep.ReadP99 = float64(reads)/el.Seconds(), lat[len(lat)/2], lat[len(lat)*99/100]
	lat, _, err = run(searches, func(i int) error {
		code, err := do("GET", "/fhir/Observation?patient="+url.QueryEscape(fmt.Sprintf("Patient/f%d", (i*7)%patients)), nil)
		if err == nil && code != http.StatusOK {
			err = fmt.Errorf("search: HTTP %d", code)
		}
		return err
	})
	if err != nil {
		return rep, err
	}
	rep.SearchP50, rep.SearchP99 = lat[len(lat)/2], lat[len(lat)*99/100]
	return rep, nil
}

func fhirObservation(patient, i int) []byte {
	return fmt.Appendf(nil, `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},
"subject":{"reference":"Patient/f%d"},"effectiveDateTime":"2026-11-%02dT08:00:00Z","valueQuantity":{"value":%d,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`,
		patient, 1+i%28, 70+i%40)
}

// benchToken gets an access token with a client assertion.
func benchToken(base string, s records.Signer) (string, error) {
	assertion, err := fhirrest.ClientAssertion(s.ID, s.Key, base+"/auth/token")
	if err != nil {
		return "", err
	}
	resp, err := http.PostForm(base+"/auth/token", url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		return "", fmt.Errorf("token: HTTP %d %v", resp.StatusCode, err)
	}
	return tr.AccessToken, nil
}
