// Package storetest is the conformance suite of store.Store: every backend
// runs it (Run and RunShared) from its own tests and passes it.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mybackend.Open(…)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keywarden/keywarden/internal/store"
)

// Run runs the suite. open returns a new, empty store for one test, and
// closes it when the test ends (t.Cleanup). The suite takes a few seconds:
// the lock tests wait for heartbeats and staleness. RunShared is the rest
// of the suite, for several Stores on one place.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Runs", testRuns},
		{"RunNotFound", testRunNotFound},
		{"RunDuplicate", testRunDuplicate},
		{"ReopenRun", testReopenRun},
		{"IntentResultRoundTrip", testIntentResult},
		{"ResultErrors", testResultErrors},
		{"EntriesOrder", testEntriesOrder},
		{"PlanEntries", testPlanEntries},
		{"DeactivatedAt", testDeactivatedAt},
		{"LastRotation", testLastRotation},
		{"Lock", testLock},
		{"LockStaleTakeover", testLockStale},
		{"LockNeverStale", testLockNeverStale},
		{"LockHeartbeat", testLockHeartbeat},
		{"LockConcurrent", testLockConcurrent},
		{"CanceledContext", testCanceled},
		{"Notifications", testNotifications},
		{"NotifiedAt", testNotifiedAt},
		{"NotificationErrors", testNotificationErrors},
		{"LeaseTokens", testLeaseTokens},
		{"LeaseWrites", testLeaseWrites},
		{"LeaseTakeover", testLeaseTakeover},
		{"LeaseReleased", testLeaseReleased},
		{"LeaseHeartbeatLost", testLeaseHeartbeatLost},
		{"LeaseConcurrentTokens", testLeaseConcurrentTokens},
		{"LeaseCanceled", testLeaseCanceled},
		{"OutboxRoundTrip", testOutboxRoundTrip},
		{"OutboxDedupe", testOutboxDedupe},
		{"OutboxClaim", testOutboxClaim},
		{"OutboxSettled", testOutboxSettled},
		{"OutboxErrors", testOutboxErrors},
		{"OutboxConcurrentClaims", testOutboxConcurrentClaims},
		{"Snapshots", testSnapshots},
		{"SnapshotErrors", testSnapshotErrors},
		{"SnapshotLarge", testSnapshotLarge},
		{"SnapshotPrune", testSnapshotPrune},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

// t0 is the suite's epoch: nanoseconds, so that a backend that rounds shows.
var t0 = time.Date(2026, 3, 1, 9, 30, 15, 123456789, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

var equateEmpty = cmpopts.EquateEmpty()

func run(id, plan string, started time.Time) store.Run {
	return store.Run{
		ID:         id,
		Command:    "apply",
		PlanID:     plan,
		PolicyHash: "sha256:0f1e2d",
		Caller:     "arn:aws:sts::111111111111:assumed-role/keywarden-hub/ci",
		Status:     store.RunRunning,
		StartedAt:  started,
	}
}

// entry is an intent with every intent field set.
func entry(r store.Run, actionID, action, account, key string, intent time.Time) store.Entry {
	return store.Entry{
		RunID:         r.ID,
		PlanID:        r.PlanID,
		ActionID:      actionID,
		Action:        action,
		AccountID:     account,
		UserName:      "deploy-bot",
		AccessKeyID:   key,
		Rule:          "max_age",
		Stage:         "deactivate",
		Reason:        "active key is 123 days old (deactivate at 120)",
		KeyStatus:     "Active",
		KeyCreatedAt:  t0.Add(-123 * 24 * time.Hour),
		KeyLastUsedAt: t0.Add(-36 * time.Hour),
		Caller:        r.Caller,
		IntentAt:      intent,
	}
}

func mustCreateRun(t *testing.T, s store.Store, r store.Run) store.Run {
	t.Helper()
	if err := s.CreateRun(t.Context(), r); err != nil {
		t.Fatalf("CreateRun(%s): %v", r.ID, err)
	}
	return r
}

func mustIntent(t *testing.T, s store.Store, e store.Entry) store.Entry {
	t.Helper()
	id, err := s.RecordIntent(t.Context(), e)
	if err != nil {
		t.Fatalf("RecordIntent(%s %s): %v", e.Action, e.AccessKeyID, err)
	}
	if id == 0 {
		t.Fatalf("RecordIntent(%s %s): ID 0", e.Action, e.AccessKeyID)
	}
	e.ID = id
	return e
}

func mustResult(t *testing.T, s store.Store, e store.Entry, r store.Result) store.Entry {
	t.Helper()
	if err := s.RecordResult(t.Context(), e.ID, r); err != nil {
		t.Fatalf("RecordResult(%d, %s): %v", e.ID, r.Outcome, err)
	}
	e.Outcome, e.Detail, e.RequestID, e.ResultAt = r.Outcome, r.Detail, r.RequestID, r.At
	return e
}

func testRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	r1 := mustCreateRun(t, s, run("run-1", "plan-a", at(0)))
	r2 := mustCreateRun(t, s, run("run-2", "plan-b", at(time.Hour)))
	// Times in another zone are the same instants.
	r3 := mustCreateRun(t, s, run("run-3", "plan-a", at(2*time.Hour).In(time.FixedZone("CET", 3600))))
	u := run("run-4", "", at(3*time.Hour))
	u.Command, u.UndoOf = "undo", "run-1"
	u = mustCreateRun(t, s, u)

	got, err := s.GetRun(ctx, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r1, got); d != "" {
		t.Errorf("GetRun after CreateRun (-want +got):\n%s", d)
	}

	if err := s.FinishRun(ctx, "run-1", store.RunDone, at(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	r1.Status, r1.FinishedAt = store.RunDone, at(10*time.Minute)
	got, err = s.GetRun(ctx, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r1, got); d != "" {
		t.Errorf("GetRun after FinishRun (-want +got):\n%s", d)
	}

	for _, tt := range []struct {
		limit int
		want  []store.Run
	}{
		{0, []store.Run{u, r3, r2, r1}},
		{2, []store.Run{u, r3}},
		{10, []store.Run{u, r3, r2, r1}},
	} {
		got, err := s.Runs(ctx, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("Runs(%d) (-want +got):\n%s", tt.limit, d)
		}
	}

	for plan, want := range map[string][]store.Run{
		"plan-a": {r1, r3},
		"plan-b": {r2},
		"plan-z": nil,
	} {
		got, err := s.RunsForPlan(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, equateEmpty); d != "" {
			t.Errorf("RunsForPlan(%s) (-want +got):\n%s", plan, d)
		}
	}
}

func testRunNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetRun(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun(nope) = %v, want ErrNotFound", err)
	}
	if err := s.FinishRun(ctx, "nope", store.RunDone, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishRun(nope) = %v, want ErrNotFound", err)
	}
	if err := s.RecordResult(ctx, 424242, store.Result{Outcome: store.OutcomeDone, At: t0}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordResult(424242) = %v, want ErrNotFound", err)
	}
	runs, err := s.Runs(ctx, 0)
	if err != nil || len(runs) != 0 {
		t.Errorf("Runs of an empty store = %v, %v; want none", runs, err)
	}
	es, err := s.Entries(ctx, "nope")
	if err != nil || len(es) != 0 {
		t.Errorf("Entries(nope) = %v, %v; want none", es, err)
	}
}

func testReopenRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustCreateRun(t, s, run("run-1", "plan-a", t0))
	if err := s.FinishRun(ctx, r.ID, store.RunInterrupted, at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReopenRun(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.RunRunning || !got.FinishedAt.IsZero() || !got.StartedAt.Equal(r.StartedAt) {
		t.Errorf("reopened run: status %s, finished %v, started %v; want running, zero, %v", got.Status, got.FinishedAt, got.StartedAt, r.StartedAt)
	}
	if err := s.ReopenRun(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ReopenRun(nope) = %v, want ErrNotFound", err)
	}
}

func testRunDuplicate(t *testing.T, s store.Store) {
	r := mustCreateRun(t, s, run("run-1", "plan-a", t0))
	dup := r
	dup.PlanID = "plan-b"
	if err := s.CreateRun(t.Context(), dup); err == nil {
		t.Fatal("CreateRun with an existing ID: no error")
	}
	got, err := s.GetRun(t.Context(), "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, got); d != "" {
		t.Errorf("run after a duplicate CreateRun (-want +got):\n%s", d)
	}
}

func testIntentResult(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustCreateRun(t, s, run("run-1", "plan-a", t0))
	e := entry(r, "a-001", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000001", at(time.Minute))
	e = mustIntent(t, s, e)

	got, err := s.Entries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]store.Entry{e}, got); d != "" {
		t.Errorf("Entries after RecordIntent (-want +got):\n%s", d)
	}
	if len(got) == 1 && got[0].Outcome != store.OutcomePending {
		t.Errorf("Outcome after RecordIntent = %q, want pending", got[0].Outcome)
	}

	e = mustResult(t, s, e, store.Result{
		Outcome:   store.OutcomeDone,
		Detail:    "deactivated",
		RequestID: "5f0c7e1a-2b3c-4d5e-8f90-123456789abc",
		At:        at(time.Minute + 1500*time.Millisecond).In(time.FixedZone("EST", -5*3600)),
	})
	got, err = s.Entries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]store.Entry{e}, got); d != "" {
		t.Errorf("Entries after RecordResult (-want +got):\n%s", d)
	}

	// Zero times stay zero; empty strings stay empty.
	sparse := mustIntent(t, s, store.Entry{RunID: r.ID, Action: store.ActionNotify})
	got, err = s.Entries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]store.Entry{e, sparse}, got); d != "" {
		t.Errorf("Entries with a sparse entry (-want +got):\n%s", d)
	}
}

func testResultErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := mustCreateRun(t, s, run("run-1", "plan-a", t0))
	e := mustIntent(t, s, entry(r, "a-001", store.ActionDelete, "222222222222", "AKIAEXAMPLE000000001", t0))

	if err := s.RecordResult(ctx, e.ID, store.Result{Outcome: store.OutcomePending, At: t0}); err == nil {
		t.Error("RecordResult without an outcome: no error")
	}
	e = mustResult(t, s, e, store.Result{Outcome: store.OutcomeFailed, Detail: "AccessDenied", RequestID: "req-1", At: at(time.Second)})
	if err := s.RecordResult(ctx, e.ID, store.Result{Outcome: store.OutcomeDone, RequestID: "req-2", At: at(2 * time.Second)}); err == nil {
		t.Error("a second RecordResult for one entry: no error")
	}
	got, err := s.Entries(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]store.Entry{e}, got); d != "" {
		t.Errorf("the first result was changed (-want +got):\n%s", d)
	}
}

func testEntriesOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	r1 := mustCreateRun(t, s, run("run-1", "plan-a", t0))
	r2 := mustCreateRun(t, s, run("run-2", "plan-b", t0))
	var want1, want2 []store.Entry
	for i := range 6 {
		key := fmt.Sprintf("AKIAEXAMPLE%09d", i)
		// Intent times out of order: the journal's order is the order of writing.
		intent := at(time.Duration(10-i) * time.Minute)
		if i%2 == 0 {
			want1 = append(want1, mustIntent(t, s, entry(r1, fmt.Sprintf("a-%d", i), store.ActionDeactivate, "222222222222", key, intent)))
		} else {
			want2 = append(want2, mustIntent(t, s, entry(r2, fmt.Sprintf("b-%d", i), store.ActionDelete, "333333333333", key, intent)))
		}
	}
	// A result does not move an entry.
	want1[0] = mustResult(t, s, want1[0], store.Result{Outcome: store.OutcomeSkipped, Detail: "key changed since the plan", At: at(time.Hour)})

	for _, tt := range []struct {
		run  string
		want []store.Entry
	}{{"run-1", want1}, {"run-2", want2}} {
		got, err := s.Entries(ctx, tt.run)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("Entries(%s) (-want +got):\n%s", tt.run, d)
		}
	}
	all := append(append([]store.Entry{}, want1...), want2...)
	for i := 1; i < len(all); i++ {
		if all[i].ID == all[i-1].ID {
			t.Errorf("two entries share ID %d", all[i].ID)
		}
	}
}

func testPlanEntries(t *testing.T, s store.Store) {
	ctx := t.Context()
	// plan-a is applied, interrupted after its first action, and resumed by
	// a second run; plan-b is applied in between.
	first := mustCreateRun(t, s, run("run-1", "plan-a", t0))
	other := mustCreateRun(t, s, run("run-2", "plan-b", at(time.Minute)))
	resume := mustCreateRun(t, s, run("run-3", "plan-a", at(time.Hour)))

	a1 := mustIntent(t, s, entry(first, "a-1", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000001", at(time.Second)))
	a1 = mustResult(t, s, a1, store.Result{Outcome: store.OutcomeDone, RequestID: "req-1", At: at(2 * time.Second)})
	a2 := mustIntent(t, s, entry(first, "a-2", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000002", at(3*time.Second)))
	b1 := mustIntent(t, s, entry(other, "b-1", store.ActionDelete, "333333333333", "AKIAEXAMPLE000000003", at(2*time.Minute)))
	a2r := mustResult(t, s, mustIntent(t, s, entry(resume, "a-2", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000002", at(time.Hour+time.Second))),
		store.Result{Outcome: store.OutcomeAlreadyDone, At: at(time.Hour + 2*time.Second)})
	a3 := mustIntent(t, s, entry(resume, "a-3", store.ActionNotify, "222222222222", "AKIAEXAMPLE000000004", at(time.Hour+3*time.Second)))

	for plan, want := range map[string][]store.Entry{
		"plan-a": {a1, a2, a2r, a3},
		"plan-b": {b1},
		"plan-z": nil,
	} {
		got, err := s.PlanEntries(ctx, plan)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, equateEmpty); d != "" {
			t.Errorf("PlanEntries(%s) (-want +got):\n%s", plan, d)
		}
	}
}

func testDeactivatedAt(t *testing.T, s store.Store) {
	ctx := t.Context()
	const account = "222222222222"
	r := mustCreateRun(t, s, run("run-1", "plan-a", t0))

	type step struct {
		action, outcome string // outcome "": intent only
		at              time.Duration
	}
	tests := []struct {
		name   string
		steps  []step
		want   time.Duration
		wantOK bool
	}{
		{"never", nil, 0, false},
		{"deactivated", []step{{store.ActionDeactivate, store.OutcomeDone, time.Hour}}, time.Hour, true},
		{"already inactive", []step{{store.ActionDeactivate, store.OutcomeAlreadyDone, time.Hour}}, time.Hour, true},
		{"skipped", []step{{store.ActionDeactivate, store.OutcomeSkipped, time.Hour}}, 0, false},
		{"failed", []step{{store.ActionDeactivate, store.OutcomeFailed, time.Hour}}, 0, false},
		{"pending", []step{{store.ActionDeactivate, "", time.Hour}}, 0, false},
		{"reactivated", []step{
			{store.ActionDeactivate, store.OutcomeDone, time.Hour},
			{store.ActionReactivate, store.OutcomeDone, 2 * time.Hour},
		}, 0, false},
		{"reactivated, found active", []step{
			{store.ActionDeactivate, store.OutcomeDone, time.Hour},
			{store.ActionReactivate, store.OutcomeAlreadyDone, 2 * time.Hour},
		}, 0, false},
		{"reactivate failed", []step{
			{store.ActionDeactivate, store.OutcomeDone, time.Hour},
			{store.ActionReactivate, store.OutcomeFailed, 2 * time.Hour},
		}, time.Hour, true},
		{"deactivated again", []step{
			{store.ActionDeactivate, store.OutcomeDone, time.Hour},
			{store.ActionReactivate, store.OutcomeDone, 2 * time.Hour},
			{store.ActionDeactivate, store.OutcomeDone, 3 * time.Hour},
		}, 3 * time.Hour, true},
		{"found still inactive later", []step{
			{store.ActionDeactivate, store.OutcomeDone, time.Hour},
			{store.ActionDeactivate, store.OutcomeAlreadyDone, 5 * time.Hour},
		}, time.Hour, true},
		{"reactivated outside and deactivated again", []step{
			{store.ActionDeactivate, store.OutcomeDone, time.Hour},
			{store.ActionDeactivate, store.OutcomeDone, 5 * time.Hour},
		}, 5 * time.Hour, true},
		{"other actions", []step{
			{store.ActionDeactivate, store.OutcomeDone, time.Hour},
			{store.ActionNotify, store.OutcomeDone, 2 * time.Hour},
			{store.ActionDelete, store.OutcomeFailed, 3 * time.Hour},
		}, time.Hour, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fmt.Sprintf("AKIAEXAMPLE%09d", i)
			for j, st := range tt.steps {
				e := mustIntent(t, s, entry(r, fmt.Sprintf("%s-%d", key, j), st.action, account, key, at(st.at-time.Second)))
				if st.outcome != "" {
					mustResult(t, s, e, store.Result{Outcome: st.outcome, RequestID: fmt.Sprintf("req-%d-%d", i, j), At: at(st.at)})
				}
			}
			got, ok, err := s.DeactivatedAt(ctx, account, key)
			if err != nil {
				t.Fatal(err)
			}
			var want time.Time
			if tt.wantOK {
				want = at(tt.want)
			}
			if ok != tt.wantOK || !got.Equal(want) {
				t.Errorf("DeactivatedAt = %v, %v; want %v, %v", got, ok, want, tt.wantOK)
			}
			// The same key ID in another account is another key.
			if got, ok, err := s.DeactivatedAt(ctx, "999999999999", key); err != nil || ok || !got.IsZero() {
				t.Errorf("DeactivatedAt in another account = %v, %v, %v; want zero, false, nil", got, ok, err)
			}
		})
	}
}

func testLastRotation(t *testing.T, s store.Store) {
	ctx := t.Context()
	const account = "222222222222"
	const key = "AKIAROTATEDOLD000001"
	r := mustCreateRun(t, s, run("run-1", "plan-a", t0))
	if _, ok, err := s.LastRotation(ctx, account, key); err != nil || ok {
		t.Fatalf("LastRotation of a key never rotated = %v, %v; want false", ok, err)
	}
	steps := []struct {
		outcome, detail string
		at              time.Duration
	}{
		{store.OutcomeDone, "new key AKIAFIRST stored in secret arn:1", time.Hour},
		{store.OutcomeFailed, "could not be stored", 2 * time.Hour},
		{store.OutcomeDone, "new key AKIASECOND stored in secret arn:2", 3 * time.Hour},
		{store.OutcomeSkipped, "withheld", 4 * time.Hour},
		{"", "", 5 * time.Hour}, // pending
	}
	for j, st := range steps {
		e := mustIntent(t, s, entry(r, fmt.Sprintf("rot-%d", j), store.ActionRotate, account, key, at(st.at-time.Second)))
		if st.outcome != "" {
			mustResult(t, s, e, store.Result{Outcome: st.outcome, Detail: st.detail, At: at(st.at)})
		}
	}
	// A deactivation of the same key is not a rotation.
	e := mustIntent(t, s, entry(r, "deact", store.ActionDeactivate, account, key, at(6*time.Hour)))
	mustResult(t, s, e, store.Result{Outcome: store.OutcomeDone, At: at(6 * time.Hour)})
	got, ok, err := s.LastRotation(ctx, account, key)
	if err != nil || !ok {
		t.Fatalf("LastRotation = %v, %v; want the second rotation done", ok, err)
	}
	if got.Action != store.ActionRotate || got.Outcome != store.OutcomeDone || got.Detail != steps[2].detail || !got.ResultAt.Equal(at(3*time.Hour)) {
		t.Errorf("LastRotation = %+v; want the rotation done at %v", got, at(3*time.Hour))
	}
	if _, ok, err := s.LastRotation(ctx, "999999999999", key); err != nil || ok {
		t.Errorf("LastRotation in another account = %v, %v; want false", ok, err)
	}
}

// lockWait is longer than any clock step a backend could see between two
// calls, and short enough to keep the suite fast.
const lockWait = 20 * time.Millisecond

func wantLocked(t *testing.T, err error, holder string) {
	t.Helper()
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Lock = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), holder) {
		t.Errorf("Lock error %q does not name the holder %s", err, holder)
	}
}

func testLock(t *testing.T, s store.Store) {
	ctx := t.Context()
	unlock1, err := store.Lock(ctx, s, "run-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = store.Lock(ctx, s, "run-2", time.Hour)
	wantLocked(t, err, "run-1")
	_, err = store.Lock(ctx, s, "run-1", time.Hour)
	wantLocked(t, err, "run-1")

	if err := unlock1(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
	if err := unlock1(); err != nil {
		t.Fatalf("unlock again: %v", err)
	}
	unlock2, err := store.Lock(ctx, s, "run-2", time.Hour)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	if err := unlock2(); err != nil {
		t.Fatal(err)
	}
}

func testLockStale(t *testing.T, s store.Store) {
	ctx := t.Context()
	unlock1, err := store.Lock(ctx, s, "run-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(lockWait)
	// run-2 thinks a lock is stale after 1 ms: it takes run-1's over.
	unlock2, err := store.Lock(ctx, s, "run-2", time.Millisecond)
	if err != nil {
		t.Fatalf("Lock of a stale lock: %v", err)
	}
	_, err = store.Lock(ctx, s, "run-3", time.Hour)
	wantLocked(t, err, "run-2")

	// run-1 comes back: its unlock must not release run-2's lock.
	if err := unlock1(); err == nil {
		t.Error("unlock of a lock taken over: no error")
	}
	_, err = store.Lock(ctx, s, "run-3", time.Hour)
	wantLocked(t, err, "run-2")

	if err := unlock2(); err != nil {
		t.Fatalf("unlock of the new holder: %v", err)
	}
	unlock3, err := store.Lock(ctx, s, "run-3", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := unlock3(); err != nil {
		t.Fatal(err)
	}
}

func testLockNeverStale(t *testing.T, s store.Store) {
	ctx := t.Context()
	unlock, err := store.Lock(ctx, s, "run-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	time.Sleep(lockWait)
	// staleAfter <= 0: the taker never takes a lock over.
	_, err = store.Lock(ctx, s, "run-2", 0)
	wantLocked(t, err, "run-1")
	_, err = store.Lock(ctx, s, "run-2", -time.Second)
	wantLocked(t, err, "run-1")
}

// testLockHeartbeat: a lock held longer than staleAfter by a live holder is
// not stale: the holder keeps it fresh.
func testLockHeartbeat(t *testing.T, s store.Store) {
	ctx := t.Context()
	const staleAfter = 300 * time.Millisecond
	unlock, err := store.Lock(ctx, s, "run-1", staleAfter)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2*staleAfter + staleAfter/3)
	_, err = store.Lock(ctx, s, "run-2", staleAfter)
	wantLocked(t, err, "run-1")
	if err := unlock(); err != nil {
		t.Fatalf("unlock: %v", err)
	}
}

func testLockConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     []string
		unlocks []func() error
		errs    []error
	)
	for i := range n {
		wg.Go(func() {
			holder := fmt.Sprintf("run-%d", i)
			unlock, err := store.Lock(ctx, s, holder, time.Hour)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, holder)
				unlocks = append(unlocks, unlock)
			case !errors.Is(err, store.ErrLocked):
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("Lock: %v, want nil or ErrLocked", err)
	}
	if len(won) != 1 {
		t.Errorf("%d Locks won (%v), want exactly 1", len(won), won)
	}
	for _, unlock := range unlocks {
		if err := unlock(); err != nil {
			t.Error(err)
		}
	}
}

func testCanceled(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r := run("run-1", "plan-a", t0)

	if _, err := store.Lock(ctx, s, "run-1", time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a canceled context = %v, want context.Canceled", err)
	}
	if err := s.CreateRun(ctx, r); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateRun with a canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.Runs(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("Runs with a canceled context = %v, want context.Canceled", err)
	}

	// Nothing was done: the lock is free and the run does not exist.
	unlock, err := store.Lock(t.Context(), s, "run-2", time.Hour)
	if err != nil {
		t.Fatalf("Lock after a canceled Lock: %v", err)
	}
	defer unlock()
	if _, err := s.GetRun(t.Context(), r.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun after a canceled CreateRun = %v, want ErrNotFound", err)
	}
	mustCreateRun(t, s, r)
	if _, err := s.RecordIntent(ctx, entry(r, "a-1", store.ActionDeactivate, "222222222222", "AKIAEXAMPLE000000001", t0)); !errors.Is(err, context.Canceled) {
		t.Errorf("RecordIntent with a canceled context = %v, want context.Canceled", err)
	}
	if es, err := s.Entries(t.Context(), r.ID); err != nil || len(es) != 0 {
		t.Errorf("Entries after a canceled RecordIntent = %v, %v; want none", es, err)
	}
}

func notification(runID, recipient, itemKey, outcome string, when time.Time) store.Notification {
	return store.Notification{
		RunID:       runID,
		Recipient:   recipient,
		Channel:     strings.SplitN(recipient, ":", 2)[0],
		ItemKey:     itemKey,
		AccountID:   "111111111111",
		UserName:    "alice",
		AccessKeyID: "AKIAEXAMPLE000000001",
		Outcome:     outcome,
		Attempts:    1,
		At:          when,
	}
}

func mustNotify(t *testing.T, s store.Store, n store.Notification) store.Notification {
	t.Helper()
	id, err := s.RecordNotification(t.Context(), n)
	if err != nil {
		t.Fatalf("RecordNotification(%s, %s): %v", n.Recipient, n.ItemKey, err)
	}
	if id == 0 {
		t.Fatalf("RecordNotification(%s, %s): ID 0", n.Recipient, n.ItemKey)
	}
	n.ID = id
	return n
}

// testNotifications: every field round-trips, in the order written, per
// run; times come back in UTC.
func testNotifications(t *testing.T, s store.Store) {
	a := notification("run-1", "email:alice@example.com", "warn/111111111111/alice/AKIAEXAMPLE000000001/max_age/warn", store.NotificationSent, at(time.Minute).In(time.FixedZone("CET", 3600)))
	a.Attempts = 3
	a = mustNotify(t, s, a)
	b := notification("run-2", "slack:#security", "warn/111111111111/alice/AKIAEXAMPLE000000001/max_age/warn", store.NotificationFailed, at(2*time.Minute))
	b.Detail = "HTTP 500 from the webhook after 4 attempts"
	b = mustNotify(t, s, b)
	c := mustNotify(t, s, notification("run-1", "email:alice@example.com", "done/act-1", store.NotificationSent, at(time.Minute)))
	if a.ID == c.ID || b.ID == c.ID {
		t.Errorf("IDs not unique: %d, %d, %d", a.ID, b.ID, c.ID)
	}
	a.At = a.At.UTC()

	got, err := s.Notifications(t.Context(), "run-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Notification{a, c}, got, equateEmpty); diff != "" {
		t.Errorf("Notifications(run-1) (-want +got):\n%s", diff)
	}
	for _, n := range got {
		if n.At.Location() != time.UTC {
			t.Errorf("notification %d: time in %v, want UTC", n.ID, n.At.Location())
		}
	}
	if got, err := s.Notifications(t.Context(), "run-none"); err != nil || len(got) != 0 {
		t.Errorf("Notifications of an unknown run = %v, %v; want none", got, err)
	}
	b.At = b.At.UTC()
	all, err := s.AllNotifications(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Notification{a, b, c}, all, equateEmpty); diff != "" {
		t.Errorf("AllNotifications (-want +got):\n%s", diff)
	}
}

// testNotifiedAt: the latest sent notification of the recipient and item
// counts; failed ones, other recipients and other items do not.
func testNotifiedAt(t *testing.T, s store.Store) {
	const (
		alice = "email:alice@example.com"
		bob   = "email:bob@example.com"
		item  = "warn/111111111111/alice/AKIAEXAMPLE000000001/max_age/warn"
		other = "warn/111111111111/alice/AKIAEXAMPLE000000001/max_age/rotate"
	)
	check := func(what, recipient, itemKey string, want time.Time, wantOK bool) {
		t.Helper()
		got, ok, err := s.NotifiedAt(t.Context(), recipient, itemKey)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok != wantOK || !got.Equal(want) {
			t.Errorf("%s: NotifiedAt = %v, %v; want %v, %v", what, got, ok, want, wantOK)
		}
		if ok && got.Location() != time.UTC {
			t.Errorf("%s: time in %v, want UTC", what, got.Location())
		}
	}
	check("never told", alice, item, time.Time{}, false)
	mustNotify(t, s, notification("run-1", alice, item, store.NotificationFailed, at(0)))
	check("only a failure", alice, item, time.Time{}, false)
	mustNotify(t, s, notification("run-1", alice, item, store.NotificationSent, at(time.Hour)))
	check("sent", alice, item, at(time.Hour), true)
	mustNotify(t, s, notification("run-2", alice, item, store.NotificationSent, at(48*time.Hour)))
	mustNotify(t, s, notification("run-3", alice, item, store.NotificationFailed, at(72*time.Hour)))
	check("latest sent, a later failure aside", alice, item, at(48*time.Hour), true)
	// Written out of order (a resumed run): the latest time wins, not the latest row.
	mustNotify(t, s, notification("run-0", alice, item, store.NotificationSent, at(-time.Hour)))
	check("latest by time", alice, item, at(48*time.Hour), true)
	check("another recipient", bob, item, time.Time{}, false)
	check("another item", alice, other, time.Time{}, false)
}

func testNotificationErrors(t *testing.T, s store.Store) {
	for _, n := range []store.Notification{
		notification("run-1", "", "item", store.NotificationSent, t0),
		notification("run-1", "email:a@example.com", "", store.NotificationSent, t0),
		notification("run-1", "email:a@example.com", "item", "", t0),
	} {
		if _, err := s.RecordNotification(t.Context(), n); err == nil {
			t.Errorf("RecordNotification(%+v): no error", n)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.RecordNotification(ctx, notification("run-1", "email:a@example.com", "item", store.NotificationSent, t0)); !errors.Is(err, context.Canceled) {
		t.Errorf("RecordNotification with a canceled context = %v, want context.Canceled", err)
	}
	if _, _, err := s.NotifiedAt(ctx, "email:a@example.com", "item"); !errors.Is(err, context.Canceled) {
		t.Errorf("NotifiedAt with a canceled context = %v, want context.Canceled", err)
	}
	if got, err := s.Notifications(t.Context(), "run-1"); err != nil || len(got) != 0 {
		t.Errorf("Notifications after refused writes = %v, %v; want none", got, err)
	}
}
