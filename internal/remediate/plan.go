// Package remediate turns findings into a plan of actions under guards, and
// applies a plan: it re-reads every key live before it acts, journals each
// action before and after the AWS call, and can undo the deactivations of a
// run. Nothing here acts on a key the policy did not ask for, acts twice, or
// acts from a partial view of an account.
package remediate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/store"
)

// SchemaVersion is the version of the plan file format.
const SchemaVersion = 1

// Action types.
const (
	Deactivate = "deactivate"
	Delete     = "delete"
	Notify     = "notify"
	// Rotate creates a new key for the user, stores it in Secrets Manager
	// and tells the owner where; the old key stays active (policy.Rotation).
	Rotate = "rotate"
)

// Plan is what an apply will do, with what it relied on.
type Plan struct {
	SchemaVersion int       `json:"schema_version"`
	ID            string    `json:"id"`
	CreatedAt     time.Time `json:"created_at"`
	AsOf          time.Time `json:"as_of"`
	PolicyHash    string    `json:"policy_hash"`
	PolicySource  string    `json:"policy_source"`
	Caller        string    `json:"caller"`
	// Accounts read for the plan; failed and partial accounts get no action.
	Accounts []PlanAccount `json:"accounts"`
	Actions  []Action      `json:"actions"`
	// Withheld are actions the findings asked for that a guard stopped.
	Withheld []Withheld `json:"withheld"`
	// Limits is the caps check: when Exceeded, apply refuses the whole plan
	// unless told --unsafe-allow-bulk.
	Limits Limits `json:"limits"`
	// Rotations are the rotations keywarden did whose old key is still
	// there, and where each one is (RotationState).
	Rotations []RotationState `json:"rotations,omitempty"`
}

// PlanAccount is an account the plan read.
type PlanAccount struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Status     string `json:"status"`
	Error      string `json:"error,omitempty"`
	ActiveKeys int    `json:"active_keys"`
}

// KeyState is the state of a key an action relied on; apply re-reads it and
// skips the action if it changed.
type KeyState struct {
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// Action is one change to one key (or, for notify, one message).
type Action struct {
	ID          string   `json:"id"`
	Type        string   `json:"type"`
	AccountID   string   `json:"account_id"`
	AccountName string   `json:"account_name,omitempty"`
	UserName    string   `json:"user_name"`
	AccessKeyID string   `json:"access_key_id"`
	Rules       []string `json:"rules"`
	Stage       string   `json:"stage"`
	Severity    string   `json:"severity"`
	Reason      string   `json:"reason"`
	Key         KeyState `json:"key"`
	// DeactivateOld, on a rotate action, deactivates the old key as soon
	// as the new one is stored (a leaked key: 'keywarden rotate
	// --deactivate-now').
	DeactivateOld bool `json:"deactivate_old,omitempty"`
}

// Withheld is an action a guard stopped, and which guard.
type Withheld struct {
	Type        string `json:"type"`
	AccountID   string `json:"account_id"`
	UserName    string `json:"user_name"`
	AccessKeyID string `json:"access_key_id,omitempty"`
	Rule        string `json:"rule"`
	Guard       string `json:"guard"`
	Reason      string `json:"reason"`
}

// Guards, as named in Withheld.Guard and docs/safety.md.
const (
	GuardKeyIDUnknown     = "key-id-unknown"
	GuardProtectedUser    = "protected-user"
	GuardSelfKey          = "own-key"
	GuardRecentUse        = "recent-use"
	GuardDeleteDelay      = "delete-delay"
	GuardDeactivationDate = "deactivation-date-unknown"
	GuardRootKey          = "root-key"
	// GuardExempt: an exemption covering every rule of the user holds
	// back what stands on no rule (the cutover of a rotation).
	GuardExempt = "exempt"
	// GuardKeyQuota: IAM allows two keys per user; a user holding two is
	// not rotated (no key is deactivated or deleted to make room).
	GuardKeyQuota = "key-quota"
	// GuardOneRotation: a user gets at most one rotation per run.
	GuardOneRotation = "one-rotation"
	// GuardSecretName: the user's secret name (rotation.secret_name) is
	// not one Secrets Manager accepts (a comma in the user's name).
	GuardSecretName = "secret-name"
)

// Limits is the outcome of the caps on one plan.
type Limits struct {
	MaxActions         int      `json:"max_actions"`
	MaxAccountFraction float64  `json:"max_account_fraction"`
	Exceeded           bool     `json:"exceeded"`
	Reasons            []string `json:"reasons"`
	// OverAccounts are the accounts over max_account_fraction: a plan of
	// the other accounts alone may be within the limits.
	OverAccounts []string `json:"over_accounts,omitempty"`
}

// Summary counts a plan's actions.
type Summary struct{ Deactivate, Delete, Rotate, Notify, Withheld int }

// Summary counts the plan's actions by type.
func (p *Plan) Summary() Summary {
	var s Summary
	for _, a := range p.Actions {
		switch a.Type {
		case Deactivate:
			s.Deactivate++
		case Delete:
			s.Delete++
		case Notify:
			s.Notify++
		case Rotate:
			s.Rotate++
		}
	}
	s.Withheld = len(p.Withheld)
	return s
}

// Changes reports whether applying the plan would change any key.
func (p *Plan) Changes() bool { s := p.Summary(); return s.Deactivate+s.Delete+s.Rotate > 0 }

// Inputs are what a plan is made from.
type Inputs struct {
	Inventory *inventory.Inventory
	Findings  []policy.Finding
	Policy    *policy.Policy
	AsOf      time.Time
	Now       time.Time
	Caller    string // the ARN keywarden runs as
	// CallerKeyID is the access key keywarden signs with, never acted on.
	CallerKeyID string
	// DeactivatedAt says when keywarden deactivated a key (the journal).
	DeactivatedAt func(ctx context.Context, accountID, keyID string) (time.Time, bool, error)
	// LastRotation says which rotation replaced a key (the journal); nil:
	// none is known.
	LastRotation func(ctx context.Context, accountID, keyID string) (store.Entry, bool, error)
	// Demand, if set, is a rotation asked for by hand: the plan is for
	// its user only, and rotates its key whatever the rules say.
	Demand *Demand
	RunID  string
}

// Demand is a rotation asked for by hand ('keywarden rotate'), for an
// incident or a leaked key.
type Demand struct {
	AccountID   string
	UserName    string
	AccessKeyID string
	// DeactivateNow deactivates the old key as soon as the new one is
	// stored, instead of waiting for the cutover.
	DeactivateNow bool
}

// RuleOnDemand is the rule a rotation asked for by hand names.
const RuleOnDemand = "on_demand"

// demandFinding is the finding a rotation asked for by hand stands on.
func demandFinding(d *Demand, inv *inventory.Inventory) (policy.Finding, bool) {
	for _, a := range inv.Accounts {
		if a.Account.ID != d.AccountID {
			continue
		}
		for _, u := range a.Users {
			if u.Name != d.UserName {
				continue
			}
			for _, k := range u.Keys {
				if k.ID == d.AccessKeyID {
					msg := "rotation asked for by hand ('keywarden rotate')"
					if d.DeactivateNow {
						msg += "; the old key is deactivated as soon as the new one is stored"
					}
					return policy.Finding{Rule: RuleOnDemand, Severity: policy.SeverityHigh, Stage: policy.StageRotate,
						AccountID: a.Account.ID, AccountName: a.Account.Name, UserName: u.Name, UserARN: u.ARN,
						AccessKeyID: k.ID, KeyStatus: k.Status, KeyCreatedAt: k.CreatedAt, KeyLastUsed: k.LastUsedAt, Message: msg}, true
				}
			}
		}
	}
	return policy.Finding{}, false
}

// keyRef identifies a key across findings.
type keyRef struct{ account, user, id string }

// userIn is a user read, with its account.
type userIn struct {
	acct inventory.Account
	u    *inventory.User
}

// Make builds a plan: for each key, the strongest action its findings ask
// for (delete over deactivate over notify), unless a guard withholds it.
func Make(ctx context.Context, in Inputs) (*Plan, error) {
	pol := in.Policy
	plan := &Plan{
		SchemaVersion: SchemaVersion, ID: "plan-" + in.RunID, CreatedAt: in.Now.UTC(), AsOf: in.AsOf.UTC(),
		PolicyHash: pol.Hash, PolicySource: pol.Source, Caller: in.Caller,
		Actions: []Action{}, Withheld: []Withheld{},
		Limits: Limits{MaxActions: pol.Safety.MaxActions, MaxAccountFraction: pol.Safety.MaxAccountFraction, Reasons: []string{}},
	}
	keys := map[keyRef]inventory.Key{}
	accountNames := map[string]string{}
	activeKeys := map[string]int{}
	for _, a := range in.Inventory.Accounts {
		pa := PlanAccount{ID: a.Account.ID, Name: a.Account.Name, Status: string(a.Status), Error: a.Error}
		accountNames[a.Account.ID] = a.Account.Name
		for _, u := range a.Users {
			for _, k := range u.Keys {
				if k.Active() {
					pa.ActiveKeys++
				}
				if k.ID != "" {
					keys[keyRef{a.Account.ID, u.Name, k.ID}] = k
				}
			}
		}
		activeKeys[a.Account.ID] = pa.ActiveKeys
		plan.Accounts = append(plan.Accounts, pa)
	}
	okAccount := map[string]bool{}
	ous := map[string][]string{}
	users := map[keyRef]userIn{} // by account and user name
	for i := range in.Inventory.Accounts {
		a := &in.Inventory.Accounts[i]
		okAccount[a.Account.ID] = a.Status == inventory.AccountOK
		ous[a.Account.ID] = a.Account.OUIDs
		for j := range a.Users {
			users[keyRef{account: a.Account.ID, user: a.Users[j].Name}] = userIn{a.Account, &a.Users[j]}
		}
	}

	findings := in.Findings
	if d := in.Demand; d != nil {
		// One user's keys only, and the rotation asked for on top.
		findings = nil
		for _, f := range in.Findings {
			if f.AccountID == d.AccountID && f.UserName == d.UserName {
				findings = append(findings, f)
			}
		}
		if f, ok := demandFinding(d, in.Inventory); ok {
			// First: the user's one rotation of the run is this one.
			findings = append([]policy.Finding{f}, findings...)
		}
	}
	byFinding := map[keyRef][]policy.Finding{}
	for _, f := range findings {
		ref := keyRef{f.AccountID, f.UserName, f.AccessKeyID}
		byFinding[ref] = append(byFinding[ref], f)
	}
	rots, err := rotations(ctx, in, byFinding)
	if err != nil {
		return nil, err
	}
	successorOf := map[keyRef]*RotationState{} // new key: its rotation, while under way
	for ref, rs := range rots {
		// Also once the old key was deactivated at the deadline with the
		// new key never used: the new key is then the owner's way back.
		if rs.holdsBack() || (rs.Phase == PhaseCutOver && rs.NewKeyUsedAt == nil) {
			successorOf[keyRef{ref.account, ref.user, rs.NewKeyID}] = rs
		}
	}

	byKey := map[keyRef]*Action{}
	var order []keyRef
	userKeys := map[string]int{}   // account/user: how many keys the user holds
	userActive := map[string]int{} // account/user: how many of them are active
	for _, a := range in.Inventory.Accounts {
		for _, u := range a.Users {
			userKeys[a.Account.ID+"/"+u.Name] = len(u.Keys)
			for _, k := range u.Keys {
				if k.Active() {
					userActive[a.Account.ID+"/"+u.Name]++
				}
			}
		}
	}
	rotating := map[string]keyRef{} // account/user: the key rotated
	withhold := func(f policy.Finding, typ, guard, reason string) {
		plan.Withheld = append(plan.Withheld, Withheld{Type: typ, AccountID: f.AccountID, UserName: f.UserName,
			AccessKeyID: f.AccessKeyID, Rule: string(f.Rule), Guard: guard, Reason: reason})
	}
	var rotateRefs []keyRef // rotations planned, judged against the quota once every action is known
	for _, f := range findings {
		if f.Exempt || !okAccount[f.AccountID] {
			continue // exempt findings are listed, never acted on; nor is anything in an account not read completely (failed or partial)
		}
		typ := actionFor(pol, f)
		if typ == "" {
			continue
		}
		if f.UserName == policy.RootUserName {
			if typ != Notify {
				withhold(f, typ, GuardRootKey, "root keys can be removed only by the root user, from the console")
			}
			continue
		}
		if f.AccessKeyID == "" {
			withhold(f, typ, GuardKeyIDUnknown, "the key ID was not read (scan with --key-ids all)")
			continue
		}
		k := keys[keyRef{f.AccountID, f.UserName, f.AccessKeyID}]
		reason := f.Message
		if rs := successorOf[keyRef{f.AccountID, f.UserName, f.AccessKeyID}]; rs != nil && (f.Rule == policy.MultipleActive || typ != Notify) {
			// The new key is where the owner was told to move: no rule
			// takes it away while the rotation is under way (not
			// unused_initial, before the owner has moved), and the user's
			// two keys are the rotation's own (multiple_active).
			if typ != Notify {
				withhold(f, typ, GuardCutover, fmt.Sprintf("the key is the new key of a rotation under way (it replaces %s): the old key goes at the cutover", rs.OldKeyID))
			}
			continue
		}
		if rs := rots[keyRef{f.AccountID, f.UserName, f.AccessKeyID}]; rs != nil && rs.holdsBack() && f.Rule != RuleOnDemand {
			var why string
			typ, reason, why = cutoverJudge(pol, f, rs, typ, reason)
			if why != "" {
				withhold(f, Deactivate, whyGuard(rs), why)
			}
			if typ == "" {
				continue
			}
		}
		if typ != Notify {
			var err error
			typ, err = guard(ctx, in, f, k, ous[f.AccountID], typ, withhold)
			if err != nil {
				return nil, err
			}
			if typ == "" {
				continue
			}
		}
		ref := keyRef{f.AccountID, f.UserName, f.AccessKeyID}
		if typ == Rotate {
			// A rotation withheld still warns the owner, saying why.
			user := f.AccountID + "/" + f.UserName
			if n := userKeys[user]; n >= 2 && userActive[user] >= 2 {
				// Two active keys: nothing may be deleted to make room.
				why := quotaWhy(n)
				withhold(f, typ, GuardKeyQuota, why)
				typ, reason = Notify, f.Message+"; not rotated: "+why
			} else if _, err := pol.Rotation.SecretNameFor(f.AccountID, f.UserName); err != nil {
				withhold(f, typ, GuardSecretName, err.Error())
				typ, reason = Notify, f.Message+"; not rotated: "+err.Error()
			} else if other, ok := rotating[user]; ok && other != ref {
				withhold(f, typ, GuardOneRotation, "another key of the user ("+other.id+") is rotated in this run")
				typ = Notify
			} else {
				rotating[user] = ref
				rotateRefs = append(rotateRefs, ref)
			}
		}
		act := byKey[ref]
		if act == nil {
			act = &Action{Type: typ, AccountID: f.AccountID, AccountName: accountNames[f.AccountID], UserName: f.UserName,
				AccessKeyID: f.AccessKeyID, Stage: string(f.Stage), Severity: string(f.Severity), Reason: reason,
				Key: KeyState{Status: k.Status, CreatedAt: k.CreatedAt}}
			if !k.LastUsedAt.IsZero() {
				t := k.LastUsedAt
				act.Key.LastUsedAt = &t
			}
			byKey[ref] = act
			order = append(order, ref)
		} else if rank(typ) > rank(act.Type) && !(act.Type == Rotate && slices.Contains(act.Rules, RuleOnDemand)) {
			// A rotation asked for by hand is done whatever the key's age:
			// a deactivation or deletion due gives way to it, and comes at
			// its cutover (or at once with --deactivate-now).
			act.Type, act.Stage, act.Severity, act.Reason = typ, string(f.Stage), string(f.Severity), reason
		}
		act.Rules = append(act.Rules, string(f.Rule))
		if f.Rule == RuleOnDemand && act.Type == Rotate {
			act.DeactivateOld = in.Demand.DeactivateNow
		}
	}
	// The quota: a user holding two keys gets a new one only when one of
	// them, inactive, is deleted first in this run (its delete stage is
	// due); never is an active key deactivated or deleted to make room.
	for _, ref := range rotateRefs {
		act := byKey[ref]
		if act == nil || act.Type != Rotate {
			continue
		}
		n := userKeys[ref.account+"/"+ref.user]
		var freed []string
		for _, other := range order {
			if o := byKey[other]; other.account == ref.account && other.user == ref.user && o.Type == Delete {
				freed = append(freed, other.id)
			}
		}
		if n-len(freed) < 2 {
			if len(freed) > 0 {
				act.Reason += "; the user's inactive key " + strings.Join(freed, ", ") + " is deleted first to make room (its delete stage is due)"
			}
			continue
		}
		why := quotaWhy(n)
		plan.Withheld = append(plan.Withheld, Withheld{Type: Rotate, AccountID: ref.account, UserName: ref.user, AccessKeyID: ref.id,
			Rule: act.Rules[0], Guard: GuardKeyQuota, Reason: why})
		act.Type, act.Reason, act.DeactivateOld = Notify, act.Reason+"; not rotated: "+why, false
	}
	// The cutover: a rotated key whose successor is in use, and that has
	// been quiet for the window, is deactivated (under the usual guards).
	var states []RotationState
	for ref, rs := range rots {
		states = append(states, *rs)
		if rs.Phase != PhaseCutoverDue || !okAccount[ref.account] || exempt(byFinding[ref]) {
			continue
		}
		if d := in.Demand; d != nil && (ref.account != d.AccountID || ref.user != d.UserName) {
			continue // a rotation asked for by hand is a plan of its user only
		}
		if ui := users[keyRef{account: ref.account, user: ref.user}]; ui.u != nil {
			if e, ok := pol.ExemptUser(ui.acct, *ui.u, in.AsOf); ok {
				withhold(policy.Finding{Rule: RuleRotation, AccountID: ref.account, UserName: ref.user, AccessKeyID: ref.id}, Deactivate, GuardExempt,
					fmt.Sprintf("the cutover is due, but the user is exempt (%q): the old key stays active", e.Reason))
				continue
			}
		}
		if a := byKey[ref]; a != nil && rank(a.Type) >= rank(Deactivate) {
			continue
		}
		k := keys[ref]
		f := policy.Finding{Rule: RuleRotation, Severity: policy.SeverityMedium, Stage: policy.StageDeactivate, AccountID: ref.account,
			UserName: ref.user, AccessKeyID: ref.id, KeyStatus: k.Status, KeyCreatedAt: k.CreatedAt, KeyLastUsed: k.LastUsedAt}
		typ, err := guard(ctx, in, f, k, ous[ref.account], Deactivate, withhold)
		if err != nil {
			return nil, err
		}
		if typ != Deactivate {
			continue
		}
		reason := fmt.Sprintf("cutover: the new key %s is in use (last used %s) and this key has been quiet since %s, longer than rotation.quiet_window (%s) and the %s IAM may take to show a use",
			rs.NewKeyID, rs.NewKeyUsedAt.Format(time.RFC3339), rs.OldKeyQuietSince.Format(time.RFC3339), pol.Rotation.QuietWindow, policy.Duration(lastUsedDelay))
		act := byKey[ref]
		if act == nil {
			act = &Action{AccountID: ref.account, AccountName: accountNames[ref.account], UserName: ref.user, AccessKeyID: ref.id,
				Key: KeyState{Status: k.Status, CreatedAt: k.CreatedAt}}
			if !k.LastUsedAt.IsZero() {
				t := k.LastUsedAt
				act.Key.LastUsedAt = &t
			}
			byKey[ref] = act
			order = append(order, ref)
		}
		act.Type, act.Stage, act.Severity, act.Reason = Deactivate, "cutover", string(policy.SeverityMedium), reason
		act.Rules = append(act.Rules, RuleRotation)
	}
	sortRotations(states)
	plan.Rotations = states
	// A key with an action needs no word about the weaker or equal actions
	// other rules asked for; and each guard is said once per key.
	kept := plan.Withheld[:0]
	seen := map[string]bool{}
	for _, w := range plan.Withheld {
		if a := byKey[keyRef{w.AccountID, w.UserName, w.AccessKeyID}]; a != nil && rank(a.Type) >= rank(w.Type) {
			continue
		}
		id := w.AccountID + "/" + w.UserName + "/" + w.AccessKeyID + "/" + w.Type + "/" + w.Guard
		if seen[id] {
			continue
		}
		seen[id] = true
		kept = append(kept, w)
	}
	plan.Withheld = kept
	for _, ref := range order {
		a := byKey[ref]
		a.ID = ActionID(plan.PolicyHash, *a)
		plan.Actions = append(plan.Actions, *a)
	}
	sort.SliceStable(plan.Actions, func(i, j int) bool {
		a, b := plan.Actions[i], plan.Actions[j]
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		if a.UserName != b.UserName {
			return a.UserName < b.UserName
		}
		// A user's rotation comes after the deletion that makes room for it.
		if (a.Type == Rotate) != (b.Type == Rotate) {
			return b.Type == Rotate
		}
		return a.AccessKeyID < b.AccessKeyID
	})
	plan.Limits = checkLimits(plan, activeKeys, pol.Safety)
	return plan, nil
}

// actionFor maps a finding's stage to the action it asks for. The rotate
// stage rotates only when the policy's rotation section is enabled;
// otherwise it warns.
func actionFor(pol *policy.Policy, f policy.Finding) string {
	switch f.Stage {
	case policy.StageDeactivate:
		return Deactivate
	case policy.StageDelete:
		return Delete
	case policy.StageRotate:
		if pol.Rotation.Enabled || f.Rule == RuleOnDemand {
			return Rotate
		}
		return Notify
	case policy.StageWarn:
		return Notify
	}
	return ""
}

// rank orders the actions on one key: delete over deactivate over rotate
// over notify.
func rank(typ string) int {
	switch typ {
	case Delete:
		return 4
	case Deactivate:
		return 3
	case Rotate:
		return 2
	case Notify:
		return 1
	}
	return 0
}

// guard applies the guards to a deactivation or deletion and returns the
// action still allowed ("" when withheld).
func guard(ctx context.Context, in Inputs, f policy.Finding, k inventory.Key, ouIDs []string, typ string,
	withhold func(policy.Finding, string, string, string)) (string, error) {
	safety := in.Policy.Safety
	if typ == Delete && k.Active() {
		// Never delete an active key: deactivate now, delete on a later run.
		typ = Deactivate
	}
	for _, pattern := range safety.ProtectedUsers {
		if ok, _ := path.Match(pattern, f.UserName); ok {
			withhold(f, typ, GuardProtectedUser, fmt.Sprintf("user %s is protected (safety.protected_users %q)", f.UserName, pattern))
			return "", nil
		}
	}
	if in.CallerKeyID != "" && f.AccessKeyID == in.CallerKeyID {
		withhold(f, typ, GuardSelfKey, "keywarden is signing its own requests with this key")
		return "", nil
	}
	// Temporary credentials of an IAM user (GetSessionToken) sign with an
	// ASIA key, but they stop working with the user's long-term keys.
	if account, user, ok := callerUser(in.Caller); ok && account == f.AccountID && user == f.UserName {
		withhold(f, typ, GuardSelfKey, "keywarden runs as this user: its credentials come from this user's keys")
		return "", nil
	}
	switch typ {
	case Rotate:
		if !k.Active() {
			return "", nil // an inactive key needs no successor
		}
		// A key in use is exactly what rotation is for: no recent-use guard.
		return Rotate, nil
	case Deactivate:
		if !k.Active() {
			return "", nil // already inactive: nothing to do
		}
		// No rule deactivates a key in use: whatever the rule, a key used
		// within the guard is serving someone right now. IAM shows a use
		// up to lastUsedDelay late, so the last use it shows must be older
		// than the guard by that much: a key used once a day shows, for a
		// few hours, a use more than a day old.
		if !k.LastUsedAt.IsZero() {
			if since := in.AsOf.Sub(k.LastUsedAt); since < safety.RecentUseGuard.Std()+lastUsedDelay {
				next := "exempt the user, or wait until it is quiet"
				if f.Rule == policy.MaxAge {
					next = "rotate it first, or exempt the user"
				}
				withhold(f, typ, GuardRecentUse, fmt.Sprintf("used %s ago (within safety.recent_use_guard %s, plus the 4h IAM may take to show a use): %s",
					roundDuration(since), safety.RecentUseGuard, next))
				return "", nil
			}
		}
		return Deactivate, nil
	case Delete:
		if f.Estimated {
			withhold(f, typ, GuardDeactivationDate, "keywarden did not deactivate this key, so it does not know since when it is inactive")
			return "", nil
		}
		if f.Rule != policy.InactiveCleanup {
			at, ok, err := in.DeactivatedAt(ctx, f.AccountID, f.AccessKeyID)
			if err != nil {
				return "", fmt.Errorf("read the journal: %w", err)
			}
			delay := deleteDelay(in.Policy, f, ouIDs)
			switch {
			case !ok:
				withhold(f, typ, GuardDeactivationDate, "keywarden did not deactivate this key, so it does not know since when it is inactive")
				return "", nil
			case in.AsOf.Sub(at) < delay:
				withhold(f, typ, GuardDeleteDelay, fmt.Sprintf("deactivated %s ago; deletion waits %s after deactivation", roundDuration(in.AsOf.Sub(at)), policy.Duration(delay)))
				return "", nil
			}
		}
		return Delete, nil
	}
	return typ, nil
}

// callerUser is the account and name of the IAM user keywarden runs as,
// when its ARN is a user's (arn:PARTITION:iam::ACCOUNT:user/PATH/NAME).
func callerUser(arn string) (account, user string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || !strings.HasPrefix(parts[5], "user/") {
		return "", "", false
	}
	return parts[4], parts[5][strings.LastIndexByte(parts[5], '/')+1:], true
}

// deleteDelay is how long a key stays deactivated before a rule deletes it:
// the gap between the rule's deactivate and delete thresholds.
func deleteDelay(p *policy.Policy, f policy.Finding, ouIDs []string) time.Duration {
	eff := p.Effective(f.AccountID, ouIDs).Rules[f.Rule]
	if eff.Deactivate != nil && eff.Delete != nil {
		return eff.Delete.Std() - eff.Deactivate.Std()
	}
	return 0
}

func roundDuration(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	return d.Round(time.Minute).String()
}

// checkLimits applies the caps: total changes, and the share of an
// account's active keys deactivated (one is always allowed).
func checkLimits(p *Plan, activeKeys map[string]int, s policy.Safety) Limits {
	l := p.Limits
	changes, rotations := 0, 0
	perAccount := map[string]int{}
	for _, a := range p.Actions {
		if a.Type == Deactivate || a.Type == Delete || a.Type == Rotate {
			changes++
		}
		if a.Type == Rotate {
			rotations++
		}
		if a.Type == Deactivate {
			perAccount[a.AccountID]++
		}
	}
	if s.MaxActions > 0 && changes > s.MaxActions {
		l.Exceeded = true
		what := "deactivations and deletions"
		if rotations > 0 {
			what = "deactivations, deletions and rotations"
		}
		l.Reasons = append(l.Reasons, fmt.Sprintf("%d %s, more than safety.max_actions (%d)", changes, what, s.MaxActions))
	}
	accounts := make([]string, 0, len(perAccount))
	for a := range perAccount {
		accounts = append(accounts, a)
	}
	sort.Strings(accounts)
	for _, a := range accounts {
		allowed := int(math.Floor(s.MaxAccountFraction * float64(activeKeys[a])))
		if allowed < 1 {
			allowed = 1
		}
		if s.MaxAccountFraction > 0 && perAccount[a] > allowed {
			l.Exceeded = true
			l.OverAccounts = append(l.OverAccounts, a)
			l.Reasons = append(l.Reasons, fmt.Sprintf("account %s: %d of its %d active keys deactivated, more than safety.max_account_fraction (%g) allows (%d)",
				a, perAccount[a], activeKeys[a], s.MaxAccountFraction, allowed))
		}
	}
	return l
}

// ActionID is stable for the same change to the same key under the same
// policy, so that a resumed apply recognises what it has done. It is no
// secret: apply checks that an action's ID matches its content only to
// tell an edited plan file, and judges every action again anyway.
func ActionID(policyHash string, a Action) string {
	sum := sha256.Sum256([]byte(policyHash + "\x00" + a.Type + "\x00" + a.AccountID + "\x00" + a.UserName + "\x00" + a.AccessKeyID))
	return "act-" + hex.EncodeToString(sum[:6])
}

// exempt reports whether any of a key's findings is exempt: an exempt key
// is never acted on, its rotation's cutover included.
func exempt(fs []policy.Finding) bool {
	for _, f := range fs {
		if f.Exempt {
			return true
		}
	}
	return false
}

// whyGuard is the guard that holds a rotated key back.
func whyGuard(rs *RotationState) string {
	if rs.Phase == PhaseHeld {
		return GuardCutoverHold
	}
	return GuardCutover
}

// cutoverJudge turns what a rule asks of a rotated key that is still held
// back by its rotation into what the rotation allows: no second rotation;
// a deactivation only once the cutover is due, or at the deadline if the
// policy says so; at the deadline with the new key never used, a hold and
// a warning to the owner and the security team. It returns the action
// ("" for none), its reason, and why a deactivation is withheld ("" if it
// is not).
func cutoverJudge(pol *policy.Policy, f policy.Finding, rs *RotationState, typ, reason string) (string, string, string) {
	switch {
	case typ == Rotate:
		return "", reason, "" // rotated already: the cutover is what comes next
	case f.Rule == policy.MultipleActive && typ == Notify:
		return "", reason, "" // the two keys are the rotation's own, until the cutover
	}
	switch typ {
	case Deactivate, Delete:
	default:
		return typ, reason, ""
	}
	switch rs.Phase {
	case PhaseCutoverDue, PhaseDeadline:
		return typ, reason, ""
	case PhaseHeld:
		why := fmt.Sprintf("the new key %s (secret %s) has never been used and the deadline has come: the old key is held active, as rotation.on_deadline says (hold); "+
			"the owner and the security team are told; move the application to the new key, or set rotation.on_deadline: deactivate", rs.NewKeyID, rs.SecretARN)
		return Notify, reason + "; not deactivated: " + why, why
	case PhaseWaitingForQuiet:
		return "", reason, fmt.Sprintf("the new key %s is in use, but this key was used since (quiet since %s): deactivated once quiet for rotation.quiet_window (%s), from %s",
			rs.NewKeyID, rs.OldKeyQuietSince.Format(time.RFC3339), pol.Rotation.QuietWindow, rs.CutoverAt.Format(time.RFC3339))
	case PhaseNewKeyInactive:
		return "", reason, fmt.Sprintf("the new key %s is inactive: the old key is the user's working key and stays active until the new key is active and in use (or until the deadline)", rs.NewKeyID)
	default: // waiting for use, before the deadline
		return "", reason, fmt.Sprintf("the new key %s has not been used yet: the old key stays active until it is (or until the deadline)", rs.NewKeyID)
	}
}

// quotaWhy says why a user holding n keys is not rotated.
func quotaWhy(n int) string {
	return fmt.Sprintf("the user holds %d access keys, IAM's quota: no new key can be created, and keywarden never deactivates or deletes an active key to make room; "+
		"delete the user's key that is not in use, or rotate by hand", n)
}
