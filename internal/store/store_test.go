package store_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/store"
)

// TestNoSecretFields: the state store has no place for a secret. A new
// access key's secret goes to Secrets Manager; the journal says where, never
// what.
func TestNoSecretFields(t *testing.T) {
	for _, v := range []any{store.Run{}, store.Entry{}, store.Result{}, store.Notification{}, store.Notice{}} {
		typ := reflect.TypeOf(v)
		for f := range typ.Fields() {
			name := strings.ToLower(f.Name)
			for _, bad := range []string{"secret", "token", "password", "credential"} {
				if strings.Contains(name, bad) {
					t.Errorf("%s.%s: the store must not hold secrets", typ.Name(), f.Name)
				}
			}
		}
	}
}

func TestDedupeKey(t *testing.T) {
	for _, tt := range []struct {
		n    store.Notice
		want string
	}{
		{store.Notice{Recipient: "email:a@example.com", ItemKey: "warn/1/a/AKIA/max_age/warn"}, "email:a@example.com warn/1/a/AKIA/max_age/warn"},
		{store.Notice{Key: "digest/run-1/a", Recipient: "email:a@example.com", ItemKey: "x"}, "digest/run-1/a"},
	} {
		if got := tt.n.DedupeKey(); got != tt.want {
			t.Errorf("DedupeKey(%+v) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
