package remediate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/store"
)

// KeyAPI is every IAM call remediation makes; it is also the list of
// permissions the role in each account needs for apply and undo.
type KeyAPI interface {
	iam.ListAccessKeysAPIClient
	GetAccessKeyLastUsed(context.Context, *iam.GetAccessKeyLastUsedInput, ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
	UpdateAccessKey(context.Context, *iam.UpdateAccessKeyInput, ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error)
	DeleteAccessKey(context.Context, *iam.DeleteAccessKeyInput, ...func(*iam.Options)) (*iam.DeleteAccessKeyOutput, error)
	// CreateAccessKey is for rotation; the new key's secret is stored in
	// Secrets Manager and nowhere else.
	CreateAccessKey(context.Context, *iam.CreateAccessKeyInput, ...func(*iam.Options)) (*iam.CreateAccessKeyOutput, error)
}

// ErrDeadline is returned when an apply stopped starting actions because
// its deadline was near; what is done is journaled.
var ErrDeadline = errors.New("stopped before the deadline")

// ErrStopped is returned when an apply stopped starting actions because it
// was asked to (Applier.Stop); what is done is journaled.
var ErrStopped = errors.New("stopped on request")

// Errors that refuse a plan; each message says what to run instead.
var (
	ErrStalePlan      = errors.New("the plan is too old")
	ErrPolicyChanged  = errors.New("the plan was made under another policy")
	ErrAlreadyApplied = errors.New("the plan has already been applied")
	ErrOverLimits     = errors.New("the plan is over the safety limits")
	ErrPlanVersion    = errors.New("unsupported plan version")
	ErrForecast       = errors.New("the plan is a forecast")
)

// Applier applies plans and undoes runs.
type Applier struct {
	Store store.Store
	// ClientFor returns the IAM client that acts in an account.
	ClientFor func(accountID string) KeyAPI
	// SecretsFor returns the Secrets Manager client that stores rotated
	// keys in an account and region; nil: rotations fail, saying so.
	SecretsFor func(accountID, region string) SecretsAPI
	// SecretsRegion is where rotated keys are stored when the policy's
	// rotation section names no region: keywarden's own region.
	SecretsRegion string
	Policy        *policy.Policy
	Caller        string // the ARN keywarden acts as
	// CallerKeyID is the key keywarden signs with: never acted on.
	CallerKeyID     string
	UnsafeAllowBulk bool
	// UnsafeAllowForecast applies a plan judged at a future --as-of.
	UnsafeAllowForecast bool
	Now                 func() time.Time
	Log                 *slog.Logger
	// Progress, if set, is told each action's result as it happens.
	Progress func(ActionResult)
	// Deadline, if set, is when the run must have stopped: no action
	// starts unless ActionTime is left before it. A run stopped this way is
	// resumed by the next apply of the plan, or judged afresh by the next
	// plan; nothing is done twice.
	Deadline time.Time
	// ActionTime is how long one action may take, for Deadline; zero
	// means 30 seconds.
	ActionTime time.Duration
	// Stop, if set, stops the run once closed: no action starts after
	// that, and the one in progress finishes and is journaled (a service
	// shutting down). The run ends interrupted, with ErrStopped; the next
	// apply of the plan resumes it.
	Stop <-chan struct{}
	// Started, if set, is told the run's ID once actions are about to
	// start, and whether it resumes an interrupted run of the plan.
	Started func(runID string, resumed bool)
	// Demand is the rotation asked for by hand that the plan was made
	// for ('keywarden rotate'); every action is judged again with it.
	Demand *Demand
	// NotifyDetail is what the journal says of a notify action done: where
	// the warning goes. Empty: no channel is configured.
	NotifyDetail string
}

// ActionResult is what became of one action.
type ActionResult struct {
	Action    Action
	Outcome   string // a store.Outcome…
	Detail    string
	RequestID string
	Earlier   bool // done in an earlier, interrupted run of the same plan
}

// Outcome is what an apply or undo did.
type Outcome struct {
	RunID   string
	Status  string
	Results []ActionResult
	// Resumed: the run was an earlier, interrupted run of the same plan,
	// carried on under its own ID.
	Resumed bool
}

// Counts tallies results by outcome.
func (o *Outcome) Counts() map[string]int {
	m := map[string]int{}
	for _, r := range o.Results {
		m[r.Outcome]++
	}
	return m
}

func (ap *Applier) now() time.Time {
	if ap.Now != nil {
		return ap.Now().UTC()
	}
	return time.Now().UTC()
}

func (ap *Applier) log() *slog.Logger {
	if ap.Log != nil {
		return ap.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Check refuses a plan that is from another version, too old, a forecast,
// made under another policy, or already applied. The limits are not read
// from the plan: Prepare recomputes them from what would be done now.
func (ap *Applier) Check(ctx context.Context, p *Plan) error {
	if p.SchemaVersion != SchemaVersion {
		return fmt.Errorf("%w %d (this keywarden reads %d): make a new one with 'keywarden plan'", ErrPlanVersion, p.SchemaVersion, SchemaVersion)
	}
	if maxAge := ap.Policy.Safety.MaxPlanAge.Std(); maxAge > 0 && ap.now().Sub(p.CreatedAt) > maxAge {
		return fmt.Errorf("%w: made %s ago, and safety.max_plan_age is %s; make a fresh one with 'keywarden plan'",
			ErrStalePlan, roundDuration(ap.now().Sub(p.CreatedAt)), ap.Policy.Safety.MaxPlanAge)
	}
	// A plan judged ahead of its making would act on keys before they are due.
	if p.AsOf.Sub(p.CreatedAt) > ForecastSlack && !ap.UnsafeAllowForecast {
		return fmt.Errorf("%w: it judged keys as of %s, ahead of when it was made; make a plan without --as-of to act now (or pass --unsafe-allow-forecast)",
			ErrForecast, p.AsOf.Format(time.RFC3339))
	}
	if p.PolicyHash != ap.Policy.Hash {
		return fmt.Errorf("%w (%s); make a new plan with 'keywarden plan' under the current policy", ErrPolicyChanged, sourceName(ap.Policy))
	}
	runs, err := ap.Store.RunsForPlan(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("read the journal: %w", err)
	}
	for _, r := range runs {
		if r.Status == store.RunDone || r.Status == store.RunFailed {
			return fmt.Errorf("%w by run %s (%s); see 'keywarden history --run %s', or make a new plan with 'keywarden plan'",
				ErrAlreadyApplied, r.ID, r.Status, r.ID)
		}
	}
	return nil
}

func sourceName(p *policy.Policy) string {
	if p.Source == "" {
		return "now the built-in policy"
	}
	return "now " + p.Source
}

// ForecastSlack is how far after its making a plan may judge keys before it
// counts as a forecast.
const ForecastSlack = time.Hour

// lockStaleAfter is when a lock is taken over: the store refreshes a held
// lock, so one this stale was left by a process that died.
const lockStaleAfter = 5 * time.Minute

// Apply prepares a plan against what is live now and carries it out; see
// Prepare and Execute.
func (ap *Applier) Apply(ctx context.Context, p *Plan, live *LiveView, runID string) (*Outcome, error) {
	prep, err := ap.Prepare(ctx, p, live)
	if err != nil {
		return nil, err
	}
	return ap.Execute(ctx, prep, runID)
}

// Execute carries out a prepared plan as run runID, or as the earlier run
// of the same plan that was interrupted: a resumed apply stays one run, so
// that one undo restores everything it did. Actions already finished are
// not repeated; one left pending is re-read live and finished.
func (ap *Applier) Execute(ctx context.Context, prep *Prepared, runID string) (*Outcome, error) {
	p := prep.Plan
	if err := ap.Check(ctx, p); err != nil {
		return nil, err
	}
	lease, err := ap.Store.Acquire(ctx, runID, lockStaleAfter)
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	// Another run taking the lock over (this one was paused past its
	// lease) stops this one: no journal write and no AWS call after that.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-lease.Lost():
			cancel(store.ErrLockLost)
		case <-ctx.Done():
		}
	}()

	// Rotations that dead runs of other plans left half done are finished
	// first (a plan that only warns changes no key): their orphan keys
	// would otherwise stay for good.
	if p.Changes() {
		if _, err := ap.recoverStrays(ctx, lease, runID, p.ID, prep.live, nil); err != nil {
			return nil, fmt.Errorf("finish the rotations interrupted runs left: %w", err)
		}
	}
	runs, err := ap.Store.RunsForPlan(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	resumed := false
	for _, r := range runs {
		// A run of this plan that did not finish died or was stopped: we
		// hold the lock now, so it is resumed under its own ID.
		if r.Status == store.RunRunning || r.Status == store.RunInterrupted {
			if resumed {
				lease.FinishRun(ctx, runID, store.RunInterrupted, ap.now())
			}
			runID, resumed = r.ID, true
		}
	}
	earlier, err := ap.Store.PlanEntries(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	finished := map[string]store.Entry{}
	pending := map[string]store.Entry{}
	unknown := map[string]bool{}
	intents := map[string][]time.Time{}
	for _, e := range earlier {
		intents[e.ActionID] = append(intents[e.ActionID], e.IntentAt)
		switch {
		case e.Outcome != store.OutcomePending:
			finished[e.ActionID] = e
			// A call cut off by Ctrl-C or a timeout may have gone
			// through: on resume, a key found as wanted was changed by us.
			unknown[e.ActionID] = e.Outcome == store.OutcomeFailed && e.Detail == DetailOutcomeUnknown
		case e.RunID == runID:
			pending[e.ActionID] = e
		}
	}
	if resumed {
		if err := lease.ReopenRun(ctx, runID); err != nil {
			return nil, fmt.Errorf("resume run %s: %w", runID, err)
		}
		ap.log().Info("resuming an interrupted run", "run", runID, "plan", p.ID)
	} else {
		run := store.Run{ID: runID, Command: "apply", PlanID: p.ID, PolicyHash: p.PolicyHash, Caller: ap.Caller,
			Status: store.RunRunning, StartedAt: ap.now()}
		if err := lease.CreateRun(ctx, run); err != nil {
			return nil, fmt.Errorf("record the run: %w", err)
		}
	}
	out := &Outcome{RunID: runID, Resumed: resumed}
	if ap.Started != nil {
		ap.Started(runID, resumed)
	}
	dropped := map[string]ActionResult{}
	for _, d := range prep.Dropped {
		dropped[d.Action.ID] = d
	}
	// What is done is the live plan's version of each action: the file
	// only proposes (its deactivate_old, stage or reason are not trusted).
	todo := map[string]Action{}
	for _, a := range prep.ToDo {
		todo[a.ID] = a
	}
	for _, a := range p.Actions {
		if t, ok := todo[a.ID]; ok {
			a = t
		}
		if e, ok := finished[a.ID]; ok && e.Outcome != store.OutcomeFailed {
			ap.report(out, ActionResult{Action: a, Outcome: e.Outcome, Detail: e.Detail, RequestID: e.RequestID, Earlier: true})
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if ap.nearDeadline() || ap.stopped() {
			out.Status = store.RunInterrupted
			if err := lease.FinishRun(context.WithoutCancel(ctx), runID, out.Status, ap.now()); err != nil {
				return out, fmt.Errorf("record the run's end: %w", err)
			}
			why := ErrDeadline
			if ap.stopped() {
				why = ErrStopped
			}
			return out, fmt.Errorf("%w: %d of %d actions done; the next run goes on", why, len(out.Results), len(p.Actions))
		}
		var res ActionResult
		var err error
		if d, ok := dropped[a.ID]; ok {
			res, err = ap.journalSkip(ctx, lease, p, runID, d)
		} else {
			res, err = ap.applyOne(ctx, lease, prep, runID, a, pending[a.ID], unknown[a.ID], intents[a.ID])
		}
		if err == nil {
			ap.report(out, res)
			if a.Type == Rotate && a.DeactivateOld && res.Outcome == store.OutcomeDone {
				res, err = ap.deactivateOld(ctx, lease, p, runID, a)
				if err == nil {
					ap.report(out, res)
				}
			}
		}
		if err != nil {
			out.Status = store.RunInterrupted
			if !errors.Is(err, store.ErrLockLost) { // the new holder owns the run now
				lease.FinishRun(context.WithoutCancel(ctx), runID, out.Status, ap.now())
			}
			return out, err
		}
	}
	if cause := context.Cause(ctx); errors.Is(cause, store.ErrLockLost) {
		out.Status = store.RunInterrupted
		return out, fmt.Errorf("stopped: %w", cause)
	}
	out.Status = runStatus(ctx, out, len(p.Actions)+extraResults(out))
	if err := lease.FinishRun(context.WithoutCancel(ctx), runID, out.Status, ap.now()); err != nil {
		return out, fmt.Errorf("record the run's end: %w", err)
	}
	return out, ctx.Err()
}

// stopped reports whether Stop is closed.
func (ap *Applier) stopped() bool {
	select {
	case <-ap.Stop:
		return true
	default:
		return false
	}
}

// nearDeadline reports whether an action started now might not finish
// before the deadline.
func (ap *Applier) nearDeadline() bool {
	if ap.Deadline.IsZero() {
		return false
	}
	budget := ap.ActionTime
	if budget <= 0 {
		budget = 30 * time.Second
	}
	return ap.now().Add(budget).After(ap.Deadline)
}

func runStatus(ctx context.Context, out *Outcome, want int) string {
	switch {
	case ctx.Err() != nil || len(out.Results) < want:
		return store.RunInterrupted
	case out.Counts()[store.OutcomeFailed] > 0:
		return store.RunFailed
	}
	return store.RunDone
}

func (ap *Applier) report(out *Outcome, r ActionResult) {
	out.Results = append(out.Results, r)
	if ap.Progress != nil {
		ap.Progress(r)
	}
}

// entry is the journal entry for an action of a plan.
func (ap *Applier) entry(p *Plan, runID string, a Action) store.Entry {
	e := store.Entry{
		RunID: runID, PlanID: p.ID, ActionID: a.ID, Action: a.Type,
		AccountID: a.AccountID, UserName: a.UserName, AccessKeyID: a.AccessKeyID,
		Rule: strings.Join(a.Rules, ","), Stage: a.Stage, Reason: a.Reason,
		KeyStatus: a.Key.Status, KeyCreatedAt: a.Key.CreatedAt, Caller: ap.Caller, IntentAt: ap.now(),
	}
	if a.Key.LastUsedAt != nil {
		e.KeyLastUsedAt = *a.Key.LastUsedAt
	}
	if a.Type == Rotate && a.DeactivateOld {
		// The journal says the old key was to be deactivated at once, so
		// that a run that dies before doing it is finished by the next.
		e.Stage += StageOwesDeactivation
	}
	return e
}

// StageOwesDeactivation ends the journal stage of a rotation whose old key
// is deactivated as soon as its successor is stored (--deactivate-now).
const StageOwesDeactivation = "+" + StageDeactivateNow

// journalSkip records an action that Prepare narrowed away, so that the
// journal shows what the plan proposed and why it was not done.
func (ap *Applier) journalSkip(ctx context.Context, jw store.JournalWriter, p *Plan, runID string, r ActionResult) (ActionResult, error) {
	id, err := jw.RecordIntent(ctx, ap.entry(p, runID, r.Action))
	if err != nil {
		return r, fmt.Errorf("journal %s %s: %w", r.Action.Type, r.Action.AccessKeyID, err)
	}
	if err := jw.RecordResult(context.WithoutCancel(ctx), id, store.Result{Outcome: r.Outcome, Detail: r.Detail, At: ap.now()}); err != nil {
		return r, fmt.Errorf("journal %s %s: %w", r.Action.Type, r.Action.AccessKeyID, err)
	}
	ap.log().Info("action", "type", r.Action.Type, "account", r.Action.AccountID, "user", r.Action.UserName,
		"key", r.Action.AccessKeyID, "outcome", r.Outcome, "detail", r.Detail)
	return r, nil
}

// applyOne journals the intent (or takes over the intent an interrupted
// run left pending), re-reads and re-judges the key, acts, and journals the
// result. intents are when earlier attempts of the action were intended.
// Its error means the journal itself failed: the apply stops.
func (ap *Applier) applyOne(ctx context.Context, lease store.Lease, prep *Prepared, runID string, a Action, pending store.Entry, unknown bool, intents []time.Time) (ActionResult, error) {
	id := pending.ID
	if id == 0 {
		var err error
		if id, err = lease.RecordIntent(ctx, ap.entry(prep.Plan, runID, a)); err != nil {
			return ActionResult{}, fmt.Errorf("journal the intent to %s %s: %w", a.Type, a.AccessKeyID, err)
		}
	}
	res := ActionResult{Action: a}
	switch {
	case a.Type == Notify && ap.NotifyDetail == "":
		res.Outcome, res.Detail = store.OutcomeDone, "warning recorded; no notification channel is configured, so nobody is told"
	case a.Type == Notify:
		res.Outcome, res.Detail = store.OutcomeDone, "warning recorded; "+ap.NotifyDetail
	case a.AccessKeyID == ap.CallerKeyID:
		res.Outcome, res.Detail = store.OutcomeSkipped, "keywarden is signing its own requests with this key"
	case a.Type == Rotate:
		var fenceErr error
		res.Outcome, res.Detail, res.RequestID = ap.rotate(ctx, prep.live, a, intents, pending.ID != 0 || unknown,
			func() error { fenceErr = lease.Check(ctx); return fenceErr })
		if fenceErr != nil {
			return res, fmt.Errorf("stopped before %s %s: %w", a.Type, a.AccessKeyID, fenceErr)
		}
	default:
		var err error
		res.Outcome, res.Detail, res.RequestID, err = ap.act(ctx, lease, prep.live, a, pending.ID != 0 || unknown)
		if err != nil {
			// The lock was lost: the intent stays pending for the run
			// that holds it now, which reads the key again.
			return res, fmt.Errorf("stopped before %s %s: %w", a.Type, a.AccessKeyID, err)
		}
	}
	// The result is written even if the run was just cancelled: the action
	// has happened, or not, and the journal must say which.
	if err := lease.RecordResult(context.WithoutCancel(ctx), id, store.Result{Outcome: res.Outcome, Detail: res.Detail, RequestID: res.RequestID, At: ap.now()}); err != nil {
		return res, fmt.Errorf("journal the result of %s %s: %w", a.Type, a.AccessKeyID, err)
	}
	ap.log().Info("action", "type", a.Type, "account", a.AccountID, "user", a.UserName, "key", a.AccessKeyID,
		"outcome", res.Outcome, "detail", res.Detail, "request_id", res.RequestID)
	return res, nil
}

// act re-reads the key live, judges it again by the current policy with
// what it reads, and changes it only if the policy still asks for exactly
// this action. resuming says the intent was left pending by an interrupted
// run: a key already in the wanted state was then changed by that run.
func (ap *Applier) act(ctx context.Context, lease store.Lease, live *LiveView, a Action, resuming bool) (outcome, detail, requestID string, err error) {
	outcome, detail, requestID = ap.actChecked(ctx, live, a, resuming, func() error { err = lease.Check(ctx); return err })
	return outcome, detail, requestID, err
}

// actChecked is act; fence is called right before the AWS call that
// changes the key, and an error from it stops the action.
func (ap *Applier) actChecked(ctx context.Context, live *LiveView, a Action, resuming bool, fence func() error) (outcome, detail, requestID string) {
	client := ap.ClientFor(a.AccountID)
	lk, err := liveKey(ctx, client, a.UserName, a.AccessKeyID)
	var noUser *types.NoSuchEntityException
	switch {
	case errors.As(err, &noUser) || (err == nil && lk == nil):
		if a.Type == Delete {
			if resuming {
				return store.OutcomeDone, "deleted by the interrupted run (the key is gone)", ""
			}
			return store.OutcomeAlreadyDone, "the key no longer exists", ""
		}
		return store.OutcomeSkipped, "the key no longer exists", ""
	case err != nil:
		return store.OutcomeFailed, "re-read the key: " + apiMessage(err), ""
	}
	if !lk.created.Equal(a.Key.CreatedAt.Truncate(time.Second)) {
		return store.OutcomeSkipped, "not the key the plan saw (its creation date differs)", ""
	}
	switch {
	case a.Type == Deactivate && lk.status == StatusInactive:
		if resuming {
			return store.OutcomeDone, "deactivated by the interrupted run (found inactive on resume)", ""
		}
		return store.OutcomeAlreadyDone, "the key was already inactive", ""
	case a.Type == Delete && lk.status != StatusInactive:
		return store.OutcomeSkipped, "the key is active again; only inactive keys are deleted", ""
	}
	if changed, when := usedSince(a.Key.LastUsedAt, lk.lastUsed); changed {
		return store.OutcomeSkipped, "used since the plan was made (last used " + when + "); make a new plan", ""
	}
	if ok, why := live.rejudge(ctx, ap, a, lk); !ok {
		return store.OutcomeSkipped, why, ""
	}
	if fence() != nil {
		return store.OutcomePending, "", ""
	}
	var md middleware.Metadata
	switch a.Type {
	case Deactivate:
		var out *iam.UpdateAccessKeyOutput
		out, err = client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(a.UserName),
			AccessKeyId: aws.String(a.AccessKeyID), Status: types.StatusTypeInactive})
		if out != nil {
			md = out.ResultMetadata
		}
	case Delete:
		var out *iam.DeleteAccessKeyOutput
		out, err = client.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(a.UserName), AccessKeyId: aws.String(a.AccessKeyID)})
		if out != nil {
			md = out.ResultMetadata
		}
	default:
		return store.OutcomeSkipped, fmt.Sprintf("keywarden does not know the action %q", a.Type), ""
	}
	if err != nil {
		var gone *types.NoSuchEntityException
		if errors.As(err, &gone) && a.Type == Delete {
			return store.OutcomeAlreadyDone, "the key no longer exists", requestIDOf(err)
		}
		if ctx.Err() != nil {
			return store.OutcomeFailed, DetailOutcomeUnknown, requestIDOf(err)
		}
		return store.OutcomeFailed, apiMessage(err), requestIDOf(err)
	}
	return store.OutcomeDone, "", requestIDFrom(md)
}

// DetailOutcomeUnknown is the journal's word for a call cut off by Ctrl-C
// or a timeout: AWS may have carried it out. Resuming the run finds out.
const DetailOutcomeUnknown = "interrupted during the AWS call: whether AWS carried it out is found out when the apply is resumed"

func requestIDFrom(md middleware.Metadata) string {
	rid, _ := awsmw.GetRequestIDMetadata(md)
	return rid
}

// Key statuses as IAM spells them.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

type liveState struct {
	status   string
	created  time.Time
	lastUsed *time.Time
}

// liveKey reads one key's current state; nil when the user has no such key.
func liveKey(ctx context.Context, c KeyAPI, user, keyID string) (*liveState, error) {
	keys, err := listKeys(ctx, c, user)
	if err != nil {
		return nil, err
	}
	return liveKeyIn(ctx, c, keys, keyID)
}

// liveKeyIn is liveKey for a user whose keys were just listed: the list is
// not read again.
func liveKeyIn(ctx context.Context, c KeyAPI, keys []types.AccessKeyMetadata, keyID string) (*liveState, error) {
	i := slices.IndexFunc(keys, func(k types.AccessKeyMetadata) bool { return aws.ToString(k.AccessKeyId) == keyID })
	if i < 0 {
		return nil, nil
	}
	st := &liveState{status: string(keys[i].Status), created: aws.ToTime(keys[i].CreateDate).UTC().Truncate(time.Second)}
	lu, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(keyID)})
	if err != nil {
		return nil, err
	}
	if lu.AccessKeyLastUsed != nil && lu.AccessKeyLastUsed.LastUsedDate != nil {
		t := lu.AccessKeyLastUsed.LastUsedDate.UTC().Truncate(time.Second)
		st.lastUsed = &t
	}
	return st, nil
}

// usedSince reports whether the key was used after the use the plan saw.
func usedSince(planned, live *time.Time) (bool, string) {
	if live == nil {
		return false, ""
	}
	if planned == nil || live.After(planned.Truncate(time.Second)) {
		return true, live.Format(time.RFC3339)
	}
	return false, ""
}

func apiMessage(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode() + ": " + api.ErrorMessage()
	}
	return err.Error()
}

func requestIDOf(err error) string {
	var re interface{ ServiceRequestID() string }
	if errors.As(err, &re) {
		return re.ServiceRequestID()
	}
	return ""
}

// extraResults counts the results of an outcome that are not the plan's
// own actions: the deactivations of old keys right after their rotation.
func extraResults(out *Outcome) int {
	n := 0
	for _, r := range out.Results {
		if r.Action.Stage == StageDeactivateNow {
			n++
		}
	}
	return n
}

// StageDeactivateNow is the stage of the deactivation of a rotated key right
// after its successor was stored ('keywarden rotate --deactivate-now').
const StageDeactivateNow = "deactivate-now"

// deactivateOld deactivates the old key of rotation rot, just stored: a
// leaked key must stop working as soon as its successor exists. It is
// journaled as a deactivation of its own, which undo reverses.
func (ap *Applier) deactivateOld(ctx context.Context, lease store.Lease, p *Plan, runID string, rot Action) (ActionResult, error) {
	a := rot
	a.Type, a.Stage, a.DeactivateOld = Deactivate, StageDeactivateNow, false
	a.Reason = "deactivated as soon as its successor was stored ('keywarden rotate --deactivate-now')"
	a.ID = ActionID(p.PolicyHash, a)
	id, err := lease.RecordIntent(ctx, ap.entry(p, runID, a))
	if err != nil {
		return ActionResult{}, fmt.Errorf("journal the intent to deactivate %s: %w", a.AccessKeyID, err)
	}
	res := ActionResult{Action: a}
	client := ap.ClientFor(a.AccountID)
	lk, err := liveKey(ctx, client, a.UserName, a.AccessKeyID)
	var noUser *types.NoSuchEntityException
	switch {
	case errors.As(err, &noUser) || (err == nil && lk == nil):
		res.Outcome, res.Detail = store.OutcomeSkipped, "the key no longer exists"
	case err != nil:
		res.Outcome, res.Detail = store.OutcomeFailed, "re-read the key: "+apiMessage(err)
	case !lk.created.Equal(a.Key.CreatedAt.Truncate(time.Second)):
		res.Outcome, res.Detail = store.OutcomeSkipped, "not the key the plan saw (its creation date differs)"
	case lk.status == StatusInactive:
		res.Outcome, res.Detail = store.OutcomeAlreadyDone, "the key was already inactive"
	default:
		if err := lease.Check(ctx); err != nil {
			return res, fmt.Errorf("stopped before deactivating %s: %w", a.AccessKeyID, err)
		}
		out, err := client.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(a.UserName),
			AccessKeyId: aws.String(a.AccessKeyID), Status: types.StatusTypeInactive})
		switch {
		case err != nil && ctx.Err() != nil:
			res.Outcome, res.Detail, res.RequestID = store.OutcomeFailed, DetailOutcomeUnknown, requestIDOf(err)
		case err != nil:
			res.Outcome, res.Detail, res.RequestID = store.OutcomeFailed, apiMessage(err)+"; the new key is stored: deactivate the old one by hand with 'aws iam update-access-key --status Inactive --user-name "+a.UserName+" --access-key-id "+a.AccessKeyID+"'", requestIDOf(err)
		default:
			res.Outcome, res.Detail, res.RequestID = store.OutcomeDone, "deactivated as soon as its successor was stored ("+StageDeactivateNow+")", requestIDFrom(out.ResultMetadata)
		}
	}
	if err := lease.RecordResult(context.WithoutCancel(ctx), id, store.Result{Outcome: res.Outcome, Detail: res.Detail, RequestID: res.RequestID, At: ap.now()}); err != nil {
		return res, fmt.Errorf("journal the result of deactivating %s: %w", a.AccessKeyID, err)
	}
	ap.log().Info("action", "type", a.Type, "account", a.AccountID, "user", a.UserName, "key", a.AccessKeyID,
		"outcome", res.Outcome, "detail", res.Detail, "request_id", res.RequestID)
	return res, nil
}
