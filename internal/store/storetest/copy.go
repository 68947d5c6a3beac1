package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keywarden/keywarden/internal/store"
)

// RunCopy checks store.Copy from one backend to another and back: a fills
// a store with a journal, notifications and an outbox, b is a store of the
// other backend, c one of the first again. Every open returns a new,
// empty store. Copying a → b → c must keep everything Copy promises,
// refuse a destination holding state unless merging, add only what is
// missing when merging (so that copying again is harmless), and respect
// a lock held on the destination.
func RunCopy(t *testing.T, openA, openB func(t *testing.T) store.Store) {
	ctx := t.Context()
	a, b, c := openA(t), openB(t), openA(t)
	fillForCopy(t, a)
	now := at(time.Hour)
	copyOpts := store.CopyOptions{Holder: "migrate-test", Now: now}

	counts, err := store.Copy(ctx, a, b, copyOpts)
	if err != nil {
		t.Fatalf("Copy a → b: %v", err)
	}
	want := store.CopyCounts{Runs: 3, Entries: 5, Notifications: 3, Notices: 2, Snapshots: 2,
		CopiedRuns: 3, CopiedEntries: 5, CopiedNotifications: 3, CopiedNotices: 2, CopiedSnapshots: 2}
	if counts != want {
		t.Errorf("Copy a → b counts = %+v, want %+v", counts, want)
	}
	wantA := dump(t, a, now)
	if diff := cmp.Diff(wantA, dump(t, b, now), dumpOpts...); diff != "" {
		t.Errorf("b after Copy a → b (-a +b):\n%s", diff)
	}
	if _, err := store.Copy(ctx, b, c, copyOpts); err != nil {
		t.Fatalf("Copy b → c: %v", err)
	}
	if diff := cmp.Diff(wantA, dump(t, c, now), dumpOpts...); diff != "" {
		t.Errorf("c after a → b → c (-a +c):\n%s", diff)
	}

	// A destination that holds state: refused, then merged with nothing to add.
	if _, err := store.Copy(ctx, a, b, copyOpts); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("Copy into a store holding state: %v, want ErrNotEmpty", err)
	}
	merge := copyOpts
	merge.Merge = true
	counts, err = store.Copy(ctx, a, b, merge)
	if err != nil {
		t.Fatalf("Copy a → b again, merging: %v", err)
	}
	if counts.CopiedRuns+counts.CopiedEntries+counts.CopiedNotifications+counts.CopiedNotices+counts.CopiedSnapshots != 0 {
		t.Errorf("Copy a → b again copied %+v, want nothing", counts)
	}
	if diff := cmp.Diff(wantA, dump(t, b, now), dumpOpts...); diff != "" {
		t.Errorf("b after copying again (-a +b):\n%s", diff)
	}

	// What a has since: only that is added; the interrupted run's
	// pending action got its result.
	r4 := mustCreateRun(t, a, run("run-4", "plan-4", at(40*time.Minute)))
	mustIntent(t, a, entry(r4, "act-9", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000009", at(41*time.Minute)))
	pendingIntent := entriesOf(t, a, "run-3")[0]
	if err := a.RecordResult(ctx, pendingIntent.ID, store.Result{Outcome: store.OutcomeFailed, Detail: "AccessDenied", At: at(42 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	counts, err = store.Copy(ctx, a, b, merge)
	if err != nil {
		t.Fatalf("Copy a → b, merging what is new: %v", err)
	}
	if counts.CopiedRuns != 1 || counts.CopiedEntries != 2 || counts.CopiedNotifications != 0 || counts.CopiedNotices != 0 {
		t.Errorf("Copy a → b, merging what is new, copied %+v; want 1 run and 2 entries (one new, one result)", counts)
	}
	if diff := cmp.Diff(dump(t, a, now), dump(t, b, now), dumpOpts...); diff != "" {
		t.Errorf("b after merging what is new (-a +b):\n%s", diff)
	}

	// The destination's lock held by an apply: nothing is copied.
	l, err := c.Acquire(ctx, "run-apply", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if _, err := store.Copy(ctx, a, c, merge); !errors.Is(err, store.ErrLocked) {
		t.Errorf("Copy into a locked store: %v, want ErrLocked", err)
	}
	if got := len(dump(t, c, now).Runs); got != 3 {
		t.Errorf("the locked store has %d runs after the refused copy, want 3", got)
	}
}

// fillForCopy writes three runs (done, an undo of it, interrupted with an
// action pending), their journal, notifications (one of a scan, which
// has no run), two pending notices, one delivered and one expired, and two
// scan snapshots.
func fillForCopy(t *testing.T, s store.Store) {
	ctx := t.Context()
	r1 := mustCreateRun(t, s, run("run-1", "plan-1", at(0)))
	e1 := mustIntent(t, s, entry(r1, "act-1", store.ActionDeactivate, "111111111111", "AKIAEXAMPLE000000001", at(time.Minute)))
	e2 := mustIntent(t, s, entry(r1, "act-2", store.ActionDelete, "111111111111", "AKIAEXAMPLE000000002", at(2*time.Minute)))
	e3 := mustIntent(t, s, entry(r1, "act-3", store.ActionDeactivate, "111111111111", "AKIAEXAMPLE000000003", at(3*time.Minute)))
	for id, res := range map[int64]store.Result{
		e1.ID: {Outcome: store.OutcomeDone, RequestID: "req-1", At: at(time.Minute + time.Second)},
		e2.ID: {Outcome: store.OutcomeAlreadyDone, At: at(2*time.Minute + time.Second)},
		e3.ID: {Outcome: store.OutcomeSkipped, Detail: "used 2 hours ago", At: at(3*time.Minute + time.Second)},
	} {
		if err := s.RecordResult(ctx, id, res); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FinishRun(ctx, r1.ID, store.RunDone, at(4*time.Minute)); err != nil {
		t.Fatal(err)
	}
	r2 := run("run-2", "", at(10*time.Minute))
	r2.Command, r2.UndoOf = "undo", r1.ID
	mustCreateRun(t, s, r2)
	e4 := mustIntent(t, s, entry(r2, "undo-act-1", store.ActionReactivate, "111111111111", "AKIAEXAMPLE000000001", at(11*time.Minute)))
	if err := s.RecordResult(ctx, e4.ID, store.Result{Outcome: store.OutcomeDone, At: at(11*time.Minute + time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, r2.ID, store.RunDone, at(12*time.Minute)); err != nil {
		t.Fatal(err)
	}
	r3 := mustCreateRun(t, s, run("run-3", "plan-3", at(20*time.Minute)))
	mustIntent(t, s, entry(r3, "act-5", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000005", at(21*time.Minute)))
	if err := s.FinishRun(ctx, r3.ID, store.RunInterrupted, at(22*time.Minute)); err != nil {
		t.Fatal(err)
	}

	mustNotify(t, s, notification("run-1", "email:alice@example.com", "done/act-1", store.NotificationSent, at(5*time.Minute)))
	failed := notification("run-1", "slack:#security", "digest/run-1", store.NotificationFailed, at(5*time.Minute))
	failed.Detail, failed.Attempts = "HTTP 500 from the webhook after 4 attempts", 4
	mustNotify(t, s, failed)
	mustNotify(t, s, notification("20260301T100000Z-abcdef", "email:alice@example.com", item1, store.NotificationSent, at(30*time.Minute)))

	mustEnqueue(t, s, notice("email:alice@example.com", item1, at(30*time.Minute)))
	mustEnqueue(t, s, withKey(notice("slack:#security", "digest/run-1", at(31*time.Minute)), "digest:security"))
	delivered := mustEnqueue(t, s, notice("email:bob@example.com", item2, at(32*time.Minute)))
	if err := s.MarkNoticeDelivered(ctx, delivered.ID, at(33*time.Minute)); err != nil {
		t.Fatal(err)
	}
	expired := notice("email:carol@example.com", item2, at(-30*time.Minute))
	expired.ExpiresAt = at(-time.Minute)
	mustEnqueue(t, s, expired)

	// Two scans' snapshots, one with findings.
	mustSave(t, s, snapshot("run-1", at(-time.Minute),
		finding("111111111111", "alice", "AKIAEXAMPLE000000001", "max_age", "medium", "deactivate"),
		finding("111111111111", "bob", "AKIAEXAMPLE000000002", "unused", "medium", "warn")))
	mustSave(t, s, snapshot("scan-7", at(50*time.Minute)))
}

// stateDump is everything Copy promises to keep, as a store reads it back.
type stateDump struct {
	Runs          []store.Run
	Entries       map[string][]store.Entry
	Notifications []store.Notification
	Pending       []store.Notice
	DeactivatedAt map[string]time.Time
	NotifiedAt    time.Time
	Snapshots     []store.Snapshot // with their findings
}

func dump(t *testing.T, s store.Store, now time.Time) stateDump {
	t.Helper()
	ctx := t.Context()
	runs, err := s.Runs(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := stateDump{Runs: runs, Entries: map[string][]store.Entry{}, DeactivatedAt: map[string]time.Time{}}
	for _, r := range runs {
		d.Entries[r.ID] = entriesOf(t, s, r.ID)
	}
	if d.Notifications, err = s.AllNotifications(ctx); err != nil {
		t.Fatal(err)
	}
	if d.Pending, err = s.PendingNotices(ctx, now); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"AKIAEXAMPLE000000001", "AKIAEXAMPLE000000003", "AKIAEXAMPLE000000005", "AKIAEXAMPLE000000009"} {
		for _, account := range []string{"111111111111", "222222222222"} {
			if when, ok, err := s.DeactivatedAt(ctx, account, key); err != nil {
				t.Fatal(err)
			} else if ok {
				d.DeactivatedAt[account+"/"+key] = when
			}
		}
	}
	if d.NotifiedAt, _, err = s.NotifiedAt(ctx, "email:alice@example.com", item1); err != nil {
		t.Fatal(err)
	}
	snaps, err := s.Snapshots(ctx, store.SnapshotQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sn := range snaps {
		full, err := s.GetSnapshot(ctx, sn.RunID)
		if err != nil {
			t.Fatal(err)
		}
		d.Snapshots = append(d.Snapshots, full)
	}
	return d
}

func entriesOf(t *testing.T, s store.Store, runID string) []store.Entry {
	t.Helper()
	es, err := s.Entries(t.Context(), runID)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// dumpOpts compare two stores' state: IDs are each store's own.
var dumpOpts = []cmp.Option{
	equateEmpty,
	cmpopts.IgnoreFields(store.Entry{}, "ID"),
	cmpopts.IgnoreFields(store.Notification{}, "ID"),
	cmpopts.IgnoreFields(store.Notice{}, "ID"),
}
