package awsemu

import (
	"fmt"
	"log/slog"
)

// String shows the key ID only: a Key never prints its secret, whether
// formatted with %v, %+v or %s, or logged with slog.
func (k Key) String() string { return k.AccessKeyID + " (secret redacted)" }

// Format implements fmt.Formatter so that every verb redacts the secret.
func (k Key) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

// LogValue implements slog.LogValuer.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", k.AccessKeyID), slog.String("secret_access_key", "REDACTED"))
}
