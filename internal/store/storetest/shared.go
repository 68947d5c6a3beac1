package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/store"
)

// RunShared runs the part of the suite that needs several Stores on one
// place (one SQLite file, one DynamoDB table): one after another, as
// keywarden runs over time, and at once, as two processes.
//
// place makes a new, empty place for one test and returns open, which opens
// a Store on it each time it is called and closes it when the test ends
// (t.Cleanup). Tests also close stores themselves: Close must be safe to
// call twice.
//
//	storetest.RunShared(t, func(t *testing.T) func(*testing.T) store.Store {
//		path := filepath.Join(t.TempDir(), "state.db")
//		return func(t *testing.T) store.Store { … Open(path) … }
//	})
func RunShared(t *testing.T, place func(t *testing.T) (open func(t *testing.T) store.Store)) {
	tests := []struct {
		name string
		fn   func(*testing.T, func(*testing.T) store.Store)
	}{
		{"TokensSurviveReopen", testSharedTokens},
		{"OutboxSurvivesReopen", testSharedOutbox},
		{"FencingAcrossStores", testSharedFencing},
		{"DedupeAcrossStores", testSharedDedupe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, place(t)) })
	}
}

func mustClose(t *testing.T, s store.Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// testSharedTokens: tokens keep growing across reopening, also when the
// store was closed with the lock held.
func testSharedTokens(t *testing.T, open func(*testing.T) store.Store) {
	s := open(t)
	l1 := mustAcquire(t, s, "run-1", time.Hour)
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	l2 := mustAcquire(t, s, "run-2", time.Hour)
	mustClose(t, s) // releases run-2's lock

	s = open(t)
	l3 := mustAcquire(t, s, "run-3", time.Hour)
	defer l3.Release()
	if l3.Token() <= l2.Token() || l2.Token() <= l1.Token() {
		t.Errorf("tokens %d, %d, then after reopening %d: want them growing", l1.Token(), l2.Token(), l3.Token())
	}
	wantLost(t, "Check of a lease of a closed store", l2.Check(t.Context()), "")
}

// testSharedOutbox: the outbox, with its attempts, errors and deliveries,
// is where the next run finds it.
func testSharedOutbox(t *testing.T, open func(*testing.T) store.Store) {
	ctx := t.Context()
	s := open(t)
	a := mustEnqueue(t, s, notice(alice, item1, at(0)))
	b := mustEnqueue(t, s, notice(bob, item1, at(time.Second)))
	c := mustEnqueue(t, s, notice(alice, item2, at(2*time.Second)))
	if err := s.MarkNoticeFailed(ctx, a.ID, "HTTP 503", at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	a.LastError, a.NextAttemptAt = "HTTP 503", at(time.Hour)
	if err := s.MarkNoticeDelivered(ctx, c.ID, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)

	s = open(t)
	if d := cmp.Diff([]store.Notice{a, b}, pending(t, s, at(time.Minute)), equateEmpty); d != "" {
		t.Errorf("PendingNotices after reopening (-want +got):\n%s", d)
	}
	// Still one per key after reopening.
	if id, err := s.EnqueueNotice(ctx, notice(alice, item1, at(time.Hour))); err != nil || id != a.ID {
		t.Errorf("EnqueueNotice of a duplicate after reopening = %d, %v; want %d", id, err, a.ID)
	}
	now := at(time.Hour)
	got := claim(t, s, now, time.Minute, 0)
	if d := cmp.Diff([]store.Notice{claimed(a, now, time.Minute), claimed(b, now, time.Minute)}, got, equateEmpty); d != "" {
		t.Errorf("ClaimNotices after reopening (-want +got):\n%s", d)
	}
	mustClose(t, s)

	s = open(t)
	if got := claim(t, s, now, time.Minute, 0); len(got) != 0 {
		t.Errorf("ClaimNotices after reopening, within the hold = %v, want none", ids(got))
	}
}

// testSharedFencing: two Stores on one place, as two processes: a takeover
// through one fences the other's lease.
func testSharedFencing(t *testing.T, open func(*testing.T) store.Store) {
	ctx := t.Context()
	a, b := open(t), open(t)
	r := mustCreateRun(t, a, run("run-a", "plan-a", t0))
	stale := mustAcquire(t, a, "run-a", time.Hour)
	_, err := b.Acquire(ctx, "run-b", time.Hour)
	wantLocked(t, err, "run-a")
	time.Sleep(lockWait)
	fresh := takeOver(t, b, "run-b")
	if fresh.Token() <= stale.Token() {
		t.Errorf("token through the second store = %d, want > %d", fresh.Token(), stale.Token())
	}
	wantLost(t, "Check through the first store", stale.Check(ctx), "run-b")
	_, err = stale.RecordIntent(ctx, entry(r, "a-1", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000001", t0))
	wantLost(t, "RecordIntent through the first store", err, "run-b")
	wantEntries(t, b, r.ID, nil)
	if _, err := fresh.RecordIntent(ctx, entry(r, "a-1", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000001", t0)); err != nil {
		t.Errorf("RecordIntent by the new holder: %v", err)
	}
	if err := stale.Release(); !errors.Is(err, store.ErrLockLost) {
		t.Errorf("Release through the first store = %v, want ErrLockLost", err)
	}
	if err := fresh.Check(ctx); err != nil {
		t.Errorf("Check by the new holder after the old one's Release: %v", err)
	}
	if err := fresh.Release(); err != nil {
		t.Fatal(err)
	}

	// Both at once, from many goroutines: tokens are distinct.
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		tokens []int64
	)
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			for {
				l, err := s.Acquire(ctx, "run-x", time.Hour)
				if errors.Is(err, store.ErrLocked) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				tokens = append(tokens, l.Token())
				mu.Unlock()
				if err := l.Release(); err != nil {
					t.Error(err)
				}
				return
			}
		})
	}
	wg.Wait()
	sorted := slices.Sorted(slices.Values(tokens))
	if len(sorted) != 16 || len(slices.Compact(slices.Clone(sorted))) != 16 {
		t.Errorf("tokens through two stores = %v, want 16 distinct", sorted)
	}
}

// testSharedDedupe: the same notice enqueued through two Stores at once is
// kept once.
func testSharedDedupe(t *testing.T, open func(*testing.T) store.Store) {
	a, b := open(t), open(t)
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[int64]bool{}
	)
	for i := range 16 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			id, err := s.EnqueueNotice(t.Context(), notice(alice, item1, at(0)))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[id] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(got) != 1 {
		t.Errorf("16 enqueues of one notice through two stores gave IDs %v, want one", got)
	}
	if ns := pending(t, b, at(0)); len(ns) != 1 {
		t.Errorf("PendingNotices = %v, want one", ids(ns))
	}
}
