package dynamo

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/store"
)

// thisHost names this machine in the lock, for people; thisHostID tells
// it from every other place whose processes this one can see (see
// hostID), so that a lock left by a dead process here can be told from
// one held elsewhere.
var (
	thisHost, _ = os.Hostname()
	thisHostID  = hostID(thisHost)
)

// minHeartbeat bounds how often a held lock is refreshed.
const minHeartbeat = 10 * time.Millisecond

// maxAcquireRounds bounds how often Acquire reads the lock again after
// another acquirer changed it between its read and its write.
const maxAcquireRounds = 32

const (
	lockPK = "LOCK"
	lockSK = "LOCK"
)

// lease is a holding of the lock taken through a Store. Its generation (the
// fencing token) names it: the lock item carries the generation of its
// current holding, and a write fenced by the lease is refused unless the
// item still carries the lease's, with a holder.
type lease struct {
	s      *Store
	holder string
	token  int64

	stop     context.CancelFunc // stops the heartbeat
	beatDone chan struct{}      // closed when the heartbeat has stopped

	mu       sync.Mutex
	released bool // Release (or Close) has begun: the lease is given up

	lostOnce sync.Once
	lost     chan struct{} // closed once the lease is seen lost

	once sync.Once
	err  error
}

var _ store.Lease = (*lease)(nil)

// lockState is the lock item as read.
type lockState struct {
	exists     bool
	held       bool
	holder     string
	acquired   time.Time
	heartbeat  string // as stored, to condition a takeover on it
	seen       time.Time
	pid        int64
	host       string
	hostID     string
	acquireID  string
	generation int64
}

func (s *Store) readLock(ctx context.Context) (lockState, error) {
	it, err := s.get(ctx, lockPK, lockSK)
	if err != nil || it == nil {
		return lockState{}, err
	}
	d := decoder{it: it}
	st := lockState{
		exists:     true,
		holder:     d.s("holder"),
		acquired:   d.t("acquired_at"),
		heartbeat:  d.s("heartbeat_at"),
		pid:        d.num("pid"),
		host:       d.s("host"),
		hostID:     d.s("host_id"),
		acquireID:  d.s("acquire_id"),
		generation: d.num("generation"),
	}
	st.held = st.holder != ""
	st.seen, _ = parseTime(st.heartbeat)
	return st, d.err
}

// Acquire takes the store's lock for holder (a run ID), for every process
// anywhere that uses the table, with the next fencing token. While it is
// held, the lock's heartbeat is refreshed every staleAfter/3 (at most every
// 10 ms), so a lock whose heartbeat is older than staleAfter belongs to a
// process that died or hung, and is taken over (with a warning in the
// log). A lock held by a process of this host that is gone is taken over at
// once. staleAfter <= 0: a held lock is never taken over.
//
// The lock is read, judged, and then written with a condition that it is
// still as read; if another acquirer changed it in between, it is read and
// judged again.
//
// Acquire fails with store.ErrLocked, naming the holder and since when, if
// the lock is held, even by holder itself. Close releases the leases still
// held through s.
func (s *Store) Acquire(ctx context.Context, holder string, staleAfter time.Duration) (_ store.Lease, err error) {
	if holder == "" {
		return nil, errors.New("lock state store: no holder")
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("lock state store %s: closed", s.table)
	}
	s.wg.Add(1) // Close waits for us
	s.mu.Unlock()
	defer s.wg.Done()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock state store %s: %w", s.table, err)
	}

	// This call's mark on the lock: if the SDK retries a write that went
	// through (its answer lost), the next read shows the lock is ours.
	acquireID := rand.Text()
	var cur lockState
	for range maxAcquireRounds {
		cur, err = s.readLock(ctx)
		if err != nil {
			return nil, fmt.Errorf("lock state store %s: %w", s.table, err)
		}
		if cur.held && cur.acquireID == acquireID {
			return s.startLease(holder, cur.generation, staleAfter)
		}
		now := time.Now()
		var (
			cond string
			e    update
			dead bool
		)
		if !cur.held {
			cond = "attribute_not_exists(" + e.name("holder") + ")"
		} else {
			// A holder on this host whose process is gone died: its lock is
			// taken over at once, so that an apply rerun after a crash resumes.
			dead = cur.hostID == thisHostID && cur.pid > 0 && cur.pid != int64(os.Getpid()) && processGone(int(cur.pid))
			if !dead && (staleAfter <= 0 || now.Sub(cur.seen) < staleAfter) {
				return nil, fmt.Errorf("%w: held by run %s since %s", store.ErrLocked, cur.holder, cur.acquired.Format(time.RFC3339))
			}
			// Taken over only as it was judged: the same holding, with no
			// heartbeat since.
			cond = e.name("generation") + " = " + e.val(num(cur.generation)) +
				" AND " + e.name("heartbeat_at") + " = " + e.s(cur.heartbeat)
		}
		at := formatTime(now)
		e.setS("holder", holder).setS("acquired_at", at).setS("heartbeat_at", at).
			setS("host", thisHost).setS("host_id", thisHostID).setS("acquire_id", acquireID)
		e.sets = append(e.sets,
			e.name("pid")+" = "+e.val(num(int64(os.Getpid()))),
			e.name("type")+" = "+e.s("lock"),
			e.name("generation")+" = if_not_exists("+e.name("generation")+", "+e.val(num(0))+") + "+e.val(num(1)))
		out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(lockPK, lockSK),
			UpdateExpression: aws.String(e.String()), ConditionExpression: aws.String(cond),
			ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.vals,
			ReturnValues: types.ReturnValueUpdatedNew,
		})
		if isConditionFailed(err) {
			continue // another acquirer was first: judge again
		}
		if err != nil {
			// The write may have gone through with its answer lost (or the
			// caller gave up waiting): give back what this call may hold.
			s.abandon(acquireID)
			return nil, fmt.Errorf("lock state store %s: %w", s.table, err)
		}
		d := decoder{it: out.Attributes}
		token := d.num("generation")
		if d.err != nil || token <= 0 {
			return nil, fmt.Errorf("lock state store %s: fencing token %d: %v", s.table, token, d.err)
		}
		if cur.held {
			slog.WarnContext(ctx, "took over a stale state store lock",
				"store", s.table, "holder", holder, "previous_holder", cur.holder, "previous_token", cur.generation,
				"held_since", cur.acquired, "last_seen", cur.seen, "stale_after", staleAfter, "holder_process_gone", dead)
		}
		return s.startLease(holder, token, staleAfter)
	}
	if cur.held {
		return nil, fmt.Errorf("%w: held by run %s since %s (and contended)", store.ErrLocked, cur.holder, cur.acquired.Format(time.RFC3339))
	}
	return nil, fmt.Errorf("%w: contended by other runs", store.ErrLocked)
}

// abandon frees the lock if this Acquire call (acquireID) took it, as well
// as it can.
func (s *Store) abandon(acquireID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := &update{}
	for _, a := range lockAttrs {
		u.removes = append(u.removes, u.name(a))
	}
	cond := u.name("acquire_id") + " = " + u.s(acquireID)
	if _, err := s.write(ctx, nil, s.updateOp(key(lockPK, lockSK), u, cond)); err != nil {
		slog.WarnContext(ctx, "could not give back a state store lock this run may have taken", "store", s.table, "error", err)
	}
}

// lockAttrs are the lock item's attributes of a holding: removed when the
// lock is freed (generation stays).
var lockAttrs = []string{"holder", "acquired_at", "heartbeat_at", "pid", "host", "host_id", "acquire_id"}

func (s *Store) startLease(holder string, token int64, staleAfter time.Duration) (store.Lease, error) {
	l := &lease{s: s, holder: holder, token: token, lost: make(chan struct{})}
	beatCtx, stop := context.WithCancel(context.Background())
	l.stop, l.beatDone = stop, make(chan struct{})
	s.mu.Lock()
	if s.closed { // closed while we took it: give it back
		s.mu.Unlock()
		close(l.beatDone)
		stop()
		return nil, errors.Join(fmt.Errorf("lock state store %s: closed", s.table), l.Release())
	}
	s.held[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go l.heartbeat(beatCtx, staleAfter)
	return l, nil
}

func (l *lease) Holder() string        { return l.holder }
func (l *lease) Token() int64          { return l.token }
func (l *lease) Lost() <-chan struct{} { return l.lost }

func (l *lease) markLost() { l.lostOnce.Do(func() { close(l.lost) }) }

func (l *lease) isLost() bool {
	select {
	case <-l.lost:
		return true
	default:
		return false
	}
}

func (l *lease) isReleased() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released
}

// held is the condition that the lock is still the lease's holding.
func (l *lease) held(e *expr) string {
	return e.name("generation") + " = " + e.val(num(l.token)) + " AND attribute_exists(" + e.name("holder") + ")"
}

// lockCheck is the condition check that fences a transaction.
func (l *lease) lockCheck() types.TransactWriteItem {
	var e expr
	cond := l.held(&e)
	return l.s.checkOp(key(lockPK, lockSK), cond, &e)
}

// heartbeat refreshes the lock until ctx ends or the lock is lost; it only
// ever refreshes the lease's own holding, never takes the lock back.
func (l *lease) heartbeat(ctx context.Context, staleAfter time.Duration) {
	defer l.s.wg.Done()
	defer close(l.beatDone)
	store.KeepAlive(ctx, staleAfter, minHeartbeat, l.lost, l.renew, func() {
		if !l.isReleased() {
			l.markLost()
			slog.WarnContext(ctx, "lost the state store lock: another run took it over", "store", l.s.table, "holder", l.holder, "token", l.token)
		}
	})
}

// renew refreshes the heartbeat of the lease's holding, and says whether
// the lock is still that holding.
func (l *lease) renew(ctx context.Context) (bool, error) {
	u := (&update{}).setS("heartbeat_at", formatTime(time.Now()))
	cond := l.held(&u.expr)
	for attempt := 0; ; attempt++ {
		_, err := l.s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &l.s.table, Key: key(lockPK, lockSK),
			UpdateExpression: aws.String(u.String()), ConditionExpression: aws.String(cond),
			ExpressionAttributeNames: u.names, ExpressionAttributeValues: u.vals,
		})
		switch {
		case err == nil:
			return true, nil
		case isConditionFailed(err):
			return false, nil
		}
		if _, conflict, _ := classify(err, 1); conflict && attempt < maxConflictRetries {
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return false, err
			}
			continue
		}
		return false, err
	}
}

// Check confirms the lease still holds the lock and renews its heartbeat.
func (l *lease) Check(ctx context.Context) error {
	if l.isReleased() {
		return l.releasedErr()
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check the state store lock %s: %w", l.s.table, err)
	}
	held, err := l.renew(ctx)
	if err != nil {
		return fmt.Errorf("check the state store lock %s: %w", l.s.table, err)
	}
	if held {
		return nil
	}
	return fmt.Errorf("check the state store lock %s: %w", l.s.table, l.lostErr(ctx))
}

func (l *lease) releasedErr() error {
	return fmt.Errorf("%w: run %s released it", store.ErrLockLost, l.holder)
}

// lostErr marks the lease lost and says who holds the lock now; for a
// lease given up by Release, it says so.
func (l *lease) lostErr(ctx context.Context) error {
	if l.isReleased() {
		return l.releasedErr()
	}
	l.markLost()
	return l.whoHolds(ctx)
}

// whoHolds is the store.ErrLockLost of a lease that lost the lock, naming
// who holds it now.
func (l *lease) whoHolds(ctx context.Context) error {
	// Not the caller's context alone: say who holds it even after Ctrl-C.
	cur, err := l.s.readLock(context.WithoutCancel(ctx))
	switch {
	case err != nil:
		return fmt.Errorf("%w: run %s (token %d) was taken over (who holds it now: %v)", store.ErrLockLost, l.holder, l.token, err)
	case !cur.held:
		return fmt.Errorf("%w: run %s (token %d) was taken over, and the lock was released since", store.ErrLockLost, l.holder, l.token)
	default:
		return fmt.Errorf("%w: run %s holds it since %s (token %d; run %s's was %d)",
			store.ErrLockLost, cur.holder, cur.acquired.Format(time.RFC3339), cur.generation, l.holder, l.token)
	}
}

// fenced does ops in one transaction with the check that the lock is still
// the lease's holding; if it is not, nothing is written and the error
// wraps store.ErrLockLost. what prefixes errors.
func (l *lease) fenced(ctx context.Context, what string, ops ...types.TransactWriteItem) (*refused, error) {
	if l.isReleased() {
		return nil, fmt.Errorf("%s: %w", what, l.releasedErr())
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if l.isLost() { // lost stays lost: generations only grow
		return nil, fmt.Errorf("%s: %w", what, l.whoHolds(ctx))
	}
	ref, err := l.s.write(ctx, l, ops...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if ref != nil && ref.lock {
		return nil, fmt.Errorf("%s: %w", what, l.lostErr(ctx))
	}
	return ref, nil
}

// stillHeld confirms, by a read, that the lease holds the lock: for a
// fenced write found to have nothing to write.
func (l *lease) stillHeld(ctx context.Context) error {
	if l.isReleased() {
		return l.releasedErr()
	}
	if l.isLost() {
		return l.whoHolds(ctx)
	}
	cur, err := l.s.readLock(ctx)
	if err != nil {
		return err
	}
	if !cur.held || cur.generation != l.token {
		return l.lostErr(ctx)
	}
	return nil
}

func (l *lease) CreateRun(ctx context.Context, r store.Run) error {
	return l.s.createRun(ctx, l, r)
}

func (l *lease) FinishRun(ctx context.Context, id, status string, at time.Time) error {
	return l.s.finishRun(ctx, l, id, status, at)
}

func (l *lease) ReopenRun(ctx context.Context, id string) error {
	return l.s.reopenRun(ctx, l, id)
}

func (l *lease) RecordIntent(ctx context.Context, e store.Entry) (int64, error) {
	return l.s.recordIntent(ctx, l, e)
}

func (l *lease) RecordResult(ctx context.Context, id int64, r store.Result) error {
	return l.s.recordResult(ctx, l, id, r)
}

// Release frees the lock if the lease still holds it.
func (l *lease) Release() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.released = true
		l.mu.Unlock()
		l.stop()
		<-l.beatDone
		l.s.mu.Lock()
		delete(l.s.held, l)
		l.s.mu.Unlock()
		l.err = l.release()
	})
	return l.err
}

func (l *lease) release() error {
	// Not the caller's context: a lock must be released even after Ctrl-C.
	ctx := context.Background()
	// The item stays, with its generation, so that tokens only grow.
	u := &update{}
	for _, a := range lockAttrs {
		u.removes = append(u.removes, u.name(a))
	}
	cond := l.held(&u.expr)
	ref, err := l.s.write(ctx, nil, l.s.updateOp(key(lockPK, lockSK), u, cond))
	if err != nil {
		return fmt.Errorf("unlock state store %s: %w", l.s.table, err)
	}
	if ref == nil {
		return nil
	}
	// Free at the lease's generation: no one took it since, so this
	// release went through (the SDK retried it after an answer was lost).
	if cur, err := l.s.readLock(ctx); err == nil && !cur.held && cur.generation == l.token {
		return nil
	}
	l.markLost() // it was lost before Release
	return fmt.Errorf("unlock state store %s: %w", l.s.table, l.whoHolds(ctx))
}
