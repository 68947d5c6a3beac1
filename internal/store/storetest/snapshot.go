package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keywarden/keywarden/internal/store"
)

func snapshot(runID string, taken time.Time, findings ...store.SnapshotFinding) store.Snapshot {
	return store.Snapshot{
		RunID: runID, At: taken, Trigger: "schedule", Mode: "report", PolicyHash: "sha256:abc",
		Accounts: []store.SnapshotAccount{
			{ID: "111111111111", Name: "prod", OUPath: "Root/Workloads", Status: "ok", Users: 3, KeysActive: 4, KeysInactive: 1, RootKeys: 1, Findings: 2},
			{ID: "222222222222", Status: "failed", Error: "AccessDenied: not authorized"},
		},
		Findings: findings,
	}
}

func finding(account, user, key, rule, severity, stage string) store.SnapshotFinding {
	return store.SnapshotFinding{
		AccountID: account, AccountName: "prod", OUPath: "Root/Workloads", UserName: user, AccessKeyID: key,
		Rule: rule, Severity: severity, Stage: stage, DueAt: at(-time.Hour), NextStage: "deactivate", NextStageAt: at(72 * time.Hour),
		KeyStatus: "Active", KeyCreatedAt: at(-100 * 24 * time.Hour), KeyLastUsedAt: at(-2 * time.Hour), Message: "older than 90 days",
	}
}

func mustSave(t *testing.T, s store.Store, snap store.Snapshot) {
	t.Helper()
	if err := s.SaveSnapshot(context.Background(), snap); err != nil {
		t.Fatalf("SaveSnapshot(%s): %v", snap.RunID, err)
	}
}

func snapshotIDs(t *testing.T, s store.Store, q store.SnapshotQuery) []string {
	t.Helper()
	snaps, err := s.Snapshots(context.Background(), q)
	if err != nil {
		t.Fatalf("Snapshots(%+v): %v", q, err)
	}
	ids := []string{}
	for _, sn := range snaps {
		if sn.Findings != nil {
			t.Errorf("Snapshots: snapshot %s carries findings", sn.RunID)
		}
		ids = append(ids, sn.RunID)
	}
	return ids
}

func testSnapshots(t *testing.T, s store.Store) {
	ctx := context.Background()
	f1 := finding("111111111111", "alice", "AKIAALICE00000000001", "max_age", "high", "rotate")
	f2 := finding("111111111111", "bob", "AKIABOB0000000000001", "unused", "medium", "warn")
	f3 := finding("111111111111", "carol", "", "root_key", "critical", "")
	f3.Exempt, f3.ExemptReason, f3.NextStage, f3.NextStageAt = true, "break-glass", "", time.Time{}
	a := snapshot("run-a", at(0), f1, f2, f3)
	b := snapshot("run-b", at(24*time.Hour), f1)
	c := snapshot("run-c", at(48*time.Hour))
	for _, sn := range []store.Snapshot{b, a, c} {
		mustSave(t, s, sn)
	}

	got, err := s.GetSnapshot(ctx, "run-a")
	if err != nil {
		t.Fatal(err)
	}
	want := a
	want.Counts = []store.SnapshotCount{
		{AccountID: "111111111111", Rule: "max_age", Severity: "high", Stage: "rotate", N: 1},
		{AccountID: "111111111111", Rule: "root_key", Severity: "critical", Exempt: true, N: 1},
		{AccountID: "111111111111", Rule: "unused", Severity: "medium", Stage: "warn", N: 1},
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("GetSnapshot(run-a) (-want +got):\n%s", d)
	}
	got, err = s.GetSnapshot(ctx, "run-c")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Findings) != 0 || len(got.Counts) != 0 || len(got.Accounts) != 2 {
		t.Errorf("GetSnapshot(run-c): %d findings, %d counts, %d accounts; want 0, 0, 2", len(got.Findings), len(got.Counts), len(got.Accounts))
	}

	list, err := s.Snapshots(ctx, store.SnapshotQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("Snapshots: %d, want 3", len(list))
	}
	wantB := b
	wantB.Findings, wantB.Counts = nil, store.SnapshotCounts(b.Findings)
	if d := cmp.Diff(wantB, list[1], cmpopts.EquateEmpty()); d != "" {
		t.Errorf("Snapshots()[1] (-want +got):\n%s", d)
	}

	for _, tc := range []struct {
		q    store.SnapshotQuery
		want []string
	}{
		{store.SnapshotQuery{}, []string{"run-c", "run-b", "run-a"}},
		{store.SnapshotQuery{Limit: 2}, []string{"run-c", "run-b"}},
		{store.SnapshotQuery{Since: at(24 * time.Hour)}, []string{"run-c", "run-b"}},
		{store.SnapshotQuery{Until: at(24 * time.Hour)}, []string{"run-a"}},
		{store.SnapshotQuery{Since: at(time.Hour), Until: at(48 * time.Hour)}, []string{"run-b"}},
		{store.SnapshotQuery{Since: at(49 * time.Hour)}, []string{}},
	} {
		if d := cmp.Diff(tc.want, snapshotIDs(t, s, tc.q)); d != "" {
			t.Errorf("Snapshots(%+v) (-want +got):\n%s", tc.q, d)
		}
	}
}

func testSnapshotErrors(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.GetSnapshot(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSnapshot(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.SaveSnapshot(ctx, store.Snapshot{At: at(0)}); err == nil {
		t.Error("SaveSnapshot without a run ID: no error")
	}
	if err := s.SaveSnapshot(ctx, store.Snapshot{RunID: "r"}); err == nil {
		t.Error("SaveSnapshot without a time: no error")
	}
	mustSave(t, s, snapshot("run-a", at(0), finding("111111111111", "alice", "AKIAALICE00000000001", "max_age", "high", "rotate")))
	err := s.SaveSnapshot(ctx, snapshot("run-a", at(time.Hour)))
	if !errors.Is(err, store.ErrSnapshotExists) {
		t.Errorf("SaveSnapshot(run-a again) = %v, want ErrSnapshotExists", err)
	}
	got, err := s.GetSnapshot(ctx, "run-a")
	if err != nil {
		t.Fatal(err)
	}
	if !got.At.Equal(at(0)) || len(got.Findings) != 1 {
		t.Errorf("the refused save changed the snapshot: at %v, %d findings", got.At, len(got.Findings))
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.SaveSnapshot(cctx, snapshot("run-b", at(0))); err == nil {
		t.Error("SaveSnapshot with a canceled context: no error")
	}
	if ids := snapshotIDs(t, s, store.SnapshotQuery{}); len(ids) != 1 {
		t.Errorf("after a canceled save: snapshots %v, want [run-a]", ids)
	}
}

// testSnapshotLarge saves more findings than fit in one DynamoDB item.
func testSnapshotLarge(t *testing.T, s store.Store) {
	var fs []store.SnapshotFinding
	for i := range 2500 {
		f := finding(fmt.Sprintf("%012d", 100000000000+i%40), fmt.Sprintf("user-%05d", i), fmt.Sprintf("AKIA%016d", i), "max_age", "high", "warn")
		f.Message = fmt.Sprintf("key %d is older than 90 days and has been for a while; rotate it", i)
		fs = append(fs, f)
	}
	mustSave(t, s, snapshot("run-big", at(0), fs...))
	got, err := s.GetSnapshot(context.Background(), "run-big")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(fs, got.Findings); d != "" {
		t.Errorf("GetSnapshot(run-big) findings (-want +got):\n%s", d)
	}
	n := 0
	for _, c := range got.Counts {
		n += c.N
	}
	if n != len(fs) || len(got.Counts) != 40 {
		t.Errorf("counts: %d findings in %d groups, want %d in 40", n, len(got.Counts), len(fs))
	}
}

func testSnapshotPrune(t *testing.T, s store.Store) {
	ctx := context.Background()
	f := finding("111111111111", "alice", "AKIAALICE00000000001", "max_age", "high", "rotate")
	for i := range 5 {
		mustSave(t, s, snapshot(fmt.Sprintf("run-%d", i), at(time.Duration(i)*24*time.Hour), f))
	}
	if n, err := s.PruneSnapshots(ctx, store.Retention{}); err != nil || n != 0 {
		t.Errorf("PruneSnapshots(zero) = %d, %v; want 0, nil", n, err)
	}
	n, err := s.PruneSnapshots(ctx, store.Retention{Before: at(24 * time.Hour)})
	if err != nil || n != 1 {
		t.Errorf("PruneSnapshots(before day 1) = %d, %v; want 1, nil", n, err)
	}
	if d := cmp.Diff([]string{"run-4", "run-3", "run-2", "run-1"}, snapshotIDs(t, s, store.SnapshotQuery{})); d != "" {
		t.Errorf("after age pruning (-want +got):\n%s", d)
	}
	n, err = s.PruneSnapshots(ctx, store.Retention{Keep: 2})
	if err != nil || n != 2 {
		t.Errorf("PruneSnapshots(keep 2) = %d, %v; want 2, nil", n, err)
	}
	if d := cmp.Diff([]string{"run-4", "run-3"}, snapshotIDs(t, s, store.SnapshotQuery{})); d != "" {
		t.Errorf("after count pruning (-want +got):\n%s", d)
	}
	for _, id := range []string{"run-0", "run-1", "run-2"} {
		if _, err := s.GetSnapshot(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSnapshot(%s) after pruning = %v, want ErrNotFound", id, err)
		}
	}
	// A pruned run's ID can have a snapshot again (its findings are gone).
	mustSave(t, s, snapshot("run-0", at(5*24*time.Hour)))
	got, err := s.GetSnapshot(ctx, "run-0")
	if err != nil || len(got.Findings) != 0 {
		t.Errorf("GetSnapshot(run-0 saved again) = %d findings, %v; want 0, nil", len(got.Findings), err)
	}
}
