package notify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

const hookURL = "https://hooks.slack.com/services/T0000/B0000/superSECRETtoken"

// TestSecretRedacts: whatever prints, logs or marshals a secret, or a
// channel or value holding one, writes [redacted].
func TestSecretRedacts(t *testing.T) {
	s := notify.NewSecret(hookURL)
	type config struct {
		Name   string
		URL    notify.Secret
		hidden notify.Secret
	}
	c := config{Name: "slack", URL: s, hidden: s}
	channels := []any{
		notify.NewSlack(s, nil),
		notify.NewWebhook(s, s, nil, nil),
		mustSMTP(t, notify.SMTPOptions{Host: "h", From: "a@example.com", Username: "u", Password: s}),
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs = append(outputs, fmt.Sprintf(verb, s), fmt.Sprintf(verb, c), fmt.Sprintf(verb, &c))
		for _, ch := range channels {
			outputs = append(outputs, fmt.Sprintf(verb, ch))
		}
	}
	outputs = append(outputs, s.String(), fmt.Sprint(s), fmt.Sprintln(c))
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&logs, nil), slog.NewJSONHandler(&logs, nil)} {
		slog.New(h).Info("channel", "url", s, "config", c, "channel", channels[0])
	}
	outputs = append(outputs, logs.String())
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs = append(outputs, string(j))
	for _, out := range outputs {
		if strings.Contains(out, "superSECRETtoken") || strings.Contains(out, fmt.Sprintf("%x", "superSECRETtoken")) {
			t.Errorf("a secret was written: %s", out)
		}
	}
	if got := fmt.Sprint(s); got != "[redacted]" {
		t.Errorf("a secret prints %q, want [redacted]", got)
	}
	if !strings.Contains(logs.String(), "url=[redacted]") || !strings.Contains(string(j), `"URL":"[redacted]"`) {
		t.Errorf("logs or JSON do not say [redacted]:\n%s\n%s", logs.String(), j)
	}
	if s.Reveal() != hookURL || (notify.Secret{}).Reveal() != "" || !(notify.Secret{}).IsZero() {
		t.Errorf("Reveal does not return the secret")
	}
}

func mustSMTP(t *testing.T, o notify.SMTPOptions) *notify.SMTP {
	t.Helper()
	c, err := notify.NewSMTP(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEnvSecret reads secrets from the environment and from files, and
// says where it looked when it finds none, never what it found.
func TestEnvSecret(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "url"), []byte(hookURL+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600)
	env := notify.Env{Dir: dir, LookupEnv: func(k string) (string, bool) {
		v, ok := map[string]string{"URL": " " + hookURL + " ", "EMPTY": ""}[k]
		return v, ok
	}}
	for _, ref := range []channelconfig.SecretRef{{Env: "URL"}, {File: "url"}, {File: filepath.Join(dir, "url")}} {
		s, err := env.Secret(ref)
		if err != nil || s.Reveal() != hookURL {
			t.Errorf("Secret(%v) = %q, %v", ref, s.Reveal(), err)
		}
	}
	for _, tt := range []struct {
		ref  channelconfig.SecretRef
		want string
	}{
		{channelconfig.SecretRef{Env: "UNSET"}, "the environment variable UNSET is empty or unset"},
		{channelconfig.SecretRef{Env: "EMPTY"}, "the environment variable EMPTY is empty or unset"},
		{channelconfig.SecretRef{File: "empty"}, "is empty"},
		{channelconfig.SecretRef{File: "missing"}, "no such file"},
		{channelconfig.SecretRef{}, "no environment variable or file"},
	} {
		_, err := env.Secret(tt.ref)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Secret(%v) = %v, want an error containing %q", tt.ref, err, tt.want)
		}
		if tt.ref.File != "missing" && !errors.Is(err, notify.ErrNoSecret) {
			t.Errorf("Secret(%v) = %v, not ErrNoSecret", tt.ref, err)
		}
	}
	if got := (channelconfig.SecretRef{Env: "URL"}).String(); got != "$URL" {
		t.Errorf("SecretRef prints %q", got)
	}
}
