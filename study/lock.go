package study

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"slices"

	"github.com/transparency-dev/merkle/rfc6962"
)

// A data lock commits a study's dataset (its case report resources, as
// FHIR JSON) by a Merkle root, so that results published later can be
// checked against exactly that data. The leaves are the content hashes of
// the resources (SHA-256 of each one's compact JSON), sorted, so the
// order of the files does not matter; the root is their RFC 6962 Merkle
// tree hash (each content hash hashed as a leaf).

// MaxDatasetLine bounds one resource of a dataset file.
const MaxDatasetLine = 16 << 20

// ReadDataset reads a dataset as NDJSON: one FHIR resource (a JSON object
// with a resourceType) per line, blank lines skipped.
func ReadDataset(r io.Reader) ([][]byte, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxDatasetLine)
	var out [][]byte
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(line, &head); err != nil || head.ResourceType == "" {
			return nil, fmt.Errorf("dataset line %d: not a FHIR resource (a JSON object with a resourceType)", n)
		}
		out = append(out, slices.Clone(line))
	}
	return out, sc.Err()
}

// DatasetRoot is the Merkle root of resources.
func DatasetRoot(resources [][]byte) ([]byte, error) {
	leaves := make([][]byte, 0, len(resources))
	for i, r := range resources {
		var buf bytes.Buffer
		if err := json.Compact(&buf, r); err != nil {
			return nil, fmt.Errorf("resource %d: %w", i, err)
		}
		sum := sha256.Sum256(buf.Bytes())
		leaves = append(leaves, rfc6962.DefaultHasher.HashLeaf(sum[:]))
	}
	slices.SortFunc(leaves, bytes.Compare)
	return merkleRoot(leaves), nil
}

// merkleRoot is the RFC 6962 tree hash over leaf hashes.
func merkleRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return rfc6962.DefaultHasher.EmptyRoot()
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(merkleRoot(leaves[:k]), merkleRoot(leaves[k:]))
}

// HashesRoot is the RFC 6962 Merkle root over hashes (such as the
// ciphertext hashes of a locked visit's records), each hashed as a leaf,
// in the order given.
func HashesRoot(hashes [][]byte) []byte {
	leaves := make([][]byte, len(hashes))
	for i, h := range hashes {
		leaves[i] = rfc6962.DefaultHasher.HashLeaf(h)
	}
	return merkleRoot(leaves)
}
