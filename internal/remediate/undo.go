package remediate

import (
	"context"
	"errors"
	"fmt"

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
}

// ErrNothingToUndo is returned for a run that deactivated nothing.
var ErrNothingToUndo = errors.New("the run deactivated no key")

// Undo reactivates the keys that run undone deactivated, as run runID. Keys
// it deleted are listed, not restored: IAM cannot bring a deleted key back.
func (ap *Applier) Undo(ctx context.Context, undone, runID string) (*UndoReport, error) {
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
	rep := &UndoReport{Outcome: Outcome{RunID: runID}}
	var todo []store.Entry
	for _, e := range entries {
		switch {
		case e.Action == store.ActionDeactivate && e.Outcome == store.OutcomeDone:
			todo = append(todo, e)
		case e.Action == store.ActionDelete && e.Outcome == store.OutcomeDone:
			rep.NotUndone = append(rep.NotUndone, e)
		}
	}
	if len(todo) == 0 {
		return rep, fmt.Errorf("%w (run %s)", ErrNothingToUndo, undone)
	}
	unlock, err := ap.Store.Lock(ctx, runID, lockStaleAfter)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := ap.Store.CreateRun(ctx, store.Run{ID: runID, Command: "undo", UndoOf: undone, PolicyHash: ap.Policy.Hash,
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
		id, err := ap.Store.RecordIntent(ctx, e)
		if err != nil {
			return rep, fmt.Errorf("journal the intent to reactivate %s: %w", d.AccessKeyID, err)
		}
		res := ActionResult{Action: Action{Type: store.ActionReactivate, AccountID: d.AccountID, UserName: d.UserName, AccessKeyID: d.AccessKeyID}}
		res.Outcome, res.Detail, res.RequestID = ap.reactivate(ctx, d)
		if err := ap.Store.RecordResult(context.WithoutCancel(ctx), id, store.Result{Outcome: res.Outcome, Detail: res.Detail, RequestID: res.RequestID, At: ap.now()}); err != nil {
			return rep, fmt.Errorf("journal the result of reactivating %s: %w", d.AccessKeyID, err)
		}
		ap.report(&rep.Outcome, res)
	}
	rep.Status = runStatus(ctx, &rep.Outcome, len(todo))
	if err := ap.Store.FinishRun(context.WithoutCancel(ctx), runID, rep.Status, ap.now()); err != nil {
		return rep, fmt.Errorf("record the run's end: %w", err)
	}
	return rep, ctx.Err()
}

func (ap *Applier) reactivate(ctx context.Context, d store.Entry) (outcome, detail, requestID string) {
	client := ap.ClientFor(d.AccountID)
	live, err := liveKey(ctx, client, d.UserName, d.AccessKeyID)
	var noUser *types.NoSuchEntityException
	switch {
	case errors.As(err, &noUser) || (err == nil && live == nil):
		return store.OutcomeSkipped, "the key no longer exists (deleted since); it cannot be reactivated", ""
	case err != nil:
		return store.OutcomeFailed, "re-read the key: " + apiMessage(err), ""
	case live.status == StatusActive:
		return store.OutcomeAlreadyDone, "the key is already active", ""
	}
	out, err := client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(d.UserName),
		AccessKeyId: aws.String(d.AccessKeyID), Status: types.StatusTypeActive})
	if err != nil {
		return store.OutcomeFailed, apiMessage(err), requestIDOf(err)
	}
	return store.OutcomeDone, "", requestIDFrom(out.ResultMetadata)
}
