package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keywarden/keywarden/internal/store"
)

// SaveSnapshot keeps a scan's snapshot, in one transaction.
func (s *Store) SaveSnapshot(ctx context.Context, snap store.Snapshot) (err error) {
	if snap.RunID == "" || snap.At.IsZero() {
		return errors.New("save snapshot: a snapshot needs a run ID and a time")
	}
	what := "save snapshot of run " + snap.RunID
	if len(snap.Counts) == 0 {
		snap.Counts = store.SnapshotCounts(snap.Findings)
	}
	accounts, err := json.Marshal(nonNil(snap.Accounts))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	counts, err := json.Marshal(nonNil(snap.Counts))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM snapshots WHERE run_id = ?`, snap.RunID).Scan(&n); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n > 0 {
		return fmt.Errorf("%s: %w", what, store.ErrSnapshotExists)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO snapshots (run_id, taken_at, trigger, mode, policy_hash, accounts, counts)
VALUES (?, ?, ?, ?, ?, ?, ?)`, snap.RunID, formatTime(snap.At), snap.Trigger, snap.Mode, snap.PolicyHash, string(accounts), string(counts)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO snapshot_findings (run_id, seq, finding) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer ins.Close()
	for i, f := range snap.Findings {
		b, err := json.Marshal(f)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if _, err := ins.ExecContext(ctx, snap.RunID, i, string(b)); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

const snapshotColumns = `run_id, taken_at, trigger, mode, policy_hash, accounts, counts`

// Snapshots lists snapshots, newest first, without their findings.
func (s *Store) Snapshots(ctx context.Context, q store.SnapshotQuery) ([]store.Snapshot, error) {
	var where []string
	var args []any
	if !q.Since.IsZero() {
		where, args = append(where, "taken_at >= ?"), append(args, formatTime(q.Since))
	}
	if !q.Until.IsZero() {
		where, args = append(where, "taken_at < ?"), append(args, formatTime(q.Until))
	}
	query := `SELECT ` + snapshotColumns + ` FROM snapshots`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	limit := q.Limit
	if limit <= 0 {
		limit = -1
	}
	query += ` ORDER BY taken_at DESC, run_id DESC LIMIT ?`
	args = append(args, limit)
	out, err := s.querySnapshots(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	return out, nil
}

func (s *Store) querySnapshots(ctx context.Context, query string, args ...any) ([]store.Snapshot, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Snapshot
	for rows.Next() {
		var (
			snap             store.Snapshot
			at               sql.NullString
			accounts, counts string
		)
		if err := rows.Scan(&snap.RunID, &at, &snap.Trigger, &snap.Mode, &snap.PolicyHash, &accounts, &counts); err != nil {
			return nil, err
		}
		if snap.At, err = parseTime(at); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(accounts), &snap.Accounts); err != nil {
			return nil, fmt.Errorf("snapshot of run %s: accounts: %w", snap.RunID, err)
		}
		if err := json.Unmarshal([]byte(counts), &snap.Counts); err != nil {
			return nil, fmt.Errorf("snapshot of run %s: counts: %w", snap.RunID, err)
		}
		out = append(out, snap)
	}
	return out, rows.Err()
}

// GetSnapshot returns a run's snapshot with its findings.
func (s *Store) GetSnapshot(ctx context.Context, runID string) (store.Snapshot, error) {
	snaps, err := s.querySnapshots(ctx, `SELECT `+snapshotColumns+` FROM snapshots WHERE run_id = ?`, runID)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("get snapshot of run %s: %w", runID, err)
	}
	if len(snaps) == 0 {
		return store.Snapshot{}, fmt.Errorf("snapshot of run %s: %w", runID, store.ErrNotFound)
	}
	snap := snaps[0]
	rows, err := s.db.QueryContext(ctx, `SELECT finding FROM snapshot_findings WHERE run_id = ? ORDER BY seq`, runID)
	if err != nil {
		return store.Snapshot{}, fmt.Errorf("get snapshot of run %s: %w", runID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return store.Snapshot{}, fmt.Errorf("get snapshot of run %s: %w", runID, err)
		}
		var f store.SnapshotFinding
		if err := json.Unmarshal([]byte(b), &f); err != nil {
			return store.Snapshot{}, fmt.Errorf("get snapshot of run %s: finding: %w", runID, err)
		}
		snap.Findings = append(snap.Findings, f)
	}
	if err := rows.Err(); err != nil {
		return store.Snapshot{}, fmt.Errorf("get snapshot of run %s: %w", runID, err)
	}
	return snap, nil
}

// PruneSnapshots deletes the snapshots r selects, with their findings, in
// one transaction.
func (s *Store) PruneSnapshots(ctx context.Context, r store.Retention) (n int, err error) {
	if r == (store.Retention{}) {
		return 0, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune snapshots: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	rows, err := tx.QueryContext(ctx, `SELECT run_id, taken_at FROM snapshots ORDER BY taken_at DESC, run_id DESC`)
	if err != nil {
		return 0, fmt.Errorf("prune snapshots: %w", err)
	}
	var doomed []string
	i := 0
	for rows.Next() {
		var (
			id string
			at sql.NullString
		)
		if err := rows.Scan(&id, &at); err != nil {
			rows.Close()
			return 0, fmt.Errorf("prune snapshots: %w", err)
		}
		t, err := parseTime(at)
		if err != nil {
			rows.Close()
			return 0, fmt.Errorf("prune snapshots: %w", err)
		}
		if r.Selects(i, t) {
			doomed = append(doomed, id)
		}
		i++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("prune snapshots: %w", err)
	}
	for _, id := range doomed {
		// The findings go with it (ON DELETE CASCADE).
		if _, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE run_id = ?`, id); err != nil {
			return 0, fmt.Errorf("prune snapshot of run %s: %w", id, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune snapshots: %w", err)
	}
	return len(doomed), nil
}
