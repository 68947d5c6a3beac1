package remediate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/store"
)

// LiveView is what apply knows now from AWS and the current policy, as
// opposed to what a plan file says: a fresh read of the plan's accounts,
// the current policy's findings on it, and the plan it makes from them.
// A plan file is only a proposal; apply acts on the part of it that the
// live view agrees with, so editing a plan can narrow it, never widen it.
type LiveView struct {
	Inventory *inventory.Inventory
	Findings  []policy.Finding
	Plan      *Plan
	// AsOf is when keys are judged: now, or a forecast plan's date when
	// the apply was told --unsafe-allow-forecast.
	AsOf time.Time
	// InactiveSince says since when keywarden has kept a key deactivated.
	InactiveSince func(accountID, keyID string) (time.Time, bool)
}

// Prepared is a plan checked against the live view, ready to execute.
type Prepared struct {
	Plan *Plan
	// ToDo are the plan's actions the live view agrees with, in order.
	ToDo []Action
	// Dropped are the plan's actions the current policy would not take
	// now, with why; they are journaled as skipped, never done.
	Dropped []ActionResult
	// Earlier are the plan's actions an earlier, interrupted run of it
	// finished: they are not judged again, nor done again.
	Earlier []ActionResult
	// Limits are the caps computed from ToDo and the live key counts.
	Limits Limits

	live *LiveView
}

// Prepare checks a plan (version, age, forecast, policy, already applied)
// and narrows it to what the current policy, judging a fresh read of the
// same accounts, would do now: an action is kept only if the live plan has
// the same action for the same key, with the ID that its content gives.
// The limits are then computed from what is kept and the live key counts,
// never read from the plan.
func (ap *Applier) Prepare(ctx context.Context, p *Plan, live *LiveView) (*Prepared, error) {
	if err := ap.Check(ctx, p); err != nil {
		return nil, err
	}
	if live == nil || live.Plan == nil || live.Inventory == nil {
		return nil, fmt.Errorf("apply needs a fresh read of the plan's accounts to judge its actions again")
	}
	prep := &Prepared{Plan: p, live: live}
	earlier, err := ap.Store.PlanEntries(ctx, p.ID)
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	finished := map[string]bool{}
	// An action cut off during its AWS call is finished by Execute
	// whatever the live view says: a key found as wanted was changed by
	// the interrupted run, and is journaled done by it (so that undo of
	// the run restores it); a rotation's key left unstored is found and
	// deleted. Execute judges the key again before any call.
	cutOff := map[string]bool{}
	for _, e := range earlier {
		if e.Outcome == store.OutcomePending || e.Outcome == store.OutcomeFailed && e.Detail == DetailOutcomeUnknown {
			cutOff[e.ActionID] = true
		}
		if e.Outcome != store.OutcomePending && e.Outcome != store.OutcomeFailed {
			finished[e.ActionID] = true
			prep.Earlier = append(prep.Earlier, ActionResult{Action: Action{ID: e.ActionID, Type: e.Action, AccountID: e.AccountID,
				UserName: e.UserName, AccessKeyID: e.AccessKeyID}, Outcome: e.Outcome, Detail: e.Detail, RequestID: e.RequestID, Earlier: true})
		}
	}
	wanted := map[keyRef]Action{}
	for _, a := range live.Plan.Actions {
		wanted[keyRef{a.AccountID, a.UserName, a.AccessKeyID}] = a
	}
	seen := map[string]bool{}
	for _, a := range p.Actions {
		drop := func(why string) {
			prep.Dropped = append(prep.Dropped, ActionResult{Action: a, Outcome: "skipped", Detail: why})
		}
		ref := keyRef{a.AccountID, a.UserName, a.AccessKeyID}
		w, ok := wanted[ref]
		switch {
		case finished[a.ID] && a.ID == ActionID(p.PolicyHash, a):
			// Done before an interruption: Execute reports it from the journal.
		case a.ID != ActionID(p.PolicyHash, a):
			drop("the action's ID does not match what it says: the plan file was edited")
		case seen[a.ID]:
			drop("the plan lists this action twice")
		case cutOff[a.ID] && (!ok || w.Type != a.Type):
			// Finished as the file says, but deactivating the old key
			// right after is the live plan's to ask, never the file's.
			a.DeactivateOld = false
			prep.ToDo = append(prep.ToDo, a)
		case !ok || w.Type != a.Type:
			if done := live.alreadyDone(a); done != "" {
				prep.Dropped = append(prep.Dropped, ActionResult{Action: a, Outcome: store.OutcomeAlreadyDone, Detail: done})
				break
			}
			drop(live.whyNot(live.Plan, live.Findings, a))
		default:
			// Act on what the policy says now; the key state the plan
			// relied on is kept, to tell whether the key changed since.
			w.Key = a.Key
			prep.ToDo = append(prep.ToDo, w)
		}
		seen[a.ID] = true
	}
	active := map[string]int{}
	for _, a := range live.Plan.Accounts {
		active[a.ID] = a.ActiveKeys
	}
	safety := ap.Policy.Safety
	prep.Limits = checkLimits(&Plan{Actions: prep.ToDo, Limits: Limits{MaxActions: safety.MaxActions,
		MaxAccountFraction: safety.MaxAccountFraction, Reasons: []string{}}}, active, safety)
	if prep.Limits.Exceeded && !ap.UnsafeAllowBulk {
		return prep, fmt.Errorf("%w: %s; nothing was applied. Narrow the plan (--accounts, --ou), raise the limits in the policy's safety section, or pass --unsafe-allow-bulk",
			ErrOverLimits, strings.Join(prep.Limits.Reasons, "; "))
	}
	return prep, nil
}

// Changes reports whether the prepared plan would change any key.
func (p *Prepared) Changes() bool {
	for _, a := range p.ToDo {
		if a.Type == Deactivate || a.Type == Delete || a.Type == Rotate {
			return true
		}
	}
	return false
}

// alreadyDone says why an action the live view does not have is already
// in effect (the key is inactive, or gone), or "".
func (live *LiveView) alreadyDone(a Action) string {
	for _, acct := range live.Inventory.Accounts {
		if acct.Account.ID != a.AccountID || acct.Status != inventory.AccountOK {
			continue
		}
		for _, u := range acct.Users {
			if u.Name != a.UserName {
				continue
			}
			for _, k := range u.Keys {
				if k.ID == a.AccessKeyID {
					if a.Type == Deactivate && !k.Active() {
						return "the key was already inactive"
					}
					return ""
				}
			}
			if a.Type == Delete && !slices.ContainsFunc(u.Keys, func(k inventory.Key) bool { return k.ID == "" }) {
				return "the key no longer exists"
			}
		}
	}
	return ""
}

// whyNot says why the live plan pl has not the action a, for people.
func (live *LiveView) whyNot(pl *Plan, findings []policy.Finding, a Action) string {
	for _, acct := range pl.Accounts {
		if acct.ID == a.AccountID && acct.Status != string(inventory.AccountOK) {
			return "the account could not be read now (" + acct.Error + "); nothing is done from a partial view"
		}
	}
	if !containsAccount(pl, a.AccountID) {
		return "the account was not read now; nothing is done in an account not read"
	}
	// A rotation withheld falls back to a warning: the guard is the news.
	for _, w := range pl.Withheld {
		if a.Type == Rotate && w.Type == Rotate && w.AccountID == a.AccountID && w.UserName == a.UserName && w.AccessKeyID == a.AccessKeyID {
			return "withheld now by the " + w.Guard + " guard: " + w.Reason
		}
	}
	for _, o := range pl.Actions {
		if o.AccountID == a.AccountID && o.UserName == a.UserName && o.AccessKeyID == a.AccessKeyID {
			return fmt.Sprintf("the policy now asks to %s this key, not to %s it; make a new plan", o.Type, a.Type)
		}
	}
	for _, w := range pl.Withheld {
		if w.AccountID == a.AccountID && w.UserName == a.UserName && w.AccessKeyID == a.AccessKeyID {
			return "withheld now by the " + w.Guard + " guard: " + w.Reason
		}
	}
	for _, f := range findings {
		if f.AccountID == a.AccountID && f.UserName == a.UserName && f.AccessKeyID == a.AccessKeyID && f.Exempt {
			return "the key is exempt now: " + f.ExemptionReason
		}
	}
	return fmt.Sprintf("no rule of the current policy asks to %s this key now", a.Type)
}

func containsAccount(pl *Plan, id string) bool {
	for _, a := range pl.Accounts {
		if a.ID == id {
			return true
		}
	}
	return false
}

// rejudge judges one key again right before acting on it, with its state
// just read from AWS laid over the fresh read of its user: the action goes
// ahead only if the current policy, under every guard, still asks for it.
func (live *LiveView) rejudge(ctx context.Context, ap *Applier, a Action, lk *liveState) (bool, string) {
	return live.rejudgeWithout(ctx, ap, a, lk, nil)
}

// rejudgeWithout is rejudge with the keys in gone left out of the user's
// fresh read (deleted since it was read).
func (live *LiveView) rejudgeWithout(ctx context.Context, ap *Applier, a Action, lk *liveState, gone map[string]bool) (bool, string) {
	var acct *inventory.AccountInventory
	for i := range live.Inventory.Accounts {
		if live.Inventory.Accounts[i].Account.ID == a.AccountID {
			acct = &live.Inventory.Accounts[i]
		}
	}
	if acct == nil || acct.Status != inventory.AccountOK {
		return false, "the account was not read completely now; nothing is done from a partial view"
	}
	var user *inventory.User
	for i := range acct.Users {
		if acct.Users[i].Name == a.UserName {
			user = &acct.Users[i]
		}
	}
	if user == nil {
		return false, "the user was not found in a fresh read of the account"
	}
	u := *user
	u.Keys = nil
	for _, k := range user.Keys {
		if !gone[k.ID] || k.ID == "" {
			u.Keys = append(u.Keys, k)
		}
	}
	found := false
	for i := range u.Keys {
		if u.Keys[i].ID == a.AccessKeyID {
			found = true
			u.Keys[i].Status = lk.status
			u.Keys[i].LastUsedAt = time.Time{}
			if lk.lastUsed != nil {
				u.Keys[i].LastUsedAt = *lk.lastUsed
			}
		}
	}
	if !found {
		return false, "the key was not found in a fresh read of its user"
	}
	one := *acct
	one.Users = []inventory.User{u}
	inv := &inventory.Inventory{Accounts: []inventory.AccountInventory{one}}
	asOf := ap.now()
	if live.AsOf.After(asOf) {
		asOf = live.AsOf
	}
	findings := ap.Policy.Evaluate(inv, policy.Options{AsOf: asOf, InactiveSince: live.InactiveSince})
	pl, err := Make(ctx, Inputs{Inventory: inv, Findings: findings, Policy: ap.Policy, AsOf: asOf, Now: ap.now(),
		Caller: ap.Caller, CallerKeyID: ap.CallerKeyID, DeactivatedAt: ap.Store.DeactivatedAt,
		LastRotation: ap.Store.LastRotation, Demand: ap.Demand, RunID: "rejudge"})
	if err != nil {
		return false, "judge the key again: " + err.Error()
	}
	for _, o := range pl.Actions {
		if o.AccessKeyID == a.AccessKeyID && o.UserName == a.UserName && o.Type == a.Type {
			return true, ""
		}
	}
	return false, live.whyNot(pl, findings, a)
}
