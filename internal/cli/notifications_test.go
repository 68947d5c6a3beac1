package cli

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// hookReceiver is a webhook receiver that verifies each delivery as
// docs/notifications.md says, and answers with the next of its statuses
// (200 once they run out).
type hookReceiver struct {
	*httptest.Server
	t        *testing.T
	secret   string
	mu       sync.Mutex
	statuses []int
	calls    int
	digests  []notify.WebhookDigest
}

func newHookReceiver(t *testing.T, secret string, statuses ...int) *hookReceiver {
	h := &hookReceiver{t: t, secret: secret, statuses: statuses}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.calls++
		if err := notify.Verify([]byte(h.secret), r.Header.Get(notify.TimestampHeader), body, r.Header.Get(notify.SignatureHeader), time.Now(), 5*time.Minute); err != nil {
			h.t.Errorf("webhook delivery: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if len(h.statuses) > 0 {
			code := h.statuses[0]
			h.statuses = h.statuses[1:]
			w.WriteHeader(code)
			return
		}
		var d notify.WebhookDigest
		if err := json.Unmarshal(body, &d); err != nil {
			h.t.Errorf("webhook payload: %v", err)
		}
		h.digests = append(h.digests, d)
	}))
	t.Cleanup(h.Close)
	return h
}

// received is what the receiver accepted: recipient → key IDs.
func (h *hookReceiver) received() (map[string][]string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]string{}
	for _, d := range h.digests {
		var keys []string
		for _, it := range d.Items {
			keys = append(keys, it.Action+" "+it.AccessKeyID)
		}
		sort.Strings(keys)
		out[d.Recipient.Contact+" via "+d.Recipient.Via] = append(out[d.Recipient.Contact+" via "+d.Recipient.Via], keys...)
	}
	return out, h.calls
}

func notificationsYAML(owners, team string) string {
	return `notifications:
  owner_tags: [owner]
  owner_channel: owners
  default: {contact: cloud-team@example.com, channel: owners}
  security_team: {contact: security, channel: team}
  renotify_after: 7d
  channels:
    owners: {type: webhook, url: "` + owners + `", secret_env: KW_TEST_HOOK_SECRET}
    team: {type: webhook, url: "` + team + `", secret_env: KW_TEST_HOOK_SECRET}
`
}

// TestApplyNotifies applies a saved plan and then plans and applies in one
// go, with the owners' webhook working and the team's failing for good:
// owners are found by tag (read live for the saved plan) and by default,
// warned with the date of the next stage, told of the deactivation; the
// failure is reported and recorded and changes nothing of the apply; the
// next apply does not repeat the warning.
func TestApplyNotifies(t *testing.T) {
	saved := notifyDelivery
	notifyDelivery = notify.DeliverOptions{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}
	t.Cleanup(func() { notifyDelivery = saved })
	const secret = "whsec-cli-test-4f2a"
	t.Setenv("KW_TEST_HOOK_SECRET", secret)

	s := newRemSandbox(t, 1, nil)
	a := s.members[0]
	now := s.sb.Clock().Now()
	if err := s.sb.AddUser(awsemu.UserSpec{Account: a, Name: "alice", CreatedAt: now.Add(-100 * day),
		Tags: []awsemu.Tag{{Key: "owner", Value: "alice@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	s.users[a+"/alice"] = true
	alice := s.addKey(a, "alice", 85*day, 3*day, awsemu.StatusActive).AccessKeyID // warn; deactivate at 100d
	bob := s.addKey(a, "bob", 105*day, 30*day, awsemu.StatusActive).AccessKeyID   // deactivate
	owners := newHookReceiver(t, secret)
	team := newHookReceiver(t, secret, 500, 500, 500)
	s.writePolicy(stagedPolicyYAML + notificationsYAML(owners.URL+"/owners", team.URL+"/team"))

	planFile := s.path("plan.json")
	wantExit(t, "plan", s.plan(planFile), ExitOK)
	p := mustReadPlan(t, planFile)
	r := s.apply(planFile)
	wantExit(t, "apply with the team's webhook failing", r, ExitOK)
	run := runIDOf(t, r.stdout)
	matchLines(t, r.stdout, []string{
		`^Run ` + regexp.QuoteMeta(run) + ` done: 2 done, 0 already done, 0 skipped, 0 failed\.$`,
		`^notifications: 2 sent, 1 failed; 1 kept in the outbox for 'keywarden notify retry' or the next apply \(see 'keywarden history --run ` + regexp.QuoteMeta(run) + `'\)$`,
	})
	if !strings.Contains(r.stderr, "keywarden: notification to security (team) failed: HTTP 500 (gave up after 3 attempts)") {
		t.Errorf("the failure is not reported on stderr:\n%s", r.stderr)
	}
	got, _ := owners.received()
	want := map[string][]string{
		"alice@example.com via tag owner":    {"warning " + alice},
		"cloud-team@example.com via default": {"deactivated " + bob},
	}
	if diff := cmpDiff(want, got); diff != "" {
		t.Errorf("owners told (-want +got):\n%s", diff)
	}
	if _, calls := team.received(); calls != 3 {
		t.Errorf("the team's webhook was tried %d times, want 3", calls)
	}
	var aliceCreated time.Time
	for _, act := range p.Actions {
		if act.AccessKeyID == alice {
			aliceCreated = act.Key.CreatedAt
		}
	}
	owners.mu.Lock()
	for _, d := range owners.digests {
		for _, it := range d.Items {
			if it.AccessKeyID == alice && (it.NextStage != "deactivate" || it.NextAt == nil || !it.NextAt.Equal(aliceCreated.Add(100*day))) {
				t.Errorf("alice's warning: next %q at %v, want deactivate at %v", it.NextStage, it.NextAt, aliceCreated.Add(100*day))
			}
			if it.AccessKeyID == bob && !strings.Contains(it.Remedy, "keywarden undo "+run) {
				t.Errorf("bob's announcement does not say how to undo:\n%s", it.Remedy)
			}
		}
	}
	owners.mu.Unlock()

	st, err := sqlite.Open(t.Context(), s.state)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := st.Notifications(t.Context(), run)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var listed strings.Builder
	printNotifications(&listed, ns)
	matchLines(t, listed.String(), []string{
		`^NOTIFIED +RECIPIENT +CHANNEL +ACCOUNT +USER +KEY ID +OUTCOME +ATTEMPTS +DETAIL$`,
		`^\S+ +security +team +` + a + ` +\S+ +\S+ +failed +3 +HTTP 500 \(gave up after 3 attempts\)$`,
	})
	outcomes := map[string]int{}
	for _, n := range ns {
		outcomes[n.Channel+" "+n.Outcome]++
		if strings.Contains(n.Detail, secret) || strings.Contains(n.Detail, team.URL) {
			t.Errorf("a recorded failure holds a secret or the URL: %+v", n)
		}
	}
	if diff := cmpDiff(map[string]int{"owners " + store.NotificationSent: 2, "team " + store.NotificationFailed: 2}, outcomes); diff != "" {
		t.Errorf("notifications recorded (-want +got):\n%s", diff)
	}

	// Plan and apply in one go: alice's warning is not repeated; the team,
	// whose webhook now works, is told of it again (it never got it), and
	// not of bob's deactivation, which this plan does not do.
	r = s.kw("apply", "--auto-approve", "--org", "--config", s.config, "--state", s.state)
	wantExit(t, "second apply", r, ExitOK)
	run2 := runIDOf(t, r.stdout)
	matchLines(t, r.stdout, []string{
		`^notifications: 1 sent, 0 failed; 1 warning not repeated within renotify_after \(7d\) \(see 'keywarden history --run ` + regexp.QuoteMeta(run2) + `'\)$`,
	})
	got, _ = team.received()
	if diff := cmpDiff(map[string][]string{"security via security team": {"warning " + alice}}, got); diff != "" {
		t.Errorf("team told (-want +got):\n%s", diff)
	}

	// The team's digest of the first run (bob's deactivation among it) was
	// kept in the outbox; once due, 'notify retry' delivers it.
	r = s.kw("notify", "pending", "--state", s.state)
	wantExit(t, "notify pending", r, ExitOK)
	matchLines(t, r.stdout, []string{`^KEPT +RUN`, ` ` + regexp.QuoteMeta(run) + ` +team:security +team +0 `})
	makeNoticesDue(t, s.state)
	r = s.kw("notify", "retry", "--config", s.config, "--state", s.state)
	wantExit(t, "notify retry", r, ExitOK)
	matchLines(t, r.stdout, []string{`^notifications: 1 delivered, 0 still kept for later$`})
	got, _ = team.received()
	if diff := cmpDiff(map[string][]string{"security via security team": {"warning " + alice, "deactivated " + bob, "warning " + alice}}, got); diff != "" {
		t.Errorf("team told (-want +got):\n%s", diff)
	}
	r = s.kw("notify", "pending", "--state", s.state)
	if !strings.Contains(r.stdout, "no notifications waiting") {
		t.Errorf("after the retry the outbox still has:\n%s", r.stdout)
	}
	for _, out := range append(s.written, r.stdout, r.stderr) {
		if strings.Contains(out, secret) {
			t.Errorf("the webhook secret was written:\n%s", out)
		}
	}
}

// makeNoticesDue makes every notice in the outbox due now, as if its wait
// had passed.
func makeNoticesDue(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	past := time.Now().Add(-time.Minute).UTC().Format("2006-01-02T15:04:05.000000000Z")
	if _, err := db.Exec(`UPDATE outbox SET next_attempt_at = ? WHERE status = 'pending'`, past); err != nil {
		t.Fatal(err)
	}
}

func cmpDiff(want, got any) string {
	w, _ := json.MarshalIndent(want, "", "  ")
	g, _ := json.MarshalIndent(got, "", "  ")
	if string(w) == string(g) {
		return ""
	}
	return "want " + string(w) + "\ngot  " + string(g)
}
