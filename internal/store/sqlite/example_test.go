package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "keywarden")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	// One apply at a time.
	unlock, err := store.Lock(ctx, st, "run-1", 10*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	defer unlock()

	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	if err := st.CreateRun(ctx, store.Run{ID: "run-1", Command: "apply", PlanID: "plan-1", Status: store.RunRunning, StartedAt: now}); err != nil {
		log.Fatal(err)
	}
	// The intent, before the AWS call…
	id, err := st.RecordIntent(ctx, store.Entry{
		RunID: "run-1", PlanID: "plan-1", ActionID: "a-1", Action: store.ActionDeactivate,
		AccountID: "222222222222", UserName: "deploy-bot", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
		Rule: "max_age", Stage: "deactivate", Reason: "active key is 123 days old", IntentAt: now,
	})
	if err != nil {
		log.Fatal(err)
	}
	// …and the result after it.
	if err := st.RecordResult(ctx, id, store.Result{Outcome: store.OutcomeDone, RequestID: "req-1", At: now.Add(time.Second)}); err != nil {
		log.Fatal(err)
	}
	if err := st.FinishRun(ctx, "run-1", store.RunDone, now.Add(2*time.Second)); err != nil {
		log.Fatal(err)
	}

	since, ok, err := st.DeactivatedAt(ctx, "222222222222", "AKIAIOSFODNN7EXAMPLE")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ok, since.Format(time.RFC3339))
	// Output: true 2026-03-01T09:30:01Z
}

// An apply holds a lease and writes its journal through it: once another
// run has taken the lock over (this one was paused past staleAfter), Check
// and every write fail with store.ErrLockLost, and the apply stops.
func ExampleStore_Acquire() {
	dir, err := os.MkdirTemp("", "keywarden")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	lease, err := st.Acquire(ctx, "run-1", 5*time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	defer lease.Release()
	now := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	if err := lease.CreateRun(ctx, store.Run{ID: "run-1", Command: "apply", PlanID: "plan-1", Status: store.RunRunning, StartedAt: now}); err != nil {
		log.Fatal(err)
	}

	// Another run finds run-1's lock stale and takes it over.
	time.Sleep(10 * time.Millisecond)
	other, err := st.Acquire(ctx, "run-2", time.Millisecond)
	if err != nil {
		log.Fatal(err)
	}
	defer other.Release()

	// Before its next AWS call, run-1 checks, and stops.
	err = lease.Check(ctx)
	fmt.Println(errors.Is(err, store.ErrLockLost), other.Token() > lease.Token())
	_, err = lease.RecordIntent(ctx, store.Entry{RunID: "run-1", Action: store.ActionDeactivate, AccessKeyID: "AKIAIOSFODNN7EXAMPLE", IntentAt: now})
	fmt.Println(errors.Is(err, store.ErrLockLost))
	// Output:
	// true true
	// true
}
