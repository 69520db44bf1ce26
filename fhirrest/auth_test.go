package fhirrest_test

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain/fhirrest"
	"github.com/carechain/carechain/keystore"
	"github.com/carechain/carechain/tx"
)

// clock is a settable clock for the FHIR API: it stands still until moved.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// loginResponse is the whole answer to a passphrase login.
type loginResponse struct {
	status     int
	retryAfter string
	body       string
}

func (e *env) loginRaw(principal, passphrase string) loginResponse {
	e.t.Helper()
	resp, err := http.PostForm(e.srv.URL+"/auth/login", url.Values{"principal": {principal}, "passphrase": {passphrase}})
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return loginResponse{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
}

func TestLoginThrottlesRepeatedFailures(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := setupWith(t, func(o *fhirrest.Options) { o.Now = clk.Now })
	var last loginResponse
	for i := range 30 {
		last = e.loginRaw("patient/p", "wrong")
		want := http.StatusUnauthorized
		if i >= 5 {
			want = http.StatusTooManyRequests
		}
		if last.status != want {
			t.Fatalf("wrong login %d: HTTP %d, want %d: %s", i+1, last.status, want, last.body)
		}
	}
	if last.retryAfter == "" || !strings.Contains(last.body, `"OperationOutcome"`) || !strings.Contains(last.body, `"throttled"`) {
		t.Fatalf("429 without Retry-After or OperationOutcome: %+v", last)
	}
	// The right passphrase does not get through a lockout either.
	if r := e.loginRaw("patient/p", "patient pass"); r.status != http.StatusTooManyRequests {
		t.Fatalf("right passphrase while throttled: HTTP %d %s", r.status, r.body)
	}
	secs, err := strconv.Atoi(last.retryAfter)
	if err != nil || secs <= 0 {
		t.Fatalf("Retry-After %q", last.retryAfter)
	}
	clk.advance(time.Duration(secs) * time.Second)
	if status, tok, _ := e.login("patient/p", "patient pass"); status != http.StatusOK || tok == "" {
		t.Fatalf("right passphrase after the window: HTTP %d", status)
	}
}

func TestLoginAnswersUnknownPrincipalAsWrongPassphrase(t *testing.T) {
	clk := &clock{t: time.Now()}
	e := setupWith(t, func(o *fhirrest.Options) { o.Now = clk.Now })
	answers := func(principal string) []loginResponse {
		var out []loginResponse
		for range 7 {
			out = append(out, e.loginRaw(principal, "wrong"))
		}
		return out
	}
	want := answers("patient/p") // registered, key kept here, wrong passphrase
	if want[0].status != http.StatusUnauthorized || want[6].status != http.StatusTooManyRequests {
		t.Fatalf("wrong passphrase: %+v", want)
	}
	for _, who := range []string{"patient/nobody", "hosp-b/dr-b"} { // unknown; registered without a key here
		got := answers(who)
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%s, login %d: %+v, want what a wrong passphrase gets: %+v", who, i+1, got[i], want[i])
			}
		}
	}
}

// TestParallelWrongLoginsKeepMemoryBounded sends 64 wrong passphrases at
// once against a real-cost (keystore.DefaultKDF) key: each scrypt takes 32
// MiB, and without a bound on parallel unlocks the process grew by 2 GB.
func TestParallelWrongLoginsKeepMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real-cost scrypt")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc/self/status")
	}
	ks, err := keystore.Open(t.TempDir(), keystore.DefaultKDF)
	if err != nil {
		t.Fatal(err)
	}
	e := setupWith(t, func(o *fhirrest.Options) { o.Keystore = ks })
	if err := ks.Import("patient.p", e.keys["patient/p"], []byte("patient pass")); err != nil {
		t.Fatal(err)
	}
	before := peakRSS(t)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			resp, err := http.PostForm(e.srv.URL+"/auth/login", url.Values{"principal": {"patient/p"}, "passphrase": {"wrong"}})
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	after := peakRSS(t)
	t.Logf("peak RSS (VmHWM) %d MB before, %d MB after 64 parallel wrong logins", before>>20, after>>20)
	if after-before > 500<<20 {
		t.Fatalf("64 parallel wrong logins raised the peak RSS by %d MB (bound 500 MB)", (after-before)>>20)
	}
}

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

func TestTokenEndsWhenKeyRotates(t *testing.T) {
	e := setup(t)
	tok := e.token("hosp-a/dr-a")
	if r := e.do("GET", "/fhir/Observation?patient=Patient/p", tok, nil); r.status != 200 {
		t.Fatalf("before the rotation: %d %s", r.status, r.rawBody)
	}
	id, old := "hosp-a/dr-a", e.keys["hosp-a/dr-a"]
	next := newKey()
	nextPub := next.Public().(ed25519.PublicKey)
	nonce, _ := e.n.App().Latest().NextNonce(id)
	rot := &tx.Rotate{NewKey: nextPub, Proof: ed25519.Sign(next, tx.RotationMessage(chainID, id, nonce, nextPub))}
	raw, err := tx.Sign(old, chainID, id, nonce, tx.TypeRotate, rot)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := e.n.Submit(t.Context(), raw); err != nil || !out.Accepted() {
		t.Fatalf("rotate: %+v %v", out, err)
	}
	e.do("GET", "/fhir/Observation?patient=Patient/p", tok, nil).outcome(t, 401, "rotated")
	e.keys[id] = next
	if r := e.do("GET", "/fhir/Observation?patient=Patient/p", e.token(id), nil); r.status != 200 {
		t.Fatalf("a token under the new key: %d %s", r.status, r.rawBody)
	}
}

// postAssertion exchanges a client assertion at tokenURL: the status and
// the error description.
func postAssertion(t *testing.T, tokenURL, assertion string) (int, string) {
	t.Helper()
	resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Description string `json:"error_description"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Description
}

func TestClientAssertionsCannotBeReplayed(t *testing.T) {
	e := setup(t)
	id, key := "hosp-a/dr-a", e.keys["hosp-a/dr-a"]
	aud := e.srv.URL + "/auth/token"
	used := e.assertion(id, key, aud)
	unused := e.assertion(id, key, aud)
	if code, desc := postAssertion(t, aud, used); code != 200 {
		t.Fatalf("first use: %d %s", code, desc)
	}
	if code, desc := postAssertion(t, aud, used); code != 401 || !strings.Contains(desc, "already used") {
		t.Fatalf("replay: %d %q", code, desc)
	}
	// A restart forgets the jtis seen: a new server on the same node
	// refuses every assertion issued before it started, used or not.
	mux := http.NewServeMux()
	restarted := httptest.NewServer(mux)
	t.Cleanup(restarted.Close)
	fhirrest.Register(mux, e.opts) // the same BaseURL, so the same audience
	for name, a := range map[string]string{"used": used, "unused": unused} {
		if code, desc := postAssertion(t, restarted.URL+"/auth/token", a); code != 401 || !strings.Contains(desc, "before this server") {
			t.Errorf("%s assertion after a restart: %d %q", name, code, desc)
		}
	}
	if code, desc := postAssertion(t, restarted.URL+"/auth/token", e.assertion(id, key, aud)); code != 200 {
		t.Fatalf("a new assertion after the restart: %d %s", code, desc)
	}
}

func TestClientAssertionIssueTime(t *testing.T) {
	e := setup(t)
	id, key := "hosp-a/dr-a", e.keys["hosp-a/dr-a"]
	aud := e.srv.URL + "/auth/token"
	now := time.Now()
	sign := func(iat any) string {
		c := jwt.MapClaims{"iss": id, "sub": id, "aud": aud, "exp": now.Add(4 * time.Minute).Unix(), "jti": fmt.Sprint(iat)}
		if iat != nil {
			c["iat"] = iat
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for name, c := range map[string]struct {
		iat     any
		status  int
		mention string
	}{
		"in the future":         {now.Add(2 * time.Minute).Unix(), 401, "in the future"},
		"missing":               {nil, 401, "iat: required"},
		"not a number":          {"yesterday", 401, "client assertion"},
		"a whole second, later": {now.Add(2 * time.Second).Unix(), 200, ""},
	} {
		if code, desc := postAssertion(t, aud, sign(c.iat)); code != c.status || !strings.Contains(desc, c.mention) {
			t.Errorf("iat %s: %d %q, want %d mentioning %q", name, code, desc, c.status, c.mention)
		}
	}
}
