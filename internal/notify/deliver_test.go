package notify_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/store"
)

// fast retries quickly, for tests.
var fast = notify.DeliverOptions{Attempts: 4, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Timeout: 2 * time.Second,
	Now: func() time.Time { return t0 }}

// TestDeliverRetry: a webhook answering 500, then 429, then 200 gets the
// digest on the third attempt; the outcome of each item is recorded as
// sent, and the next Build does not repeat them.
func TestDeliverRetry(t *testing.T) {
	rcv := newReceiver(t, http.StatusInternalServerError, http.StatusTooManyRequests)
	st := openStore(t)
	secret := "whsec-retry"
	chs := map[string]notify.Channel{"hooks": notify.NewWebhook(notify.NewSecret(rcv.URL), notify.NewSecret(secret), rcv.Client(), nil)}
	_, teamD := digests(t)
	var logs bytes.Buffer
	o := fast
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	rep := notify.Deliver(t.Context(), []notify.Digest{teamD}, chs, st, o)
	if rep.Sent() != 1 || rep.Failed() != 0 || rep.RecordErr != nil {
		t.Fatalf("report %+v, want one sent", rep)
	}
	if d := rep.Deliveries[0]; d.Attempts != 3 || d.Items != 3 || d.Err != nil {
		t.Errorf("delivery %+v, want 3 attempts", d)
	}
	reqs := rcv.got()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if err := notify.Verify([]byte(secret), r.header.Get(notify.TimestampHeader), r.body, r.header.Get(notify.SignatureHeader), time.Now(), time.Minute); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	if !strings.Contains(logs.String(), "retrying") || !strings.Contains(logs.String(), "HTTP 500") {
		t.Errorf("the retries were not logged:\n%s", logs.String())
	}
	ns, err := st.Notifications(t.Context(), teamD.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 3 {
		t.Fatalf("%d notifications recorded, want one per item", len(ns))
	}
	for _, n := range ns {
		if n.Outcome != store.NotificationSent || n.Attempts != 3 || n.Recipient != "hooks:security@example.com" || !n.At.Equal(t0) {
			t.Errorf("recorded %+v", n)
		}
	}
	again, sum := notify.Build(t.Context(), parsePolicy(t, testPolicy), "run-2", t0.Add(time.Hour), eventsOf(teamD), st)
	for _, d := range again {
		if d.To.Team {
			t.Errorf("the team is told again an hour later: %d items", len(d.Items))
		}
	}
	if sum.Repeats+sum.Announced < 3 {
		t.Errorf("summary %+v", sum)
	}
}

func eventsOf(d notify.Digest) []notify.Event {
	var out []notify.Event
	for _, it := range d.Items {
		out = append(out, notify.Event{Item: it, Owner: owner(it.UserName, map[string]string{"owner": "alice@example.com"})})
	}
	return out
}

// TestDeliverFailures: a permanent failure is not retried; attempts run
// out; a channel that does not exist or could not be opened fails; all are
// recorded as failed, with a reason that holds no secret; the others are
// delivered all the same.
func TestDeliverFailures(t *testing.T) {
	down := newReceiver(t, 503, 503, 503, 503, 503)
	gone := newReceiver(t, 404)
	ok := newReceiver(t)
	st := openStore(t)
	pol := parsePolicy(t, testPolicy)
	chs, errs := notify.Builtin(nil).Open(pol.Notifications, notify.Env{LookupEnv: func(string) (string, bool) { return "", false }})
	if len(errs) != 2 {
		t.Errorf("Open: %v, want the Slack URL and the webhook secret unset", errs)
	}
	chs["down"] = notify.NewSlack(notify.NewSecret(down.URL+"/T/B/downsecret"), nil)
	chs["gone"] = notify.NewSlack(notify.NewSecret(gone.URL+"/T/B/gonesecret"), nil)
	chs["ok"] = notify.NewSlack(notify.NewSecret(ok.URL+"/T/B/oksecret"), nil)
	ownerD, _ := digests(t)
	digest := func(channel string) notify.Digest {
		d := ownerD
		d.To.Channel = channel
		return d
	}
	ds := []notify.Digest{digest("down"), digest("gone"), digest("nowhere"), digest("slack"), digest("ok")}
	o := fast
	o.Parallel = 2
	rep := notify.Deliver(t.Context(), ds, chs, st, o)
	if rep.Sent() != 1 || rep.Failed() != 4 {
		t.Errorf("report: %d sent, %d failed; want 1 and 4", rep.Sent(), rep.Failed())
	}
	want := []struct {
		attempts int
		err      string
	}{
		{4, "HTTP 503: Service Unavailable (gave up after 4 attempts)"},
		{1, "HTTP 404: Not Found"},
		{0, `no channel named "nowhere"`},
		{1, "notification channel slack (slack): the Slack webhook URL: secret not set: the environment variable SLACK_URL is empty or unset"},
		{1, ""},
	}
	for i, w := range want {
		d := rep.Deliveries[i]
		got := ""
		if d.Err != nil {
			got = d.Err.Error()
		}
		if d.Attempts != w.attempts || got != w.err || d.To.Channel != ds[i].To.Channel {
			t.Errorf("delivery %d (%s): %d attempts, error %q; want %d, %q", i, ds[i].To.Channel, d.Attempts, got, w.attempts, w.err)
		}
	}
	if n := len(down.got()); n != 4 {
		t.Errorf("the failing receiver was called %d times, want 4", n)
	}
	ns, err := st.Notifications(t.Context(), ownerD.RunID)
	if err != nil {
		t.Fatal(err)
	}
	failed := map[string]int{}
	for _, n := range ns {
		if n.Outcome == store.NotificationFailed {
			failed[n.Channel]++
			if n.Detail == "" {
				t.Errorf("failure without a reason: %+v", n)
			}
		}
		for _, secret := range []string{"downsecret", "gonesecret", "oksecret"} {
			if strings.Contains(n.Detail, secret) {
				t.Errorf("a secret was recorded: %+v", n)
			}
		}
	}
	if fmt.Sprint(failed) != "map[down:3 gone:3 nowhere:3 slack:3]" {
		t.Errorf("failures recorded: %v", failed)
	}
	if len(ok.got()) != 1 {
		t.Errorf("the working channel got %d requests, want 1", len(ok.got()))
	}
}

// TestDeliverCanceled: a cancelled context stops the retries at once; the
// digest is interrupted, not failed, and still recorded (as failed).
func TestDeliverCanceled(t *testing.T) {
	down := newReceiver(t, 503, 503, 503, 503)
	st := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch := notify.NewSlack(notify.NewSecret(down.URL), nil)
	ownerD, _ := digests(t)
	o := fast
	o.Backoff, o.MaxBackoff, o.ChannelTimeout = time.Hour, time.Hour, 2*time.Hour
	go func() {
		for len(down.got()) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	start := time.Now()
	rep := notify.Deliver(ctx, []notify.Digest{ownerD}, map[string]notify.Channel{"email": ch}, st, o)
	if time.Since(start) > 5*time.Second {
		t.Errorf("Deliver took %s after the cancel", time.Since(start))
	}
	if d := rep.Deliveries[0]; !errors.Is(d.Err, context.Canceled) || d.Attempts != 1 || !d.Interrupted {
		t.Errorf("delivery %+v, want interrupted after one attempt", d)
	}
	if rep.Sent() != 0 || rep.Failed() != 0 || rep.Interrupted() != 1 || len(rep.Undelivered()) != 1 {
		t.Errorf("report: %d sent, %d failed, %d interrupted; want 0, 0, 1", rep.Sent(), rep.Failed(), rep.Interrupted())
	}
	ns, _ := st.Notifications(t.Context(), ownerD.RunID)
	if len(ns) != 3 || ns[0].Outcome != store.NotificationFailed {
		t.Errorf("recorded %+v", ns)
	}
}
