package policy

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
)

// RootUserName stands for the root user in findings.
const RootUserName = "<root_account>"

// Finding is one rule's judgement of one access key that the rule flags.
type Finding struct {
	Rule     RuleName
	Severity Severity
	// Stage is the highest stage the key has reached; DueAt is when it
	// fell due. NextStage is the one after it, due at NextStageAt ("" and
	// zero when there is none).
	Stage       Stage
	DueAt       time.Time
	NextStage   Stage
	NextStageAt time.Time

	AccountID   string
	AccountName string
	UserName    string
	UserARN     string
	// The key as judged (AccessKeyID is "" when the scan did not read it,
	// and for root keys).
	AccessKeyID  string
	KeySlot      int
	KeyStatus    string
	KeyCreatedAt time.Time
	KeyLastUsed  time.Time

	Message string
	// Exempt findings are listed but not acted on.
	Exempt           bool
	ExemptionReason  string
	ExemptionSource  string // e.g. keywarden.yaml:14
	ExemptionExpires *Date

	// Estimated is set when the start of the measured time is not known
	// exactly: an inactive key's deactivation date, when keywarden did not
	// deactivate it, is taken as its last use.
	Estimated bool

	Controls []Control
}

// Options tune an evaluation.
type Options struct {
	// AsOf is the moment judged; zero means now.
	AsOf time.Time
	// InactiveSince returns when keywarden deactivated a key, from its
	// journal; ok is false when it does not know.
	InactiveSince func(accountID, keyID string) (time.Time, bool)
}

// Judgement is a rule's verdict on one key, fired or not, with the why:
// what `policy explain` prints.
type Judgement struct {
	Rule    RuleName
	Applies bool   // false: the rule does not judge this key
	Why     string // what was measured, or why the rule does not apply
	Fired   bool
	Config  RuleConfig
	Sources []string // overrides that changed the rule for this account
	// Exemption that matched, if any (Expired: it no longer applies).
	Exemption        *Exemption
	ExemptionExpired bool
	Finding          *Finding // when Fired (Exempt or not)
}

// Evaluate judges every key of every account that was read. Accounts that
// failed have nothing to judge. A partial account's keys are judged (what
// was read is real, and worth reporting), but what could not be read is
// not: with its root keys not checked, no root_key finding is made, and
// the account is reported as partial instead. The planner never acts on
// a partial account's findings.
func (p *Policy) Evaluate(inv *inventory.Inventory, opts Options) []Finding {
	if opts.AsOf.IsZero() {
		opts.AsOf = time.Now().UTC()
	}
	var out []Finding
	for _, a := range inv.Accounts {
		if a.Status != inventory.AccountOK && a.Status != inventory.AccountPartial {
			continue
		}
		out = append(out, p.evaluateAccount(a, opts)...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		if a.UserName != b.UserName {
			return a.UserName < b.UserName
		}
		if !a.KeyCreatedAt.Equal(b.KeyCreatedAt) {
			return a.KeyCreatedAt.Before(b.KeyCreatedAt)
		}
		return ruleOrder(a.Rule) < ruleOrder(b.Rule)
	})
	return out
}

func ruleOrder(r RuleName) int {
	if i := slices.Index(Rules, r); i >= 0 {
		return i
	}
	return len(Rules)
}

func (p *Policy) evaluateAccount(a inventory.AccountInventory, opts Options) []Finding {
	var out []Finding
	lapsed := map[string]bool{} // one expiry finding per key and exemption
	collect := func(js []Judgement) {
		for _, j := range js {
			if j.Finding == nil {
				continue
			}
			out = append(out, *j.Finding)
			if j.ExemptionExpired {
				id := fmt.Sprintf("%s/%d/%s/%d", j.Finding.UserName, j.Finding.KeySlot, j.Finding.AccessKeyID, j.Exemption.Line)
				if !lapsed[id] {
					lapsed[id] = true
					out = append(out, p.expiryFinding(j))
				}
			}
		}
	}
	eff := p.Effective(a.Account.ID, a.Account.OUIDs)
	for _, u := range a.Users {
		for ki := range u.Keys {
			collect(p.judgeKey(a, eff, u, ki, opts))
		}
	}
	collect(p.judgeRoot(a, eff, opts))
	return out
}

// Explain judges one user's keys (or one key, when keyID is not "") in an
// account with every rule, fired or not.
func (p *Policy) Explain(a inventory.AccountInventory, user, keyID string, opts Options) ([]KeyExplanation, error) {
	if opts.AsOf.IsZero() {
		opts.AsOf = time.Now().UTC()
	}
	switch {
	case a.Status != inventory.AccountOK && a.Status != inventory.AccountPartial:
		return nil, fmt.Errorf("account %s could not be read: %s", a.Account.ID, a.Error)
	case user == RootUserName && a.Root.KeysUnknown:
		return nil, fmt.Errorf("account %s was read in part: %s", a.Account.ID, a.Error)
	}
	eff := p.Effective(a.Account.ID, a.Account.OUIDs)
	if user == RootUserName {
		keys, js := rootKeys(a), p.judgeRoot(a, eff, opts)
		if len(keys) == 0 {
			return []KeyExplanation{{User: RootUserName}}, nil
		}
		out := make([]KeyExplanation, len(keys))
		for i := range keys {
			out[i] = KeyExplanation{User: RootUserName, Key: keys[i], Judgements: []Judgement{js[i]}}
		}
		return out, nil
	}
	for _, u := range a.Users {
		if u.Name != user {
			continue
		}
		var out []KeyExplanation
		for ki, k := range u.Keys {
			if keyID != "" && k.ID != keyID {
				continue
			}
			out = append(out, KeyExplanation{User: u.Name, Key: k, Judgements: p.judgeKey(a, eff, u, ki, opts)})
		}
		if keyID != "" && len(out) == 0 {
			return nil, fmt.Errorf("user %s in account %s has no key %s", user, a.Account.ID, keyID)
		}
		if len(out) == 0 {
			return []KeyExplanation{{User: u.Name}}, nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("no user %s in account %s", user, a.Account.ID)
}

// KeyExplanation is every rule's judgement of one key.
type KeyExplanation struct {
	User       string
	Key        inventory.Key
	Judgements []Judgement
}

func days(d time.Duration) int { return int(d / (24 * time.Hour)) }

// nDays says "1 day" or "N days".
func nDays(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// lastUse is the later of last use and creation: a never-used key counts
// as idle from its creation.
func lastUse(k inventory.Key) time.Time {
	if k.LastUsedAt.After(k.CreatedAt) {
		return k.LastUsedAt
	}
	return k.CreatedAt
}

// lessUsedThan ranks two active keys of a user for multiple_active: a key
// never used is less used than any key that was (its creation date is no
// use at all), then the older last use, then the older key.
func lessUsedThan(a, b inventory.Key) bool {
	switch aUsed, bUsed := !a.LastUsedAt.IsZero(), !b.LastUsedAt.IsZero(); {
	case aUsed != bUsed:
		return !aUsed
	case aUsed && !a.LastUsedAt.Equal(b.LastUsedAt):
		return a.LastUsedAt.Before(b.LastUsedAt)
	}
	return a.CreatedAt.Before(b.CreatedAt)
}

// judgeKey applies every rule to one key of a user.
func (p *Policy) judgeKey(a inventory.AccountInventory, eff Effective, u inventory.User, ki int, opts Options) []Judgement {
	k := u.Keys[ki]
	asOf := opts.AsOf
	var out []Judgement
	judge := func(rule RuleName, applies bool, why string, start time.Time, estimated bool, measure func(Stage) string) {
		cfg := eff.Rules[rule]
		j := Judgement{Rule: rule, Config: cfg, Sources: eff.Sources[rule], Applies: applies, Why: why}
		th := cfg.Thresholds
		if onlyDelete := !k.Active() && (rule == MaxAge || rule == Unused); onlyDelete {
			// A deactivated key stays judged by its rule for the delete
			// stage: deactivate first, delete on a later run.
			th = Thresholds{Delete: cfg.Delete}
			j.Applies = applies && cfg.Delete != nil
			if !j.Applies {
				j.Why = "the key is inactive and the rule has no delete stage"
			}
		}
		if !cfg.IsEnabled() {
			j.Applies, j.Why = false, "the rule is disabled"
		}
		if j.Applies {
			st := stageAt(th, allowedStages[rule], start, asOf)
			if st.stage != "" {
				j.Fired = true
				f := p.newFinding(rule, cfg, a, u.Name, u.ARN, k)
				f.Stage, f.DueAt, f.NextStage, f.NextStageAt = st.stage, st.dueAt, st.next, st.nextAt
				f.Estimated = estimated
				f.Message = measure(st.stage)
				j.Finding = &f
			} else if st.next != "" {
				j.Why += fmt.Sprintf("; %s falls due on %s", st.next, st.nextAt.Format("2006-01-02"))
			}
		}
		p.applyExemptions(&j, a.Account, u, rule, asOf)
		out = append(out, j)
	}

	age := asOf.Sub(k.CreatedAt)
	judge(MaxAge, true, ageWhy(k, age), k.CreatedAt, false, func(s Stage) string {
		return fmt.Sprintf("%s key is %d days old; %s", keyState(k), days(age), stagePhrase(MaxAge, s, eff.Rules[MaxAge]))
	})

	idle := asOf.Sub(lastUse(k))
	judge(Unused, true, idleWhy(k, idle), lastUse(k), false, func(s Stage) string {
		if k.LastUsedAt.IsZero() {
			return fmt.Sprintf("%s key never used in the %d days since it was created; %s", keyState(k), days(idle), stagePhrase(Unused, s, eff.Rules[Unused]))
		}
		return fmt.Sprintf("%s key not used for %d days (last used %s); %s", keyState(k), days(idle), k.LastUsedAt.Format("2006-01-02"), stagePhrase(Unused, s, eff.Rules[Unused]))
	})

	neverUsed := k.LastUsedAt.IsZero()
	initialWhy := fmt.Sprintf("never used, created %s ago", nDays(days(age)))
	if !neverUsed {
		initialWhy = "the key has been used"
	} else if !k.Active() {
		initialWhy = "the key is inactive"
	}
	judge(UnusedInitial, k.Active() && neverUsed, initialWhy, k.CreatedAt, false, func(s Stage) string {
		return fmt.Sprintf("active key never used since it was created %s ago; %s", nDays(days(age)), stagePhrase(UnusedInitial, s, eff.Rules[UnusedInitial]))
	})

	out = append(out, p.judgeMultipleActive(a, eff, u, ki, asOf))

	since, known := time.Time{}, false
	if !k.Active() && opts.InactiveSince != nil && k.ID != "" {
		since, known = opts.InactiveSince(a.Account.ID, k.ID)
	}
	if !known {
		since = lastUse(k) // it cannot have been deactivated before its last use
	}
	inactiveFor := asOf.Sub(since)
	inactiveWhy := "the key is active"
	if !k.Active() {
		inactiveWhy = fmt.Sprintf("inactive for %d days", days(inactiveFor))
		if !known {
			inactiveWhy = fmt.Sprintf("inactive for at least %d days (since its last use; the deactivation date is not known)", days(inactiveFor))
		}
	}
	judge(InactiveCleanup, !k.Active(), inactiveWhy, since, !known, func(s Stage) string {
		return inactiveWhy + "; " + stagePhrase(InactiveCleanup, s, eff.Rules[InactiveCleanup])
	})
	return out
}

func ageWhy(k inventory.Key, age time.Duration) string {
	return fmt.Sprintf("%s, %d days old", keyState(k), days(age))
}

func idleWhy(k inventory.Key, idle time.Duration) string {
	switch {
	case k.LastUsedAt.IsZero():
		return fmt.Sprintf("never used, created %s ago", nDays(days(idle)))
	}
	return fmt.Sprintf("last used %s, %s ago", k.LastUsedAt.Format("2006-01-02"), nDays(days(idle)))
}

// stagePhrase says what the stage means, with its threshold.
func stagePhrase(rule RuleName, s Stage, cfg RuleConfig) string {
	th := ""
	if d := cfg.Get(s); d != nil {
		th = " (" + d.String() + ")"
	}
	switch s {
	case StageWarn:
		return "warning" + th
	case StageRotate:
		return "due for rotation" + th
	case StageDeactivate:
		return "due for deactivation" + th
	case StageDelete:
		return "due for deletion" + th
	}
	return "reported"
}

// judgeMultipleActive flags, for a user with more than one active key, the
// key used less recently (the older one on a tie): the one to deactivate.
func (p *Policy) judgeMultipleActive(a inventory.AccountInventory, eff Effective, u inventory.User, ki int, asOf time.Time) Judgement {
	cfg := eff.Rules[MultipleActive]
	k := u.Keys[ki]
	j := Judgement{Rule: MultipleActive, Config: cfg, Sources: eff.Sources[MultipleActive]}
	var active []int
	for i, x := range u.Keys {
		if x.Active() {
			active = append(active, i)
		}
	}
	switch {
	case !cfg.IsEnabled():
		j.Why = "the rule is disabled"
	case len(active) < 2:
		j.Why = "the user has no active key"
		if len(active) == 1 {
			j.Why = "the user has one active key"
		}
	case !k.Active():
		j.Why = "the key is inactive"
	default:
		j.Applies = true
		lessUsed := active[0]
		for _, i := range active[1:] {
			if lessUsedThan(u.Keys[i], u.Keys[lessUsed]) {
				lessUsed = i
			}
		}
		if lessUsed != ki {
			j.Why = fmt.Sprintf("the user has %d active keys; another is used less (%s)", len(active), usageOf(u.Keys[lessUsed]))
			break
		}
		j.Fired = true
		j.Why = fmt.Sprintf("the user has %d active keys; this one is the least used (%s)", len(active), usageOf(k))
		f := p.newFinding(MultipleActive, cfg, a, u.Name, u.ARN, k)
		f.Stage, f.DueAt = StageReport, asOf
		if cfg.Action == ActionDeactivateLessUsed {
			f.Stage = StageDeactivate
		}
		f.Message = fmt.Sprintf("user has %d active access keys; this is the least used one (%s)", len(active), usageOf(k))
		j.Finding = &f
	}
	p.applyExemptions(&j, a.Account, u, MultipleActive, asOf)
	return j
}

// usageOf says how a key ranks for multiple_active, for people.
func usageOf(k inventory.Key) string {
	if k.LastUsedAt.IsZero() {
		return "never used"
	}
	return "last used " + k.LastUsedAt.UTC().Format("2006-01-02")
}

// rootKeys are the root user's keys as known: from the credential report,
// or one key of unknown state when only the account summary says so.
func rootKeys(a inventory.AccountInventory) []inventory.Key {
	if len(a.Root.Keys) == 0 && a.Root.KeysPresent {
		return []inventory.Key{{Status: inventory.StatusActive}}
	}
	return a.Root.Keys
}

// judgeRoot flags every active access key of the root user, one judgement
// per key (in rootKeys order); an inactive root key passes, as in CIS.
func (p *Policy) judgeRoot(a inventory.AccountInventory, eff Effective, opts Options) []Judgement {
	cfg := eff.Rules[RootKey]
	root := inventory.User{Name: RootUserName, ARN: "arn:aws:iam::" + a.Account.ID + ":root"}
	var out []Judgement
	for _, k := range rootKeys(a) {
		j := Judgement{Rule: RootKey, Config: cfg, Sources: eff.Sources[RootKey], Applies: cfg.IsEnabled(), Why: "the root user has an active access key"}
		switch {
		case !cfg.IsEnabled():
			j.Why = "the rule is disabled"
		case !k.Active():
			j.Applies, j.Why = false, "the root user's access key is inactive"
		default:
			j.Fired = true
			f := p.newFinding(RootKey, cfg, a, RootUserName, root.ARN, k)
			f.Stage, f.DueAt = StageReport, opts.AsOf
			f.Message = "the root user has an active access key; remove it (only the root user can, from the console)"
			j.Finding = &f
		}
		p.applyExemptions(&j, a.Account, root, RootKey, opts.AsOf)
		out = append(out, j)
	}
	return out
}

func keyState(k inventory.Key) string {
	if k.Active() {
		return "active"
	}
	return "inactive"
}

func (p *Policy) newFinding(rule RuleName, cfg RuleConfig, a inventory.AccountInventory, user, arn string, k inventory.Key) Finding {
	return Finding{
		Rule: rule, Severity: cfg.Severity,
		AccountID: a.Account.ID, AccountName: a.Account.Name, UserName: user, UserARN: arn,
		AccessKeyID: k.ID, KeySlot: k.Slot, KeyStatus: k.Status, KeyCreatedAt: k.CreatedAt, KeyLastUsed: k.LastUsedAt,
		Controls: Controls(rule),
	}
}

type stageResult struct {
	stage  Stage
	dueAt  time.Time
	next   Stage
	nextAt time.Time
}

// stageAt finds the highest stage reached at asOf, counting from start, and
// the next one. A stage falls due exactly at its threshold.
func stageAt(th Thresholds, allowed []Stage, start, asOf time.Time) stageResult {
	var r stageResult
	for _, s := range allowed {
		d := th.Get(s)
		if d == nil {
			continue
		}
		due := start.Add(d.Std())
		if !asOf.Before(due) {
			r.stage, r.dueAt = s, due
			r.next, r.nextAt = "", time.Time{}
		} else if r.next == "" {
			r.next, r.nextAt = s, due
		}
	}
	return r
}

// applyExemptions marks a judgement exempt when an exemption in force
// covers it; an expired one that would have covered it is recorded, and
// the finding stands.
func (p *Policy) applyExemptions(j *Judgement, acct inventory.Account, u inventory.User, rule RuleName, asOf time.Time) {
	for i := range p.Exemptions {
		e := &p.Exemptions[i]
		if !e.covers(acct, u, rule) {
			continue
		}
		expired := e.Expires != nil && !asOf.Before(e.Expires.End())
		if expired {
			if j.Exemption == nil {
				j.Exemption, j.ExemptionExpired = e, true
			}
			continue
		}
		j.Exemption, j.ExemptionExpired = e, false
		if j.Finding != nil {
			j.Finding.Exempt = true
			j.Finding.ExemptionReason = e.Reason
			j.Finding.ExemptionSource = p.location(e.Line)
			j.Finding.ExemptionExpires = e.Expires
		}
		return
	}
}

// ExemptUser returns the exemption in force at asOf that covers every rule
// for user u of account acct, if any. An action that stands on no rule of
// the policy (the cutover of a rotation) is withheld for such a user.
func (p *Policy) ExemptUser(acct inventory.Account, u inventory.User, asOf time.Time) (*Exemption, bool) {
	for i := range p.Exemptions {
		e := &p.Exemptions[i]
		if len(e.Rules) > 0 || !e.covers(acct, u, "") {
			continue
		}
		if e.Expires != nil && !asOf.Before(e.Expires.End()) {
			continue
		}
		return e, true
	}
	return nil, false
}

// covers reports whether every criterion the exemption sets matches.
func (e *Exemption) covers(acct inventory.Account, u inventory.User, rule RuleName) bool {
	if len(e.Rules) > 0 && !slices.Contains(e.Rules, rule) {
		return false
	}
	if len(e.Accounts) > 0 && !slices.Contains(e.Accounts, acct.ID) {
		return false
	}
	if len(e.OUs) > 0 && !slices.ContainsFunc(e.OUs, func(ou string) bool { return slices.Contains(acct.OUIDs, ou) }) {
		return false
	}
	if len(e.Users) > 0 && !globAny(e.Users, u.Name) {
		return false
	}
	if len(e.Paths) > 0 && !globAny(e.Paths, u.Path) {
		return false
	}
	if len(e.Groups) > 0 && !slices.ContainsFunc(e.Groups, func(g string) bool { return slices.Contains(u.Groups, g) }) {
		return false
	}
	for k, v := range e.Tags {
		got, ok := u.Tags.Get(k)
		if !ok || (v != "*" && got != v) {
			return false
		}
	}
	return true
}

func globAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// expiryFinding is the finding of an exemption that has lapsed, made from
// the finding it would have covered: the lapse is seen rather than silent.
func (p *Policy) expiryFinding(j Judgement) Finding {
	f := *j.Finding
	f.Rule, f.Severity, f.Stage, f.DueAt = ExemptionExpired, ExemptionExpiredSeverity, StageReport, j.Exemption.Expires.End()
	f.NextStage, f.NextStageAt, f.Estimated = "", time.Time{}, false
	f.Message = fmt.Sprintf("the exemption at %s (%q) expired on %s; %s applies again", p.location(j.Exemption.Line), j.Exemption.Reason, j.Exemption.Expires, j.Rule)
	f.Controls = nil
	return f
}

// NeedKeyIDs returns, for one account, the predicate that tells the scan
// whose key IDs to read: users with a key that some rule flags now or
// within horizon, so that findings and warnings ahead can name the key.
func (p *Policy) NeedKeyIDs(acct inventory.Account, horizon time.Duration) inventory.NeedKeyIDs {
	eff := p.Effective(acct.ID, acct.OUIDs)
	a := inventory.AccountInventory{Account: acct, Status: inventory.AccountOK}
	return func(u inventory.User, asOf time.Time) bool {
		opts := Options{AsOf: asOf.Add(horizon)}
		for ki := range u.Keys {
			for _, j := range p.judgeKey(a, eff, u, ki, opts) {
				if j.Fired {
					return true
				}
			}
		}
		return false
	}
}
