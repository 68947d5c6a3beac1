package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrNotEmpty: Copy found state in the destination and was not asked to merge.
var ErrNotEmpty = errors.New("the destination state store is not empty")

// CopyOptions tune Copy.
type CopyOptions struct {
	// Holder names the copy in the locks it takes (e.g. "migrate-<run ID>").
	Holder string
	// Merge copies into a destination that holds state already, adding
	// only what it lacks; without it such a destination is refused
	// (ErrNotEmpty).
	Merge bool
	// Now is the time pending notices are judged at (not expired); zero: now.
	Now time.Time
}

// CopyCounts are how many things of each kind a copy found in the source,
// and how many of them it wrote (the others were in the destination
// already).
type CopyCounts struct {
	Runs, Entries, Notifications, Notices, Snapshots                               int
	CopiedRuns, CopiedEntries, CopiedNotifications, CopiedNotices, CopiedSnapshots int
}

// Copy copies the state of from into to through the Store interface: every
// run, with its journal entries (intent, and result if any, so that
// DeactivatedAt answers the same), every notification (what was told to
// whom, and when), the pending notices of the outbox, and every scan
// snapshot with its findings (the service's trends). Delivered and
// expired notices, and the locks, are not copied.
//
// It holds both stores' locks (Acquire) while it copies, so that no apply
// writes to either meanwhile, and writes the journal through the
// destination's lease. It is idempotent: with opts.Merge, what the
// destination holds already (the same run ID; an entry or notification
// equal but for its ID; a pending notice with the same DedupeKey; a
// snapshot of the same run) is not
// written again, so a copy cut short can be run again. Afterwards it reads
// the destination back and fails unless everything read from the source is
// there.
func Copy(ctx context.Context, from, to Store, opts CopyOptions) (CopyCounts, error) {
	var c CopyCounts
	if opts.Holder == "" {
		return c, errors.New("copy state: no lock holder name")
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now().UTC()
	}
	// A stale lock of a dead run is taken over as apply would; a live one refuses.
	const staleAfter = 10 * time.Minute
	src, err := from.Acquire(ctx, opts.Holder, staleAfter)
	if err != nil {
		return c, fmt.Errorf("lock the source state store: %w", err)
	}
	defer src.Release()
	dst, err := to.Acquire(ctx, opts.Holder, staleAfter)
	if err != nil {
		return c, fmt.Errorf("lock the destination state store: %w", err)
	}
	defer dst.Release()

	in, err := readState(ctx, from, now)
	if err != nil {
		return c, fmt.Errorf("read the source state store: %w", err)
	}
	c.Runs, c.Notifications, c.Notices, c.Snapshots = len(in.runs), len(in.notifications), len(in.notices), len(in.snapshots)
	for _, r := range in.runs {
		c.Entries += len(in.entries[r.ID])
	}
	have, err := readState(ctx, to, now)
	if err != nil {
		return c, fmt.Errorf("read the destination state store: %w", err)
	}
	if !opts.Merge && !have.empty() {
		return c, fmt.Errorf("%w: it holds %d runs, %d notifications, %d pending notices and %d snapshots", ErrNotEmpty,
			len(have.runs), len(have.notifications), len(have.notices), len(have.snapshots))
	}

	if err := copyJournal(ctx, in, have, dst, &c); err != nil {
		return c, err
	}
	missing := missingNotifications(in.notifications, have.notifications)
	for _, n := range missing {
		if _, err := to.RecordNotification(ctx, n); err != nil {
			return c, fmt.Errorf("copy notification of %s: %w", n.Recipient, err)
		}
		c.CopiedNotifications++
	}
	pending := map[string]bool{}
	for _, n := range have.notices {
		pending[n.DedupeKey()] = true
	}
	for _, n := range in.notices {
		if pending[n.DedupeKey()] {
			continue
		}
		n.Key = n.DedupeKey()
		if _, err := to.EnqueueNotice(ctx, n); err != nil {
			return c, fmt.Errorf("copy pending notice %d for %s: %w", n.ID, n.Recipient, err)
		}
		c.CopiedNotices++
	}
	if err := copySnapshots(ctx, from, to, in, have, &c); err != nil {
		return c, err
	}
	if err := dst.Check(ctx); err != nil {
		return c, fmt.Errorf("copy state: %w", err)
	}

	after, err := readState(ctx, to, now)
	if err != nil {
		return c, fmt.Errorf("verify the destination state store: %w", err)
	}
	if err := after.covers(in); err != nil {
		return c, fmt.Errorf("verify the destination state store: %w", err)
	}
	return c, nil
}

// state is what Copy reads of a store.
type state struct {
	runs          []Run // oldest first
	entries       map[string][]Entry
	notifications []Notification
	notices       []Notice
	snapshots     []Snapshot // without their findings
}

func readState(ctx context.Context, s Store, now time.Time) (*state, error) {
	runs, err := s.Runs(ctx, 0)
	if err != nil {
		return nil, err
	}
	slices.Reverse(runs)
	st := &state{runs: runs, entries: make(map[string][]Entry, len(runs))}
	for _, r := range runs {
		if st.entries[r.ID], err = s.Entries(ctx, r.ID); err != nil {
			return nil, err
		}
	}
	if st.notifications, err = s.AllNotifications(ctx); err != nil {
		return nil, err
	}
	if st.notices, err = s.PendingNotices(ctx, now); err != nil {
		return nil, err
	}
	if st.snapshots, err = s.Snapshots(ctx, SnapshotQuery{}); err != nil {
		return nil, err
	}
	return st, nil
}

func (s *state) empty() bool {
	return len(s.runs) == 0 && len(s.notifications) == 0 && len(s.notices) == 0 && len(s.snapshots) == 0
}

// copySnapshots writes the snapshots of in that have lacks, one at a time
// with its findings, so that a long history is never all in memory.
func copySnapshots(ctx context.Context, from, to Store, in, have *state, c *CopyCounts) error {
	there := map[string]bool{}
	for _, s := range have.snapshots {
		there[s.RunID] = true
	}
	for _, s := range in.snapshots {
		if there[s.RunID] {
			continue
		}
		full, err := from.GetSnapshot(ctx, s.RunID)
		if err != nil {
			return fmt.Errorf("read the snapshot of run %s: %w", s.RunID, err)
		}
		if err := to.SaveSnapshot(ctx, full); err != nil {
			return fmt.Errorf("copy the snapshot of run %s: %w", s.RunID, err)
		}
		c.CopiedSnapshots++
	}
	return nil
}

// copyJournal writes the runs and entries of in that have lacks, through
// the destination's lease.
func copyJournal(ctx context.Context, in, have *state, dst Lease, c *CopyCounts) error {
	known := map[string]Run{}
	for _, r := range have.runs {
		known[r.ID] = r
	}
	for _, r := range in.runs {
		old, exists := known[r.ID]
		if !exists {
			if err := dst.CreateRun(ctx, r); err != nil {
				return fmt.Errorf("copy run %s: %w", r.ID, err)
			}
			c.CopiedRuns++
		}
		// The destination's entries of the run, by key, in order.
		done := map[entryKey][]Entry{}
		for _, e := range have.entries[r.ID] {
			done[keyOf(e)] = append(done[keyOf(e)], e)
		}
		for _, e := range in.entries[r.ID] {
			k := keyOf(e)
			if there := done[k]; len(there) > 0 {
				done[k] = there[1:]
				// Copied before its result was written (or the copy was cut
				// short between the two): the result only.
				if there[0].Outcome == OutcomePending && e.Outcome != OutcomePending {
					if err := dst.RecordResult(ctx, there[0].ID, resultOf(e)); err != nil {
						return fmt.Errorf("copy the result of the %s of %s in run %s: %w", e.Action, e.AccessKeyID, r.ID, err)
					}
					c.CopiedEntries++
				}
				continue
			}
			intent := e
			intent.ID, intent.Outcome, intent.Detail, intent.RequestID, intent.ResultAt = 0, OutcomePending, "", "", time.Time{}
			id, err := dst.RecordIntent(ctx, intent)
			if err != nil {
				return fmt.Errorf("copy the %s of %s in run %s: %w", e.Action, e.AccessKeyID, r.ID, err)
			}
			if e.Outcome != OutcomePending {
				if err := dst.RecordResult(ctx, id, resultOf(e)); err != nil {
					return fmt.Errorf("copy the result of the %s of %s in run %s: %w", e.Action, e.AccessKeyID, r.ID, err)
				}
			}
			c.CopiedEntries++
		}
		// A run copied before it finished, finished since.
		if exists && old.Status != r.Status && !r.FinishedAt.IsZero() {
			if err := dst.FinishRun(ctx, r.ID, r.Status, r.FinishedAt); err != nil {
				return fmt.Errorf("copy the status of run %s: %w", r.ID, err)
			}
		}
	}
	return nil
}

func resultOf(e Entry) Result {
	return Result{Outcome: e.Outcome, Detail: e.Detail, RequestID: e.RequestID, At: e.ResultAt}
}

// entryKey identifies an entry across stores, whose IDs differ.
type entryKey struct {
	action, actionID, account, keyID string
	intentAt                         int64
}

func keyOf(e Entry) entryKey {
	return entryKey{e.Action, e.ActionID, e.AccountID, e.AccessKeyID, e.IntentAt.UnixNano()}
}

// notificationKey identifies a notification across stores.
type notificationKey struct {
	runID, recipient, channel, itemKey, outcome string
	at                                          int64
}

func notificationKeyOf(n Notification) notificationKey {
	return notificationKey{n.RunID, n.Recipient, n.Channel, n.ItemKey, n.Outcome, n.At.UnixNano()}
}

// missingNotifications are those of in that have lacks, counting repeats.
func missingNotifications(in, have []Notification) []Notification {
	count := map[notificationKey]int{}
	for _, n := range have {
		count[notificationKeyOf(n)]++
	}
	var out []Notification
	for _, n := range in {
		k := notificationKeyOf(n)
		if count[k] > 0 {
			count[k]--
			continue
		}
		n.ID = 0
		out = append(out, n)
	}
	return out
}

// covers fails unless s holds everything in src holds.
func (s *state) covers(src *state) error {
	runs := map[string]bool{}
	for _, r := range s.runs {
		runs[r.ID] = true
	}
	for _, r := range src.runs {
		if !runs[r.ID] {
			return fmt.Errorf("run %s is missing", r.ID)
		}
		have := map[entryKey][]Entry{}
		for _, e := range s.entries[r.ID] {
			have[keyOf(e)] = append(have[keyOf(e)], e)
		}
		for _, e := range src.entries[r.ID] {
			there := have[keyOf(e)]
			if len(there) == 0 {
				return fmt.Errorf("run %s: the %s of %s (action %s) is missing", r.ID, e.Action, e.AccessKeyID, e.ActionID)
			}
			if there[0].Outcome != e.Outcome {
				return fmt.Errorf("run %s: the %s of %s (action %s) has outcome %q, want %q", r.ID, e.Action, e.AccessKeyID, e.ActionID, there[0].Outcome, e.Outcome)
			}
			have[keyOf(e)] = there[1:]
		}
	}
	if m := missingNotifications(src.notifications, s.notifications); len(m) > 0 {
		return fmt.Errorf("%d notifications are missing, the first to %s about %s", len(m), m[0].Recipient, m[0].ItemKey)
	}
	pending := map[string]bool{}
	for _, n := range s.notices {
		pending[n.DedupeKey()] = true
	}
	for _, n := range src.notices {
		if !pending[n.DedupeKey()] {
			return fmt.Errorf("the pending notice for %s (%s) is missing", n.Recipient, n.ItemKey)
		}
	}
	snaps := map[string]bool{}
	for _, sn := range s.snapshots {
		snaps[sn.RunID] = true
	}
	for _, sn := range src.snapshots {
		if !snaps[sn.RunID] {
			return fmt.Errorf("the snapshot of run %s is missing", sn.RunID)
		}
	}
	return nil
}
