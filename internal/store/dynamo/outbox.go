package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/store"
)

// The outbox: a notice item per notice (NOTICE#<id>), whatever its status;
// while it is pending, also an OUTBOX item (sorted by age) and the
// PENDING#<dedupe key> item of its key. Every change of status from
// pending removes both in the same transaction.

const (
	outboxPK  = "OUTBOX"
	noticeSK  = "NOTICE"
	pendingSK = "PENDING"
)

// maxOutboxRounds bounds how often a write of the outbox is tried again
// after another writer changed what it read.
const maxOutboxRounds = 16

func noticePK(id int64) string    { return "NOTICE#" + seq(id) }
func pendingPK(key string) string { return "PENDING#" + keyPart(key) }
func outboxSK(created time.Time, id int64) string {
	return formatTime(created) + "#" + seq(id)
}

// EnqueueNotice puts a notice in the outbox, unless a pending one with the
// same dedupe key is there (and not expired at n.CreatedAt): then it
// returns that one's ID and changes nothing. The notice is stored when
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
	n.Key = n.DedupeKey()
	defer func() {
		if err != nil {
			err = fmt.Errorf("enqueue notice for %s: %w", n.Recipient, err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return 0, err
	}

	for range maxOutboxRounds {
		it, err := s.get(ctx, pendingPK(n.Key), pendingSK)
		if err != nil {
			return 0, err
		}
		var (
			old        int64
			oldCreated time.Time
		)
		if it != nil {
			d := decoder{it: it}
			old, oldCreated = d.num("notice_id"), d.t("created_at")
			exp := d.t("expires_at")
			if d.err != nil {
				return 0, d.err
			}
			if exp.IsZero() || exp.After(n.CreatedAt) {
				return old, nil // the same notice is waiting already
			}
		}
		id, err := s.next(ctx, "notice")
		if err != nil {
			return 0, err
		}
		pending := newItem(pendingPK(n.Key), pendingSK, "pending").s("dedupe_key", n.Key).n("notice_id", id).
			t("created_at", n.CreatedAt).t("expires_at", n.ExpiresAt).it
		notice := newItem(noticePK(id), noticeSK, "notice").n("id", id).
			s("dedupe_key", n.Key).s("run_id", n.RunID).s("recipient", n.Recipient).s("channel", n.Channel).
			s("item_key", n.ItemKey).b("payload", n.Payload).
			s("status", store.NoticePending).n("attempts", int64(n.Attempts)).s("last_error", n.LastError).
			t("created_at", n.CreatedAt).t("next_attempt_at", n.NextAttemptAt).t("expires_at", n.ExpiresAt).it
		ops := []types.TransactWriteItem{
			{}, // the pending item, below
			s.putNew(notice),
			s.put(outboxItem(n.Key, id, n.CreatedAt, n.ExpiresAt), "", nil),
		}
		if it == nil {
			ops[0] = s.putNew(pending)
		} else {
			// The one waiting has expired: it gives way to the new one.
			var e expr
			ops[0] = s.put(pending, e.name("notice_id")+" = "+e.val(num(old)), &e)
			u := (&update{}).setS("status", store.NoticeExpired)
			ops = append(ops,
				s.updateOp(key(noticePK(old), noticeSK), u, u.name("status")+" = "+u.s(store.NoticePending)),
				s.deleteOp(key(outboxPK, outboxSK(oldCreated, old)), "", nil))
		}
		ref, err := s.write(ctx, nil, ops...)
		if err != nil {
			return 0, err
		}
		if ref == nil {
			return id, nil
		}
		// Another writer was first: look again.
	}
	return 0, errors.New("the outbox kept changing under this enqueue; try again")
}

func outboxItem(dedupeKey string, id int64, created, expires time.Time) item {
	return newItem(outboxPK, outboxSK(created, id), "outbox-ref").n("notice_id", id).s("dedupe_key", dedupeKey).
		t("created_at", created).t("expires_at", expires).it
}

func decodeNotice(it item) (store.Notice, error) {
	d := decoder{it: it}
	n := store.Notice{
		ID:            d.num("id"),
		Key:           d.s("dedupe_key"),
		RunID:         d.s("run_id"),
		Recipient:     d.s("recipient"),
		Channel:       d.s("channel"),
		ItemKey:       d.s("item_key"),
		Payload:       d.b("payload"),
		Status:        d.s("status"),
		Attempts:      int(d.num("attempts")),
		LastError:     d.s("last_error"),
		CreatedAt:     d.t("created_at"),
		NextAttemptAt: d.t("next_attempt_at"),
		ExpiresAt:     d.t("expires_at"),
		DeliveredAt:   d.t("delivered_at"),
	}
	return n, d.err
}

// notExpired is the condition that a notice (or outbox item) has not
// expired at now.
func notExpired(e *expr, now string) string {
	return "(attribute_not_exists(" + e.name("expires_at") + ") OR " + e.name("expires_at") + " > " + e.s(now) + ")"
}

// pendingNotices reads the pending notices not expired at now, oldest
// first, in pages of up to page (1 to 100) notices: each page goes to fn
// until fn says stop.
func (s *Store) pendingNotices(ctx context.Context, now time.Time, page int, fn func([]store.Notice) (more bool, err error)) error {
	var e expr
	filter := notExpired(&e, formatTime(now))
	var refs []int64
	flush := func() (bool, error) {
		if len(refs) == 0 {
			return true, nil
		}
		ks := make([][2]string, len(refs))
		for i, id := range refs {
			ks[i] = [2]string{noticePK(id), noticeSK}
		}
		refs = refs[:0]
		got, err := s.batchGet(ctx, ks)
		if err != nil {
			return false, err
		}
		var ns []store.Notice
		for _, k := range ks {
			it, ok := got[k[0]+"\x00"+k[1]]
			if !ok {
				continue
			}
			n, err := decodeNotice(it)
			if err != nil {
				return false, err
			}
			// Settled since the outbox was read: not pending.
			if n.Status == store.NoticePending && (n.ExpiresAt.IsZero() || n.ExpiresAt.After(now)) {
				ns = append(ns, n)
			}
		}
		return fn(ns)
	}
	more := true
	err := s.query(ctx, outboxPK, "", false, filter, &e, page, func(it item) (bool, error) {
		d := decoder{it: it}
		refs = append(refs, d.num("notice_id"))
		if d.err != nil {
			return false, d.err
		}
		if len(refs) >= page {
			var err error
			more, err = flush()
			return more, err
		}
		return true, nil
	})
	if err != nil || !more {
		return err
	}
	_, err = flush()
	return err
}

// ClaimNotices returns the notices due at now, oldest first, at most limit
// (0 or less: all), each claimed until now+hold by a conditional update:
// of claimers at once, one gets a notice; the others pass it by.
func (s *Store) ClaimNotices(ctx context.Context, now time.Time, hold time.Duration, limit int) (ns []store.Notice, err error) {
	if hold <= 0 {
		return nil, fmt.Errorf("claim notices: hold %v, want > 0", hold)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("claim due notices: %w", err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	at, until := formatTime(now), formatTime(now.Add(hold))
	// Read no more than a few times what is wanted at a time: claimers at
	// once go for the oldest.
	page := 100
	if limit > 0 {
		page = min(max(2*limit, 10), 100)
	}
	err = s.pendingNotices(ctx, now, page, func(page []store.Notice) (bool, error) {
		for _, n := range page {
			if n.NextAttemptAt.After(now) {
				continue
			}
			u := (&update{}).setS("next_attempt_at", until).add("attempts", 1)
			cond := u.name("status") + " = " + u.s(store.NoticePending) +
				" AND " + u.name("next_attempt_at") + " <= " + u.s(at) + " AND " + notExpired(&u.expr, at)
			out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: &s.table, Key: key(noticePK(n.ID), noticeSK),
				UpdateExpression: aws.String(u.String()), ConditionExpression: aws.String(cond),
				ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.vals,
				ReturnValues: types.ReturnValueAllNew,
			})
			if isConditionFailed(err) {
				continue // claimed or settled by another meanwhile
			}
			if _, conflict, _ := classify(err, 1); conflict {
				continue // being changed by another: not ours now
			}
			if err != nil {
				return false, err
			}
			c, err := decodeNotice(out.Attributes)
			if err != nil {
				return false, err
			}
			ns = append(ns, c)
			if limit > 0 && len(ns) >= limit {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return ns, nil
}

// leavePending is the writes that take notice n out of the pending state
// with update u (status included): its update, conditioned on its being
// pending, and the removal of its outbox and pending items.
func (s *Store) leavePending(n store.Notice, u *update) []types.TransactWriteItem {
	var e expr
	return []types.TransactWriteItem{
		s.updateOp(key(noticePK(n.ID), noticeSK), u, u.name("status")+" = "+u.s(store.NoticePending)),
		s.deleteOp(key(outboxPK, outboxSK(n.CreatedAt, n.ID)), "", nil),
		s.deleteOp(key(pendingPK(n.Key), pendingSK), e.name("notice_id")+" = "+e.val(num(n.ID)), &e),
	}
}

// settle takes pending notice n out of the pending state with the update
// mk makes. It says whether it did; false: n was no longer pending.
func (s *Store) settle(ctx context.Context, n store.Notice, mk func() *update) (bool, error) {
	ops := s.leavePending(n, mk())
	ref, err := s.write(ctx, nil, ops...)
	if err != nil || ref == nil {
		return err == nil, err
	}
	if ref.op(0) {
		return false, nil
	}
	// The pending item is another notice's: the key gave way to a newer
	// notice already; leave it.
	ref, err = s.write(ctx, nil, s.leavePending(n, mk())[:2]...)
	if err != nil {
		return false, err
	}
	return ref == nil, nil
}

func (s *Store) getNotice(ctx context.Context, id int64) (store.Notice, bool, error) {
	if id <= 0 {
		return store.Notice{}, false, nil
	}
	it, err := s.get(ctx, noticePK(id), noticeSK)
	if err != nil || it == nil {
		return store.Notice{}, false, err
	}
	n, err := decodeNotice(it)
	return n, err == nil, err
}

// MarkNoticeDelivered records a notice's delivery.
func (s *Store) MarkNoticeDelivered(ctx context.Context, id int64, at time.Time) (err error) {
	if at.IsZero() {
		at = time.Now()
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("mark notice %d delivered: %w", id, err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	mk := func() *update {
		return (&update{}).setS("status", store.NoticeDelivered).setT("delivered_at", at)
	}
	for range maxOutboxRounds {
		n, ok, err := s.getNotice(ctx, id)
		switch {
		case err != nil:
			return err
		case !ok:
			return store.ErrNotFound
		}
		switch n.Status {
		case store.NoticeDelivered:
			return nil // late reports change nothing
		case store.NoticePending:
			done, err := s.settle(ctx, n, mk)
			if err != nil || done {
				return err
			}
		default: // expired, and delivered after all
			u := mk()
			ref, err := s.write(ctx, nil, s.updateOp(key(noticePK(id), noticeSK), u, u.name("status")+" = "+u.s(n.Status)))
			if err != nil || ref == nil {
				return err
			}
		}
		// Changed meanwhile: look again.
	}
	return errors.New("the notice kept changing; try again")
}

// MarkNoticeFailed records a failed attempt of a pending notice and when
// to try next.
func (s *Store) MarkNoticeFailed(ctx context.Context, id int64, errText string, nextAttempt time.Time) error {
	what := fmt.Sprintf("mark notice %d failed", id)
	if nextAttempt.IsZero() {
		return fmt.Errorf("%s: no time for the next attempt", what)
	}
	u := (&update{}).setS("last_error", errText).setT("next_attempt_at", nextAttempt)
	cond := u.name("status") + " = " + u.s(store.NoticePending)
	ref, err := s.write(ctx, nil, s.updateOp(key(noticePK(id), noticeSK), u, cond))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if ref == nil {
		return nil
	}
	// Not pending: settled already (no error), or no such notice.
	_, ok, err := s.getNotice(ctx, id)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case !ok:
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// ExpireNotices marks the pending notices expired at now as expired.
func (s *Store) ExpireNotices(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("expire notices: %w", err)
	}
	var (
		e      expr
		expire []store.Notice
	)
	filter := "attribute_exists(" + e.name("expires_at") + ") AND " + e.name("expires_at") + " <= " + e.s(formatTime(now))
	err := s.query(ctx, outboxPK, "", false, filter, &e, 0, func(it item) (bool, error) {
		d := decoder{it: it}
		expire = append(expire, store.Notice{ID: d.num("notice_id"), Key: d.s("dedupe_key"), CreatedAt: d.t("created_at")})
		return true, d.err
	})
	if err != nil {
		return 0, fmt.Errorf("expire notices: %w", err)
	}
	count := 0
	for _, n := range expire {
		done, err := s.settle(ctx, n, func() *update { return (&update{}).setS("status", store.NoticeExpired) })
		if err != nil {
			return count, fmt.Errorf("expire notices: notice %d: %w", n.ID, err)
		}
		if done {
			count++
		}
	}
	return count, nil
}

// PendingNotices lists the pending notices not expired at now, oldest
// first.
func (s *Store) PendingNotices(ctx context.Context, now time.Time) ([]store.Notice, error) {
	var ns []store.Notice
	err := s.pendingNotices(ctx, now, 100, func(page []store.Notice) (bool, error) {
		ns = append(ns, page...)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list pending notices: %w", err)
	}
	return ns, nil
}
