package portal

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// Forms with documents (the study pages): the portal reads each file as it
// arrives and keeps only its SHA-256, or, for the fields the handler names,
// its content in memory for the request. Nothing of a file is stored.

// Bounds on a form with files.
const (
	maxUploadBytes     = 64 << 20 // the whole request
	maxUploadTextBytes = 64 << 10 // its text fields together
	maxUploadKeptBytes = 16 << 20 // the files whose content is kept, together
)

// upload is a posted form with files.
type upload struct {
	// sums are the SHA-256 of each non-empty file, by field.
	sums map[string][]byte
	// kept are the contents of the files of the fields asked for, by field.
	kept map[string][][]byte
}

// readUpload reads r's multipart form into r.PostForm and an upload,
// keeping the content of files in fields keep.
func readUpload(r *http.Request, keep map[string]bool) (*upload, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, err
	}
	up := &upload{sums: map[string][]byte{}, kept: map[string][][]byte{}}
	values := url.Values{}
	text, kept := 0, 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		name := part.FormName()
		if part.FileName() == "" {
			b, err := io.ReadAll(io.LimitReader(part, int64(maxUploadTextBytes-text+1)))
			if err != nil {
				return nil, err
			}
			if text += len(b); text > maxUploadTextBytes {
				return nil, fmt.Errorf("its text is over %d KiB", maxUploadTextBytes>>10)
			}
			values.Add(name, string(b))
			continue
		}
		if !keep[name] {
			h := sha256.New()
			if _, err := io.Copy(h, part); err != nil {
				return nil, err
			}
			up.sums[name] = h.Sum(nil)
			continue
		}
		content, err := io.ReadAll(io.LimitReader(part, int64(maxUploadKeptBytes-kept+1)))
		if err != nil {
			return nil, err
		}
		if kept += len(content); kept > maxUploadKeptBytes {
			return nil, fmt.Errorf("its files are over %d MiB", maxUploadKeptBytes>>20)
		}
		up.kept[name] = append(up.kept[name], content)
	}
	r.PostForm = values
	return up, nil
}

// postedUpload is posted for a form with files: it sends a visitor to sign
// in before reading the body (so only a signed-in session can make the
// portal read up to maxUploadBytes), reads the form with readUpload,
// refuses it without the session's CSRF token, and runs h.
func (p *Portal) postedUpload(keep map[string]bool, h func(http.ResponseWriter, *http.Request, *session, *upload)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s := p.session(r); s == nil || s.who == nil { // before reading a byte of the body
			http.Redirect(w, r, "/portal/signin", http.StatusSeeOther)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxUploadBytes)
		up, err := readUpload(r, keep)
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			err = fmt.Errorf("it is over %d MiB", maxUploadBytes>>20)
		}
		if err != nil {
			p.fail(w, r, nil, http.StatusBadRequest, "The form could not be read: "+err.Error()+".")
			return
		}
		s := p.session(r)
		if s == nil || s.who == nil || len(r.PostForm["csrf"]) != 1 || !s.validCSRF(r.PostForm.Get("csrf")) {
			p.fail(w, r, s, http.StatusForbidden, "This form was refused: its security token is missing or out of date. Go back, reload the page and try again.")
			return
		}
		h(w, r, s, up)
	}
}
