package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/store"
)

// hangGuard only detects a hang: nothing in these tests should take
// anywhere near it.
const hangGuard = 10 * time.Second

// healthyTimeout is the channel timeout of the healthy receivers in tests
// where the hanging one has a short one: generous, so that a loaded
// machine does not fail them, and well within hangGuard.
const healthyTimeout = 4 * time.Second

// hangingReceiver is an HTTP server that takes every request and never
// answers until the test ends.
type hangingReceiver struct {
	*httptest.Server
	requests atomic.Int32
}

func newHangingReceiver(t *testing.T) *hangingReceiver {
	t.Helper()
	release := make(chan struct{})
	r := &hangingReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		<-release
	}))
	t.Cleanup(r.Close)
	t.Cleanup(func() { close(release) }) // first: Close waits for the handlers
	return r
}

// waitFor polls cond until it holds, failing the test after hangGuard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s for %s", hangGuard, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// deliverGuarded runs Deliver, failing the test if it has not returned
// hangGuard after start (a call, e.g. cancel, made once Deliver runs).
func deliverGuarded(t *testing.T, ctx context.Context, ds []notify.Digest, chs map[string]notify.Channel, j notify.Journal, o notify.DeliverOptions, start func()) notify.Report {
	t.Helper()
	done := make(chan notify.Report, 1)
	go func() { done <- notify.Deliver(ctx, ds, chs, j, o) }()
	if start != nil {
		start()
	}
	select {
	case rep := <-done:
		return rep
	case <-time.After(hangGuard):
		t.Fatalf("Deliver has not returned after %s", hangGuard)
		return notify.Report{}
	}
}

// counted is a channel counting the messages it delivered (Send returned
// nil): what the test waits for before cancelling, the receiver having a
// request being no proof that the sender has its answer.
type counted struct {
	notify.Channel
	sent *atomic.Int32
}

func (c counted) Send(ctx context.Context, m notify.Message) error {
	err := c.Channel.Send(ctx, m)
	if err == nil {
		c.sent.Add(1)
	}
	return err
}

type outcome int

const (
	sent outcome = iota
	failed
	interrupted
)

func (o outcome) String() string { return [...]string{"sent", "failed", "interrupted"}[o] }

// TestDeliverIndependent: every channel has its own time and its own part
// of the deliveries in flight. A Slack webhook that never answers fails on
// its channel timeout, however many digests go through it, while a healthy
// webhook and the security team's digest are delivered all the same,
// within their own timeouts; Ctrl-C returns at once, the digests not
// delivered marked interrupted (not failed) and kept for a retry. The
// report is in the order of the digests given.
func TestDeliverIndependent(t *testing.T) {
	for _, tt := range []struct {
		name string
		// owners are the channels of the owners' digests; the team's
		// digest, last as Build orders it, goes through "team".
		owners   []string
		parallel int
		// hangTimeout is the hanging channel's timeout; the healthy ones
		// have healthyTimeout.
		hangTimeout time.Duration
		// cancel: "" not cancelled; "before" Deliver; "mid" once the
		// healthy receivers have their digests and the hanging one a request.
		cancel string
		want   []outcome // per owner, then the team
	}{
		{
			name:   "hanging channel fails on its timeout",
			owners: []string{"hang", "ok"}, hangTimeout: 200 * time.Millisecond,
			want: []outcome{failed, sent, sent},
		},
		{
			name:   "many digests on a hanging channel, few in flight",
			owners: []string{"hang", "hang", "hang", "ok", "hang", "hang", "hang"}, parallel: 2, hangTimeout: 200 * time.Millisecond,
			want: []outcome{failed, failed, failed, sent, failed, failed, failed, sent},
		},
		{
			name:   "cancelled mid-delivery",
			owners: []string{"hang", "hang", "ok", "hang", "hang", "hang"}, parallel: 4, hangTimeout: time.Minute, cancel: "mid",
			want: []outcome{interrupted, interrupted, sent, interrupted, interrupted, interrupted, sent},
		},
		{
			name:   "cancelled before",
			owners: []string{"hang", "ok"}, hangTimeout: time.Minute, cancel: "before",
			want: []outcome{interrupted, interrupted, interrupted},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hang, ok, team := newHangingReceiver(t), newReceiver(t), newReceiver(t)
			var healthySent atomic.Int32
			chs := map[string]notify.Channel{
				"hang": notify.NewSlack(notify.NewSecret(hang.URL+"/services/T/B/hangsecret"), hang.Client()),
				"ok":   counted{notify.NewWebhook(notify.NewSecret(ok.URL), notify.NewSecret("whsec-ok"), ok.Client(), nil), &healthySent},
				"team": counted{notify.NewWebhook(notify.NewSecret(team.URL), notify.NewSecret("whsec-team"), team.Client(), nil), &healthySent},
			}
			ownerD, teamD := digests(t)
			var ds []notify.Digest
			for i, ch := range tt.owners {
				d := ownerD
				d.To.Contact, d.To.Channel = fmt.Sprintf("owner%d@example.com", i), ch
				ds = append(ds, d)
			}
			teamD.To.Channel = "team"
			ds = append(ds, teamD)

			st := openStore(t)
			o := fast
			o.Timeout = time.Minute // the channel's time binds
			o.ChannelTimeout, o.Parallel = healthyTimeout, tt.parallel
			o.ChannelTimeouts = map[string]time.Duration{"hang": tt.hangTimeout}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var start func()
			switch tt.cancel {
			case "before":
				cancel()
			case "mid":
				start = func() {
					waitFor(t, "the healthy deliveries and a hanging request", func() bool {
						return healthySent.Load() == 2 && hang.requests.Load() > 0
					})
					cancel()
				}
			}
			rep := deliverGuarded(t, ctx, ds, chs, st, o, start)

			if len(rep.Deliveries) != len(ds) {
				t.Fatalf("%d deliveries, want %d", len(rep.Deliveries), len(ds))
			}
			count := map[outcome]int{}
			var undelivered []notify.Digest
			attempted := map[int]int{} // interrupted deliveries by attempts
			for i, d := range rep.Deliveries {
				w := tt.want[i]
				count[w]++
				if d.To != ds[i].To || d.Digest.To != ds[i].To || d.Digest.IdempotencyKey() != ds[i].IdempotencyKey() || d.Items != len(ds[i].Items) {
					t.Errorf("delivery %d is to %+v, want the digest given %dth (%+v)", i, d.To, i, ds[i].To)
				}
				switch w {
				case sent:
					if d.Err != nil || d.Interrupted || d.Attempts != 1 {
						t.Errorf("delivery %d (%s): %d attempts, interrupted %v, error %v; want sent at once", i, d.To.Channel, d.Attempts, d.Interrupted, d.Err)
					}
				case failed:
					if !errors.Is(d.Err, notify.ErrChannelTimeout) || d.Interrupted || d.Attempts != 1 ||
						!strings.Contains(d.Err.Error(), "("+tt.hangTimeout.String()+")") {
						t.Errorf("delivery %d (%s): %d attempts, interrupted %v, error %v; want failed on the channel timeout after one attempt", i, d.To.Channel, d.Attempts, d.Interrupted, d.Err)
					}
				case interrupted:
					undelivered = append(undelivered, ds[i])
					attempted[d.Attempts]++
					if !errors.Is(d.Err, context.Canceled) || !d.Interrupted || errors.Is(d.Err, notify.ErrChannelTimeout) {
						t.Errorf("delivery %d (%s): interrupted %v, error %v; want interrupted", i, d.To.Channel, d.Interrupted, d.Err)
					}
				}
				if d.Err != nil && strings.Contains(d.Err.Error(), "hangsecret") {
					t.Errorf("delivery %d: the error holds the Slack URL: %v", i, d.Err)
				}
			}
			if rep.Sent() != count[sent] || rep.Failed() != count[failed] || rep.Interrupted() != count[interrupted] {
				t.Errorf("report: %d sent, %d failed, %d interrupted; want %v", rep.Sent(), rep.Failed(), rep.Interrupted(), count)
			}
			if got := rep.Undelivered(); len(got) != len(undelivered) || !slices.EqualFunc(got, undelivered, func(a, b notify.Digest) bool {
				return a.To == b.To && a.IdempotencyKey() == b.IdempotencyKey()
			}) {
				t.Errorf("Undelivered: %d digests, want the %d interrupted, in order", len(got), len(undelivered))
			}
			switch tt.cancel {
			case "mid":
				// 4 in flight over 3 channels: one each for the team and
				// "ok", 2 for the 5 through "hang", so some were cut short
				// and some never tried.
				if attempted[1] == 0 || attempted[0] == 0 || attempted[0]+attempted[1] != count[interrupted] {
					t.Errorf("interrupted deliveries by attempts: %v; want some cut short (1), some never tried (0)", attempted)
				}
			case "before":
				if hang.requests.Load() != 0 || len(ok.got()) != 0 || len(team.got()) != 0 {
					t.Errorf("requests made after the cancel")
				}
			default:
				if n := len(team.got()); n != 1 {
					t.Errorf("the team's receiver got %d requests, want 1", n)
				}
			}

			// Every item is recorded: sent, or failed saying why.
			if rep.RecordErr != nil {
				t.Errorf("RecordErr: %v", rep.RecordErr)
			}
			ns, err := st.Notifications(t.Context(), ownerD.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(ds) * len(ownerD.Items); len(ns) != want {
				t.Errorf("%d notifications recorded, want %d", len(ns), want)
			}
			for _, n := range ns {
				if n.Outcome == store.NotificationFailed && n.Detail == "" {
					t.Errorf("recorded a failure without a reason: %+v", n)
				}
				if n.Outcome == store.NotificationFailed && tt.cancel != "" && !strings.Contains(n.Detail, "interrupted") {
					t.Errorf("recorded %q, want it to say interrupted", n.Detail)
				}
			}
		})
	}
}

// TestDeliverIdempotencyKey: a Slack webhook and a generic webhook that
// fail the first attempt (500) and take the second both see the same
// Idempotency-Key on the two attempts, the key of the digest; a second
// Deliver of the same digest, rebuilt later with its items in another
// order or kept as JSON and read back, carries the same key again; another digest has another key. The
// webhook's key is also in X-Keywarden-Delivery and, signed, in the
// payload.
func TestDeliverIdempotencyKey(t *testing.T) {
	const secret = "whsec-idem"
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	ownerD, teamD := digests(t)
	ownerD.To.Channel, teamD.To.Channel = "ch", "ch"
	rebuilt := ownerD
	rebuilt.Generated = ownerD.Generated.Add(24 * time.Hour)
	rebuilt.Items = slices.Clone(ownerD.Items)
	slices.Reverse(rebuilt.Items)
	// Kept as JSON for a later run (the engine's outbox), read back.
	var kept notify.Digest
	if b, err := json.Marshal(ownerD); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &kept); err != nil {
		t.Fatal(err)
	}
	fewer := ownerD
	fewer.Items = ownerD.Items[1:]
	other := ownerD
	other.To.Contact = "bob@example.com"
	for _, tt := range []struct {
		name string
		open func(url string, client *http.Client) notify.Channel
	}{
		{"slack", func(url string, c *http.Client) notify.Channel {
			return notify.NewSlack(notify.NewSecret(url+"/services/T/B/slacksecret"), c)
		}},
		{"webhook", func(url string, c *http.Client) notify.Channel {
			return notify.NewWebhook(notify.NewSecret(url), notify.NewSecret(secret), c, nil)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			deliver := func(d notify.Digest) []received {
				t.Helper()
				rcv := newReceiver(t, http.StatusInternalServerError)
				chs := map[string]notify.Channel{"ch": tt.open(rcv.URL, rcv.Client())}
				rep := deliverGuarded(t, t.Context(), []notify.Digest{d}, chs, nil, fast, nil)
				if del := rep.Deliveries[0]; del.Err != nil || del.Attempts != 2 {
					t.Fatalf("delivery: %d attempts, error %v; want sent on the second", del.Attempts, del.Err)
				}
				reqs := rcv.got()
				if len(reqs) != 2 {
					t.Fatalf("%d requests, want 2", len(reqs))
				}
				return reqs
			}
			key := func(r received) string { return r.header.Get(notify.IdempotencyHeader) }

			reqs := deliver(ownerD)
			want := ownerD.IdempotencyKey()
			if !hex32.MatchString(want) {
				t.Errorf("key %q, want 32 hex digits", want)
			}
			for i, r := range reqs {
				if key(r) != want {
					t.Errorf("attempt %d: %s %q, want %q", i+1, notify.IdempotencyHeader, key(r), want)
				}
				if tt.name != "webhook" {
					continue
				}
				var p notify.WebhookDigest
				if err := json.Unmarshal(r.body, &p); err != nil {
					t.Fatal(err)
				}
				if p.IdempotencyKey != want || r.header.Get(notify.DeliveryHeader) != want {
					t.Errorf("attempt %d: payload key %q, %s %q; want %q", i+1, p.IdempotencyKey, notify.DeliveryHeader, r.header.Get(notify.DeliveryHeader), want)
				}
				if err := notify.Verify([]byte(secret), r.header.Get(notify.TimestampHeader), r.body, r.header.Get(notify.SignatureHeader), time.Now(), time.Minute); err != nil {
					t.Errorf("attempt %d: %v", i+1, err)
				}
			}
			for _, d := range []notify.Digest{rebuilt, kept} {
				if again := deliver(d); key(again[0]) != want || key(again[1]) != want {
					t.Errorf("the same digest delivered again: keys %q, %q; want %q", key(again[0]), key(again[1]), want)
				}
			}
			for _, d := range []notify.Digest{fewer, other, teamD} {
				if k := key(deliver(d)[0]); k == want || k != d.IdempotencyKey() {
					t.Errorf("digest to %s with %d items: key %q; want its own, not %q", d.To.Contact, len(d.Items), k, want)
				}
			}
		})
	}
}

// concurrencyJournal records in memory, noting calls that overlap.
type concurrencyJournal struct {
	inFlight, overlaps atomic.Int32
	mu                 sync.Mutex
	recorded           []store.Notification
}

func (j *concurrencyJournal) RecordNotification(_ context.Context, n store.Notification) (int64, error) {
	if j.inFlight.Add(1) > 1 {
		j.overlaps.Add(1)
	}
	defer j.inFlight.Add(-1)
	time.Sleep(time.Millisecond) // room for another call to overlap
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recorded = append(j.recorded, n)
	return int64(len(j.recorded)), nil
}

// TestDeliverJournalOneAtATime: digests delivered at once through several
// channels are recorded one call at a time, every item of every digest.
func TestDeliverJournalOneAtATime(t *testing.T) {
	ownerD, _ := digests(t)
	chs := map[string]notify.Channel{}
	var ds []notify.Digest
	for i := range 12 {
		name := fmt.Sprintf("ch%d", i%4)
		if chs[name] == nil {
			rcv := newReceiver(t)
			chs[name] = notify.NewSlack(notify.NewSecret(rcv.URL), rcv.Client())
		}
		d := ownerD
		d.To.Contact, d.To.Channel = fmt.Sprintf("owner%d@example.com", i), name
		ds = append(ds, d)
	}
	j := &concurrencyJournal{}
	rep := deliverGuarded(t, t.Context(), ds, chs, j, fast, nil)
	if rep.Sent() != len(ds) || rep.RecordErr != nil {
		t.Errorf("report: %d sent of %d, record error %v", rep.Sent(), len(ds), rep.RecordErr)
	}
	if n := j.overlaps.Load(); n != 0 {
		t.Errorf("%d journal writes overlapped another", n)
	}
	if want := len(ds) * len(ownerD.Items); len(j.recorded) != want {
		t.Errorf("%d notifications recorded, want %d", len(j.recorded), want)
	}
}
