// Package store keeps keywarden's state: the runs of apply and undo, and a
// journal of every action, written as an intent before the AWS call and as a
// result after it, so that an interrupted apply resumes without doing
// anything twice. It also answers when keywarden deactivated a key, which
// AWS does not record, and whom it told about what, and when, so that a
// warning is not repeated too soon.
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
	// ErrNotFound: no such run.
	ErrNotFound = errors.New("not found")
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

// Store is keywarden's state.
type Store interface {
	// Lock takes the store's apply lock for holder (a run ID) or fails with
	// ErrLocked naming who holds it. The store refreshes a held lock while
	// its holder lives; a lock not refreshed for staleAfter is taken over
	// (its holder died). staleAfter <= 0: never taken over.
	Lock(ctx context.Context, holder string, staleAfter time.Duration) (unlock func() error, err error)

	CreateRun(ctx context.Context, r Run) error
	FinishRun(ctx context.Context, id, status string, at time.Time) error
	// ReopenRun marks a run that was interrupted as running again, so that
	// resuming it keeps one run (and one undo) for the whole apply.
	ReopenRun(ctx context.Context, id string) error
	GetRun(ctx context.Context, id string) (Run, error)
	// Runs lists runs, newest first, at most limit (0: all).
	Runs(ctx context.Context, limit int) ([]Run, error)
	// RunsForPlan lists the runs that applied a plan, oldest first.
	RunsForPlan(ctx context.Context, planID string) ([]Run, error)

	// RecordIntent writes an action before it is attempted and returns its ID.
	RecordIntent(ctx context.Context, e Entry) (int64, error)
	// RecordResult writes what happened to an action.
	RecordResult(ctx context.Context, id int64, r Result) error
	// Entries lists a run's actions in the order they were written.
	Entries(ctx context.Context, runID string) ([]Entry, error)
	// PlanEntries lists the actions of every run of a plan, in order.
	PlanEntries(ctx context.Context, planID string) ([]Entry, error)

	// DeactivatedAt says since when keywarden has kept a key deactivated:
	// the start of its current deactivation, if no undo reactivated it since.
	DeactivatedAt(ctx context.Context, accountID, keyID string) (time.Time, bool, error)

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

	Close() error
}
