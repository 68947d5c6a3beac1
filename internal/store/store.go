// Package store keeps keywarden's state: the runs of apply and undo, and a
// journal of every action, written as an intent before the AWS call and as a
// result after it, so that an interrupted apply resumes without doing
// anything twice. It keeps a snapshot of what every scheduled scan found,
// for trends. It also answers when keywarden deactivated a key, which
// AWS does not record, and whom it told about what, and when, so that a
// warning is not repeated too soon.
//
// One apply or undo at a time holds the store's lock, as a Lease with a
// fencing token; its journal writes go through the Lease, so that a run
// that lost the lock (paused past its lease and taken over) can write
// nothing more. An outbox keeps the notices whose delivery failed until a
// later run delivers them or they expire.
//
// Store is the interface; SQLite (package store/sqlite) is the embedded
// default. Other backends implement the same interface and pass the
// same conformance suite (storetest).
package store

import (
	"context"
	"errors"
	"time"
)

// Errors callers branch on.
var (
	// ErrLocked: another apply or undo holds the state store.
	ErrLocked = errors.New("another keywarden apply is running against this state store")
	// ErrLockLost: the lock a Lease stood for is no longer held by it: it
	// was taken over as stale by another run (the error names it), or
	// released. Whoever gets it must stop acting: another run may be
	// acting now.
	ErrLockLost = errors.New("this run no longer holds the state store lock")
	// ErrNotFound: no such run or notice.
	ErrNotFound = errors.New("not found")
	// ErrSnapshotExists: the run has a snapshot already.
	ErrSnapshotExists = errors.New("the run has a snapshot already")
)

// Run statuses.
const (
	RunRunning     = "running"
	RunDone        = "done"        // every action has a result
	RunFailed      = "failed"      // some action failed
	RunInterrupted = "interrupted" // stopped before every action had a result
)

// Run is one apply or undo.
type Run struct {
	ID         string
	Command    string // apply or undo
	PlanID     string // the plan applied; for undo, ""
	UndoOf     string // for undo, the run undone
	PolicyHash string
	Caller     string // the ARN that acted
	Status     string
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
}

// Journal actions.
const (
	ActionDeactivate = "deactivate"
	ActionDelete     = "delete"
	ActionReactivate = "reactivate"
	ActionNotify     = "notify"
	// ActionRotate creates a new key for the user and stores it; its entry
	// names the old key, and its Detail the new key's ID and the ARN of
	// the secret that holds it (never the secret access key).
	ActionRotate = "rotate"
)

// Outcomes of an action.
const (
	OutcomePending     = ""             // intent written, no result yet
	OutcomeDone        = "done"         // changed as intended
	OutcomeAlreadyDone = "already-done" // the key was already in the wanted state
	OutcomeSkipped     = "skipped"      // not done, on purpose (Detail says why)
	OutcomeFailed      = "failed"       // AWS refused or errored (Detail says why)
)

// Entry is one action in the journal.
type Entry struct {
	ID       int64 // assigned by RecordIntent
	RunID    string
	PlanID   string
	ActionID string // the plan's ID for the action, stable across resumed runs
	Action   string

	AccountID   string
	UserName    string
	AccessKeyID string

	// Why: the rule and stage that asked for it, with its reason for people.
	Rule   string
	Stage  string
	Reason string
	// The key's state the action relied on.
	KeyStatus     string
	KeyCreatedAt  time.Time
	KeyLastUsedAt time.Time

	Caller   string // who acted (ARN)
	IntentAt time.Time

	Outcome   string
	Detail    string // why skipped or failed, for people
	RequestID string // the AWS request ID of the call that acted
	ResultAt  time.Time
}

// Result is what happened to an action.
type Result struct {
	Outcome   string
	Detail    string
	RequestID string
	At        time.Time
}

// Notification outcomes.
const (
	NotificationSent   = "sent"   // the channel accepted the digest
	NotificationFailed = "failed" // every attempt failed (Detail says why)
)

// Notification is one item of a digest and what became of telling one
// recipient about it. Delivery is recorded per item so that a warning is
// not repeated to the same recipient too soon (NotifiedAt).
type Notification struct {
	ID    int64 // assigned by RecordNotification
	RunID string
	// Recipient identifies who was told, as channel:contact
	// ("email:alice@example.com"), the same for every run.
	Recipient string
	Channel   string
	// ItemKey identifies what was said, e.g.
	// "warn/111111111111/alice/AKIA…/max_age/warn".
	ItemKey string

	AccountID   string
	UserName    string
	AccessKeyID string

	Outcome  string // NotificationSent or NotificationFailed
	Detail   string // why it failed, for people; never a secret
	Attempts int
	At       time.Time
}

// Notice statuses.
const (
	NoticePending   = "pending"   // not delivered yet: retried until delivered or expired
	NoticeDelivered = "delivered" // the channel accepted it
	NoticeExpired   = "expired"   // given up: its ExpiresAt passed before delivery
)

// Notice is a message waiting in the outbox to be delivered to one
// recipient: a digest (or other message) whose delivery failed, kept until
// a later run delivers it or it expires.
type Notice struct {
	ID int64 // assigned by EnqueueNotice
	// Key de-duplicates: the outbox keeps at most one pending notice per
	// Key. Empty: DedupeKey derives it from Recipient and ItemKey. Read
	// back from the store, Key is the DedupeKey.
	Key string

	RunID string // the run that enqueued it
	// Recipient and Channel as in Notification ("email:alice@example.com").
	Recipient string
	Channel   string
	// ItemKey identifies what the notice says (an item, or a digest).
	ItemKey string
	// Payload is the rendered message, as JSON, ready for its channel.
	// Never a secret: a new key's secret is in Secrets Manager, and a
	// notice says only where.
	Payload []byte

	Status    string // NoticePending, NoticeDelivered or NoticeExpired
	Attempts  int    // delivery attempts so far (each claim counts one)
	LastError string // why the last attempt failed, for people; never a secret

	CreatedAt     time.Time
	NextAttemptAt time.Time // not due before then
	ExpiresAt     time.Time // given up from then on; zero: never
	DeliveredAt   time.Time // zero until delivered
}

// DedupeKey is the key the outbox de-duplicates n by: n.Key, or if it is
// empty, n.Recipient and n.ItemKey joined by a space.
func (n Notice) DedupeKey() string {
	if n.Key != "" {
		return n.Key
	}
	return n.Recipient + " " + n.ItemKey
}

// JournalWriter is the journal's writes: a Store's (unfenced) and a
// Lease's (fenced: refused once the lease is lost).
type JournalWriter interface {
	// CreateRun records a new run; its ID must be new.
	CreateRun(ctx context.Context, r Run) error
	// FinishRun sets a run's final status and finish time, or fails with
	// ErrNotFound.
	FinishRun(ctx context.Context, id, status string, at time.Time) error
	// ReopenRun marks a run that was interrupted as running again, so that
	// resuming it keeps one run (and one undo) for the whole apply; or
	// fails with ErrNotFound.
	ReopenRun(ctx context.Context, id string) error
	// RecordIntent writes an action before it is attempted and returns its
	// ID. The entry must carry no result, and its run must exist.
	RecordIntent(ctx context.Context, e Entry) (int64, error)
	// RecordResult writes what happened to an action. An entry gets one
	// result; a second one is an error; an unknown ID is ErrNotFound.
	RecordResult(ctx context.Context, id int64, r Result) error
}

// Lease is the store's lock, held by one run: what Store.Acquire returns.
//
// Its fencing token is a generation number that grows with every taking of
// the lock, takeovers included, so it names one holding. Its journal
// writes (JournalWriter) are fenced: each is refused with ErrLockLost,
// writing nothing, unless the lock's stored generation is still Token —
// checked in the same atomic step as the write (in SQLite one transaction;
// in DynamoDB one TransactWriteItems with a ConditionCheck on the lock
// item's generation). Once a lease is known lost it stays lost.
//
// The store refreshes a held lease's heartbeat in the background; when the
// heartbeat finds the lease lost it stops, closes Lost, and never takes the
// lock back.
type Lease interface {
	// Holder is who holds it (the holder given to Acquire).
	Holder() string
	// Token is the lease's fencing token, > 0; a later holding of the lock
	// has a greater one.
	Token() int64
	// Check confirms the lease is still held, and renews its heartbeat so
	// that a takeover needs a full staleAfter from now. It fails with
	// ErrLockLost, naming who holds the lock now, if the lease was taken
	// over or released. Call it before every AWS action.
	Check(ctx context.Context) error
	// Lost is closed once the store has seen the lease lost (by the
	// heartbeat, Check, or a refused write); never by Release.
	Lost() <-chan struct{}
	// Release frees the lock if the lease still holds it and stops the
	// heartbeat. It fails, wrapping ErrLockLost, if the lease was lost.
	// Calling it again returns the same result.
	Release() error

	// The journal writes, fenced.
	JournalWriter
}

// Store is keywarden's state.
type Store interface {
	// Acquire takes the store's lock for holder (a run ID) or fails with
	// ErrLocked naming who holds it, even if that is holder itself. A lock
	// whose heartbeat is older than staleAfter is taken over (its holder
	// died or hung): the taker gets a new Token, and the former holder's
	// Check and fenced writes fail from then on. A lock held by a process
	// on this host that is gone is taken over at once. staleAfter <= 0: a
	// held lock is never taken over, and its heartbeat is not refreshed.
	Acquire(ctx context.Context, holder string, staleAfter time.Duration) (Lease, error)

	// The journal writes, unfenced: for callers that hold no lock. An
	// apply or undo writes through its Lease instead.
	JournalWriter

	GetRun(ctx context.Context, id string) (Run, error)
	// Runs lists runs, newest first, at most limit (0: all).
	Runs(ctx context.Context, limit int) ([]Run, error)
	// RunsForPlan lists the runs that applied a plan, oldest first.
	RunsForPlan(ctx context.Context, planID string) ([]Run, error)

	// Entries lists a run's actions in the order they were written.
	Entries(ctx context.Context, runID string) ([]Entry, error)
	// PlanEntries lists the actions of every run of a plan, in order.
	PlanEntries(ctx context.Context, planID string) ([]Entry, error)

	// DeactivatedAt says since when keywarden has kept a key deactivated:
	// the start of its current deactivation, if no undo reactivated it since.
	DeactivatedAt(ctx context.Context, accountID, keyID string) (time.Time, bool, error)
	// LastRotation is the latest rotation of a key (the rotate action whose
	// old key it is) that was done; false when it never was.
	LastRotation(ctx context.Context, accountID, keyID string) (Entry, bool, error)

	// RecordNotification writes what became of telling a recipient about
	// an item, and returns its ID. n.Recipient, n.ItemKey and n.Outcome
	// are required.
	RecordNotification(ctx context.Context, n Notification) (int64, error)
	// NotifiedAt says when a recipient was last told about an item: the
	// latest sent notification's time; false when it never was.
	NotifiedAt(ctx context.Context, recipient, itemKey string) (time.Time, bool, error)
	// Notifications lists a run's notifications in the order they were
	// written.
	Notifications(ctx context.Context, runID string) ([]Notification, error)
	// AllNotifications lists every notification, of every run (scans
	// included, which have no Run), in the order they were written: for
	// copying a store (Copy).
	AllNotifications(ctx context.Context) ([]Notification, error)

	// EnqueueNotice puts a notice in the outbox, pending, and returns its
	// ID. If a pending notice with the same DedupeKey is there and not
	// expired at n.CreatedAt, it is kept unchanged and its ID returned
	// (one a pending notice expired by then is marked expired first).
	// n.Recipient and a non-empty n.Payload are required, and n.Key or
	// n.ItemKey. n.ID, n.Status and n.DeliveredAt are ignored; n.Attempts
	// and n.LastError carry attempts made before enqueuing. Zero
	// n.CreatedAt: now; zero n.NextAttemptAt: due at n.CreatedAt.
	EnqueueNotice(ctx context.Context, n Notice) (int64, error)
	// ClaimNotices returns up to limit (0: all) notices due at now —
	// pending, NextAttemptAt <= now, ExpiresAt zero or after now —
	// oldest (CreatedAt, then ID) first, and claims them in the same step:
	// each one's Attempts grows by one and its NextAttemptAt becomes
	// now+hold, so that another caller does not get it before then (a
	// claimer that dies leaves it due again at now+hold). The notices are
	// returned as claimed. hold must be > 0. The claimer settles each with
	// MarkNoticeDelivered or MarkNoticeFailed.
	ClaimNotices(ctx context.Context, now time.Time, hold time.Duration, limit int) ([]Notice, error)
	// MarkNoticeDelivered records that a notice was delivered at at; from
	// then on it is never due. A pending or expired notice becomes
	// delivered; a delivered one is left as it is (no error). Unknown ID:
	// ErrNotFound.
	MarkNoticeDelivered(ctx context.Context, id int64, at time.Time) error
	// MarkNoticeFailed records that an attempt to deliver a pending notice
	// failed (errText, for people, never a secret) and when to try next
	// (the caller's backoff). A notice no longer pending (delivered or
	// expired meanwhile) is left as it is (no error): a late failure does
	// not undo a delivery. Unknown ID: ErrNotFound.
	MarkNoticeFailed(ctx context.Context, id int64, errText string, nextAttempt time.Time) error
	// ExpireNotices marks the pending notices whose ExpiresAt is at or
	// before now as expired, and says how many.
	ExpireNotices(ctx context.Context, now time.Time) (int, error)
	// PendingNotices lists the pending notices not expired at now, due or
	// not, oldest first: for history and 'notify --retry --dry-run'.
	PendingNotices(ctx context.Context, now time.Time) ([]Notice, error)

	// SaveSnapshot keeps what a scan found. s.RunID is required and must
	// have no snapshot yet (ErrSnapshotExists); s.At is required. Empty
	// s.Counts are computed from s.Findings (SnapshotCounts). A snapshot
	// is seen whole or not at all.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// Snapshots lists the snapshots q selects, newest (At, then RunID)
	// first, with their accounts and counts but without their findings.
	Snapshots(ctx context.Context, q SnapshotQuery) ([]Snapshot, error)
	// GetSnapshot returns a run's snapshot with its findings, in the order
	// they were saved, or ErrNotFound.
	GetSnapshot(ctx context.Context, runID string) (Snapshot, error)
	// PruneSnapshots deletes the snapshots r selects and says how many.
	PruneSnapshots(ctx context.Context, r Retention) (int, error)

	Close() error
}

// Lock is Acquire for a caller that does not fence: unlock is the Lease's
// Release. Every backend gets it from Acquire; prefer Acquire and the
// Lease's writes.
func Lock(ctx context.Context, s Store, holder string, staleAfter time.Duration) (unlock func() error, err error) {
	l, err := s.Acquire(ctx, holder, staleAfter)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// KeepAlive is a held lock's heartbeat, the same for every backend: every
// staleAfter/3 (at most every minInterval) it calls renew, until ctx ends,
// done is closed, or renew reports that the lock is no longer this
// holding, when it calls lost and stops. A renew that fails (throttled,
// busy) is tried again at the next tick; the heartbeat never takes a lost
// lock back. staleAfter <= 0: the lock never goes stale, nothing to do.
func KeepAlive(ctx context.Context, staleAfter, minInterval time.Duration, done <-chan struct{},
	renew func(context.Context) (bool, error), lost func()) {
	if staleAfter <= 0 {
		return
	}
	t := time.NewTicker(max(staleAfter/3, minInterval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-done:
			return
		case <-t.C:
		}
		held, err := renew(ctx)
		if err != nil {
			continue
		}
		if !held {
			lost()
			return
		}
	}
}
