package notify_test

import (
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// testPolicy routes by tags (owner, email), an owners map with a glob and
// an account, the account's e-mail, and a default; the security team gets
// a webhook.
const testPolicy = `version: 1
notifications:
  owner_tags: [owner, email]
  owners:
    - users: ["svc-billing-*"]
      contact: billing@example.com
    - accounts: ["222222222222"]
      contact: "#payments"
      channel: slack
  default: {contact: cloud@example.com, channel: email}
  security_team: {contact: security@example.com, channel: hooks}
  renotify_after: 7d
  channels:
    email: {type: smtp, smtp: {host: smtp.example.com, from: keywarden@example.com}}
    slack: {type: slack, url_env: SLACK_URL}
    hooks: {type: webhook, url: "https://hooks.example.com/kw", secret_env: HOOK_SECRET}
`

func parsePolicy(t *testing.T, src string) *policy.Policy {
	t.Helper()
	p, err := policy.Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// t0 is the tests' now.
var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// warning is a max_age warning for a key of user in account 111111111111.
func warning(user, key string) notify.Item {
	return notify.Item{
		AccountID: "111111111111", AccountName: "prod", UserName: user, AccessKeyID: key,
		Rule: "max_age", Severity: "medium", Stage: "warn", Message: "active key is 85 days old; due for a warning (80d)",
		Action: notify.ActionWarning, NextStage: "deactivate", NextAt: t0.Add(15 * 24 * time.Hour),
	}
}

// deactivated is an announcement of a key deactivated by plan-1's action.
func deactivated(user, key string) notify.Item {
	return notify.Item{
		AccountID: "111111111111", AccountName: "prod", UserName: user, AccessKeyID: key,
		Rule: "max_age", Severity: "medium", Stage: "deactivate", Message: "active key is 101 days old; due for deactivation (100d)",
		Action: notify.ActionDeactivated, Done: true, Ref: "plan-1/act-" + key,
	}
}

// owner is a user of account 111111111111 with tags, given as a map for
// short test tables (in order of key).
func owner(user string, tags map[string]string) notify.Owner {
	var ts inventory.Tags
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		ts = append(ts, inventory.Tag{Key: k, Value: tags[k]})
	}
	return notify.Owner{AccountID: "111111111111", AccountEmail: "aws-prod@example.com", UserName: user, Tags: ts}
}
