package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/store"
)

func mustAcquire(t *testing.T, s store.Store, holder string, staleAfter time.Duration) store.Lease {
	t.Helper()
	l, err := s.Acquire(t.Context(), holder, staleAfter)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", holder, err)
	}
	if l.Holder() != holder {
		t.Errorf("Acquire(%s): Holder = %q", holder, l.Holder())
	}
	if l.Token() <= 0 {
		t.Errorf("Acquire(%s): Token = %d, want > 0", holder, l.Token())
	}
	return l
}

// takeOver takes the lock over as stale for holder: it waits until the
// current holding's heartbeat is older than a millisecond (at once if
// its heartbeat is slow; between two beats if it is fast).
func takeOver(t *testing.T, s store.Store, holder string) store.Lease {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(2 * time.Millisecond)
		l, err := s.Acquire(t.Context(), holder, time.Millisecond)
		if err == nil {
			return l
		}
		if !errors.Is(err, store.ErrLocked) || time.Now().After(deadline) {
			t.Fatalf("take the lock over for %s: %v", holder, err)
		}
	}
}

func wantLost(t *testing.T, what string, err error, holder string) {
	t.Helper()
	if !errors.Is(err, store.ErrLockLost) {
		t.Fatalf("%s = %v, want ErrLockLost", what, err)
	}
	if holder != "" && !strings.Contains(err.Error(), holder) {
		t.Errorf("%s: %q does not name the holder %s", what, err, holder)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// testLeaseTokens: every taking of the lock has a greater token than the
// one before, through Acquire or Lock.
func testLeaseTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	l1 := mustAcquire(t, s, "run-1", time.Hour)
	if err := l1.Check(ctx); err != nil {
		t.Fatalf("Check of a held lease: %v", err)
	}
	if err := l1.Release(); err != nil {
		t.Fatal(err)
	}
	unlock, err := store.Lock(ctx, s, "run-2", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	l3 := mustAcquire(t, s, "run-3", time.Hour)
	defer l3.Release()
	if l3.Token() < l1.Token()+2 {
		t.Errorf("tokens %d, then (Lock), %d: want a new one for every taking", l1.Token(), l3.Token())
	}
	// A refused Acquire gives out nothing.
	_, err = s.Acquire(ctx, "run-4", time.Hour)
	wantLocked(t, err, "run-3")
	if err := l3.Check(ctx); err != nil {
		t.Errorf("Check after a refused Acquire: %v", err)
	}
}

// testLeaseTakeover: a lease taken over is lost: its Check and each of its
// fenced writes fail with ErrLockLost naming the new holder, and write
// nothing; the new holder's lease works; the old one's Release does not
// free the new one's lock.
func testLeaseTakeover(t *testing.T, s store.Store) {
	ctx := t.Context()
	type setup struct {
		run   store.Run
		entry store.Entry // ID 0: none
	}
	tests := []struct {
		name string
		// prepare writes, unfenced, what the write needs.
		prepare func(t *testing.T, id string) setup
		// write is the stale holder's fenced write.
		write func(l store.Lease, su setup) error
		// check says the store is as prepare left it.
		check func(t *testing.T, su setup)
	}{
		{
			name:    "CreateRun",
			prepare: func(t *testing.T, id string) setup { return setup{run: run(id, "plan-a", t0)} },
			write:   func(l store.Lease, su setup) error { return l.CreateRun(ctx, su.run) },
			check: func(t *testing.T, su setup) {
				if _, err := s.GetRun(ctx, su.run.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetRun after a refused CreateRun = %v, want ErrNotFound", err)
				}
			},
		},
		{
			name: "FinishRun",
			prepare: func(t *testing.T, id string) setup {
				return setup{run: mustCreateRun(t, s, run(id, "plan-a", t0))}
			},
			write: func(l store.Lease, su setup) error {
				return l.FinishRun(ctx, su.run.ID, store.RunInterrupted, at(time.Minute))
			},
			check: func(t *testing.T, su setup) { wantRun(t, s, su.run) },
		},
		{
			name: "ReopenRun",
			prepare: func(t *testing.T, id string) setup {
				r := mustCreateRun(t, s, run(id, "plan-a", t0))
				if err := s.FinishRun(ctx, r.ID, store.RunInterrupted, at(time.Minute)); err != nil {
					t.Fatal(err)
				}
				r.Status, r.FinishedAt = store.RunInterrupted, at(time.Minute)
				return setup{run: r}
			},
			write: func(l store.Lease, su setup) error { return l.ReopenRun(ctx, su.run.ID) },
			check: func(t *testing.T, su setup) { wantRun(t, s, su.run) },
		},
		{
			name: "RecordIntent",
			prepare: func(t *testing.T, id string) setup {
				return setup{run: mustCreateRun(t, s, run(id, "plan-a", t0))}
			},
			write: func(l store.Lease, su setup) error {
				_, err := l.RecordIntent(ctx, entry(su.run, "a-1", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000001", t0))
				return err
			},
			check: func(t *testing.T, su setup) { wantEntries(t, s, su.run.ID, nil) },
		},
		{
			name: "RecordResult",
			prepare: func(t *testing.T, id string) setup {
				r := mustCreateRun(t, s, run(id, "plan-a", t0))
				return setup{run: r, entry: mustIntent(t, s, entry(r, "a-1", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000001", t0))}
			},
			write: func(l store.Lease, su setup) error {
				return l.RecordResult(ctx, su.entry.ID, store.Result{Outcome: store.OutcomeDone, RequestID: "req-stale", At: at(time.Second)})
			},
			check: func(t *testing.T, su setup) { wantEntries(t, s, su.run.ID, []store.Entry{su.entry}) },
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, next := fmt.Sprintf("run-old-%d", i), fmt.Sprintf("run-new-%d", i)
			su := tt.prepare(t, old)
			stale := mustAcquire(t, s, old, time.Hour)
			if err := stale.Check(ctx); err != nil {
				t.Fatalf("Check before the takeover: %v", err)
			}
			time.Sleep(lockWait)
			fresh := takeOver(t, s, next)
			if fresh.Token() <= stale.Token() {
				t.Errorf("token after a takeover = %d, want > %d", fresh.Token(), stale.Token())
			}

			wantLost(t, tt.name+" by the stale holder", tt.write(stale, su), next)
			tt.check(t, su)
			if !isClosed(stale.Lost()) {
				t.Error("Lost not closed after a refused write")
			}
			wantLost(t, "Check by the stale holder", stale.Check(ctx), next)
			// Lost stays lost.
			wantLost(t, "a second "+tt.name+" by the stale holder", tt.write(stale, su), next)
			tt.check(t, su)

			// The new holder holds it, and its writes go through.
			if err := fresh.Check(ctx); err != nil {
				t.Fatalf("Check by the new holder: %v", err)
			}
			if isClosed(fresh.Lost()) {
				t.Error("the new holder's Lost is closed")
			}
			if err := fresh.CreateRun(ctx, run(next, "plan-a", at(time.Hour))); err != nil {
				t.Errorf("CreateRun by the new holder: %v", err)
			}
			if err := stale.Release(); !errors.Is(err, store.ErrLockLost) {
				t.Errorf("Release of a lease taken over = %v, want ErrLockLost", err)
			}
			_, err := s.Acquire(ctx, "run-other", time.Hour)
			wantLocked(t, err, next)
			if err := fresh.Release(); err != nil {
				t.Fatalf("Release by the new holder: %v", err)
			}
		})
	}
}

func wantRun(t *testing.T, s store.Store, want store.Run) {
	t.Helper()
	got, err := s.GetRun(t.Context(), want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("run after a refused write (-want +got):\n%s", d)
	}
}

func wantEntries(t *testing.T, s store.Store, runID string, want []store.Entry) {
	t.Helper()
	got, err := s.Entries(t.Context(), runID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, equateEmpty); d != "" {
		t.Errorf("entries after a refused write (-want +got):\n%s", d)
	}
}

// testLeaseWrites: a held lease's writes are the store's writes.
func testLeaseWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	l := mustAcquire(t, s, "run-1", time.Hour)
	defer l.Release()
	r := run("run-1", "plan-a", t0)
	if err := l.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateRun(ctx, r); err == nil || errors.Is(err, store.ErrLockLost) {
		t.Errorf("a duplicate CreateRun through the lease = %v, want an error other than ErrLockLost", err)
	}
	e := entry(r, "a-1", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000001", at(time.Second))
	id, err := l.RecordIntent(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	e.ID = id
	res := store.Result{Outcome: store.OutcomeDone, RequestID: "req-1", At: at(2 * time.Second)}
	if err := l.RecordResult(ctx, id, res); err != nil {
		t.Fatal(err)
	}
	e.Outcome, e.RequestID, e.ResultAt = res.Outcome, res.RequestID, res.At
	if err := l.RecordResult(ctx, id, res); err == nil || errors.Is(err, store.ErrLockLost) {
		t.Errorf("a second RecordResult through the lease = %v, want an error other than ErrLockLost", err)
	}
	if err := l.RecordResult(ctx, 424242, res); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordResult(424242) through the lease = %v, want ErrNotFound", err)
	}
	if err := l.FinishRun(ctx, r.ID, store.RunInterrupted, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := l.ReopenRun(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := l.FinishRun(ctx, r.ID, store.RunDone, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := l.FinishRun(ctx, "nope", store.RunDone, at(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishRun(nope) through the lease = %v, want ErrNotFound", err)
	}
	if err := l.ReopenRun(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReopenRun(nope) through the lease = %v, want ErrNotFound", err)
	}
	r.Status, r.FinishedAt = store.RunDone, at(time.Hour)
	wantRun(t, s, r)
	wantEntries(t, s, r.ID, []store.Entry{e})
}

// testLeaseReleased: a released lease is lost to its holder (Check and
// writes fail with ErrLockLost) but Lost is not closed: nobody took it.
func testLeaseReleased(t *testing.T, s store.Store) {
	ctx := t.Context()
	l := mustAcquire(t, s, "run-1", time.Hour)
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("Release again: %v", err)
	}
	wantLost(t, "Check after Release", l.Check(ctx), "")
	wantLost(t, "CreateRun after Release", l.CreateRun(ctx, run("run-1", "plan-a", t0)), "")
	if _, err := s.GetRun(ctx, "run-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun after a refused CreateRun = %v, want ErrNotFound", err)
	}
	if isClosed(l.Lost()) {
		t.Error("Lost closed by Release")
	}
	// Released, and taken again by someone else: the old lease stays lost.
	l2 := mustAcquire(t, s, "run-2", time.Hour)
	defer l2.Release()
	wantLost(t, "Check of a released lease, the lock held by another", l.Check(ctx), "")
	if err := l2.Check(ctx); err != nil {
		t.Error(err)
	}
}

// testLeaseHeartbeatLost: the heartbeat of a lease taken over notices,
// closes Lost, and never takes the lock back — neither while the new
// holder has it nor once it is free again.
func testLeaseHeartbeatLost(t *testing.T, s store.Store) {
	ctx := t.Context()
	const staleAfter = 30 * time.Millisecond // a beat every 10 ms
	stale := mustAcquire(t, s, "run-1", staleAfter)
	defer stale.Release()
	fresh := takeOver(t, s, "run-2")

	select {
	case <-stale.Lost():
	case <-time.After(10 * staleAfter):
		t.Fatal("the heartbeat of a lease taken over did not close Lost")
	}
	time.Sleep(5 * staleAfter) // beats the old holder would have made
	if err := fresh.Check(ctx); err != nil {
		t.Fatalf("Check by the new holder after the old one's heartbeats: %v", err)
	}
	_, err := s.Acquire(ctx, "run-3", time.Hour)
	wantLocked(t, err, "run-2")

	if err := fresh.Release(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * staleAfter)
	l3, err := s.Acquire(ctx, "run-3", time.Hour)
	if err != nil {
		t.Fatalf("Acquire of a freed lock, after the lost lease's heartbeats: %v", err)
	}
	defer l3.Release()
	wantLost(t, "Check by the lost lease", stale.Check(ctx), "run-3")
}

// testLeaseConcurrentTokens: acquirers at once get distinct tokens, taking
// turns or taking over from each other, and only the latest holding is held.
func testLeaseConcurrentTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	var (
		mu     sync.Mutex
		tokens []int64
		errs   []error
	)
	record := func(tok int64, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		} else {
			tokens = append(tokens, tok)
		}
	}

	// Taking turns: each acquirer retries until it has the lock 3 times.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for n := 0; n < 3; {
				l, err := s.Acquire(ctx, fmt.Sprintf("run-%d", i), time.Hour)
				if errors.Is(err, store.ErrLocked) {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					record(0, err)
					return
				}
				n++
				record(l.Token(), l.Release())
			}
		})
	}
	wg.Wait()

	// Taking over: each acquirer finds the lock stale at once.
	var leases []store.Lease
	for i := range 16 {
		wg.Go(func() {
			l, err := s.Acquire(ctx, fmt.Sprintf("run-x%d", i), time.Nanosecond)
			if errors.Is(err, store.ErrLocked) {
				return // its heartbeat was seen within the nanosecond
			}
			if err != nil {
				record(0, err)
				return
			}
			record(l.Token(), nil)
			mu.Lock()
			leases = append(leases, l)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("Acquire or Release: %v", err)
	}
	if len(tokens) < 8*3+1 {
		t.Fatalf("%d takings, want at least %d", len(tokens), 8*3+1)
	}
	sorted := slices.Sorted(slices.Values(tokens))
	if len(slices.Compact(slices.Clone(sorted))) != len(sorted) {
		t.Errorf("tokens not distinct: %v", sorted)
	}
	latest := slices.MaxFunc(leases, func(a, b store.Lease) int { return int(a.Token() - b.Token()) })
	for _, l := range leases {
		err := l.Check(ctx)
		if l == latest {
			if err != nil {
				t.Errorf("Check of the latest taking (token %d): %v", l.Token(), err)
			}
			continue
		}
		wantLost(t, fmt.Sprintf("Check of an earlier taking (token %d of %d)", l.Token(), latest.Token()), err, latest.Holder())
	}
	for _, l := range leases {
		if err := l.Release(); (err != nil) != (l != latest) {
			t.Errorf("Release of token %d: %v", l.Token(), err)
		}
	}
}

func testLeaseCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Acquire(ctx, "run-1", time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with a canceled context = %v, want context.Canceled", err)
	}
	l := mustAcquire(t, s, "run-1", time.Hour)
	defer l.Release()
	if err := l.Check(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrLockLost) {
		t.Errorf("Check with a canceled context = %v, want context.Canceled", err)
	}
	if err := l.CreateRun(ctx, run("run-1", "plan-a", t0)); !errors.Is(err, context.Canceled) || errors.Is(err, store.ErrLockLost) {
		t.Errorf("CreateRun through the lease with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.GetRun(t.Context(), "run-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun after a canceled CreateRun = %v, want ErrNotFound", err)
	}
	if err := l.Check(t.Context()); err != nil {
		t.Errorf("Check after the canceled calls: %v", err)
	}
	if isClosed(l.Lost()) {
		t.Error("Lost closed by a canceled call")
	}
}
