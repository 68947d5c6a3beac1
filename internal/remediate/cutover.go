package remediate

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/store"
)

// Phases of a rotation, as RotationState.Phase says them.
const (
	// PhaseWaitingForUse: the new key has not been used yet; the old key
	// stays active.
	PhaseWaitingForUse = "waiting-for-use"
	// PhaseWaitingForQuiet: the new key is in use; the old key is
	// deactivated once it has been quiet for rotation.quiet_window.
	PhaseWaitingForQuiet = "waiting-for-quiet"
	// PhaseCutoverDue: the new key is in use and the old one quiet: the
	// plan deactivates the old key.
	PhaseCutoverDue = "cutover-due"
	// PhaseHeld: the deadline (the rule's deactivate stage) has come and
	// the new key was never used: the old key is kept, and the owner and
	// the security team are told (rotation.on_deadline: hold).
	PhaseHeld = "held"
	// PhaseDeadline: as PhaseHeld, but the policy deactivates the old key
	// anyway (rotation.on_deadline: deactivate).
	PhaseDeadline = "deadline"
	// PhaseCutOver: the old key is inactive; it is deleted at its rule's
	// delete stage.
	PhaseCutOver = "cut-over"
	// PhaseNewKeyInactive: the new key is inactive now (someone
	// deactivated it): the old key is the user's only working key and
	// stays active; at the deadline, as PhaseHeld or PhaseDeadline.
	PhaseNewKeyInactive = "new-key-inactive"
	// PhaseNewKeyGone: the new key no longer exists: the rotation no longer
	// holds the old key back, and the rules judge it as any key.
	PhaseNewKeyGone = "new-key-gone"
)

// GuardCutover: a rotated key is deactivated only once its successor is in
// use and it has been quiet for rotation.quiet_window.
const GuardCutover = "cutover"

// GuardCutoverHold: the deadline came and the new key was never used; the
// policy holds the old key (rotation.on_deadline: hold).
const GuardCutoverHold = "cutover-hold"

// lastUsedDelay is how late IAM shows a key's last use, at most (AWS: up
// to about four hours). The old key counts as quiet for the window only up
// to that long ago: an application using it every day must show a use.
const lastUsedDelay = 4 * time.Hour

// RuleRotation is the rule an action of the rotation itself names (the
// cutover), as opposed to a policy rule.
const RuleRotation = "rotation"

// RotationState is where a rotated key is in its rotation: the old key, the
// new key that replaced it and where that is stored (from the journal),
// and what IAM shows of their use now.
type RotationState struct {
	AccountID string `json:"account_id"`
	UserName  string `json:"user_name"`
	OldKeyID  string `json:"old_key_id"`
	NewKeyID  string `json:"new_key_id"`
	SecretARN string `json:"secret_arn"`
	// RunID is the run that rotated.
	RunID string `json:"run_id"`
	// CreatedAt is when the new key was created (IAM's date, or the
	// rotation's start when the new key was not read); StoredAt when its
	// secret was stored (the journal).
	CreatedAt time.Time `json:"created_at"`
	StoredAt  time.Time `json:"stored_at"`
	// NewKeyUsedAt is the new key's last use since its creation, as IAM
	// shows it (IAM keeps only the last use); nil: not used yet.
	NewKeyUsedAt *time.Time `json:"new_key_used_at"`
	// OldKeyStatus is the old key's status now.
	OldKeyStatus string `json:"old_key_status"`
	// OldKeyQuietSince is the later of the old key's last use and the
	// rotation: the old key has not been used since, as far as IAM shows.
	OldKeyQuietSince time.Time `json:"old_key_quiet_since"`
	// CutoverAt is when the old key may be deactivated: once the new key
	// is in use, OldKeyQuietSince plus the quiet window plus IAM's delay
	// in showing a use (4h); nil until then.
	CutoverAt *time.Time `json:"cutover_at"`
	// Deadline is the old key's deactivate stage; nil when no rule sets one.
	Deadline *time.Time `json:"deadline"`
	Phase    string     `json:"phase"`
}

// holdsBack reports whether the rotation is still under way: the old key
// active, the new key there.
func (r *RotationState) holdsBack() bool {
	return r.Phase != PhaseCutOver && r.Phase != PhaseNewKeyGone
}

// rotations reads from the journal the rotation state of every key that
// may be the old key of a rotation: a key, read with its ID in an account
// read completely, whose user holds two keys.
func rotations(ctx context.Context, in Inputs, findings map[keyRef][]policy.Finding) (map[keyRef]*RotationState, error) {
	out := map[keyRef]*RotationState{}
	if in.LastRotation == nil {
		return out, nil
	}
	window := in.Policy.Rotation.QuietWindow.Std()
	for _, a := range in.Inventory.Accounts {
		if a.Status != inventory.AccountOK {
			continue
		}
		for _, u := range a.Users {
			if len(u.Keys) < 2 {
				continue
			}
			for _, old := range u.Keys {
				if old.ID == "" {
					continue
				}
				e, ok, err := in.LastRotation(ctx, a.Account.ID, old.ID)
				if err != nil {
					return nil, fmt.Errorf("read the journal: %w", err)
				}
				if !ok {
					continue
				}
				newID, arn, ok := RotationDetail(e.Detail)
				if !ok {
					continue
				}
				ref := keyRef{a.Account.ID, u.Name, old.ID}
				out[ref] = rotationState(e, newID, arn, old, u.Keys, findings[ref], in.AsOf, window, in.Policy.Rotation.OnDeadline)
			}
		}
	}
	return out, nil
}

// RotationStates are the rotations keywarden did (the journal, through
// in.LastRotation) whose old key the inventory still holds, and where
// each one is as of in.AsOf, in order of account, user and old key.
func RotationStates(ctx context.Context, in Inputs) ([]RotationState, error) {
	byFinding := map[keyRef][]policy.Finding{}
	for _, f := range in.Findings {
		ref := keyRef{f.AccountID, f.UserName, f.AccessKeyID}
		byFinding[ref] = append(byFinding[ref], f)
	}
	rots, err := rotations(ctx, in, byFinding)
	if err != nil {
		return nil, err
	}
	out := make([]RotationState, 0, len(rots))
	for _, rs := range rots {
		out = append(out, *rs)
	}
	sortRotations(out)
	return out, nil
}

// rotationState judges one rotation as of asOf.
func rotationState(e store.Entry, newID, arn string, old inventory.Key, keys []inventory.Key, findings []policy.Finding,
	asOf time.Time, window time.Duration, onDeadline string) *RotationState {
	rs := &RotationState{AccountID: e.AccountID, UserName: e.UserName, OldKeyID: old.ID, NewKeyID: newID, SecretARN: arn,
		RunID: e.RunID, CreatedAt: e.IntentAt.UTC(), StoredAt: e.ResultAt.UTC(), OldKeyStatus: old.Status}
	if rs.StoredAt.IsZero() {
		rs.StoredAt = rs.CreatedAt
	}
	var nk *inventory.Key
	for i := range keys {
		if keys[i].ID == newID {
			nk = &keys[i]
		}
	}
	if nk != nil && !nk.CreatedAt.IsZero() {
		rs.CreatedAt = nk.CreatedAt.UTC()
	}
	if nk != nil && !nk.LastUsedAt.IsZero() && !nk.LastUsedAt.Before(rs.CreatedAt.Truncate(time.Second)) {
		t := nk.LastUsedAt.UTC()
		rs.NewKeyUsedAt = &t
	}
	rs.OldKeyQuietSince = rs.StoredAt
	if old.LastUsedAt.After(rs.OldKeyQuietSince) {
		rs.OldKeyQuietSince = old.LastUsedAt.UTC()
	}
	for _, f := range findings {
		var due time.Time
		switch {
		case f.Exempt:
		case f.Stage == policy.StageDeactivate || f.Stage == policy.StageDelete:
			due = f.DueAt
		case f.NextStage == policy.StageDeactivate:
			due = f.NextStageAt
		}
		if !due.IsZero() && (rs.Deadline == nil || due.Before(*rs.Deadline)) {
			d := due.UTC()
			rs.Deadline = &d
		}
	}
	unread := false // a key of the user whose ID was not read may be the new key
	for _, k := range keys {
		unread = unread || k.ID == ""
	}
	switch {
	case nk == nil && unread:
		rs.Phase = PhaseWaitingForUse // not known: the old key is held back
	case nk == nil:
		rs.Phase = PhaseNewKeyGone
	case !old.Active():
		rs.Phase = PhaseCutOver
	case (rs.NewKeyUsedAt == nil || !nk.Active()) && rs.Deadline != nil && !asOf.Before(*rs.Deadline):
		rs.Phase = PhaseHeld
		if onDeadline == policy.OnDeadlineDeactivate {
			rs.Phase = PhaseDeadline
		}
	case !nk.Active():
		// Used or not, an inactive new key is no key to move to: the
		// old key stays the user's working key.
		rs.Phase = PhaseNewKeyInactive
	case rs.NewKeyUsedAt == nil:
		rs.Phase = PhaseWaitingForUse
	default:
		// A use of the last hours may not show yet: the quiet that
		// counts is what IAM shows up to lastUsedDelay ago.
		at := rs.OldKeyQuietSince.Add(window + lastUsedDelay)
		rs.CutoverAt = &at
		rs.Phase = PhaseWaitingForQuiet
		if !asOf.Before(at) {
			rs.Phase = PhaseCutoverDue
		}
	}
	return rs
}

// Describe says, for people, where a rotation is.
func (r *RotationState) Describe() string {
	day := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
	s := fmt.Sprintf("rotated %s: new key %s in %s", day(r.StoredAt), r.NewKeyID, r.SecretARN)
	switch r.Phase {
	case PhaseWaitingForUse:
		s += "; the new key is not used yet"
		if r.Deadline != nil {
			s += "; deadline " + day(*r.Deadline)
		}
	case PhaseWaitingForQuiet:
		s += fmt.Sprintf("; the new key is in use (last used %s); the old key is quiet since %s; cutover due %s",
			day(*r.NewKeyUsedAt), day(r.OldKeyQuietSince), day(*r.CutoverAt))
	case PhaseCutoverDue:
		s += fmt.Sprintf("; the new key is in use (last used %s); the old key is quiet since %s: cutover due now",
			day(*r.NewKeyUsedAt), day(r.OldKeyQuietSince))
	case PhaseNewKeyInactive:
		s += "; the new key is inactive (deactivated since): the old key stays active"
		if r.Deadline != nil {
			s += "; deadline " + day(*r.Deadline)
		}
	case PhaseHeld:
		s += fmt.Sprintf("; the new key was never used and the deadline (%s) has passed: the old key is held active, owner and security team told", day(*r.Deadline))
	case PhaseDeadline:
		s += fmt.Sprintf("; the new key was never used and the deadline (%s) has passed: the old key is deactivated anyway (rotation.on_deadline)", day(*r.Deadline))
	case PhaseCutOver:
		s += "; the old key is inactive"
	case PhaseNewKeyGone:
		s += "; the new key no longer exists"
	}
	return s
}

// sortRotations orders rotation states by account, user and old key.
func sortRotations(rs []RotationState) {
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		if a.UserName != b.UserName {
			return a.UserName < b.UserName
		}
		return a.OldKeyID < b.OldKeyID
	})
}
