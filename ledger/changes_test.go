package ledger

import (
	"reflect"
	"testing"

	"github.com/carechain/carechain/store"
)

// TestChangesOfABlock: a block's Changes name the records whose head it
// writes and the patients whose grants or emergency access it writes, once
// each, and nothing for other keys.
func TestChangesOfABlock(t *testing.T) {
	st, err := store.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := st.NewBlock(1)
	for _, k := range []string{
		"record/rec-2", "record/rec-1", "version/rec-1/00000000000000000001",
		"grant/patient/ada/g-1", "grant/patient/ada/g-2", "grant/patient/bo/g-3",
		"emergency/patient/cy", "wrap/patient/dee/labs/0000000001/hosp-a",
		"patient-record/patient/eve/rec-9", "grant/malformed",
	} {
		if err := b.Set(k, []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Delete("record/rec-3"); err != nil {
		t.Fatal(err)
	}
	want := Changes{Records: []string{"rec-1", "rec-2", "rec-3"}, Patients: []string{"patient/ada", "patient/bo", "patient/cy"}}
	if got := changesOf(b); !reflect.DeepEqual(got, want) {
		t.Fatalf("changes: %+v, want %+v", got, want)
	}
}
