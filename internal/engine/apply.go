package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// ApplyRequest is one apply.
type ApplyRequest struct {
	Plan *remediate.Plan
	// Scan, when set, is the scan the plan was made from in this process
	// (plan and apply in one go); it is the live view. Otherwise the plan
	// came from a file: apply reads its accounts again with Read, and
	// judges every action again by the current policy.
	Scan *ScanResult
	// Read says how to read the plan's accounts again (source, parallel,
	// timeout); its selection is ignored: the plan's accounts are read.
	Read                Read
	UnsafeAllowBulk     bool
	UnsafeAllowForecast bool
	// Confirm, if set, is asked before anything changes, with the plan
	// narrowed to what the live view agrees with; an error cancels the
	// apply and is returned.
	Confirm func(*remediate.Prepared) error
	// Progress, if set, is told each action's result as it happens.
	Progress func(remediate.ActionResult)
	// Started, if set, is told the run's ID before the first action, and
	// whether the run resumes an interrupted one.
	Started func(runID string, resumed bool)
}

// ApplyResult is what an apply did.
type ApplyResult struct {
	// Prepared is the plan narrowed to what the live view agrees with;
	// set whenever the plan was checked, even if the apply was refused.
	Prepared *remediate.Prepared
	// Outcome is set once actions started.
	Outcome *remediate.Outcome
	// Notifications is what became of telling people; nil when there was
	// nothing to tell.
	Notifications *NotifyReport
}

// ErrNothingToApply is returned when a plan has no action left to take.
var ErrNothingToApply = errors.New("nothing to apply")

// Apply carries out a plan: it never trusts the plan beyond what it
// proposes. Every action's key is read again and judged by the current
// policy, the limits are computed from what will be done, and each action
// is journaled before and after its AWS call. Notifications go out after,
// whatever the outcome.
func (e *Engine) Apply(ctx context.Context, req ApplyRequest) (*ApplyResult, error) {
	if e.Store == nil {
		return nil, errors.New("apply needs a state store for its journal")
	}
	nt := e.newNotifier()
	ap := e.applier(req.Progress, nt.detail())
	ap.UnsafeAllowBulk, ap.UnsafeAllowForecast, ap.Started = req.UnsafeAllowBulk, req.UnsafeAllowForecast, req.Started
	if err := ap.Check(ctx, req.Plan); err != nil {
		return nil, err
	}
	live, err := e.liveView(ctx, req)
	if err != nil {
		return nil, err
	}
	res := &ApplyResult{}
	res.Prepared, err = ap.Prepare(ctx, req.Plan, live)
	if err != nil {
		return res, err
	}
	if len(res.Prepared.ToDo) == 0 && len(res.Prepared.Dropped) == 0 {
		return res, ErrNothingToApply
	}
	if req.Confirm != nil {
		if err := req.Confirm(res.Prepared); err != nil {
			return res, err
		}
	}
	out, err := ap.Execute(ctx, res.Prepared, e.Hub.RunID)
	res.Outcome = out
	if out != nil {
		res.Notifications = nt.deliver(ctx, req.Plan, out, live.Inventory)
	}
	return res, err
}

// applier is the executor for this engine's hub, policy and store.
func (e *Engine) applier(progress func(remediate.ActionResult), notifyDetail string) *remediate.Applier {
	return &remediate.Applier{
		Store: e.Store, Policy: e.Policy, Caller: e.Hub.CallerARN, CallerKeyID: e.Hub.KeyID, Now: e.Now, Log: e.log(),
		ClientFor: func(accountID string) remediate.KeyAPI { return iam.NewFromConfig(e.Hub.Config(accountID, nil)) },
		Progress:  progress, NotifyDetail: notifyDetail,
	}
}

// liveView is what the current policy makes of the plan's accounts now:
// the scan the plan was just made from, or a fresh read of the accounts a
// saved plan acts in.
func (e *Engine) liveView(ctx context.Context, req ApplyRequest) (*remediate.LiveView, error) {
	var journalErr error
	live := &remediate.LiveView{AsOf: e.now(), InactiveSince: e.inactiveSince(ctx, &journalErr)}
	if req.UnsafeAllowForecast && req.Plan.AsOf.After(live.AsOf) {
		live.AsOf = req.Plan.AsOf
	}
	if req.Scan != nil {
		live.Inventory, live.Findings, live.Plan = req.Scan.Inventory, req.Scan.Findings, req.Plan
		return live, nil
	}
	users := map[string]map[string]bool{}
	var accounts []string
	for _, a := range req.Plan.Actions {
		if users[a.AccountID] == nil {
			users[a.AccountID] = map[string]bool{}
			accounts = append(accounts, a.AccountID)
		}
		users[a.AccountID][a.UserName] = true
	}
	if len(accounts) == 0 {
		live.Inventory = &inventory.Inventory{}
		live.Plan = &remediate.Plan{}
		return live, nil
	}
	sort.Strings(accounts)
	r := req.Read
	r.Selection = inventory.Selection{Accounts: accounts}
	r.AsOf = live.AsOf
	// Key IDs for every user the plan names: those are the keys it acts on.
	r.needKeyIDs = func(u inventory.User, _ time.Time) bool {
		for _, us := range users {
			if us[u.Name] {
				return true
			}
		}
		return false
	}
	sc, err := e.Scan(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("read the plan's accounts again: %w", err)
	}
	pl, err := e.makePlan(ctx, sc)
	if err != nil {
		return nil, err
	}
	if journalErr != nil {
		return nil, fmt.Errorf("read the journal: %w", journalErr)
	}
	live.Inventory, live.Findings, live.Plan = sc.Inventory, sc.Findings, pl
	return live, nil
}

// UndoRequest is one undo.
type UndoRequest struct {
	// RunID is the apply run to undo.
	RunID string
	// Confirm, if set, is asked before anything changes, with what the
	// run deactivated; an error cancels the undo and is returned.
	Confirm func(UndoPreview) error
	// Progress, if set, is told each reactivation as it happens.
	Progress func(remediate.ActionResult)
}

// UndoPreview is what an undo is about to reactivate.
type UndoPreview struct {
	Run         store.Run
	Deactivated []store.Entry // keys the run deactivated, to reactivate
	Deleted     []store.Entry // keys the run deleted: IAM cannot restore them
}

// PreviewUndo reads from the journal what undoing a run would reactivate.
func (e *Engine) PreviewUndo(ctx context.Context, runID string) (UndoPreview, error) {
	run, err := e.Store.GetRun(ctx, runID)
	if errors.Is(err, store.ErrNotFound) {
		return UndoPreview{}, fmt.Errorf("no run %s in the state store; 'keywarden history' lists the runs", runID)
	}
	if err != nil {
		return UndoPreview{}, fmt.Errorf("read the journal: %w", err)
	}
	entries, err := e.Store.Entries(ctx, runID)
	if err != nil {
		return UndoPreview{}, fmt.Errorf("read the journal: %w", err)
	}
	p := UndoPreview{Run: run}
	for _, en := range entries {
		switch {
		case en.Action == store.ActionDeactivate && en.Outcome == store.OutcomeDone:
			p.Deactivated = append(p.Deactivated, en)
		case en.Action == store.ActionDelete && en.Outcome == store.OutcomeDone:
			p.Deleted = append(p.Deleted, en)
		}
	}
	return p, nil
}

// Undo reactivates the keys an apply run deactivated, as this engine's run.
func (e *Engine) Undo(ctx context.Context, req UndoRequest) (*remediate.UndoReport, error) {
	if e.Store == nil {
		return nil, errors.New("undo needs the state store that journaled the run")
	}
	preview, err := e.PreviewUndo(ctx, req.RunID)
	if err != nil {
		return nil, err
	}
	if req.Confirm != nil && len(preview.Deactivated) > 0 {
		if err := req.Confirm(preview); err != nil {
			return nil, err
		}
	}
	return e.applier(req.Progress, "").Undo(ctx, req.RunID, e.Hub.RunID)
}
