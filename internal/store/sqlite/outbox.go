package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

const noticeColumns = `id, dedupe_key, run_id, recipient, channel, item_key, payload,
	status, attempts, last_error,
	created_at, next_attempt_at, expires_at, delivered_at`

// EnqueueNotice puts a notice in the outbox, unless a pending one with the
// same dedupe key is there (and not expired at n.CreatedAt): then it
// returns that one's ID and changes nothing. The notice is on disk when
// EnqueueNotice returns.
func (s *Store) EnqueueNotice(ctx context.Context, n store.Notice) (id int64, err error) {
	if n.Recipient == "" || len(n.Payload) == 0 || (n.Key == "" && n.ItemKey == "") {
		return 0, errors.New("enqueue notice: a notice needs a recipient, a payload, and a key or an item key")
	}
	if n.Attempts < 0 {
		return 0, fmt.Errorf("enqueue notice for %s: %d attempts", n.Recipient, n.Attempts)
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = time.Now()
	}
	if n.NextAttemptAt.IsZero() {
		n.NextAttemptAt = n.CreatedAt
	}
	key := n.DedupeKey()
	defer func() {
		if err != nil {
			err = fmt.Errorf("enqueue notice for %s: %w", n.Recipient, err)
		}
	}()

	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the look-up and the insert are one step
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var expires sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT id, expires_at FROM outbox WHERE dedupe_key = ? AND status = ?`, key, store.NoticePending).Scan(&id, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, err
	default:
		exp, err := parseTime(expires)
		if err != nil {
			return 0, err
		}
		if exp.IsZero() || exp.After(n.CreatedAt) {
			return id, tx.Commit() // the same notice is waiting already
		}
		// The one waiting has expired: it gives way to the new one.
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = ? WHERE id = ?`, store.NoticeExpired, id); err != nil {
			return 0, err
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO outbox (
	dedupe_key, run_id, recipient, channel, item_key, payload,
	status, attempts, last_error,
	created_at, next_attempt_at, expires_at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		key, n.RunID, n.Recipient, n.Channel, n.ItemKey, n.Payload,
		store.NoticePending, n.Attempts, n.LastError,
		formatTime(n.CreatedAt), formatTime(n.NextAttemptAt), formatTime(n.ExpiresAt))
	if err != nil {
		return 0, err
	}
	if id, err = res.LastInsertId(); err != nil {
		return 0, err
	}
	if err = tx.Commit(); err != nil {
		return 0, err
	}
	return id, nil
}

// ClaimNotices returns the notices due at now, oldest first, at most limit
// (0 or less: all), and claims them until now+hold in the same
// transaction.
func (s *Store) ClaimNotices(ctx context.Context, now time.Time, hold time.Duration, limit int) (ns []store.Notice, err error) {
	if hold <= 0 {
		return nil, fmt.Errorf("claim notices: hold %v, want > 0", hold)
	}
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("claim due notices: %w", err)
		}
	}()
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: two claimers do not get the same notice
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	at := formatTime(now)
	ns, err = queryNotices(ctx, tx, `SELECT `+noticeColumns+` FROM outbox
WHERE status = ? AND next_attempt_at <= ? AND (expires_at IS NULL OR expires_at > ?)
ORDER BY created_at, id LIMIT ?`, store.NoticePending, at, at, limit)
	if err != nil {
		return nil, err
	}
	until := now.Add(hold)
	for i := range ns {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?`, formatTime(until), ns[i].ID); err != nil {
			return nil, err
		}
		ns[i].Attempts++
		ns[i].NextAttemptAt = until.UTC()
	}
	if err = tx.Commit(); err != nil {
		return nil, err
	}
	return ns, nil
}

// MarkNoticeDelivered records a notice's delivery.
func (s *Store) MarkNoticeDelivered(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		at = time.Now()
	}
	res, err := s.db.ExecContext(ctx, `UPDATE outbox SET status = ?, delivered_at = ? WHERE id = ? AND status IN (?, ?)`,
		store.NoticeDelivered, formatTime(at), id, store.NoticePending, store.NoticeExpired)
	if err != nil {
		return fmt.Errorf("mark notice %d delivered: %w", id, err)
	}
	return s.noticeSettled(ctx, res, id, fmt.Sprintf("mark notice %d delivered", id))
}

// MarkNoticeFailed records a failed attempt of a pending notice and when
// to try next.
func (s *Store) MarkNoticeFailed(ctx context.Context, id int64, errText string, nextAttempt time.Time) error {
	if nextAttempt.IsZero() {
		return fmt.Errorf("mark notice %d failed: no time for the next attempt", id)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE outbox SET last_error = ?, next_attempt_at = ? WHERE id = ? AND status = ?`,
		errText, formatTime(nextAttempt), id, store.NoticePending)
	if err != nil {
		return fmt.Errorf("mark notice %d failed: %w", id, err)
	}
	return s.noticeSettled(ctx, res, id, fmt.Sprintf("mark notice %d failed", id))
}

// noticeSettled: an update of notice id that changed no row is no error if
// the notice exists (it was settled already), and store.ErrNotFound if not.
func (s *Store) noticeSettled(ctx context.Context, res sql.Result, id int64, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 1 {
		return nil
	}
	var one int
	err = s.db.QueryRowContext(ctx, `SELECT 1 FROM outbox WHERE id = ?`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ExpireNotices marks the pending notices expired at now as expired.
func (s *Store) ExpireNotices(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox SET status = ? WHERE status = ? AND expires_at IS NOT NULL AND expires_at <= ?`,
		store.NoticeExpired, store.NoticePending, formatTime(now))
	if err != nil {
		return 0, fmt.Errorf("expire notices: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("expire notices: %w", err)
	}
	return int(n), nil
}

// PendingNotices lists the pending notices not expired at now, oldest
// first.
func (s *Store) PendingNotices(ctx context.Context, now time.Time) ([]store.Notice, error) {
	at := formatTime(now)
	ns, err := queryNotices(ctx, s.db, `SELECT `+noticeColumns+` FROM outbox
WHERE status = ? AND (expires_at IS NULL OR expires_at > ?)
ORDER BY created_at, id`, store.NoticePending, at)
	if err != nil {
		return nil, fmt.Errorf("list pending notices: %w", err)
	}
	return ns, nil
}

func queryNotices(ctx context.Context, q querier, query string, args ...any) ([]store.Notice, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ns []store.Notice
	for rows.Next() {
		var (
			n                                 store.Notice
			created, next, expires, delivered sql.NullString
		)
		if err := rows.Scan(&n.ID, &n.Key, &n.RunID, &n.Recipient, &n.Channel, &n.ItemKey, &n.Payload,
			&n.Status, &n.Attempts, &n.LastError,
			&created, &next, &expires, &delivered); err != nil {
			return nil, err
		}
		for _, t := range []struct {
			dst *time.Time
			src sql.NullString
		}{{&n.CreatedAt, created}, {&n.NextAttemptAt, next}, {&n.ExpiresAt, expires}, {&n.DeliveredAt, delivered}} {
			if *t.dst, err = parseTime(t.src); err != nil {
				return nil, err
			}
		}
		ns = append(ns, n)
	}
	return ns, rows.Err()
}
