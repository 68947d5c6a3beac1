package notify

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
)

// Item actions.
const (
	ActionDeactivated = "deactivated" // done: the key was deactivated
	ActionDeleted     = "deleted"     // done: the key was deleted
	ActionWarning     = "warning"     // nothing done yet: the owner is warned
	// ActionRotated: done: a new key was created and stored in Secrets
	// Manager (Item.SecretARN); the old key is still active.
	ActionRotated = "rotated"
)

// Event is one thing to tell about one key: a warning of what will happen
// (Item.Done false), or an announcement of what was done (Item.Done true),
// with what routing needs to know of the key's owner.
type Event struct {
	Item  Item
	Owner Owner
}

// SentLog says when a recipient was last told about an item; store.Store
// implements it.
type SentLog interface {
	NotifiedAt(ctx context.Context, recipient, itemKey string) (time.Time, bool, error)
}

// BuildSummary says what Build left out, and why.
type BuildSummary struct {
	// Repeats counts warnings not repeated to a recipient told within
	// renotify_after.
	Repeats int
	// Announced counts announcements a recipient was sent in an earlier
	// run of the same plan.
	Announced int
	// Unrouted counts items whose owner was not found: only the security
	// team (if any) is told.
	Unrouted int
	// Err is the first error reading when recipients were last told; those
	// items are sent again rather than not at all.
	Err error
}

// Build groups a run's events into digests: one per recipient, each item
// routed to its key's owner (Route), and one for the security team with
// every item, saying who else was told. A warning a recipient was sent
// within renotify_after is left out of that recipient's digest; an
// announcement is left out once it was sent (for the same Ref), and never
// otherwise. Recipients with nothing left get no digest. Items are ordered
// announcements first, then by due date; digests by recipient, the team's
// last. A nil sent log leaves nothing out.
func Build(ctx context.Context, p *policy.Policy, runID string, now time.Time, events []Event, sent SentLog) ([]Digest, BuildSummary) {
	var sum BuildSummary
	team, hasTeam := Team(p)
	byKey := map[string]*Digest{}
	var order []string
	add := func(to Recipient, it Item) {
		k := to.Key()
		d := byKey[k]
		if d == nil {
			d = &Digest{RunID: runID, Generated: now.UTC(), To: to}
			byKey[k] = d
			order = append(order, k)
		}
		d.Items = append(d.Items, it)
	}
	for _, ev := range events {
		it := ev.Item
		if it.Action == "" {
			it.Action = ActionWarning
		}
		if it.Remedy == "" {
			it.Remedy = Remedy(it, runID)
		}
		to, ok := Route(p, ev.Owner)
		if !ok {
			sum.Unrouted++
		} else {
			it.Owner = to.Contact + " via " + to.Via
		}
		if ok && !(hasTeam && to.Key() == team.Key()) {
			add(to, it)
		}
		if hasTeam {
			add(team, it)
		}
	}

	renotify := p.Notifications.RenotifyAfter.Std()
	var out []Digest
	for _, k := range order {
		d := byKey[k]
		kept := d.Items[:0]
		for _, it := range d.Items {
			if sent != nil {
				at, ok, err := sent.NotifiedAt(ctx, d.To.Key(), ItemKey(runID, it))
				switch {
				case err != nil:
					if sum.Err == nil {
						sum.Err = err
					}
				case ok && it.Done:
					sum.Announced++
					continue
				case ok && now.Sub(at) < renotify:
					sum.Repeats++
					continue
				}
			}
			kept = append(kept, it)
		}
		if len(kept) == 0 {
			continue
		}
		d.Items = kept
		sortItems(d.Items)
		out = append(out, *d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].To.Team != out[j].To.Team {
			return !out[i].To.Team
		}
		return out[i].To.Key() < out[j].To.Key()
	})
	return out, sum
}

// ItemKey identifies what an item says, for de-duplication: a warning by
// its key, rules and stage ("warn/ACCOUNT/USER/KEY/RULES/STAGE"), so that
// a key reaching a new stage is news; an announcement by the action it
// reports ("done/REF"), so that it is sent once however often a resumed
// run reports it.
func ItemKey(runID string, it Item) string {
	if it.Done {
		if it.Ref != "" {
			return "done/" + it.Ref
		}
		return strings.Join([]string{"done", runID, it.AccountID, it.AccessKeyID, it.Action}, "/")
	}
	return strings.Join([]string{"warn", it.AccountID, it.UserName, it.AccessKeyID, it.Rule, it.Stage}, "/")
}

func sortItems(items []Item) {
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Done != b.Done {
			return a.Done
		}
		if !a.NextAt.Equal(b.NextAt) {
			if a.NextAt.IsZero() || b.NextAt.IsZero() {
				return b.NextAt.IsZero()
			}
			return a.NextAt.Before(b.NextAt)
		}
		if a.AccountID != b.AccountID {
			return a.AccountID < b.AccountID
		}
		if a.UserName != b.UserName {
			return a.UserName < b.UserName
		}
		return a.AccessKeyID < b.AccessKeyID
	})
}

// Outlook says what happened to the key, or what will happen and when.
func (it Item) Outlook() string {
	switch {
	case it.Done && it.Action == ActionDeleted:
		return "The key was deleted."
	case it.Done && it.Action == ActionRotated:
		s := fmt.Sprintf("A new key %s was created for the user and stored in AWS Secrets Manager: account %s, region %s, secret %s. The old key %s stays active",
			it.NewAccessKeyID, it.AccountID, it.SecretRegion, it.SecretARN, it.AccessKeyID)
		s += " until the new key is in use and the old one has gone quiet; then keywarden deactivates it"
		if it.NextStage != "" && !it.NextAt.IsZero() {
			s += fmt.Sprintf(". The deadline is its %s stage, on or after %s", it.NextStage, it.NextAt.UTC().Format("2006-01-02"))
		}
		return s + "."
	case !it.Done && it.SecretARN != "":
		return fmt.Sprintf("It stays active: keywarden holds it until the new key %s is in use, and tells you and the security team at every run.", it.NewAccessKeyID)
	case it.Done:
		return "The key was deactivated: requests signed with it now fail."
	case it.NextStage == "" || it.NextAt.IsZero():
		return "Nothing happens to it automatically yet; you will be reminded."
	}
	date := it.NextAt.UTC().Format("2006-01-02")
	switch policy.Stage(it.NextStage) {
	case policy.StageRotate:
		return "It is due for rotation on " + date + "."
	case policy.StageDeactivate:
		return "keywarden will deactivate it on or after " + date + "."
	case policy.StageDelete:
		return "keywarden will delete it on or after " + date + "."
	}
	return fmt.Sprintf("Its %s stage falls due on %s.", it.NextStage, date)
}

// Remedy says what the owner can do about an item: the AWS CLI commands
// (run with credentials for the key's account) and the console steps.
func Remedy(it Item, runID string) string {
	user, key := it.UserName, it.AccessKeyID
	if key == "" {
		key = "KEY-ID"
	}
	create := "aws iam create-access-key --user-name " + user
	deactivate := fmt.Sprintf("aws iam update-access-key --user-name %s --access-key-id %s --status Inactive", user, key)
	del := fmt.Sprintf("aws iam delete-access-key --user-name %s --access-key-id %s", user, key)
	console := fmt.Sprintf("In the console of account %s: IAM > Users > %s > Security credentials > Access keys.", it.AccountID, user)
	lines := func(ls ...string) string { return strings.Join(ls, "\n") }
	switch {
	case it.Done && it.Action == ActionRotated:
		deadline := "before the old key's next stage"
		if it.NextStage != "" && !it.NextAt.IsZero() {
			deadline = "before " + it.NextAt.UTC().Format("2006-01-02") + " (when the old key reaches its " + it.NextStage + " stage)"
		}
		return lines("Move the application to the new key "+deadline+". Read it as IAM user "+user+" (or a principal the policy lists as a reader):",
			fmt.Sprintf("  aws secretsmanager get-secret-value --secret-id %s --region %s", it.SecretARN, it.SecretRegion),
			"The secret's value is JSON with AccessKeyId and SecretAccessKey; later rotations put a new version in the same secret.",
			"Once the application uses the new key, stop using "+key+": keywarden deactivates it later, once it is quiet (a key still in use is not deactivated).")
	case !it.Done && it.SecretARN != "":
		// A rotation held at its deadline: the new key was never used.
		return lines("The new key "+it.NewAccessKeyID+" has never been used, and "+key+" is past its deadline; keywarden keeps "+key+" active until the application uses the new key. Read it as IAM user "+user+":",
			fmt.Sprintf("  aws secretsmanager get-secret-value --secret-id %s --region %s", it.SecretARN, it.SecretRegion),
			"Move the application to it; once it is in use and "+key+" is quiet, keywarden deactivates "+key+".")
	case !it.Done && it.SecretARN != "":
		// A rotation held at its deadline: the new key was never used.
		return lines("The new key "+it.NewAccessKeyID+" has never been used, and "+key+" is past its deadline; keywarden keeps "+key+" active until the application uses the new key. Read it as IAM user "+user+":",
			fmt.Sprintf("  aws secretsmanager get-secret-value --secret-id %s --region %s", it.SecretARN, it.SecretRegion),
			"Move the application to it; once it is in use and "+key+" is quiet, keywarden deactivates "+key+".")
	case it.Done && it.Action == ActionDeleted:
		return lines("The key cannot be restored. If it is still needed, create a new one:", "  "+create, console)
	case it.Done:
		undo := "ask your security team to reactivate it for now"
		if runID != "" {
			undo += " (keywarden undo " + runID + ")"
		}
		return lines("If something still needs the key, create a new one and move it there:", "  "+create,
			"or "+undo+".", "If nothing needs it, there is nothing to do.", console)
	}
	rules := strings.Split(it.Rule, ",")
	has := func(r policy.RuleName) bool {
		for _, x := range rules {
			if x == string(r) {
				return true
			}
		}
		return false
	}
	switch {
	case has(policy.MaxAge):
		return lines("Rotate the key: create a new one, move the application to it, then deactivate and delete the old one:",
			"  "+create, "  "+deactivate, "  "+del, console)
	case has(policy.Unused), has(policy.UnusedInitial):
		return lines("If nothing uses the key, deactivate and delete it now:", "  "+deactivate, "  "+del,
			"If something does need it, use it or ask your security team for an exemption.", console)
	case has(policy.MultipleActive):
		return lines("The user has two active keys: deactivate the one no longer in use, then delete it:", "  "+deactivate, "  "+del, console)
	case has(policy.InactiveCleanup):
		return lines("The key is inactive. If it is still needed, reactivate it:",
			fmt.Sprintf("  aws iam update-access-key --user-name %s --access-key-id %s --status Active", user, key),
			"otherwise nothing is to be done.", console)
	}
	return lines("Rotate or remove the key:", "  "+create, "  "+deactivate, "  "+del, console)
}
