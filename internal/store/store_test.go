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
	for _, v := range []any{store.Run{}, store.Entry{}, store.Result{}} {
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
