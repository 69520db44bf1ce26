package node

import (
	"context"
	"fmt"

	"github.com/carechain/carechain/ledger"
)

// The record-writing pieces tamper_test.go uses. They were shared with the
// benchmarks while those lived in this package; package bench imports node,
// so a test here cannot use its copies.

// benchObservation is a small valid FHIR Observation, distinct per i.
func benchObservation(i int) []byte {
	return fmt.Appendf(nil, `{"resourceType":"Observation","id":"t-%d","status":"final",
"code":{"coding":[{"system":"http://loinc.org","code":"2345-7","display":"Glucose"}]},
"subject":{"reference":"Patient/t"},"valueQuantity":{"value":%d,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}`,
		i, 70+i%30)
}

// allAccepted turns SubmitAll's outcomes into an error if any was rejected.
func allAccepted(outs []ledger.Outcome, err error) error {
	if err != nil {
		return err
	}
	for _, o := range outs {
		if !o.Accepted() {
			return fmt.Errorf("%s: %s", o.Code, o.Log)
		}
	}
	return nil
}

// pipeline commits one signer's transactions in nonce order, window at a
// time; every one must be accepted.
func (n *Node) pipeline(ctx context.Context, raws [][]byte, window int) ([]ledger.Outcome, error) {
	var outs []ledger.Outcome
	for start := 0; start < len(raws); start += window {
		chunk, err := n.SubmitAll(ctx, raws[start:min(start+window, len(raws))])
		outs = append(outs, chunk...)
		if err := allAccepted(chunk, err); err != nil {
			return outs, err
		}
	}
	return outs, nil
}
