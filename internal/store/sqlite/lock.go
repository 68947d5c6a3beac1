package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

// thisHost names this machine in the lock, so that a lock left by a dead
// process here can be told from one held elsewhere.
var thisHost, _ = os.Hostname()

// minHeartbeat bounds how often a held lock is refreshed.
const minHeartbeat = 10 * time.Millisecond

// lease is a holding of the lock taken through a Store. Its generation (the
// fencing token) names it: the lock row carries the generation of its
// current holding, and a write fenced by the lease is refused unless the
// row still carries the lease's.
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

// Acquire takes the store's apply lock for holder (a run ID), in every
// process that opens the same file, with the next fencing token. While it
// is held, the lock's heartbeat is refreshed every staleAfter/3 (at most
// every 10 ms), so a lock whose heartbeat is older than staleAfter belongs
// to a process that died or hung, and is taken over (with a warning in the
// log). A lock held by a process of this host that is gone is taken over at
// once. staleAfter <= 0: a held lock is never taken over.
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
		return nil, fmt.Errorf("lock state store %s: closed", s.path)
	}
	s.wg.Add(1) // Close waits for us
	s.mu.Unlock()
	defer s.wg.Done()

	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock, so the check and the take are one step
	if err != nil {
		return nil, fmt.Errorf("lock state store %s: %w", s.path, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()

	now := time.Now()
	var (
		cur                 string
		acquired, heartbeat sql.NullString
		pid                 int
		host                string
		curGen              int64
	)
	err = tx.QueryRowContext(ctx, `SELECT holder, acquired_at, heartbeat_at, pid, host, generation FROM lock WHERE id = 1`).
		Scan(&cur, &acquired, &heartbeat, &pid, &host, &curGen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("lock state store %s: %w", s.path, err)
	default:
		since, err := parseTime(acquired)
		if err != nil {
			return nil, fmt.Errorf("lock state store %s: %w", s.path, err)
		}
		seen, err := parseTime(heartbeat)
		if err != nil {
			return nil, fmt.Errorf("lock state store %s: %w", s.path, err)
		}
		// A holder on this host whose process is gone died: its lock is
		// taken over at once, so that an apply rerun after a crash resumes.
		dead := host == thisHost && pid > 0 && pid != os.Getpid() && processGone(pid)
		if !dead && (staleAfter <= 0 || now.Sub(seen) < staleAfter) {
			return nil, fmt.Errorf("%w: held by run %s since %s", store.ErrLocked, cur, since.Format(time.RFC3339))
		}
		defer func() {
			if err == nil {
				slog.WarnContext(ctx, "took over a stale state store lock",
					"store", s.path, "holder", holder, "previous_holder", cur, "previous_token", curGen,
					"held_since", since, "last_seen", seen, "stale_after", staleAfter, "holder_process_gone", dead)
			}
		}()
	}

	l := &lease{s: s, holder: holder, lost: make(chan struct{})}
	if err = tx.QueryRowContext(ctx, `UPDATE lock_generation SET generation = generation + 1 WHERE id = 1 RETURNING generation`).Scan(&l.token); err != nil {
		return nil, fmt.Errorf("lock state store %s: next fencing token: %w", s.path, err)
	}
	at := formatTime(now)
	if _, err = tx.ExecContext(ctx, `INSERT INTO lock (id, holder, acquired_at, heartbeat_at, pid, host, generation) VALUES (1, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
pid = excluded.pid, host = excluded.host, generation = excluded.generation`,
		holder, at, at, os.Getpid(), thisHost, l.token); err != nil {
		return nil, fmt.Errorf("lock state store %s: %w", s.path, err)
	}
	if err = tx.Commit(); err != nil {
		return nil, fmt.Errorf("lock state store %s: %w", s.path, err)
	}

	beatCtx, stop := context.WithCancel(context.Background())
	l.stop, l.beatDone = stop, make(chan struct{})
	s.mu.Lock()
	if s.closed { // closed while we took it: give it back
		s.mu.Unlock()
		close(l.beatDone)
		stop()
		return nil, errors.Join(fmt.Errorf("lock state store %s: closed", s.path), l.Release())
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

func (l *lease) isReleased() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released
}

// heartbeat refreshes the lock until ctx ends or the lock is lost; it only
// ever refreshes the lease's own holding, never takes the lock back.
func (l *lease) heartbeat(ctx context.Context, staleAfter time.Duration) {
	defer l.s.wg.Done()
	defer close(l.beatDone)
	store.KeepAlive(ctx, staleAfter, minHeartbeat, l.lost, l.renew, func() {
		if !l.isReleased() {
			l.markLost()
			slog.WarnContext(ctx, "lost the state store lock: another run took it over", "store", l.s.path, "holder", l.holder, "token", l.token)
		}
	})
}

// renew refreshes the heartbeat of the lease's holding, and says whether
// the lock is still that holding.
func (l *lease) renew(ctx context.Context) (bool, error) {
	res, err := l.s.db.ExecContext(ctx, `UPDATE lock SET heartbeat_at = ? WHERE id = 1 AND generation = ?`, formatTime(time.Now()), l.token)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// Check confirms the lease still holds the lock and renews its heartbeat.
func (l *lease) Check(ctx context.Context) error {
	if l.isReleased() {
		return l.releasedErr()
	}
	held, err := l.renew(ctx)
	if err != nil {
		return fmt.Errorf("check the state store lock %s: %w", l.s.path, err)
	}
	if held {
		return nil
	}
	return fmt.Errorf("check the state store lock %s: %w", l.s.path, l.lostErr(ctx, l.s.db))
}

func (l *lease) releasedErr() error {
	return fmt.Errorf("%w: run %s released it", store.ErrLockLost, l.holder)
}

// lostErr marks the lease lost and says who holds the lock now; for a
// lease given up by Release, it says so.
func (l *lease) lostErr(ctx context.Context, q querier) error {
	if l.isReleased() {
		return l.releasedErr()
	}
	l.markLost()
	return l.whoHolds(ctx, q)
}

// whoHolds is the store.ErrLockLost of a lease that lost the lock, naming
// who holds it now.
func (l *lease) whoHolds(ctx context.Context, q querier) error {
	var (
		cur      string
		gen      int64
		acquired sql.NullString
	)
	// Not the caller's context alone: say who holds it even after Ctrl-C.
	err := q.QueryRowContext(context.WithoutCancel(ctx), `SELECT holder, generation, acquired_at FROM lock WHERE id = 1`).Scan(&cur, &gen, &acquired)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: run %s (token %d) was taken over, and the lock was released since", store.ErrLockLost, l.holder, l.token)
	case err != nil:
		return fmt.Errorf("%w: run %s (token %d) was taken over (who holds it now: %v)", store.ErrLockLost, l.holder, l.token, err)
	default:
		since, _ := parseTime(acquired)
		return fmt.Errorf("%w: run %s holds it since %s (token %d; run %s's was %d)",
			store.ErrLockLost, cur, since.Format(time.RFC3339), gen, l.holder, l.token)
	}
}

// fenced runs write in one transaction that first checks that the lock is
// still the lease's holding; if it is not, nothing is written and the error
// wraps store.ErrLockLost. what prefixes that error.
func (l *lease) fenced(ctx context.Context, what string, write func(q querier) error) (err error) {
	if l.isReleased() {
		return fmt.Errorf("%s: %w", what, l.releasedErr())
	}
	tx, err := l.s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: nobody takes the lock between the check and the write
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var gen int64
	err = tx.QueryRowContext(ctx, `SELECT generation FROM lock WHERE id = 1`).Scan(&gen)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && gen != l.token):
		return fmt.Errorf("%s: %w", what, l.lostErr(ctx, tx))
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	}
	if err = write(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (l *lease) CreateRun(ctx context.Context, r store.Run) error {
	if err := checkRun(r); err != nil {
		return err
	}
	return l.fenced(ctx, "create run "+r.ID, func(q querier) error { return createRun(ctx, q, r) })
}

func (l *lease) FinishRun(ctx context.Context, id, status string, at time.Time) error {
	return l.fenced(ctx, "finish run "+id, func(q querier) error { return finishRun(ctx, q, id, status, at) })
}

func (l *lease) ReopenRun(ctx context.Context, id string) error {
	return l.fenced(ctx, "reopen run "+id, func(q querier) error { return reopenRun(ctx, q, id) })
}

func (l *lease) RecordIntent(ctx context.Context, e store.Entry) (id int64, err error) {
	if err := checkIntent(e); err != nil {
		return 0, err
	}
	err = l.fenced(ctx, fmt.Sprintf("record intent to %s %s", e.Action, e.AccessKeyID), func(q querier) error {
		id, err = recordIntent(ctx, q, e)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

func (l *lease) RecordResult(ctx context.Context, id int64, r store.Result) error {
	if err := checkResult(id, r); err != nil {
		return err
	}
	return l.fenced(ctx, fmt.Sprintf("record result of entry %d", id), func(q querier) error { return recordResult(ctx, q, id, r) })
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
	res, err := l.s.db.ExecContext(ctx, `DELETE FROM lock WHERE id = 1 AND generation = ?`, l.token)
	if err != nil {
		return fmt.Errorf("unlock state store %s: %w", l.s.path, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("unlock state store %s: %w", l.s.path, err)
	} else if n == 1 {
		return nil
	}
	l.markLost() // it was lost before Release
	return fmt.Errorf("unlock state store %s: %w", l.s.path, l.whoHolds(ctx, l.s.db))
}
