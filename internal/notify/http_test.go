package notify_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/notify"
)

// receiver is an HTTP server that keeps what it was sent, answering each
// request with the next status of answers (200 once they run out).
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	answers  []int
	requests []received
}

type received struct {
	path   string
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	t.Helper()
	r := &receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests = append(r.requests, received{req.URL.Path, req.Header.Clone(), body})
		code := http.StatusOK
		if len(r.answers) > 0 {
			code, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
		}
		w.WriteHeader(code)
		io.WriteString(w, http.StatusText(code))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.requests...)
}

// TestSlack posts a digest to a Slack-like receiver and checks the blocks:
// valid Slack JSON, a header within Slack's limit, one section per key
// naming it, with what to do.
func TestSlack(t *testing.T) {
	rcv := newReceiver(t)
	hook := rcv.URL + "/services/T000/B000/XXXXsecretXXXX"
	ch := notify.NewSlack(notify.NewSecret(hook), rcv.Client())
	ownerD, _ := digests(t)
	m, err := notify.DefaultRenderer().Render(ownerD, ch.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.got()
	if len(reqs) != 1 || reqs[0].path != "/services/T000/B000/XXXXsecretXXXX" {
		t.Fatalf("got %d requests (%+v), want one to the webhook's path", len(reqs), reqs)
	}
	if ct := reqs[0].header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Type, Text string
			} `json:"text"`
			Elements []struct{ Type, Text string } `json:"elements"`
		} `json:"blocks"`
	}
	dec := json.NewDecoder(strings.NewReader(string(reqs[0].body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("not Slack's JSON: %v\n%s", err, reqs[0].body)
	}
	if msg.Text == "" || len(msg.Blocks) == 0 || msg.Blocks[0].Type != "header" || len([]rune(msg.Blocks[0].Text.Text)) > 150 {
		t.Errorf("no fallback text or header: %+v", msg)
	}
	var sections []string
	for _, b := range msg.Blocks {
		switch b.Type {
		case "header", "divider", "context":
		case "section":
			if b.Text == nil || b.Text.Type != "mrkdwn" || len(b.Text.Text) > 3000 {
				t.Errorf("bad section %+v", b)
				continue
			}
			sections = append(sections, b.Text.Text)
		default:
			t.Errorf("unknown block type %q", b.Type)
		}
	}
	if len(sections) != len(ownerD.Items) {
		t.Fatalf("%d sections, want one per key (%d)", len(sections), len(ownerD.Items))
	}
	for i, it := range ownerD.Items {
		for _, want := range []string{"`" + it.AccessKeyID + "`", "*What to do:*", "aws iam"} {
			if !strings.Contains(sections[i], want) {
				t.Errorf("section %d lacks %q:\n%s", i, want, sections[i])
			}
		}
	}
	if !strings.Contains(sections[2], "30d) &lt;&amp;&gt;") {
		t.Errorf("mrkdwn's reserved characters not escaped:\n%s", sections[2])
	}

	// Many keys: Slack's 50 blocks are not exceeded, and the rest counted.
	many := ownerD
	many.Items = nil
	for i := range 60 {
		many.Items = append(many.Items, warning("alice", "AKIAALICE"+strconv.Itoa(100000000000+i)))
	}
	m, err = notify.DefaultRenderer().Render(many, ch.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(m.JSON, &msg); err != nil {
		t.Fatal(err)
	}
	if len(msg.Blocks) > 50 || !strings.Contains(msg.Blocks[len(msg.Blocks)-1].Text.Text, "more keys") {
		t.Errorf("%d blocks, the last %+v; want at most 50, ending with the count of the rest", len(msg.Blocks), msg.Blocks[len(msg.Blocks)-1])
	}
}

// TestWebhook posts a digest to a receiver that checks it as docs/
// notifications.md tells receivers to: the signature over the timestamp
// and body, the timestamp's age, and the payload's schema. A tampered
// body, a wrong secret and a replay fail verification.
func TestWebhook(t *testing.T) {
	secret := []byte("whsec-test-0123456789")
	rcv := newReceiver(t)
	now := time.Unix(1772357400, 0)
	ch := notify.NewWebhook(notify.NewSecret(rcv.URL+"/kw"), notify.NewSecret(string(secret)), rcv.Client(), func() time.Time { return now })
	_, teamD := digests(t)
	m, err := notify.DefaultRenderer().Render(teamD, ch.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	req := reqs[0]
	ts, sig := req.header.Get(notify.TimestampHeader), req.header.Get(notify.SignatureHeader)
	if ts != "1772357400" || !strings.HasPrefix(sig, "sha256=") || len(req.header.Get(notify.DeliveryHeader)) != 32 {
		t.Errorf("headers: timestamp %q, signature %q, delivery %q", ts, sig, req.header.Get(notify.DeliveryHeader))
	}
	// What a receiver in any language does: HMAC-SHA256 over "ts.body".
	if err := notify.Verify(secret, ts, req.body, sig, now.Add(10*time.Second), 5*time.Minute); err != nil {
		t.Errorf("Verify of the delivery: %v", err)
	}
	tampered := []byte(strings.Replace(string(req.body), `"done":1`, `"done":0`, 1))
	if string(tampered) == string(req.body) {
		t.Fatal("the test did not tamper with the body")
	}
	for _, tt := range []struct {
		name         string
		secret, body []byte
		ts, sig      string
		at           time.Time
		want         error
	}{
		{"tampered body", secret, tampered, ts, sig, now, notify.ErrBadSignature},
		{"wrong secret", []byte("other"), req.body, ts, sig, now, notify.ErrBadSignature},
		{"timestamp changed", secret, req.body, "1772357401", sig, now, notify.ErrBadSignature},
		{"replayed later", secret, req.body, ts, sig, now.Add(6 * time.Minute), notify.ErrStale},
		{"from the future", secret, req.body, ts, sig, now.Add(-6 * time.Minute), notify.ErrStale},
		{"no timestamp", secret, req.body, "", sig, now, notify.ErrStale},
	} {
		if err := notify.Verify(tt.secret, tt.ts, tt.body, tt.sig, tt.at, 5*time.Minute); !errors.Is(err, tt.want) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}

	// The schema: every documented field, nothing else.
	var p notify.WebhookDigest
	dec := json.NewDecoder(strings.NewReader(string(req.body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("payload: %v\n%s", err, req.body)
	}
	if p.SchemaVersion != 1 || p.Type != "keywarden.digest" || p.RunID != teamD.RunID || !p.GeneratedAt.Equal(t0) ||
		p.Recipient != (notify.WebhookRecipient{Contact: "security@example.com", Channel: "hooks", Team: true, Via: "security team"}) ||
		p.Counts != (notify.WebhookCounts{Done: 1, Warnings: 2}) || len(p.Items) != 3 {
		t.Errorf("payload %+v", p)
	}
	first := p.Items[0]
	if first.AccessKeyID != "AKIAALICE00000000002" || !first.Done || first.Action != "deactivated" || first.NextAt != nil ||
		len(first.Rules) != 1 || first.Owner != "alice@example.com via tag owner" || first.Remedy == "" {
		t.Errorf("first item %+v", first)
	}
	if second := p.Items[1]; second.NextAt == nil || second.NextStage != "deactivate" || second.Outlook == "" {
		t.Errorf("second item %+v", second)
	}
	// The generic fields of the raw JSON, as a receiver without the Go types sees them.
	var raw map[string]any
	json.Unmarshal(req.body, &raw)
	for _, k := range []string{"schema_version", "type", "run_id", "generated_at", "subject", "recipient", "counts", "items"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("payload lacks %q", k)
		}
	}

	// The same digest keeps its delivery ID; another recipient's differs.
	ownerD, _ := digests(t)
	m2, _ := notify.DefaultRenderer().Render(ownerD, ch.Name())
	ch.Send(t.Context(), m)
	ch.Send(t.Context(), m2)
	reqs = rcv.got()
	if reqs[1].header.Get(notify.DeliveryHeader) != req.header.Get(notify.DeliveryHeader) ||
		reqs[2].header.Get(notify.DeliveryHeader) == req.header.Get(notify.DeliveryHeader) {
		t.Errorf("delivery IDs: %q, %q, %q", req.header.Get(notify.DeliveryHeader), reqs[1].header.Get(notify.DeliveryHeader), reqs[2].header.Get(notify.DeliveryHeader))
	}
}

// TestSignDocumented checks Sign against the example of docs/notifications.md.
func TestSignDocumented(t *testing.T) {
	got := notify.Sign([]byte("whsec-example"), "1772357400", []byte(`{"schema_version":1}`))
	if want := "sha256=" + hexHMAC("whsec-example", `1772357400.{"schema_version":1}`); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func hexHMAC(key, msg string) string {
	// A plain HMAC-SHA256, written out as receivers do.
	const block = 64
	k := []byte(key)
	if len(k) > block {
		s := sha256.Sum256(k)
		k = s[:]
	}
	k = append(k, make([]byte, block-len(k))...)
	ipad, opad := make([]byte, block), make([]byte, block)
	for i := range k {
		ipad[i], opad[i] = k[i]^0x36, k[i]^0x5c
	}
	inner := sha256.Sum256(append(ipad, msg...))
	outer := sha256.Sum256(append(opad, inner[:]...))
	return hex.EncodeToString(outer[:])
}

// TestHTTPErrors: statuses that retrying can fix are transient, others
// permanent; no error holds the URL, which is a secret for Slack.
func TestHTTPErrors(t *testing.T) {
	for _, tt := range []struct {
		code      int
		permanent bool
	}{{500, false}, {503, false}, {429, false}, {408, false}, {400, true}, {403, true}, {404, true}} {
		rcv := newReceiver(t, tt.code)
		hook := rcv.URL + "/services/T000/B000/XXXXsecretXXXX"
		err := notify.NewSlack(notify.NewSecret(hook), rcv.Client()).Send(t.Context(), notify.Message{JSON: []byte(`{}`)})
		if err == nil {
			t.Errorf("HTTP %d: no error", tt.code)
			continue
		}
		if errors.Is(err, notify.ErrPermanent) != tt.permanent {
			t.Errorf("HTTP %d: permanent = %v, want %v (%v)", tt.code, !tt.permanent, tt.permanent, err)
		}
		if !strings.Contains(err.Error(), strconv.Itoa(tt.code)) || strings.Contains(err.Error(), "XXXXsecretXXXX") {
			t.Errorf("HTTP %d: error %q", tt.code, err)
		}
	}
	// A receiver that is not there: the error names no path either.
	rcv := newReceiver(t)
	hook := rcv.URL + "/services/T000/B000/XXXXsecretXXXX"
	rcv.Close()
	err := notify.NewSlack(notify.NewSecret(hook), nil).Send(t.Context(), notify.Message{JSON: []byte(`{}`)})
	if err == nil || errors.Is(err, notify.ErrPermanent) || strings.Contains(err.Error(), "XXXXsecretXXXX") {
		t.Errorf("unreachable receiver: %v", err)
	}
}
