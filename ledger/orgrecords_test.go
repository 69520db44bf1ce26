package ledger

import (
	"errors"
	"testing"

	"github.com/carechain/carechain/tx"
)

func slotJSON(id, status string) []byte {
	return []byte(`{"resourceType":"Slot","id":"` + id + `","schedule":{"reference":"Schedule/s1"},"status":"` + status + `","start":"2027-01-04T09:00:00Z","end":"2027-01-04T09:15:00Z"}`)
}

// TestOrgRecordsAreWrittenByTheirOrganizationOnly: a practitioner creates
// an organization record and updates it version by version; another
// organization's staff and a patient may not write it; a deletion keeps
// the versions; every version is logged.
func TestOrgRecordsAreWrittenByTheirOrganizationOnly(t *testing.T) {
	h, _ := clientWorld(t)
	put := func(v uint64, status string) *tx.OrgRecordPut {
		return &tx.OrgRecordPut{ResourceType: "Slot", ID: "slot-1", Version: v, Resource: slotJSON("slot-1", status)}
	}
	if c := h.block(h.sign("hosp-a/dr", tx.TypeOrgRecordPut, put(1, "free"))); c[0] != CodeOK {
		t.Fatalf("create: %v", c)
	}
	h.judge(h.sign("hosp-a/dr", tx.TypeOrgRecordPut, put(1, "busy")), StageFinalize, CodeStaleVersion, "version 2")
	h.judge(h.sign("hosp-b/svc", tx.TypeOrgRecordPut, put(2, "busy")), StageFinalize, CodeUnauthorized, "belongs to")
	h.judge(h.sign("patient/p", tx.TypeOrgRecordPut, &tx.OrgRecordPut{ResourceType: "Slot", ID: "slot-p", Version: 1, Resource: slotJSON("slot-p", "free")}), StageFinalize, CodeUnauthorized, "practitioners and admins")
	h.judge(h.sign("hosp-a/dr", tx.TypeOrgRecordPut, &tx.OrgRecordPut{ResourceType: "Slot", ID: "slot-2", Version: 2, Resource: slotJSON("slot-2", "free")}), StageFinalize, CodeStaleVersion, "version 1")
	if c := h.block(h.sign("hosp-a/admin", tx.TypeOrgRecordPut, put(2, "busy"))); c[0] != CodeOK {
		t.Fatalf("update by the org's admin: %v", c)
	}
	if c := h.block(h.sign("hosp-a/dr", tx.TypeOrgRecordPut, &tx.OrgRecordPut{ResourceType: "Slot", ID: "slot-1", Version: 3, Deleted: true})); c[0] != CodeOK {
		t.Fatalf("delete: %v", c)
	}
	v := h.at(0)
	head, err := v.OrgRecord("Slot", "slot-1")
	if err != nil || head.Org != "hosp-a" || head.Latest != 3 || !head.Deleted {
		t.Fatalf("head = %+v, %v", head, err)
	}
	versions, err := v.OrgRecordVersions("Slot", "slot-1")
	if err != nil || len(versions) != 3 || string(versions[1].Resource) != string(slotJSON("slot-1", "busy")) || versions[1].Author != "hosp-a/admin" {
		t.Fatalf("versions = %+v, %v", versions, err)
	}
	for n := uint64(1); n <= 3; n++ {
		if _, _, _, err := v.LogEntry("orgrecord", OrgRecordLogKey("Slot", "slot-1", n)); err != nil {
			t.Errorf("version %d has no log entry: %v", n, err)
		}
	}
	if heads, err := v.OrgRecords("Slot"); err != nil || len(heads) != 1 {
		t.Errorf("OrgRecords = %+v, %v", heads, err)
	}
	if _, err := v.OrgRecord("Slot", "none"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown: %v", err)
	}
}

// TestOrgRecordBodies: a resource that names a patient, or is not of the
// type and id the transaction says, or of a type that is not an
// organization's, is refused before any state is read.
func TestOrgRecordBodies(t *testing.T) {
	for name, p := range map[string]tx.OrgRecordPut{
		"a Patient reference": {ResourceType: "Schedule", ID: "s1", Version: 1, Resource: []byte(`{"resourceType":"Schedule","id":"s1","actor":[{"reference":"Patient/p"}]}`)},
		"an absolute one":     {ResourceType: "Schedule", ID: "s1", Version: 1, Resource: []byte(`{"resourceType":"Schedule","id":"s1","actor":[{"reference":"https://x.org/fhir/Patient/p"}]}`)},
		"a contained Patient": {ResourceType: "Schedule", ID: "s1", Version: 1, Resource: []byte(`{"resourceType":"Schedule","id":"s1","contained":[{"resourceType":"Patient","id":"x"}]}`)},
		"another id":          {ResourceType: "Slot", ID: "a", Version: 1, Resource: slotJSON("b", "free")},
		"another type":        {ResourceType: "Schedule", ID: "a", Version: 1, Resource: slotJSON("a", "free")},
		"a patient's type":    {ResourceType: "Observation", ID: "a", Version: 1, Resource: []byte(`{"resourceType":"Observation","id":"a"}`)},
		"no resource":         {ResourceType: "Slot", ID: "a", Version: 1},
		"a deletion with one": {ResourceType: "Slot", ID: "a", Version: 1, Deleted: true, Resource: slotJSON("a", "free")},
		"not JSON":            {ResourceType: "Slot", ID: "a", Version: 1, Resource: []byte(`{`)},
	} {
		if err := p.Validate(); !errors.Is(err, tx.ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	ok := tx.OrgRecordPut{ResourceType: "Schedule", ID: "s1", Version: 1, Resource: []byte(`{"resourceType":"Schedule","id":"s1","actor":[{"reference":"Practitioner/hosp-a.dr"}]}`)}
	if err := ok.Validate(); err != nil {
		t.Errorf("a schedule of a practitioner: %v", err)
	}
}
