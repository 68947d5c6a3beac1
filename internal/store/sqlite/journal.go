package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

const runColumns = `id, command, plan_id, undo_of, policy_hash, caller, status, started_at, finished_at`

// querier is the database or a transaction in it: the journal's writes run
// on either, unfenced (Store) or fenced (lease).
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// CreateRun records a new run. Its ID must be new.
func (s *Store) CreateRun(ctx context.Context, r store.Run) error {
	if err := checkRun(r); err != nil {
		return err
	}
	return createRun(ctx, s.db, r)
}

func checkRun(r store.Run) error {
	if r.ID == "" {
		return errors.New("create run: no run ID")
	}
	return nil
}

func createRun(ctx context.Context, q querier, r store.Run) error {
	_, err := q.ExecContext(ctx, `INSERT INTO runs (`+runColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Command, r.PlanID, r.UndoOf, r.PolicyHash, r.Caller, r.Status,
		formatTime(r.StartedAt), formatTime(r.FinishedAt))
	if err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return nil
}

// FinishRun sets a run's final status and when it finished.
func (s *Store) FinishRun(ctx context.Context, id, status string, at time.Time) error {
	return finishRun(ctx, s.db, id, status, at)
}

func finishRun(ctx context.Context, q querier, id, status string, at time.Time) error {
	res, err := q.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ? WHERE id = ?`,
		status, formatTime(at), id)
	if err != nil {
		return fmt.Errorf("finish run %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("finish run %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("finish run %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// ReopenRun marks a run as running again, with no finish time.
func (s *Store) ReopenRun(ctx context.Context, id string) error {
	return reopenRun(ctx, s.db, id)
}

func reopenRun(ctx context.Context, q querier, id string) error {
	res, err := q.ExecContext(ctx, `UPDATE runs SET status = ?, finished_at = ? WHERE id = ?`,
		store.RunRunning, formatTime(time.Time{}), id)
	if err != nil {
		return fmt.Errorf("reopen run %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("reopen run %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("reopen run %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// GetRun returns the run with the given ID, or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id string) (store.Run, error) {
	rs, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id)
	if err != nil {
		return store.Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	if len(rs) == 0 {
		return store.Run{}, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	return rs[0], nil
}

// Runs lists runs, newest first, at most limit (0 or less: all). Runs that
// started at the same time are listed last-created first.
func (s *Store) Runs(ctx context.Context, limit int) ([]store.Run, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rs, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return rs, nil
}

// RunsForPlan lists the runs that applied a plan, oldest first.
func (s *Store) RunsForPlan(ctx context.Context, planID string) ([]store.Run, error) {
	rs, err := s.queryRuns(ctx, `SELECT `+runColumns+` FROM runs WHERE plan_id = ? ORDER BY started_at, rowid`, planID)
	if err != nil {
		return nil, fmt.Errorf("list runs of plan %s: %w", planID, err)
	}
	return rs, nil
}

func (s *Store) queryRuns(ctx context.Context, query string, args ...any) ([]store.Run, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var rs []store.Run
	for rows.Next() {
		var (
			r                 store.Run
			started, finished sql.NullString
		)
		if err := rows.Scan(&r.ID, &r.Command, &r.PlanID, &r.UndoOf, &r.PolicyHash, &r.Caller, &r.Status, &started, &finished); err != nil {
			return nil, err
		}
		if r.StartedAt, err = parseTime(started); err != nil {
			return nil, err
		}
		if r.FinishedAt, err = parseTime(finished); err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

const entryColumns = `id, run_id, plan_id, action_id, action,
	account_id, user_name, access_key_id,
	rule, stage, reason, key_status, key_created_at, key_last_used_at,
	caller, intent_at,
	outcome, detail, request_id, result_at`

// RecordIntent writes an action before it is attempted and returns its ID.
// The entry is on disk when RecordIntent returns. e.ID is ignored; e must
// carry no result (Outcome, Detail, RequestID, ResultAt), and its run must
// exist.
func (s *Store) RecordIntent(ctx context.Context, e store.Entry) (int64, error) {
	if err := checkIntent(e); err != nil {
		return 0, err
	}
	return recordIntent(ctx, s.db, e)
}

func checkIntent(e store.Entry) error {
	if e.RunID == "" || e.Action == "" {
		return errors.New("record intent: an entry needs a run ID and an action")
	}
	if e.Outcome != store.OutcomePending || e.Detail != "" || e.RequestID != "" || !e.ResultAt.IsZero() {
		return fmt.Errorf("record intent to %s %s: the entry already has a result", e.Action, e.AccessKeyID)
	}
	return nil
}

func recordIntent(ctx context.Context, q querier, e store.Entry) (int64, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO journal (
	run_id, plan_id, action_id, action,
	account_id, user_name, access_key_id,
	rule, stage, reason, key_status, key_created_at, key_last_used_at,
	caller, intent_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.RunID, e.PlanID, e.ActionID, e.Action,
		e.AccountID, e.UserName, e.AccessKeyID,
		e.Rule, e.Stage, e.Reason, e.KeyStatus, formatTime(e.KeyCreatedAt), formatTime(e.KeyLastUsedAt),
		e.Caller, formatTime(e.IntentAt))
	if err != nil {
		return 0, fmt.Errorf("record intent to %s %s: %w", e.Action, e.AccessKeyID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("record intent to %s %s: %w", e.Action, e.AccessKeyID, err)
	}
	return id, nil
}

// RecordResult writes what happened to an action. The result is on disk
// when RecordResult returns. An entry gets one result: recording a second
// one is an error, as is a result without an outcome.
func (s *Store) RecordResult(ctx context.Context, id int64, r store.Result) error {
	if err := checkResult(id, r); err != nil {
		return err
	}
	return recordResult(ctx, s.db, id, r)
}

func checkResult(id int64, r store.Result) error {
	if r.Outcome == store.OutcomePending {
		return fmt.Errorf("record result of entry %d: no outcome", id)
	}
	return nil
}

func recordResult(ctx context.Context, q querier, id int64, r store.Result) error {
	res, err := q.ExecContext(ctx, `UPDATE journal SET outcome = ?, detail = ?, request_id = ?, result_at = ? WHERE id = ? AND outcome = ''`,
		r.Outcome, r.Detail, r.RequestID, formatTime(r.At), id)
	if err != nil {
		return fmt.Errorf("record result of entry %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("record result of entry %d: %w", id, err)
	}
	if n == 1 {
		return nil
	}
	var outcome string
	err = q.QueryRowContext(ctx, `SELECT outcome FROM journal WHERE id = ?`, id).Scan(&outcome)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("record result of entry %d: %w", id, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("record result of entry %d: %w", id, err)
	default:
		return fmt.Errorf("record result of entry %d: it already has one (%s)", id, outcome)
	}
}

// Entries lists a run's actions in the order they were written.
func (s *Store) Entries(ctx context.Context, runID string) ([]store.Entry, error) {
	es, err := s.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal WHERE run_id = ? ORDER BY id`, runID)
	if err != nil {
		return nil, fmt.Errorf("list actions of run %s: %w", runID, err)
	}
	return es, nil
}

// PlanEntries lists the actions of every run of a plan, in the order they
// were written.
func (s *Store) PlanEntries(ctx context.Context, planID string) ([]store.Entry, error) {
	es, err := s.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal WHERE plan_id = ? ORDER BY id`, planID)
	if err != nil {
		return nil, fmt.Errorf("list actions of plan %s: %w", planID, err)
	}
	return es, nil
}

func (s *Store) queryEntries(ctx context.Context, query string, args ...any) ([]store.Entry, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var es []store.Entry
	for rows.Next() {
		var (
			e                                       store.Entry
			keyCreated, keyLastUsed, intent, result sql.NullString
		)
		if err := rows.Scan(&e.ID, &e.RunID, &e.PlanID, &e.ActionID, &e.Action,
			&e.AccountID, &e.UserName, &e.AccessKeyID,
			&e.Rule, &e.Stage, &e.Reason, &e.KeyStatus, &keyCreated, &keyLastUsed,
			&e.Caller, &intent,
			&e.Outcome, &e.Detail, &e.RequestID, &result); err != nil {
			return nil, err
		}
		for _, t := range []struct {
			dst *time.Time
			src sql.NullString
		}{{&e.KeyCreatedAt, keyCreated}, {&e.KeyLastUsedAt, keyLastUsed}, {&e.IntentAt, intent}, {&e.ResultAt, result}} {
			if *t.dst, err = parseTime(t.src); err != nil {
				return nil, err
			}
		}
		es = append(es, e)
	}
	return es, rows.Err()
}

// DeactivatedAt says since when keywarden has kept a key deactivated, if it
// still does. It reads the key's deactivate and reactivate actions that took
// effect (done or already-done), in journal order:
//   - a reactivate ends a deactivation;
//   - a deactivate done starts one (the key was active until then), at its
//     result time (its intent time if it has none);
//   - a deactivate already-done starts one only if none is running: finding
//     the key already inactive again does not move the start later.
//
// A key whose last such action is a reactivate, or that has none, gives
// false.
func (s *Store) DeactivatedAt(ctx context.Context, accountID, keyID string) (since time.Time, ok bool, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("when was %s in %s deactivated: %w", keyID, accountID, err)
		}
	}()
	rows, err := s.db.QueryContext(ctx, `SELECT action, outcome, coalesce(result_at, intent_at) FROM journal
WHERE account_id = ? AND access_key_id = ?
	AND action IN (?, ?) AND outcome IN (?, ?)
ORDER BY id`,
		accountID, keyID,
		store.ActionDeactivate, store.ActionReactivate, store.OutcomeDone, store.OutcomeAlreadyDone)
	if err != nil {
		return time.Time{}, false, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			action, outcome string
			at              sql.NullString
		)
		if err := rows.Scan(&action, &outcome, &at); err != nil {
			return time.Time{}, false, err
		}
		switch {
		case action == store.ActionReactivate:
			since, ok = time.Time{}, false
		case outcome == store.OutcomeDone || !ok:
			if since, err = parseTime(at); err != nil {
				return time.Time{}, false, err
			}
			ok = true
		}
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, false, err
	}
	return since, ok, nil
}

// LastRotation is the latest rotation of a key (the rotate action whose old
// key it is) that was done; false when it never was.
func (s *Store) LastRotation(ctx context.Context, accountID, keyID string) (store.Entry, bool, error) {
	es, err := s.queryEntries(ctx, `SELECT `+entryColumns+` FROM journal
WHERE account_id = ? AND access_key_id = ? AND action = ? AND outcome = ?
ORDER BY id DESC LIMIT 1`, accountID, keyID, store.ActionRotate, store.OutcomeDone)
	if err != nil {
		return store.Entry{}, false, fmt.Errorf("last rotation of %s in %s: %w", keyID, accountID, err)
	}
	if len(es) == 0 {
		return store.Entry{}, false, nil
	}
	return es[0], true, nil
}
