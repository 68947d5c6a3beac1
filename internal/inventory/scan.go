package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/keywarden/keywarden/internal/awsx"
)

// Options tune a scan.
type Options struct {
	// Source is where keys are read from: SourceReport (default, with a
	// fallback to the API when the report is denied or unavailable) or SourceAPI.
	Source Source
	// Parallel is how many accounts are read at once; zero means DefaultParallel.
	Parallel int
	// UserParallel is how many per-user calls run at once within an
	// account; zero means DefaultUserParallel.
	UserParallel int
	// AccountTimeout bounds the time spent on one account; zero means
	// DefaultAccountTimeout.
	AccountTimeout time.Duration
	// ReportWait bounds the wait for a credential report before the API
	// path takes over; zero means DefaultReportWait.
	ReportWait time.Duration
	// NeedKeyIDs picks the users whose key IDs the report path reads; nil
	// means NeedsAttention.
	NeedKeyIDs NeedKeyIDs
	// NeedKeyIDsFor, when set, picks them per account instead (a policy
	// with overrides and exemptions judges each account differently).
	NeedKeyIDsFor func(Account) NeedKeyIDs
	// AsOf is the date NeedKeyIDs judges by; zero means now.
	AsOf time.Time
	// Progress, if set, is called after each account with the accounts
	// done, failed and in all.
	Progress func(done, failed, total int)
	Logger   *slog.Logger
}

// Defaults for Options.
const (
	DefaultParallel       = 32
	DefaultUserParallel   = 8
	DefaultAccountTimeout = 5 * time.Minute
	DefaultReportWait     = 2 * time.Minute
)

// ConfigFor returns the AWS configuration that acts in an account, with
// counter installed in its clients (see awsx.Assumer.Config).
type ConfigFor func(accountID string, counter *awsx.CallCounter) aws.Config

// Scan reads every account, opts.Parallel at a time; an account waiting
// for its credential report to be generated lets the next ones start
// meanwhile (see slots). An account that fails is recorded as failed with
// its reason, one read in part as partial with what could not be read and
// why, and the others go on. The error is only ever the context's: Ctrl-C
// stops the scan.
func Scan(ctx context.Context, accounts []Account, configFor ConfigFor, opts Options) (*Inventory, error) {
	opts = opts.withDefaults()
	inv := &Inventory{StartedAt: time.Now().UTC(), Accounts: make([]AccountInventory, len(accounts))}
	var mu sync.Mutex
	done, failed := 0, 0
	slots := newSlots(opts.Parallel)
	var wg sync.WaitGroup
	for i, acct := range accounts {
		if slots.acquire(ctx, false) != nil {
			break
		}
		wg.Go(func() {
			res := readAccount(ctx, acct, configFor, opts, slots)
			inv.Accounts[i] = res
			mu.Lock()
			done++
			if res.Status == AccountFailed {
				failed++
			}
			d, f := done, failed
			mu.Unlock()
			if opts.Progress != nil {
				opts.Progress(d, f, len(accounts))
			}
		})
	}
	wg.Wait()
	inv.FinishedAt = time.Now().UTC()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return inv, nil
}

func (o Options) withDefaults() Options {
	if o.Source == "" {
		o.Source = SourceReport
	}
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.UserParallel <= 0 {
		o.UserParallel = DefaultUserParallel
	}
	if o.AccountTimeout <= 0 {
		o.AccountTimeout = DefaultAccountTimeout
	}
	if o.ReportWait <= 0 {
		o.ReportWait = DefaultReportWait
	}
	// A slow report must leave time for the API path within the account's bound.
	o.ReportWait = min(o.ReportWait, o.AccountTimeout/2)
	if o.NeedKeyIDs == nil {
		o.NeedKeyIDs = NeedsAttention
	}
	if o.AsOf.IsZero() {
		o.AsOf = time.Now().UTC()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// readAccount reads one account within its time bound, holding one of
// slots (given up while it waits for its credential report), and gives
// the slot back.
func readAccount(ctx context.Context, acct Account, configFor ConfigFor, opts Options, slots *slots) AccountInventory {
	start := time.Now()
	log := opts.Logger.With("account", acct.ID)
	ctx, cancel := context.WithTimeout(ctx, opts.AccountTimeout)
	defer cancel()
	counter := &awsx.CallCounter{}
	needIDs := opts.NeedKeyIDs
	if opts.NeedKeyIDsFor != nil {
		needIDs = opts.NeedKeyIDsFor(acct)
	}
	r := &reader{
		iam: iam.NewFromConfig(configFor(acct.ID, counter)), asOf: opts.AsOf, needIDs: needIDs,
		userParallel: opts.UserParallel, reportWait: opts.ReportWait, log: log, slots: slots, accountCtx: ctx,
	}
	defer r.done()
	res := AccountInventory{Account: acct, Source: opts.Source}
	err := r.read(ctx, &res)
	res.Calls = counter.Calls()
	res.Duration = time.Since(start)
	res.ReadAt = time.Now().UTC()
	res.Warnings = r.warnings
	if err != nil {
		res.Status = AccountFailed
		res.Users, res.Root = nil, Root{}
		res.ErrorCode, res.Error = describe(err, opts.AccountTimeout)
		log.Warn("account failed", "code", res.ErrorCode, "error", res.Error)
		return res
	}
	if p := r.partial; p != nil {
		// What was read is kept: it is reported and judged, never acted on.
		res.Status, res.NotRead = AccountPartial, p.what
		var why string
		res.ErrorCode, why = describe(p.err, opts.AccountTimeout)
		res.Error = p.what + " not checked: " + why
		log.Warn("account read in part", "not_read", p.what, "code", res.ErrorCode, "error", why)
		return res
	}
	res.Status = AccountOK
	log.Debug("account read", "source", res.Source, "users", len(res.Users), "calls", res.Calls, "duration", res.Duration)
	return res
}

func (r *reader) read(ctx context.Context, res *AccountInventory) error {
	// The account summary depends on no other read: it is read beside
	// them, and its outcome applied once the others are done. It has its
	// own context, so that a failure of the account stops it too.
	sumCtx, stopSummary := context.WithCancel(ctx)
	defer stopSummary()
	summary := make(chan summaryResult, 1)
	r.inFlight.Add(1)
	go func() {
		defer r.inFlight.Done()
		s, err := r.readRoot(sumCtx)
		summary <- summaryResult{s, err}
	}()

	var details map[string]userDetails
	if res.Source == SourceReport {
		// The user details and the report do not depend on each other:
		// reading them together shortens each account's chain of calls.
		var detailsErr error
		done := make(chan struct{})
		r.inFlight.Add(1)
		go func() {
			defer r.inFlight.Done()
			defer close(done)
			details, detailsErr = r.readUserDetails(ctx)
		}()
		rep, generated, err := r.fetchReport(ctx)
		<-done
		switch {
		case detailsErr != nil:
			return detailsErr
		case err == nil:
			res.ReportGeneratedAt = generated.UTC()
			hasRoot := rep.Root != nil
			if res.Users, res.Root, err = r.fromReport(ctx, rep, details); err != nil {
				return err
			}
			r.applySummary(<-summary, &res.Root, hasRoot)
			return nil
		case errors.Is(err, errReportUnavailable):
			res.Source = SourceAPI
			res.Fallback = err.Error()
			r.log.Info("falling back to the IAM API", "reason", res.Fallback)
		default:
			return err
		}
	} else {
		var err error
		if details, err = r.readUserDetails(ctx); err != nil {
			return err
		}
	}
	var err error
	if res.Users, err = r.fromAPI(ctx, details); err != nil {
		return err
	}
	r.applySummary(<-summary, &res.Root, false)
	return nil
}

// partialRead is a read that failed without failing the account: what it
// would have told, for people, and why it failed.
type partialRead struct {
	what string
	err  error
}

// summaryResult is the outcome of GetAccountSummary.
type summaryResult struct {
	summary rootSummary
	err     error
}

// applySummary completes what is known of the root user with
// GetAccountSummary. What happens when it failed depends on whether the
// summary was the only way to learn of root access keys:
//
//   - on the API path, or from a credential report without its
//     <root_account> row (moto's has none), it was: whether the root user
//     has keys is unknown, so the account is partial (Root.KeysUnknown),
//     with the reason;
//   - from a credential report with the root row, the report already says
//     which root keys exist and whether they are active (as fresh as it is
//     for every user): the summary could only repeat it, so its failure
//     is a warning and the account stays complete.
func (r *reader) applySummary(s summaryResult, root *Root, reportHasRoot bool) {
	switch {
	case s.err == nil:
		root.KeysPresent = root.KeysPresent || s.summary.keysPresent
		root.MFAActive = root.MFAActive || s.summary.mfaActive
	case reportHasRoot:
		r.warn("root user: %v", s.err)
	default:
		root.KeysPresent, root.KeysUnknown = false, true
		r.partial = &partialRead{what: "root access keys", err: s.err}
	}
}

// describe turns a failure into an AWS error code (or "timeout") and a
// message that says what happened, for the scan's output.
func describe(err error, timeout time.Duration) (code, msg string) {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout", fmt.Sprintf("not read within %v (--account-timeout)", timeout)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	// The SDK reports a failed AssumeRole inside the error of the first
	// call that needed the credentials.
	for e := err; e != nil; e = errors.Unwrap(e) {
		if op, ok := e.(*smithy.OperationError); ok && op.Service() == "STS" && op.Operation() == "AssumeRole" {
			if api != nil {
				return code, "cannot assume the role: " + api.ErrorCode() + ": " + api.ErrorMessage()
			}
			return code, "cannot assume the role: " + err.Error()
		}
	}
	if code == "" {
		return "error", err.Error()
	}
	return code, apiMessage(err)
}

// apiMessage is the AWS error's code and message, without the SDK's
// request-ID and status decoration.
func apiMessage(err error) string {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return err.Error()
	}
	msg := api.ErrorCode() + ": " + api.ErrorMessage()
	var op *smithy.OperationError
	if errors.As(err, &op) && op.Operation() != "AssumeRole" {
		msg = op.Operation() + ": " + msg
	}
	return strings.TrimSpace(msg)
}

func isAccessDenied(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "AccessDenied" || api.ErrorCode() == "AccessDeniedException")
}
