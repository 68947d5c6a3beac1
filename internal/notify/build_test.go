package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/store"
)

// outline is a digest as recipient key → item keys.
func outline(ds []notify.Digest) map[string][]string {
	out := map[string][]string{}
	for _, d := range ds {
		k := d.To.Key()
		if d.To.Team {
			k = "team " + k
		}
		for _, it := range d.Items {
			out[k] = append(out[k], it.AccessKeyID)
		}
	}
	return out
}

func TestBuild(t *testing.T) {
	pol := parsePolicy(t, testPolicy)
	events := []notify.Event{
		{Item: warning("alice", "AKIAALICE00000000001"), Owner: owner("alice", map[string]string{"owner": "alice@example.com"})},
		{Item: deactivated("alice", "AKIAALICE00000000002"), Owner: owner("alice", map[string]string{"owner": "alice@example.com"})},
		{Item: warning("svc-billing-eu", "AKIABILLING000000001"), Owner: owner("svc-billing-eu", nil)},
		{Item: warning("carol", "AKIACAROL00000000001"), Owner: owner("carol", nil)},
		{Item: warning("dave", "AKIADAVE000000000001"), Owner: notify.Owner{AccountID: "333333333333", UserName: "dave"}},
	}
	ds, sum := notify.Build(t.Context(), pol, "run-1", t0, events, nil)
	want := map[string][]string{
		// Announcements first, then warnings.
		"email:alice@example.com":         {"AKIAALICE00000000002", "AKIAALICE00000000001"},
		"email:billing@example.com":       {"AKIABILLING000000001"},
		"email:aws-prod@example.com":      {"AKIACAROL00000000001"},
		"email:cloud@example.com":         {"AKIADAVE000000000001"},
		"team hooks:security@example.com": {"AKIAALICE00000000002", "AKIAALICE00000000001", "AKIACAROL00000000001", "AKIADAVE000000000001", "AKIABILLING000000001"},
	}
	if diff := cmp.Diff(want, outline(ds)); diff != "" {
		t.Errorf("digests (-want +got):\n%s", diff)
	}
	if sum != (notify.BuildSummary{}) {
		t.Errorf("summary %+v, want nothing left out", sum)
	}
	if !ds[len(ds)-1].To.Team {
		t.Errorf("the team's digest is not last")
	}
	for _, d := range ds {
		if d.RunID != "run-1" || !d.Generated.Equal(t0) {
			t.Errorf("digest to %s: run %q at %v", d.To.Contact, d.RunID, d.Generated)
		}
		for _, it := range d.Items {
			if it.Remedy == "" {
				t.Errorf("item %s to %s has no remedy", it.AccessKeyID, d.To.Contact)
			}
		}
	}
	team := ds[len(ds)-1]
	if got := team.Items[0].Owner; got != "alice@example.com via tag owner" {
		t.Errorf("the team's item says the owner is %q", got)
	}
}

// TestBuildNoOwner: an item nobody owns goes to the team only, and is
// counted; an owner who is the team gets the team's digest only.
func TestBuildNoOwner(t *testing.T) {
	pol := parsePolicy(t, `version: 1
notifications:
  owner_tags: [owner]
  account_contact: false
  owner_channel: hooks
  security_team: {contact: security@example.com, channel: hooks}
  channels:
    hooks: {type: webhook, url: "https://hooks.example.com/kw", secret_env: HOOK_SECRET}
`)
	events := []notify.Event{
		{Item: warning("alice", "AKIAALICE00000000001"), Owner: owner("alice", nil)},
		{Item: warning("sec", "AKIASEC0000000000001"), Owner: owner("sec", map[string]string{"owner": "security@example.com"})},
	}
	ds, sum := notify.Build(t.Context(), pol, "run-1", t0, events, nil)
	want := map[string][]string{"team hooks:security@example.com": {"AKIAALICE00000000001", "AKIASEC0000000000001"}}
	if diff := cmp.Diff(want, outline(ds)); diff != "" {
		t.Errorf("digests (-want +got):\n%s", diff)
	}
	if sum.Unrouted != 1 {
		t.Errorf("unrouted %d, want 1", sum.Unrouted)
	}
	if ds[0].Items[0].Owner != "" {
		t.Errorf("an unrouted item names an owner: %q", ds[0].Items[0].Owner)
	}
}

// TestBuildRenotify: a warning sent is not repeated within renotify_after
// to the same recipient, and is after; a failed one is repeated; an
// announcement is sent once, then never again, whenever.
func TestBuildRenotify(t *testing.T) {
	pol := parsePolicy(t, testPolicy)
	st := openStore(t)
	alice := owner("alice", map[string]string{"owner": "alice@example.com"})
	events := []notify.Event{
		{Item: warning("alice", "AKIAALICE00000000001"), Owner: alice},
		{Item: deactivated("alice", "AKIAALICE00000000002"), Owner: alice},
		{Item: warning("carol", "AKIACAROL00000000001"), Owner: owner("carol", nil)},
	}
	// The first run: everything; alice's digest is sent, carol's fails.
	ds, _ := notify.Build(t.Context(), pol, "run-1", t0, events, st)
	if len(ds) != 3 {
		t.Fatalf("first run: %d digests, want 3", len(ds))
	}
	for _, d := range ds {
		outcome := store.NotificationSent
		if d.To.Contact == "aws-prod@example.com" {
			outcome = store.NotificationFailed
		}
		for _, it := range d.Items {
			if _, err := st.RecordNotification(t.Context(), store.Notification{RunID: "run-1", Recipient: d.To.Key(), Channel: d.To.Channel,
				ItemKey: notify.ItemKey("run-1", it), Outcome: outcome, At: t0}); err != nil {
				t.Fatal(err)
			}
		}
	}

	tests := []struct {
		name  string
		after time.Duration
		want  map[string][]string
		sum   notify.BuildSummary
	}{
		{"a day later", 24 * time.Hour, map[string][]string{
			"email:aws-prod@example.com": {"AKIACAROL00000000001"}, // failed: told again
		}, notify.BuildSummary{Repeats: 3, Announced: 2}},
		{"just before renotify_after", 7*24*time.Hour - time.Second, map[string][]string{
			"email:aws-prod@example.com": {"AKIACAROL00000000001"},
		}, notify.BuildSummary{Repeats: 3, Announced: 2}},
		{"at renotify_after", 7 * 24 * time.Hour, map[string][]string{
			"email:alice@example.com":         {"AKIAALICE00000000001"},
			"email:aws-prod@example.com":      {"AKIACAROL00000000001"},
			"team hooks:security@example.com": {"AKIAALICE00000000001", "AKIACAROL00000000001"},
		}, notify.BuildSummary{Announced: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, sum := notify.Build(t.Context(), pol, "run-2", t0.Add(tt.after), events, st)
			if diff := cmp.Diff(tt.want, outline(ds)); diff != "" {
				t.Errorf("digests (-want +got):\n%s", diff)
			}
			if sum != tt.sum {
				t.Errorf("summary %+v, want %+v", sum, tt.sum)
			}
		})
	}

	// A key reaching a new stage is news, whenever.
	next := warning("alice", "AKIAALICE00000000001")
	next.Stage, next.Rule = "rotate", "max_age"
	ds, _ = notify.Build(t.Context(), pol, "run-3", t0.Add(time.Hour), []notify.Event{{Item: next, Owner: alice}}, st)
	if got := outline(ds)["email:alice@example.com"]; len(got) != 1 {
		t.Errorf("a new stage: alice is told %v, want the key", got)
	}
	// The same deactivation in another plan is another announcement.
	again := deactivated("alice", "AKIAALICE00000000002")
	again.Ref = "plan-2/act-AKIAALICE00000000002"
	ds, _ = notify.Build(t.Context(), pol, "run-4", t0.Add(time.Hour), []notify.Event{{Item: again, Owner: alice}}, st)
	if got := outline(ds)["email:alice@example.com"]; len(got) != 1 {
		t.Errorf("a deactivation in another plan: alice is told %v, want the key", got)
	}
}

func TestItemKey(t *testing.T) {
	w := warning("alice", "AKIAALICE00000000001")
	if got, want := notify.ItemKey("run-1", w), "warn/111111111111/alice/AKIAALICE00000000001/max_age/warn"; got != want {
		t.Errorf("warning key %q, want %q", got, want)
	}
	d := deactivated("alice", "AKIAALICE00000000002")
	if got, want := notify.ItemKey("run-1", d), "done/plan-1/act-AKIAALICE00000000002"; got != want {
		t.Errorf("announcement key %q, want %q", got, want)
	}
	d.Ref = ""
	if got := notify.ItemKey("run-1", d); !strings.HasPrefix(got, "done/run-1/") {
		t.Errorf("announcement without a ref: key %q, want one of the run", got)
	}
}

func TestOutlookAndRemedy(t *testing.T) {
	w := warning("alice", "AKIAALICE00000000001")
	if got, want := w.Outlook(), "keywarden will deactivate it on or after 2026-03-16."; got != want {
		t.Errorf("Outlook = %q, want %q", got, want)
	}
	w.NextStage = ""
	if got := w.Outlook(); !strings.Contains(got, "Nothing happens") {
		t.Errorf("Outlook without a next stage = %q", got)
	}
	r := notify.Remedy(warning("alice", "AKIAALICE00000000001"), "run-1")
	for _, want := range []string{
		"aws iam create-access-key --user-name alice",
		"aws iam update-access-key --user-name alice --access-key-id AKIAALICE00000000001 --status Inactive",
		"aws iam delete-access-key --user-name alice --access-key-id AKIAALICE00000000001",
		"IAM > Users > alice > Security credentials",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("max_age remedy lacks %q:\n%s", want, r)
		}
	}
	if r := notify.Remedy(deactivated("alice", "AKIAALICE00000000002"), "run-1"); !strings.Contains(r, "keywarden undo run-1") {
		t.Errorf("a deactivation's remedy does not say how to undo it:\n%s", r)
	}
}
