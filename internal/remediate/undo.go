package remediate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/keywarden/keywarden/internal/store"
)

// UndoReport is what an undo did, and what it could not undo.
type UndoReport struct {
	Outcome
	// NotUndone lists deletions in the run: a deleted key cannot come back.
	NotUndone []store.Entry
	// Rotated lists the rotations of the run: their new keys and secrets
	// are left in place.
	Rotated []store.Entry
}

// ErrNothingToUndo is returned for a run that deactivated nothing.
var ErrNothingToUndo = errors.New("the run deactivated no key")

// UndoPlan is what undoing a run would do, from the journal and a live
// read of every key the run deactivated.
type UndoPlan struct {
	Run store.Run
	// Reactivate are the keys the run deactivated that are still as it
	// left them.
	Reactivate []store.Entry
	// Changed are keys whose state changed since the run, as far as AWS
	// shows (used after keywarden deactivated them: someone reactivated
	// them, and they are inactive again, perhaps deactivated by incident
	// response). Undo leaves them alone unless asked key by key.
	Changed []UndoChange
	// Unchanged are keys that need nothing or cannot be reactivated: active
	// already, or gone; with why.
	Unchanged []UndoChange
	// Deleted are keys the run deleted: IAM cannot restore them.
	Deleted []store.Entry
	// Rotated are the run's rotations: undo leaves the new key and its
	// secret in place (the old key was never changed by them), since an
	// application may already use the new key.
	Rotated []store.Entry
}

// RotatedLine says, for people, what undo leaves of a rotation.
func RotatedLine(e store.Entry) string {
	newKey, arn, ok := RotationDetail(e.Detail)
	if !ok {
		return fmt.Sprintf("left in place: key %s of %s in %s was rotated; its new key and secret stay", e.AccessKeyID, e.UserName, e.AccountID)
	}
	return fmt.Sprintf("left in place: key %s of %s in %s was rotated; the new key %s and its secret %s stay (undo does not remove a rotation: an application may already use the new key)",
		e.AccessKeyID, e.UserName, e.AccountID, newKey, arn)
}

// UndoChange is a key undo does not simply reactivate, and why.
type UndoChange struct {
	Entry store.Entry
	Why   string
}

// PlanUndo reads the journal of run undone and the live state of every key
// it deactivated.
func (ap *Applier) PlanUndo(ctx context.Context, undone string) (*UndoPlan, error) {
	target, err := ap.Store.GetRun(ctx, undone)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no run %s in the state store; 'keywarden history' lists the runs", undone)
	}
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	if target.Command != "apply" {
		return nil, fmt.Errorf("run %s is an %s, not an apply: only an apply can be undone", undone, target.Command)
	}
	entries, err := ap.Store.Entries(ctx, undone)
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	up := &UndoPlan{Run: target}
	for _, e := range entries {
		switch {
		case e.Action == store.ActionDeactivate && e.Outcome == store.OutcomeDone:
			if why, changed, err := ap.sinceRun(ctx, e); err != nil {
				return nil, err
			} else if why == "" {
				up.Reactivate = append(up.Reactivate, e)
			} else if changed {
				up.Changed = append(up.Changed, UndoChange{e, why})
			} else {
				up.Unchanged = append(up.Unchanged, UndoChange{e, why})
			}
		case e.Action == store.ActionDelete && e.Outcome == store.OutcomeDone:
			up.Deleted = append(up.Deleted, e)
		case e.Action == Rotate && e.Outcome == store.OutcomeDone:
			up.Rotated = append(up.Rotated, e)
		}
	}
	return up, nil
}

// sinceRun reads a key the run deactivated and says what happened to it
// since: "" when it is as the run left it; otherwise why, and whether that
// is a change made by someone else.
func (ap *Applier) sinceRun(ctx context.Context, e store.Entry) (why string, changed bool, err error) {
	live, err := liveKey(ctx, ap.ClientFor(e.AccountID), e.UserName, e.AccessKeyID)
	var noUser *types.NoSuchEntityException
	switch {
	case errors.As(err, &noUser) || (err == nil && live == nil):
		return "the key no longer exists (deleted since); it cannot be reactivated", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read key %s of %s in %s: %s", e.AccessKeyID, e.UserName, e.AccountID, apiMessage(err))
	case live.status == StatusActive:
		return "the key is already active", false, nil
	}
	deactivated := e.ResultAt
	if deactivated.IsZero() {
		deactivated = e.IntentAt
	}
	// The journal says whose deactivation is in force: the run's, a later
	// run's, or none (keywarden reactivated the key since; someone else
	// deactivated it again).
	since, ok, err := ap.Store.DeactivatedAt(ctx, e.AccountID, e.AccessKeyID)
	switch {
	case err != nil:
		return "", false, fmt.Errorf("read the journal: %w", err)
	case !ok:
		return fmt.Sprintf("keywarden reactivated it after run %s, and it was deactivated again since by someone else, perhaps on purpose (a leaked key)", e.RunID), true, nil
	case since.After(deactivated.Add(time.Second)):
		return fmt.Sprintf("reactivated and deactivated again by a later keywarden run (at %s): that run's undo reactivates it", since.UTC().Format(time.RFC3339)), false, nil
	}
	// An inactive key cannot be used: a use after keywarden deactivated it
	// means someone reactivated it since, and it was deactivated again.
	if live.lastUsed != nil && live.lastUsed.After(deactivated.Truncate(time.Second)) {
		return fmt.Sprintf("used at %s, after keywarden deactivated it at %s: it was reactivated and deactivated again since, perhaps on purpose (a leaked key)",
			live.lastUsed.Format(time.RFC3339), deactivated.UTC().Format(time.RFC3339)), true, nil
	}
	return "", false, nil
}

// Undo reactivates the keys of an undo plan as run runID: those still as
// the run left them, and of the changed ones only those in force (by key
// ID), each read again right before. Keys deleted are listed, not
// restored: IAM cannot bring a deleted key back.
func (ap *Applier) Undo(ctx context.Context, up *UndoPlan, runID string, force map[string]bool) (*UndoReport, error) {
	undone := up.Run.ID
	rep := &UndoReport{Outcome: Outcome{RunID: runID}, NotUndone: up.Deleted, Rotated: up.Rotated}
	todo := append([]store.Entry(nil), up.Reactivate...)
	forced := map[string]bool{}
	for _, c := range up.Changed {
		if force[c.Entry.AccessKeyID] {
			todo = append(todo, c.Entry)
			forced[c.Entry.AccessKeyID] = true
		}
	}
	if len(todo) == 0 {
		if len(up.Reactivate)+len(up.Changed)+len(up.Unchanged)+len(up.Rotated) == 0 {
			return rep, fmt.Errorf("%w (run %s)", ErrNothingToUndo, undone)
		}
		return rep, nil
	}
	lease, err := ap.Store.Acquire(ctx, runID, lockStaleAfter)
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	if err := lease.CreateRun(ctx, store.Run{ID: runID, Command: "undo", UndoOf: undone, PolicyHash: ap.Policy.Hash,
		Caller: ap.Caller, Status: store.RunRunning, StartedAt: ap.now()}); err != nil {
		return nil, fmt.Errorf("record the run: %w", err)
	}
	for _, d := range todo {
		if ctx.Err() != nil {
			break
		}
		e := store.Entry{RunID: runID, ActionID: d.ActionID, Action: store.ActionReactivate,
			AccountID: d.AccountID, UserName: d.UserName, AccessKeyID: d.AccessKeyID,
			Rule: d.Rule, Stage: d.Stage, Reason: "undo of run " + undone, KeyStatus: StatusInactive,
			KeyCreatedAt: d.KeyCreatedAt, Caller: ap.Caller, IntentAt: ap.now()}
		if forced[d.AccessKeyID] {
			e.Reason += ", asked for this key although it changed since the run"
		}
		id, err := lease.RecordIntent(ctx, e)
		if err != nil {
			return rep, fmt.Errorf("journal the intent to reactivate %s: %w", d.AccessKeyID, err)
		}
		res := ActionResult{Action: Action{Type: store.ActionReactivate, AccountID: d.AccountID, UserName: d.UserName, AccessKeyID: d.AccessKeyID}}
		if err := lease.Check(ctx); err != nil {
			return rep, fmt.Errorf("stopped before reactivating %s: %w", d.AccessKeyID, err)
		}
		res.Outcome, res.Detail, res.RequestID = ap.reactivate(ctx, d, forced[d.AccessKeyID])
		if err := lease.RecordResult(context.WithoutCancel(ctx), id, store.Result{Outcome: res.Outcome, Detail: res.Detail, RequestID: res.RequestID, At: ap.now()}); err != nil {
			return rep, fmt.Errorf("journal the result of reactivating %s: %w", d.AccessKeyID, err)
		}
		ap.report(&rep.Outcome, res)
	}
	rep.Status = runStatus(ctx, &rep.Outcome, len(todo))
	if err := lease.FinishRun(context.WithoutCancel(ctx), runID, rep.Status, ap.now()); err != nil {
		return rep, fmt.Errorf("record the run's end: %w", err)
	}
	return rep, ctx.Err()
}

// reactivate reads the key again right before reactivating it: a key that
// changed since the run is left alone unless forced.
func (ap *Applier) reactivate(ctx context.Context, d store.Entry, forced bool) (outcome, detail, requestID string) {
	why, changed, err := ap.sinceRun(ctx, d)
	switch {
	case err != nil:
		return store.OutcomeFailed, "re-read the key: " + err.Error(), ""
	case why == "the key is already active":
		return store.OutcomeAlreadyDone, why, ""
	case why != "" && !changed:
		return store.OutcomeSkipped, why, ""
	case changed && !forced:
		return store.OutcomeSkipped, "changed since the run: " + why, ""
	}
	out, err := ap.ClientFor(d.AccountID).UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(d.UserName),
		AccessKeyId: aws.String(d.AccessKeyID), Status: types.StatusTypeActive})
	if err != nil {
		return store.OutcomeFailed, apiMessage(err), requestIDOf(err)
	}
	return store.OutcomeDone, "", requestIDFrom(out.ResultMetadata)
}
