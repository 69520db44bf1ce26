package fhirrest

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/carechain/carechain/records"
)

// fhirHolder is the holder (records.SignIns) of the keys passphrase login
// put in memory for FHIR tokens: a patient's keys stay while any token that
// login issued for them lasts, and leave memory at the next request served
// after the last has expired.
const fhirHolder = "fhir tokens"

// login is passphrase login for portal users whose keys this node keeps
// (records.SignIns: throttling, the patient's encryption keys, when they
// leave memory). It answers with a token for the principal.
func (s *server) login(w http.ResponseWriter, r *http.Request) {
	s.SignIns.ForgetEnded(s.Now())
	if err := readForm(w, r, "principal", "passphrase"); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id, pass := r.PostForm.Get("principal"), r.PostForm.Get("passphrase")
	now := s.Now()
	p, err := s.SignIns.SignIn(r.Context(), id, []byte(pass), r.RemoteAddr, fhirHolder, now, now.Add(s.TokenTTL))
	var throttled *records.ThrottledError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(throttled.Seconds()))
		s.failErr(w, err)
		return
	case errors.Is(err, records.ErrSignInFailed):
		oauthError(w, http.StatusUnauthorized, "invalid_grant", err.Error())
		return
	case err != nil: // the client went away
		return
	}
	s.SignIns.Extend(p.ID, fhirHolder, now.Add(s.TokenTTL))
	s.writeToken(w, p, "", "user/*.read user/*.write")
}
