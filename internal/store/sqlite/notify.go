package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

const notificationColumns = `id, run_id, recipient, channel, item_key,
	account_id, user_name, access_key_id,
	outcome, detail, attempts, at`

// RecordNotification writes what became of telling a recipient about an
// item; it is on disk when RecordNotification returns. n.ID is ignored.
func (s *Store) RecordNotification(ctx context.Context, n store.Notification) (int64, error) {
	if n.Recipient == "" || n.ItemKey == "" || n.Outcome == "" {
		return 0, errors.New("record notification: a notification needs a recipient, an item key and an outcome")
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO notifications (
	run_id, recipient, channel, item_key,
	account_id, user_name, access_key_id,
	outcome, detail, attempts, at
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		n.RunID, n.Recipient, n.Channel, n.ItemKey,
		n.AccountID, n.UserName, n.AccessKeyID,
		n.Outcome, n.Detail, n.Attempts, formatTime(n.At))
	if err != nil {
		return 0, fmt.Errorf("record notification of %s: %w", n.Recipient, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("record notification of %s: %w", n.Recipient, err)
	}
	return id, nil
}

// NotifiedAt says when a recipient was last sent an item.
func (s *Store) NotifiedAt(ctx context.Context, recipient, itemKey string) (time.Time, bool, error) {
	var at sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT max(at) FROM notifications WHERE recipient = ? AND item_key = ? AND outcome = ?`,
		recipient, itemKey, store.NotificationSent).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("when was %s told about %s: %w", recipient, itemKey, err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	t, err := parseTime(at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("when was %s told about %s: %w", recipient, itemKey, err)
	}
	return t, true, nil
}

// AllNotifications lists every notification in the order written.
func (s *Store) AllNotifications(ctx context.Context) ([]store.Notification, error) {
	return s.notifications(ctx, "list notifications", `SELECT `+notificationColumns+` FROM notifications ORDER BY id`)
}

// Notifications lists a run's notifications in the order they were written.
func (s *Store) Notifications(ctx context.Context, runID string) ([]store.Notification, error) {
	return s.notifications(ctx, "list notifications of run "+runID,
		`SELECT `+notificationColumns+` FROM notifications WHERE run_id = ? ORDER BY id`, runID)
}

func (s *Store) notifications(ctx context.Context, what, query string, args ...any) ([]store.Notification, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []store.Notification
	for rows.Next() {
		var (
			n  store.Notification
			at sql.NullString
		)
		if err := rows.Scan(&n.ID, &n.RunID, &n.Recipient, &n.Channel, &n.ItemKey,
			&n.AccountID, &n.UserName, &n.AccessKeyID,
			&n.Outcome, &n.Detail, &n.Attempts, &at); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if n.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
