// Package engine runs keywarden's jobs — scan, plan, apply, undo and the
// Security Hub export — over the packages that do the work. Its functions
// take values and return values and never print: progress and confirmation
// come in as callbacks. The CLI, the demo, the bench driver, the service
// and the Lambda are thin adapters over it (docs/engine.md).
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/smithy-go"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// Engine runs jobs for one run: one hub identity, one policy, one state
// store. Make one per run; its zero fields take their defaults.
type Engine struct {
	// Hub is the run's identity and how it reaches every account.
	Hub *awsx.Hub
	// Policy judges the keys.
	Policy *policy.Policy
	// Store keeps the journal; plan reads it, apply and undo write it.
	// Scan and export may run without one.
	Store store.Store
	// Log receives diagnostics; nil discards them.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Notify tunes the delivery of notifications after an apply.
	Notify NotifyOptions
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

// KeyIDs says which key IDs the credential-report path reads (the report
// has none).
type KeyIDs string

const (
	KeyIDsAttention KeyIDs = "attention" // keys the policy flags now or within two weeks (default)
	KeyIDsAll       KeyIDs = "all"
	KeyIDsNone      KeyIDs = "none"
)

// attentionHorizon is how far ahead the policy looks when it picks the keys
// whose IDs the report path reads: far enough for warnings to name them.
const attentionHorizon = 14 * 24 * time.Hour

// Read says which accounts to read and how.
type Read struct {
	Selection      inventory.Selection
	Source         inventory.Source // report (default) or api
	KeyIDs         KeyIDs
	Parallel       int           // accounts at once; zero: inventory's default
	UserParallel   int           // per-user calls at once in an account; zero: inventory's default
	AccountTimeout time.Duration // zero: inventory's default
	// AsOf judges keys as if it were then; zero: when the read finished.
	AsOf time.Time
	// Progress, if set, is told after each account: done, failed, total.
	Progress func(done, failed, total int)

	// needKeyIDs, when set, overrides KeyIDs (apply reads the key IDs of
	// the users its plan names).
	needKeyIDs inventory.NeedKeyIDs
}

// ScanResult is what a scan read and what the policy found.
type ScanResult struct {
	Inventory *inventory.Inventory
	// Skipped are selected accounts that are not ACTIVE.
	Skipped  []inventory.Account
	AsOf     time.Time
	Findings []policy.Finding
	// Rotations are the rotations under way in the accounts read, when
	// asked for (Engine.ReadRotations).
	Rotations []remediate.RotationState
}

// Errors a caller may branch on.
var (
	// ErrNoAccounts: the selection is empty.
	ErrNoAccounts = errors.New("no accounts to read: the selection is empty")
	// ErrNoAccountReadable: every account refused the role.
	ErrNoAccountReadable = errors.New("no account could be read")
)

// Scan discovers the selected accounts, reads them, and judges every key.
// A failed account is recorded with its reason; the others go on. So is an
// account whose OU is unknown when the policy has OU-scoped exemptions or
// overrides: it is never judged as if it were outside every OU.
func (e *Engine) Scan(ctx context.Context, r Read) (*ScanResult, error) {
	if err := e.checkClock("scan"); err != nil {
		// Reading is harmless; what it judges is not to be trusted.
		e.log().Warn(describeSkew(e.Hub.ClockSkew) + ": key ages and last uses are judged by it; apply and undo refuse to run")
	}
	inv, skipped, err := e.read(ctx, r)
	if err != nil {
		return nil, err
	}
	res := &ScanResult{Inventory: inv, Skipped: skipped, AsOf: r.AsOf}
	if res.AsOf.IsZero() {
		res.AsOf = inv.FinishedAt
	}
	res.Findings, err = e.evaluate(ctx, inv, res.AsOf)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// evaluate judges an inventory, with the journal's deactivation dates.
func (e *Engine) evaluate(ctx context.Context, inv *inventory.Inventory, asOf time.Time) ([]policy.Finding, error) {
	var journalErr error
	findings := e.Policy.Evaluate(inv, policy.Options{AsOf: asOf, InactiveSince: e.inactiveSince(ctx, &journalErr)})
	if journalErr != nil {
		return nil, fmt.Errorf("read the journal: %w", journalErr)
	}
	return findings, nil
}

// inactiveSince answers from the journal since when keywarden has kept a
// key deactivated; the first error is kept in *errp.
func (e *Engine) inactiveSince(ctx context.Context, errp *error) func(account, key string) (time.Time, bool) {
	return func(account, key string) (time.Time, bool) {
		if e.Store == nil {
			return time.Time{}, false
		}
		t, ok, err := e.Store.DeactivatedAt(ctx, account, key)
		if err != nil && *errp == nil {
			*errp = err
		}
		return t, ok && err == nil
	}
}

// read discovers and reads the accounts.
func (e *Engine) read(ctx context.Context, r Read) (*inventory.Inventory, []inventory.Account, error) {
	found, err := e.Discover(ctx, r.Selection)
	if err != nil {
		return nil, nil, err
	}
	if len(found.Accounts) == 0 {
		return nil, found.Skipped, ErrNoAccounts
	}
	inv, err := e.ReadAccounts(ctx, found, r)
	if err != nil {
		return nil, nil, err
	}
	return inv, found.Skipped, nil
}

// Discover resolves a selection into accounts, with their OU paths
// whenever the policy has OU-scoped exemptions or overrides.
func (e *Engine) Discover(ctx context.Context, sel inventory.Selection) (*inventory.Selected, error) {
	sel.NeedOUs = e.Policy.UsesOUs()
	var org *organizations.Client
	if sel.UsesOrganization() || len(sel.Accounts) > 0 || sel.NeedOUs {
		org = organizations.NewFromConfig(e.Hub.Base)
	}
	found, err := inventory.Discover(ctx, org, e.Hub.Account, sel)
	if err != nil {
		return nil, explainDiscovery(err)
	}
	return found, nil
}

// ReadAccounts reads the accounts discovery found (r.Selection is not
// used). An account whose OU is unknown while the policy has OU-scoped
// criteria is not read but recorded as failed: the policy would judge it
// as if it were outside every OU, and an OU exemption would be lost.
func (e *Engine) ReadAccounts(ctx context.Context, found *inventory.Selected, r Read) (*inventory.Inventory, error) {
	h := e.Hub
	needOUs := e.Policy.UsesOUs()
	var toRead []inventory.Account
	var unknown []inventory.AccountInventory
	for _, a := range found.Accounts {
		if needOUs && len(a.OUIDs) == 0 {
			why := "the account is not in the organization"
			if found.TreeError != nil {
				why = "the organization could not be read (" + found.TreeError.Error() + ")"
			}
			unknown = append(unknown, inventory.AccountInventory{Account: a, Status: inventory.AccountFailed, ErrorCode: "OUUnknown",
				Error: "its OU is unknown and the policy has OU-scoped exemptions or overrides: " + why +
					"; the caller needs organizations:ListRoots, ListOrganizationalUnitsForParent and ListAccountsForParent"})
			continue
		}
		toRead = append(toRead, a)
	}
	opts := inventory.Options{
		Source: r.Source, Parallel: r.Parallel, UserParallel: r.UserParallel, AccountTimeout: r.AccountTimeout, AsOf: r.AsOf,
		Progress: r.Progress, Logger: e.log(),
	}
	switch {
	case r.needKeyIDs != nil:
		opts.NeedKeyIDs = r.needKeyIDs
	case r.KeyIDs == KeyIDsAll:
		opts.NeedKeyIDs = inventory.AllKeyIDs
	case r.KeyIDs == KeyIDsNone:
		opts.NeedKeyIDs = inventory.NoKeyIDs
	default:
		pol := e.Policy
		opts.NeedKeyIDsFor = func(a inventory.Account) inventory.NeedKeyIDs {
			need := pol.NeedKeyIDs(a, attentionHorizon)
			// A user with two active keys may be in the middle of a
			// rotation: the cutover needs both keys' IDs.
			return func(u inventory.User, asOf time.Time) bool { return need(u, asOf) || activeKeys(u) >= 2 }
		}
	}
	inv, err := inventory.Scan(ctx, toRead, h.Config, opts)
	if err != nil {
		return nil, err
	}
	if len(unknown) > 0 {
		inv.Accounts = append(inv.Accounts, unknown...)
		sortAccounts(inv.Accounts)
	}
	inv.Caller = h.CallerARN
	if err := noneReadable(inv, h); err != nil {
		return nil, err
	}
	return inv, nil
}

// noneReadable turns "every account refused the role" into one message
// that says what to check, instead of one failure per account.
func noneReadable(inv *inventory.Inventory, h *awsx.Hub) error {
	failed := inv.Failed()
	if len(failed) == 0 || len(failed) != len(inv.Accounts) {
		return nil
	}
	for _, a := range failed {
		if !strings.Contains(a.Error, "AssumeRole") {
			return nil
		}
	}
	first := failed[0]
	return fmt.Errorf("%w: keywarden (%s) could not assume %s in any of the %d accounts (%s: %s); check --role-name, --external-id, and that the role's trust policy allows this caller (docs/scan.md)",
		ErrNoAccountReadable, h.CallerARN, h.RoleARN(first.Account.ID), len(failed), first.ErrorCode, first.Error)
}

// explainDiscovery says what actually happened when the organization
// could not be listed: only a refusal means the caller is not the
// management account or a delegated administrator.
func explainDiscovery(err error) error {
	if !errors.Is(err, inventory.ErrNoOrganization) {
		return err
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "AccessDeniedException", "AccessDenied", "AWSOrganizationsNotInUseException":
			return fmt.Errorf("%w; --org and --ou need the management account or a delegated administrator (or list accounts with --accounts)", err)
		}
		return fmt.Errorf("%w; AWS Organizations answered %s, try again later", err, api.ErrorCode())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w; --org and --ou need the management account or a delegated administrator (or list accounts with --accounts)", err)
}

func sortAccounts(as []inventory.AccountInventory) {
	slices.SortFunc(as, func(a, b inventory.AccountInventory) int { return strings.Compare(a.Account.ID, b.Account.ID) })
}

func activeKeys(u inventory.User) int {
	n := 0
	for _, k := range u.Keys {
		if k.Active() {
			n++
		}
	}
	return n
}
