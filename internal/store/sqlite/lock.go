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

// heldLock is a lock taken through a Store.
type heldLock struct {
	s        *Store
	holder   string
	acquired sql.NullString // with holder, names this taking of the lock

	stop     context.CancelFunc // stops the heartbeat
	beatDone chan struct{}      // closed when the heartbeat has stopped

	once sync.Once
	err  error
}

// Lock takes the store's apply lock for holder (a run ID), in every process
// that opens the same file. While it is held, the lock's heartbeat is
// refreshed every staleAfter/3 (at most every 10 ms), so a lock whose
// heartbeat is older than staleAfter belongs to a process that died or
// hung, and is taken over (with a warning in the log). staleAfter <= 0: a
// held lock is never taken over.
//
// Lock fails with store.ErrLocked, naming the holder and since when, if the
// lock is held, even by holder itself. The returned unlock releases the lock
// if holder still has it and stops the heartbeat; it reports an error if the
// lock was taken over meanwhile. Calling unlock again returns the same
// result. Close releases the locks still held through s.
func (s *Store) Lock(ctx context.Context, holder string, staleAfter time.Duration) (unlock func() error, err error) {
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
	)
	err = tx.QueryRowContext(ctx, `SELECT holder, acquired_at, heartbeat_at, pid, host FROM lock WHERE id = 1`).Scan(&cur, &acquired, &heartbeat, &pid, &host)
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
					"store", s.path, "holder", holder, "previous_holder", cur,
					"held_since", since, "last_seen", seen, "stale_after", staleAfter)
			}
		}()
	}

	h := &heldLock{s: s, holder: holder, acquired: formatTime(now)}
	if _, err = tx.ExecContext(ctx, `INSERT INTO lock (id, holder, acquired_at, heartbeat_at, pid, host) VALUES (1, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at,
pid = excluded.pid, host = excluded.host`,
		holder, h.acquired, h.acquired, os.Getpid(), thisHost); err != nil {
		return nil, fmt.Errorf("lock state store %s: %w", s.path, err)
	}
	if err = tx.Commit(); err != nil {
		return nil, fmt.Errorf("lock state store %s: %w", s.path, err)
	}

	beatCtx, stop := context.WithCancel(context.Background())
	h.stop, h.beatDone = stop, make(chan struct{})
	s.mu.Lock()
	if s.closed { // closed while we took it: give it back
		s.mu.Unlock()
		close(h.beatDone)
		stop()
		return nil, errors.Join(fmt.Errorf("lock state store %s: closed", s.path), h.unlock())
	}
	s.held[h] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go h.heartbeat(beatCtx, staleAfter)
	return h.unlock, nil
}

// heartbeat refreshes the lock until ctx ends or the lock is lost.
func (h *heldLock) heartbeat(ctx context.Context, staleAfter time.Duration) {
	defer h.s.wg.Done()
	defer close(h.beatDone)
	if staleAfter <= 0 {
		return // never stale: nothing to refresh
	}
	t := time.NewTicker(max(staleAfter/3, minHeartbeat))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		res, err := h.s.db.ExecContext(ctx, `UPDATE lock SET heartbeat_at = ? WHERE id = 1 AND holder = ? AND acquired_at = ?`,
			formatTime(time.Now()), h.holder, h.acquired)
		if err != nil {
			continue // busy or interrupted; try again at the next tick
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return // taken over; unlock will say so
		}
	}
}

// unlock releases the lock if it is still this one.
func (h *heldLock) unlock() error {
	h.once.Do(func() {
		h.stop()
		<-h.beatDone
		h.s.mu.Lock()
		delete(h.s.held, h)
		h.s.mu.Unlock()
		h.err = h.release()
	})
	return h.err
}

func (h *heldLock) release() error {
	// Not the caller's context: a lock must be released even after Ctrl-C.
	ctx := context.Background()
	res, err := h.s.db.ExecContext(ctx, `DELETE FROM lock WHERE id = 1 AND holder = ? AND acquired_at = ?`, h.holder, h.acquired)
	if err != nil {
		return fmt.Errorf("unlock state store %s: %w", h.s.path, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("unlock state store %s: %w", h.s.path, err)
	} else if n == 1 {
		return nil
	}
	var cur string
	err = h.s.db.QueryRowContext(ctx, `SELECT holder FROM lock WHERE id = 1`).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("unlock state store %s: run %s no longer held the lock (it was taken over as stale and released since)", h.s.path, h.holder)
	case err != nil:
		return fmt.Errorf("unlock state store %s: %w", h.s.path, err)
	default:
		return fmt.Errorf("unlock state store %s: run %s no longer held the lock: run %s took it over as stale", h.s.path, h.holder, cur)
	}
}
