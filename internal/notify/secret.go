package notify

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

// redacted is how a secret prints.
const redacted = "[redacted]"

// Secret holds a secret (a webhook URL, an HMAC key, a password) so that it
// cannot be printed, logged or marshalled by accident: every way of
// formatting it writes [redacted], and the value is kept in a closure that
// reflection-based printers cannot reach either. Reveal returns it.
type Secret struct {
	value func() string
}

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{value: func() string { return s }} }

// Reveal returns the secret itself, for the one place that needs it.
func (s Secret) Reveal() string {
	if s.value == nil {
		return ""
	}
	return s.value()
}

// IsZero reports whether there is no secret.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// String returns [redacted].
func (s Secret) String() string { return redacted }

// GoString returns [redacted].
func (s Secret) GoString() string { return redacted }

// Format writes [redacted] whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// LogValue logs [redacted].
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText writes [redacted], for JSON and YAML too.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Env is what opening channels needs from the world outside the policy:
// the directory relative file names start from, and the environment.
type Env struct {
	// Dir is the policy file's directory; "" is the working directory.
	Dir string
	// LookupEnv reads an environment variable; nil: os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// Path resolves a file name of the policy.
func (e Env) Path(name string) string {
	if name == "" || filepath.IsAbs(name) || e.Dir == "" {
		return name
	}
	return filepath.Join(e.Dir, name)
}

// ErrNoSecret is returned when a secret's variable is unset or its file is
// empty.
var ErrNoSecret = errors.New("secret not set")

// Secret reads the secret ref points to: an environment variable, or a
// file (one line; surrounding blanks and the final newline are dropped).
// Its errors say where the secret was looked for, never what it is.
func (e Env) Secret(ref channelconfig.SecretRef) (Secret, error) {
	switch {
	case ref.Env != "":
		lookup := e.LookupEnv
		if lookup == nil {
			lookup = os.LookupEnv
		}
		v, ok := lookup(ref.Env)
		if !ok || strings.TrimSpace(v) == "" {
			return Secret{}, fmt.Errorf("%w: the environment variable %s is empty or unset", ErrNoSecret, ref.Env)
		}
		return NewSecret(strings.TrimSpace(v)), nil
	case ref.File != "":
		b, err := os.ReadFile(e.Path(ref.File))
		if err != nil {
			return Secret{}, fmt.Errorf("read secret: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return Secret{}, fmt.Errorf("%w: the file %s is empty", ErrNoSecret, e.Path(ref.File))
		}
		return NewSecret(v), nil
	}
	return Secret{}, fmt.Errorf("%w: no environment variable or file given", ErrNoSecret)
}
