package dynamo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/store"
)

func notificationSK(id int64) string          { return "NOTIFICATION#" + seq(id) }
func sentPK(recipient, itemKey string) string { return "SENT#" + compound(recipient, itemKey) }

// RecordNotification writes what became of telling a recipient about an
// item; it is stored when RecordNotification returns. n.ID is ignored.
func (s *Store) RecordNotification(ctx context.Context, n store.Notification) (int64, error) {
	if n.Recipient == "" || n.ItemKey == "" || n.Outcome == "" {
		return 0, errors.New("record notification: a notification needs a recipient, an item key and an outcome")
	}
	what := "record notification of " + n.Recipient
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	id, err := s.next(ctx, "notification")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	it := newItem(runPK(n.RunID), notificationSK(id), "notification").n("id", id).
		s("run_id", n.RunID).s("recipient", n.Recipient).s("channel", n.Channel).s("item_key", n.ItemKey).
		s("account_id", n.AccountID).s("user_name", n.UserName).s("access_key_id", n.AccessKeyID).
		s("outcome", n.Outcome).s("detail", n.Detail).n("attempts", int64(n.Attempts)).t("at", n.At).it
	ops := []types.TransactWriteItem{s.putNew(it)}
	// The sent ones, by time, for NotifiedAt. (A sent notification without
	// a time does not count, as in SQLite's max(at).)
	if n.Outcome == store.NotificationSent && !n.At.IsZero() {
		ops = append(ops, s.put(newItem(sentPK(n.Recipient, n.ItemKey), formatTime(n.At)+"#"+seq(id), "sent-ref").
			s("recipient", n.Recipient).s("item_key", n.ItemKey).t("at", n.At).n("notification_id", id).it, "", nil))
	}
	ref, err := s.write(ctx, nil, ops...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if ref != nil {
		return 0, fmt.Errorf("%s: notification %d exists already", what, id)
	}
	return id, nil
}

// NotifiedAt says when a recipient was last sent an item.
func (s *Store) NotifiedAt(ctx context.Context, recipient, itemKey string) (at time.Time, ok bool, err error) {
	err = s.query(ctx, sentPK(recipient, itemKey), "", true, "", nil, 10, func(it item) (bool, error) {
		d := decoder{it: it}
		if d.s("recipient") != recipient || d.s("item_key") != itemKey {
			return true, d.err // a long key's hash met another's
		}
		at, ok = d.t("at"), true
		return false, d.err
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("when was %s told about %s: %w", recipient, itemKey, err)
	}
	return at, ok, nil
}

// Notifications lists a run's notifications in the order they were written.
func (s *Store) Notifications(ctx context.Context, runID string) ([]store.Notification, error) {
	var out []store.Notification
	err := s.query(ctx, runPK(runID), "NOTIFICATION#", false, "", nil, 0, func(it item) (bool, error) {
		n, err := decodeNotification(it)
		if err == nil && n.RunID == runID {
			out = append(out, n)
		}
		return true, err
	})
	if err != nil {
		return nil, fmt.Errorf("list notifications of run %s: %w", runID, err)
	}
	return out, nil
}

// AllNotifications lists every notification in the order written. The
// notifications are kept by run, with no index of them all: it scans the
// table (dynamodb:Scan), which only copying a store needs.
func (s *Store) AllNotifications(ctx context.Context) ([]store.Notification, error) {
	var e expr
	in := &dynamodb.ScanInput{TableName: &s.table, ConsistentRead: aws.Bool(true),
		FilterExpression: aws.String(e.name("type") + " = " + e.s("notification")), ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.vals}
	var out []store.Notification
	p := dynamodb.NewScanPaginator(s.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list notifications: %w", err)
		}
		for _, it := range page.Items {
			n, err := decodeNotification(it)
			if err != nil {
				return nil, fmt.Errorf("list notifications: %w", err)
			}
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func decodeNotification(it item) (store.Notification, error) {
	d := decoder{it: it}
	n := store.Notification{
		ID:          d.num("id"),
		RunID:       d.s("run_id"),
		Recipient:   d.s("recipient"),
		Channel:     d.s("channel"),
		ItemKey:     d.s("item_key"),
		AccountID:   d.s("account_id"),
		UserName:    d.s("user_name"),
		AccessKeyID: d.s("access_key_id"),
		Outcome:     d.s("outcome"),
		Detail:      d.s("detail"),
		Attempts:    int(d.num("attempts")),
		At:          d.t("at"),
	}
	return n, d.err
}
