package notify_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/notify"
)

// TestDocumentedVerifier runs the Python verifier of docs/notifications.md
// on a real delivery, and on the same delivery with its body tampered with.
func TestDocumentedVerifier(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	doc, err := os.ReadFile("../../docs/notifications.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "In Python:\n\n```python\n")
	if !ok {
		t.Fatal("docs/notifications.md has no Python verifier")
	}
	verifier, _, _ := strings.Cut(rest, "```")

	const secret = "whsec-documented"
	rcv := newReceiver(t)
	ch := notify.NewWebhook(notify.NewSecret(rcv.URL), notify.NewSecret(secret), rcv.Client(), time.Now)
	ownerD, _ := digests(t)
	m, err := notify.DefaultRenderer().Render(ownerD, ch.Name())
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	req := rcv.got()[0]
	headers, _ := json.Marshal(map[string]string{
		notify.TimestampHeader: req.header.Get(notify.TimestampHeader),
		notify.SignatureHeader: req.header.Get(notify.SignatureHeader),
	})
	run := func(body []byte) string {
		script := verifier + `
import json, sys
body = sys.stdin.buffer.read()
print(verify(b"` + secret + `", json.loads(sys.argv[1]), body))
`
		cmd := exec.Command(python, "-c", script, string(headers))
		cmd.Stdin = strings.NewReader(string(body))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := run(req.body); got != "True" {
		t.Errorf("the documented verifier rejects a delivery: %s", got)
	}
	if got := run([]byte(string(req.body[:len(req.body)-1]) + " }")); got != "False" {
		t.Errorf("the documented verifier accepts a tampered body: %s", got)
	}
}
