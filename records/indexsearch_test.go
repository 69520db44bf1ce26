package records

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/carechain/carechain/store"
)

// TestIndexCandidatesIntersectAndBound: candidates are the records having
// every term, in record ID order; a term matching more than
// MaxIndexCandidates records does not narrow, and a search whose every term
// does is too broad. Another organization's tokens find nothing.
func TestIndexCandidatesIntersectAndBound(t *testing.T) {
	idx, err := store.OpenIndex(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	s := &Service{index: idx}
	keyA, keyB := []byte("search key of hosp-a............"), []byte("search key of hosp-b............")
	common := IndexTerm{"Patient", "gender", "female"}
	family := IndexTerm{"Patient", "family", "okonkwo"}
	for i := range MaxIndexCandidates + 1 {
		terms := []IndexTerm{common}
		if i%400 == 7 {
			terms = append(terms, family)
		}
		if err := s.setTerms(keyA, "hosp-a", fmt.Sprintf("patient/p%d", i), fmt.Sprintf("rec-%04d", i), terms); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.candidates(keyA, "hosp-a", []IndexCondition{{common}, {family}})
	want := []candidate{{"patient/p7", "rec-0007"}, {"patient/p407", "rec-0407"}, {"patient/p807", "rec-0807"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("gender and family: %v %v, want %v", got, err, want)
	}
	// A condition is met by any of its terms; one whose union is too large does not narrow.
	rare := IndexTerm{"Patient", "family", "rare"}
	if err := s.setTerms(keyA, "hosp-a", "patient/x", "rec-x", []IndexTerm{rare}); err != nil {
		t.Fatal(err)
	}
	got, err = s.candidates(keyA, "hosp-a", []IndexCondition{{family, rare}, {rare, common}})
	if want := append(want, candidate{"patient/x", "rec-x"}); err != nil || !slices.Equal(got, want) {
		t.Fatalf("family or rare: %v %v, want %v", got, err, want)
	}
	if _, err := s.candidates(keyA, "hosp-a", []IndexCondition{{common}}); !errors.Is(err, ErrTooBroad) {
		t.Fatalf("gender alone, %d records: %v, want ErrTooBroad", MaxIndexCandidates+1, err)
	}
	if got, err := s.candidates(keyB, "hosp-b", []IndexCondition{{family}}); err != nil || len(got) != 0 {
		t.Fatalf("hosp-b's key found hosp-a's records: %v %v", got, err)
	}
}
