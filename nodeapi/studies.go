package nodeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/carechain/carechain/ledger"
)

// Clinical studies (ledger/studies.go): GET /v1/studies/{id}, for signed
// requests of members, answers a study with every version of its protocol
// (approved, pending or rejected, with reasons and what each changes) and
// its reports. Protocols are trial metadata, not health data.

// StudyResponse is a study as GET /v1/studies/{id} answers it.
type StudyResponse struct {
	Study    *ledger.StudyState        `json:"study"`
	Versions []ledger.StudyVersion     `json:"versions"`
	Reports  []ledger.StudyReportState `json:"reports"`
	// ConsentSummary is the plain-language summary a patient reads before
	// consenting to the study under the protocol in force (study.ConsentSummary).
	ConsentSummary string `json:"consent_summary,omitempty"`
}

func (s *server) studyRead(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.authenticate(w, r); !ok {
		return
	}
	v, ok := s.view(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	st, err := v.Study(id)
	if err != nil {
		s.queryFail(w, err)
		return
	}
	out := StudyResponse{Study: st}
	if out.Versions, err = v.StudyVersions(id); err == nil {
		out.Reports, err = v.StudyReports(id)
	}
	if err != nil {
		s.queryFail(w, err)
		return
	}
	for _, ver := range out.Versions {
		if ver.Version == st.Version && len(ver.Protocol.DataCategories) > 0 {
			out.ConsentSummary = ver.Protocol.ConsentSummary(st.ID, st.Title, st.Sponsor)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// Study reads a study with its versions and reports.
func (c *Client) Study(ctx context.Context, id string) (*StudyResponse, error) {
	var out StudyResponse
	if _, err := c.do(ctx, http.MethodGet, "/v1/studies/"+url.PathEscape(id), nil, &out); err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusNotFound {
			return nil, fmt.Errorf("study %s is not registered", id)
		}
		return nil, err
	}
	return &out, nil
}
