package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/store"
)

const (
	alice = "email:alice@example.com"
	bob   = "email:bob@example.com"
	item1 = "warn/111111111111/alice/AKIAEXAMPLE000000001/max_age/warn"
	item2 = "warn/111111111111/alice/AKIAEXAMPLE000000002/unused/warn"
)

// notice is a pending notice created at created, due at once, expiring a
// week later.
func notice(recipient, itemKey string, created time.Time) store.Notice {
	return store.Notice{
		RunID:         "run-1",
		Recipient:     recipient,
		Channel:       "email",
		ItemKey:       itemKey,
		Payload:       []byte(fmt.Sprintf(`{"to":%q,"items":[%q]}`, recipient, itemKey)),
		Attempts:      4,
		LastError:     "SMTP 451 4.7.1 try again later",
		CreatedAt:     created,
		NextAttemptAt: created.Add(time.Minute),
		ExpiresAt:     created.Add(7 * 24 * time.Hour),
	}
}

func mustEnqueue(t *testing.T, s store.Store, n store.Notice) store.Notice {
	t.Helper()
	id, err := s.EnqueueNotice(t.Context(), n)
	if err != nil {
		t.Fatalf("EnqueueNotice(%s, %s): %v", n.Recipient, n.ItemKey, err)
	}
	if id == 0 {
		t.Fatalf("EnqueueNotice(%s, %s): ID 0", n.Recipient, n.ItemKey)
	}
	// As the store gives it back.
	n.ID, n.Key, n.Status = id, n.DedupeKey(), store.NoticePending
	n.CreatedAt, n.NextAttemptAt, n.ExpiresAt = n.CreatedAt.UTC(), n.NextAttemptAt.UTC(), n.ExpiresAt.UTC()
	return n
}

func pending(t *testing.T, s store.Store, now time.Time) []store.Notice {
	t.Helper()
	ns, err := s.PendingNotices(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func claim(t *testing.T, s store.Store, now time.Time, hold time.Duration, limit int) []store.Notice {
	t.Helper()
	ns, err := s.ClaimNotices(t.Context(), now, hold, limit)
	if err != nil {
		t.Fatalf("ClaimNotices(%v, %v, %d): %v", now, hold, limit, err)
	}
	return ns
}

func ids(ns []store.Notice) []int64 {
	out := []int64{}
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

// claimed is n as ClaimNotices at now with hold returns it.
func claimed(n store.Notice, now time.Time, hold time.Duration) store.Notice {
	n.Attempts++
	n.NextAttemptAt = now.Add(hold).UTC()
	return n
}

// testOutboxRoundTrip: every field comes back as given, times in UTC; zero
// NextAttemptAt is due at CreatedAt; zero ExpiresAt never expires.
func testOutboxRoundTrip(t *testing.T, s store.Store) {
	a := notice(alice, item1, at(0).In(time.FixedZone("CET", 3600)))
	a = mustEnqueue(t, s, a)
	b := notice(bob, "", at(time.Second))
	b.Key, b.Channel, b.RunID = "digest/run-1/bob", "slack", "run-2"
	b.Attempts, b.LastError, b.NextAttemptAt, b.ExpiresAt = 0, "", time.Time{}, time.Time{}
	b = mustEnqueue(t, s, b)
	b.NextAttemptAt = b.CreatedAt
	if a.ID == b.ID {
		t.Errorf("two notices share ID %d", a.ID)
	}
	got := pending(t, s, at(time.Hour))
	if d := cmp.Diff([]store.Notice{a, b}, got, equateEmpty); d != "" {
		t.Errorf("PendingNotices (-want +got):\n%s", d)
	}
	for _, n := range got {
		for _, tm := range []time.Time{n.CreatedAt, n.NextAttemptAt} {
			if tm.Location() != time.UTC {
				t.Errorf("notice %d: time in %v, want UTC", n.ID, tm.Location())
			}
		}
	}
	if got := pending(t, s, at(400*24*time.Hour)); !slices.Equal(ids(got), []int64{b.ID}) {
		t.Errorf("PendingNotices a year on = %v, want only the one that never expires (%d)", ids(got), b.ID)
	}
}

// testOutboxDedupe: the outbox keeps one pending notice per dedupe key.
func testOutboxDedupe(t *testing.T, s store.Store) {
	ctx := t.Context()
	tests := []struct {
		name string
		// first is enqueued, then optionally settled, then second.
		first, second store.Notice
		settle        func(t *testing.T, id int64)
		wantSame      bool
	}{
		{"same recipient and item", notice(alice, item1, at(0)), notice(alice, item1, at(time.Hour)), nil, true},
		{"same key, other items", withKey(notice(alice, item1, at(0)), "digest/alice"), withKey(notice(alice, item2, at(time.Hour)), "digest/alice"), nil, true},
		{"other recipient", notice(alice, item1, at(0)), notice(bob, item1, at(time.Hour)), nil, false},
		{"other item", notice(alice, item1, at(0)), notice(alice, item2, at(time.Hour)), nil, false},
		{"other key", withKey(notice(alice, item1, at(0)), "digest/alice/1"), withKey(notice(alice, item1, at(time.Hour)), "digest/alice/2"), nil, false},
		{"first delivered", notice(alice, item1, at(0)), notice(alice, item1, at(time.Hour)), func(t *testing.T, id int64) {
			if err := s.MarkNoticeDelivered(ctx, id, at(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"first failed again", notice(alice, item1, at(0)), notice(alice, item1, at(time.Hour)), func(t *testing.T, id int64) {
			if err := s.MarkNoticeFailed(ctx, id, "HTTP 503", at(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"first expired", notice(alice, item1, at(0)), notice(alice, item1, at(8*24*time.Hour)), nil, false},
		{"first expired and marked", notice(alice, item1, at(0)), notice(alice, item1, at(8*24*time.Hour)), func(t *testing.T, id int64) {
			// (The earlier cases' notices expire too.)
			if n, err := s.ExpireNotices(ctx, at(7*24*time.Hour)); err != nil || n < 1 {
				t.Fatalf("ExpireNotices = %d, %v; want at least 1", n, err)
			}
			if got := ids(pending(t, s, at(0))); slices.Contains(got, id) {
				t.Errorf("PendingNotices = %v, has the expired %d", got, id)
			}
		}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each case in its own recipients' namespace.
			ns := fmt.Sprintf("case%d/", i)
			tt.first.Recipient, tt.second.Recipient = ns+tt.first.Recipient, ns+tt.second.Recipient
			if tt.first.Key != "" {
				tt.first.Key, tt.second.Key = ns+tt.first.Key, ns+tt.second.Key
			}
			first := mustEnqueue(t, s, tt.first)
			if tt.settle != nil {
				tt.settle(t, first.ID)
			}
			id, err := s.EnqueueNotice(ctx, tt.second)
			if err != nil {
				t.Fatal(err)
			}
			if (id == first.ID) != tt.wantSame {
				t.Errorf("second EnqueueNotice: ID %d, first %d; want the same: %v", id, first.ID, tt.wantSame)
			}
			var mine []store.Notice
			for _, n := range pending(t, s, tt.second.CreatedAt) {
				if n.Recipient == tt.first.Recipient || n.Recipient == tt.second.Recipient {
					mine = append(mine, n)
				}
			}
			if tt.wantSame {
				// One kept: the first, as it was.
				if len(mine) != 1 || mine[0].ID != first.ID || string(mine[0].Payload) != string(tt.first.Payload) || !mine[0].CreatedAt.Equal(first.CreatedAt) {
					t.Errorf("pending after a duplicate = %+v, want only the first (%d) unchanged", mine, first.ID)
				}
			} else if !slices.Contains(ids(mine), id) {
				t.Errorf("pending = %v, want the second (%d) among them", ids(mine), id)
			}
		})
	}
}

func withKey(n store.Notice, key string) store.Notice {
	n.Key = key
	return n
}

// testOutboxClaim: due notices come oldest first, claimed: not due again
// until the hold ends (a claimer that died), then due again; limit bounds
// them; a failure's next attempt is the backoff.
func testOutboxClaim(t *testing.T, s store.Store) {
	ctx := t.Context()
	const hold = 10 * time.Minute
	// Enqueued out of age order; due at creation.
	var ns []store.Notice
	for _, c := range []struct {
		recipient string
		created   time.Duration
	}{{alice, 2 * time.Second}, {bob, 0}, {"slack:#security", time.Second}, {"email:carol@example.com", 2 * time.Hour}} {
		n := notice(c.recipient, item1, at(c.created))
		n.NextAttemptAt = time.Time{}
		n.Attempts = 0
		ns = append(ns, mustEnqueue(t, s, n))
		ns[len(ns)-1].NextAttemptAt = ns[len(ns)-1].CreatedAt
	}
	a, b, c, late := ns[0], ns[1], ns[2], ns[3]

	now := at(time.Minute)
	if got := claim(t, s, at(-time.Second), hold, 0); len(got) != 0 {
		t.Errorf("ClaimNotices before any is due = %v, want none", ids(got))
	}
	got := claim(t, s, now, hold, 2)
	want := []store.Notice{claimed(b, now, hold), claimed(c, now, hold)}
	if d := cmp.Diff(want, got, equateEmpty); d != "" {
		t.Errorf("ClaimNotices(limit 2), oldest first (-want +got):\n%s", d)
	}
	got = claim(t, s, now, hold, 0)
	if d := cmp.Diff([]store.Notice{claimed(a, now, hold)}, got, equateEmpty); d != "" {
		t.Errorf("ClaimNotices again: the one left (-want +got):\n%s", d)
	}
	if got := claim(t, s, now.Add(hold-time.Nanosecond), hold, 0); len(got) != 0 {
		t.Errorf("ClaimNotices while all are claimed = %v, want none", ids(got))
	}
	// b delivered, c failed with a backoff of an hour; a's claimer died.
	if err := s.MarkNoticeDelivered(ctx, b.ID, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkNoticeFailed(ctx, c.ID, "HTTP 500 from the webhook", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	later := now.Add(hold)
	got = claim(t, s, later, hold, 0)
	if d := cmp.Diff([]store.Notice{claimed(claimed(a, now, hold), later, hold)}, got, equateEmpty); d != "" {
		t.Errorf("ClaimNotices after the hold: the dead claimer's, attempted twice (-want +got):\n%s", d)
	}
	if err := s.MarkNoticeDelivered(ctx, a.ID, later.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := claim(t, s, now.Add(time.Hour-time.Nanosecond), hold, 0); len(got) != 0 {
		t.Errorf("ClaimNotices before the backoff ends = %v, want none", ids(got))
	}
	c = claimed(c, now, hold)
	c.LastError, c.NextAttemptAt = "HTTP 500 from the webhook", now.Add(time.Hour)
	got = claim(t, s, now.Add(time.Hour), hold, 0)
	if d := cmp.Diff([]store.Notice{claimed(c, now.Add(time.Hour), hold)}, got, equateEmpty); d != "" {
		t.Errorf("ClaimNotices when the backoff ends (-want +got):\n%s", d)
	}
	if err := s.MarkNoticeDelivered(ctx, c.ID, now.Add(time.Hour+time.Second)); err != nil {
		t.Fatal(err)
	}
	got = claim(t, s, at(2*time.Hour), hold, 0)
	if d := cmp.Diff([]store.Notice{claimed(late, at(2*time.Hour), hold)}, got, equateEmpty); d != "" {
		t.Errorf("ClaimNotices when the last one is due (-want +got):\n%s", d)
	}
	if got := ids(pending(t, s, now)); !slices.Equal(got, []int64{late.ID}) {
		t.Errorf("PendingNotices = %v, want only the undelivered %d", got, late.ID)
	}
}

// testOutboxSettled: delivered and expired notices are never due; a late
// report does not undo a delivery; an unknown ID is ErrNotFound.
func testOutboxSettled(t *testing.T, s store.Store) {
	ctx := t.Context()
	delivered := mustEnqueue(t, s, notice(alice, item1, at(0)))
	expiring := mustEnqueue(t, s, notice(bob, item1, at(0)))
	never := notice("slack:#security", item2, at(0))
	never.ExpiresAt = time.Time{}
	kept := mustEnqueue(t, s, never)

	if err := s.MarkNoticeDelivered(ctx, delivered.ID, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Late reports of the delivered notice change nothing.
	if err := s.MarkNoticeDelivered(ctx, delivered.ID, at(2*time.Hour)); err != nil {
		t.Errorf("MarkNoticeDelivered again: %v", err)
	}
	if err := s.MarkNoticeFailed(ctx, delivered.ID, "timeout", at(3*time.Hour)); err != nil {
		t.Errorf("MarkNoticeFailed after delivery: %v", err)
	}

	expiry := expiring.ExpiresAt
	for _, tt := range []struct {
		name string
		now  time.Time
		want []int64
	}{
		{"before expiry", expiry.Add(-time.Nanosecond), []int64{expiring.ID, kept.ID}},
		{"at expiry", expiry, []int64{kept.ID}},
		{"after expiry", expiry.Add(time.Hour), []int64{kept.ID}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			for _, n := range pending(t, s, tt.now) {
				if n.ID != delivered.ID && n.ID != expiring.ID && n.ID != kept.ID {
					continue
				}
				got = append(got, n.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("PendingNotices = %v, want %v", got, tt.want)
			}
		})
	}
	if got := claim(t, s, expiry, time.Minute, 0); slices.Contains(ids(got), delivered.ID) || slices.Contains(ids(got), expiring.ID) {
		t.Errorf("ClaimNotices at expiry = %v: has the delivered %d or the expired %d", ids(got), delivered.ID, expiring.ID)
	}

	if n, err := s.ExpireNotices(ctx, expiry.Add(-time.Nanosecond)); err != nil || n != 0 {
		t.Errorf("ExpireNotices before expiry = %d, %v; want 0", n, err)
	}
	if n, err := s.ExpireNotices(ctx, expiry); err != nil || n != 1 { // bob's: the delivered one is not pending, the other never expires
		t.Errorf("ExpireNotices at expiry = %d, %v; want 1", n, err)
	}
	if n, err := s.ExpireNotices(ctx, expiry.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("ExpireNotices again = %d, %v; want 0", n, err)
	}
	// Marked expired: not pending even at an earlier now, and a late
	// failure report does not revive it.
	if err := s.MarkNoticeFailed(ctx, expiring.ID, "timeout", at(time.Hour)); err != nil {
		t.Errorf("MarkNoticeFailed after expiry: %v", err)
	}
	if got := pending(t, s, at(0)); slices.Contains(ids(got), expiring.ID) || slices.Contains(ids(got), delivered.ID) {
		t.Errorf("PendingNotices = %v, has an expired or delivered notice", ids(got))
	}
	if got := claim(t, s, at(2*time.Hour), time.Minute, 0); slices.Contains(ids(got), expiring.ID) {
		t.Errorf("ClaimNotices = %v, has the expired %d", ids(got), expiring.ID)
	}
	// An expired notice that was delivered after all says so.
	if err := s.MarkNoticeDelivered(ctx, expiring.ID, expiry.Add(time.Minute)); err != nil {
		t.Errorf("MarkNoticeDelivered of an expired notice: %v", err)
	}

	for name, err := range map[string]error{
		"MarkNoticeDelivered": s.MarkNoticeDelivered(ctx, 424242, at(0)),
		"MarkNoticeFailed":    s.MarkNoticeFailed(ctx, 424242, "x", at(time.Hour)),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s(424242) = %v, want ErrNotFound", name, err)
		}
	}
}

func testOutboxErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	for name, n := range map[string]store.Notice{
		"no recipient":        notice("", item1, t0),
		"no payload":          func() store.Notice { n := notice(alice, item1, t0); n.Payload = nil; return n }(),
		"no key nor item key": notice(alice, "", t0),
		"negative attempts":   func() store.Notice { n := notice(alice, item1, t0); n.Attempts = -1; return n }(),
	} {
		if _, err := s.EnqueueNotice(ctx, n); err == nil {
			t.Errorf("EnqueueNotice with %s: no error", name)
		}
	}
	if got := pending(t, s, t0); len(got) != 0 {
		t.Errorf("PendingNotices after refused enqueues = %v, want none", ids(got))
	}
	if _, err := s.ClaimNotices(ctx, t0, 0, 0); err == nil {
		t.Error("ClaimNotices with no hold: no error")
	}
	n := mustEnqueue(t, s, notice(alice, item1, t0))
	if err := s.MarkNoticeFailed(ctx, n.ID, "x", time.Time{}); err == nil {
		t.Error("MarkNoticeFailed with no next attempt: no error")
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.EnqueueNotice(canceled, notice(bob, item1, t0)); !errors.Is(err, context.Canceled) {
		t.Errorf("EnqueueNotice with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.ClaimNotices(canceled, at(time.Hour), time.Minute, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ClaimNotices with a canceled context = %v, want context.Canceled", err)
	}
	if err := s.MarkNoticeDelivered(canceled, n.ID, at(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("MarkNoticeDelivered with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.PendingNotices(canceled, t0); !errors.Is(err, context.Canceled) {
		t.Errorf("PendingNotices with a canceled context = %v, want context.Canceled", err)
	}
	// Nothing was done.
	got := pending(t, s, t0)
	n.Attempts = 4 // as enqueued
	if d := cmp.Diff([]store.Notice{n}, got, equateEmpty); d != "" {
		t.Errorf("PendingNotices after canceled calls (-want +got):\n%s", d)
	}
}

// testOutboxConcurrentClaims: claimers at once never get the same notice
// within its hold.
func testOutboxConcurrentClaims(t *testing.T, s store.Store) {
	const n = 40
	for i := range n {
		mustEnqueue(t, s, notice(fmt.Sprintf("email:user%02d@example.com", i), item1, at(time.Duration(i)*time.Second)))
	}
	now := at(time.Hour)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[int64]int{}
		errs []error
	)
	for range 8 {
		wg.Go(func() {
			for {
				ns, err := s.ClaimNotices(t.Context(), now, time.Hour, 3)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				for _, n := range ns {
					seen[n.ID]++
				}
				mu.Unlock()
				if err != nil || len(ns) == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("ClaimNotices: %v", err)
	}
	if len(seen) != n {
		t.Errorf("%d notices claimed, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("notice %d claimed %d times, want once", id, k)
		}
	}
}
