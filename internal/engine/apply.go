package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"

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
	// Deadline, if set, is when the apply must have stopped: no action
	// starts unless ActionTime is left (remediate.Applier).
	Deadline   time.Time
	ActionTime time.Duration
	// Stop, if set, stops the apply once closed: no action starts after
	// that; the one in progress finishes and is journaled
	// (remediate.ErrStopped).
	Stop <-chan struct{}

	// demand is the rotation asked for by hand the plan was made for
	// (Rotate); every action is judged again with it.
	demand *remediate.Demand
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
	if req.Plan.Changes() {
		if err := e.checkClock("apply"); err != nil {
			return nil, err
		}
	}
	nt := e.newNotifier()
	ap := e.applier(req.Progress, nt.detail())
	ap.UnsafeAllowBulk, ap.UnsafeAllowForecast, ap.Started = req.UnsafeAllowBulk, req.UnsafeAllowForecast, req.Started
	ap.Deadline, ap.ActionTime, ap.Stop, ap.Demand = req.Deadline, req.ActionTime, req.Stop, req.demand
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
	var acting []string
	for _, a := range res.Prepared.ToDo {
		if a.Type != remediate.Notify {
			acting = append(acting, a.AccountID)
		}
	}
	if err := e.checkActRole(ctx, "apply", acting); err != nil {
		return res, err
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
	if err == nil && ctx.Err() != nil {
		// Ctrl-C during delivery: the actions are done, the rest of the
		// notices are in the outbox, and the run still ends as interrupted.
		err = ctx.Err()
	}
	return res, err
}

// applier is the executor for this engine's hub, policy and store.
func (e *Engine) applier(progress func(remediate.ActionResult), notifyDetail string) *remediate.Applier {
	return &remediate.Applier{
		Store: e.Store, Policy: e.Policy, Caller: e.Hub.CallerARN, CallerKeyID: e.Hub.KeyID, Now: e.Now, Log: e.log(),
		ClientFor: func(accountID string) remediate.KeyAPI { return iam.NewFromConfig(e.Hub.ActConfig(accountID, nil)) },
		SecretsFor: func(accountID, region string) remediate.SecretsAPI {
			cfg := e.Hub.ActConfig(accountID, nil)
			if region != "" {
				cfg.Region = region
			}
			return secretsmanager.NewFromConfig(cfg)
		},
		SecretsRegion: e.Hub.Base.Region,
		Progress:      progress, NotifyDetail: notifyDetail,
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
	// Force names keys (by access key ID) to reactivate although they
	// changed since the run (someone else deactivated them again).
	Force []string
	// Confirm, if set, is asked before anything changes, with what undo
	// will reactivate and what it leaves alone; an error cancels the undo
	// and is returned.
	Confirm func(*remediate.UndoPlan) error
	// Progress, if set, is told each reactivation as it happens.
	Progress func(remediate.ActionResult)
}

// PreviewUndo reads from the journal and from AWS what undoing a run would
// reactivate, and what changed since the run.
func (e *Engine) PreviewUndo(ctx context.Context, runID string) (*remediate.UndoPlan, error) {
	if e.Store == nil {
		return nil, errors.New("undo needs the state store that journaled the run")
	}
	// Undo reads the keys through the act role too: check it first, so
	// that a missing role is said plainly (an unknown run is PlanUndo's
	// to explain).
	if entries, err := e.Store.Entries(ctx, runID); err == nil {
		var acting []string
		for _, en := range entries {
			if en.Action == store.ActionDeactivate && en.Outcome == store.OutcomeDone {
				acting = append(acting, en.AccountID)
			}
		}
		if err := e.checkActRole(ctx, "undo", acting); err != nil {
			return nil, err
		}
	}
	return e.applier(nil, "").PlanUndo(ctx, runID)
}

// Undo reactivates the keys an apply run deactivated that are still as it
// left them (and the changed ones req.Force names), as this engine's run.
func (e *Engine) Undo(ctx context.Context, req UndoRequest) (*remediate.UndoReport, error) {
	if err := e.checkClock("undo"); err != nil {
		return nil, err
	}
	up, err := e.PreviewUndo(ctx, req.RunID)
	if err != nil {
		return nil, err
	}
	force := map[string]bool{}
	for _, k := range req.Force {
		force[k] = true
	}
	for _, k := range req.Force {
		if !slices.ContainsFunc(up.Changed, func(c remediate.UndoChange) bool { return c.Entry.AccessKeyID == k }) &&
			!slices.ContainsFunc(up.Reactivate, func(en store.Entry) bool { return en.AccessKeyID == k }) {
			return nil, fmt.Errorf("key %s is not one run %s deactivated and undo could reactivate", k, req.RunID)
		}
	}
	if req.Confirm != nil && (len(up.Reactivate) > 0 || len(req.Force) > 0) {
		if err := req.Confirm(up); err != nil {
			return nil, err
		}
	}
	return e.applier(req.Progress, "").Undo(ctx, up, e.Hub.RunID, force)
}

// ErrNoActRole is wrapped by the error of an apply or undo refused because
// the act role cannot be assumed in an account it would act in.
var ErrNoActRole = errors.New("the act role cannot be assumed")

// checkActRole assumes the act role in every account a job would change
// keys in, before anything changes: a report-only installation has only
// the read role, and an apply that could act in some accounts and not in
// others is refused whole. The sessions are kept for the job.
func (e *Engine) checkActRole(ctx context.Context, job string, accounts []string) error {
	slices.Sort(accounts)
	accounts = slices.Compact(accounts)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, id := range accounts {
		if !e.Hub.ViaRole(id) {
			continue
		}
		g.Go(func() error {
			if _, err := e.Hub.ActConfig(id, nil).Credentials.Retrieve(gctx); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return fmt.Errorf("%w: %s refused: keywarden (%s) cannot assume %s in account %s (%s); "+
					"deactivate, delete and rotate act through the act role (sts:AssumeRole on it, and iam:UpdateAccessKey, iam:DeleteAccessKey, "+
					"iam:CreateAccessKey in it), which a report-only installation does not have: deploy the spoke's act role (docs/deploy.md) "+
					"or name the role that may act with --act-role-name (accounts.act_role_name)",
					ErrNoActRole, job, e.Hub.CallerARN, e.Hub.ActRoleARN(id), id, awsMessage(err))
			}
			return nil
		})
	}
	return g.Wait()
}

// awsMessage is an AWS error's code and message, without the SDK's
// wrapping.
func awsMessage(err error) string {
	var api smithy.APIError
	var re *smithyhttp.ResponseError
	if errors.As(err, &api) && api.ErrorCode() == "UnknownError" && errors.As(err, &re) && re.HTTPStatusCode() == 403 {
		return "HTTP 403: access denied"
	}
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return err.Error()
}

// MaxClockSkew is how far this machine's clock may be from AWS's before
// apply and undo refuse to change keys.
const MaxClockSkew = 5 * time.Minute

// ErrClockSkew is wrapped by the error of an apply or undo refused because
// this machine's clock is off.
var ErrClockSkew = errors.New("this machine's clock is off")

// checkClock refuses a job that changes keys when this machine's clock is
// more than MaxClockSkew from AWS's: key ages, last uses, the recent-use
// guard and the cutover's quiet window are all judged against it, and a
// clock ahead would make a key in use look quiet.
func (e *Engine) checkClock(job string) error {
	skew := e.Hub.ClockSkew
	if skew > -MaxClockSkew && skew < MaxClockSkew {
		return nil
	}
	return fmt.Errorf("%w: %s refused: %s; key ages, last uses and the recent-use guard are judged by this clock, so nothing is changed until it is set right (NTP)",
		ErrClockSkew, job, describeSkew(skew))
}

// describeSkew says, for people, how this machine's clock differs from AWS's.
func describeSkew(skew time.Duration) string {
	if skew > 0 {
		return fmt.Sprintf("this machine's clock is %s behind AWS's (the Date of AWS's answers)", skew.Round(time.Second))
	}
	return fmt.Sprintf("this machine's clock is %s ahead of AWS's (the Date of AWS's answers)", (-skew).Round(time.Second))
}
