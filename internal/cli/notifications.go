package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/awschannel"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// notifyDelivery tunes the delivery of notifications: the defaults of
// notify.Deliver (four attempts, backoff from two seconds). Tests shorten it.
var notifyDelivery = notify.DeliverOptions{}

// notifyTimeout bounds all the deliveries after one apply, retries included.
const notifyTimeout = 5 * time.Minute

// channelRegistry is every channel type keywarden can send through: those
// of package notify, and SNS and SES (notify/awschannel) with the AWS
// configuration keywarden runs with, in the channel's region if it names
// one.
func channelRegistry(base aws.Config) notify.Registry {
	reg := notify.Builtin(nil)
	regional := func(region string) aws.Config {
		cfg := base.Copy()
		if region != "" {
			cfg.Region = region
		}
		return cfg
	}
	reg[policy.ChannelSNS] = func(c policy.ChannelConfig, _ notify.Env) (notify.Channel, error) {
		return awsChannel{awschannel.NewSNS(regional(c.Region), c.TopicARN)}, nil
	}
	reg[policy.ChannelSES] = func(c policy.ChannelConfig, _ notify.Env) (notify.Channel, error) {
		return awsChannel{awschannel.NewSES(regional(c.Region), c.From)}, nil
	}
	return reg
}

// awsChannel marks the errors awschannel calls permanent as permanent for
// notify.Deliver, which then does not retry them.
type awsChannel struct{ notify.Channel }

func (c awsChannel) Send(ctx context.Context, m notify.Message) error {
	err := c.Channel.Send(ctx, m)
	if errors.Is(err, awschannel.ErrPermanent) {
		return notify.Permanent(err)
	}
	return err
}

// notifier delivers the digests of an apply. A nil notifier (no channels
// in the policy) sends nothing: notify actions are only journaled.
type notifier struct {
	pol      *policy.Policy
	st       store.Store
	channels map[string]notify.Channel
	renderer *notify.Renderer
	log      *slog.Logger
}

// newNotifier opens the policy's channels and templates. What cannot be
// opened is said on stderr and does not stop the apply: a channel that
// could not be opened fails its deliveries, which are recorded; bad
// templates give way to the defaults.
func newNotifier(pol *policy.Policy, st store.Store, base aws.Config, log *slog.Logger, stderr io.Writer) *notifier {
	n := pol.Notifications
	if len(n.Channels) == 0 {
		return nil
	}
	env := policyEnv(pol)
	channels, errs := channelRegistry(base).Open(n, env)
	for _, err := range errs {
		fmt.Fprintf(stderr, "keywarden: %v; its notifications will fail and be recorded (the apply goes on)\n", err)
	}
	renderer, err := notify.NewRenderer(n.Templates, env)
	if err != nil {
		fmt.Fprintf(stderr, "keywarden: %v; the built-in templates are used instead\n", err)
		renderer = notify.DefaultRenderer()
	}
	return &notifier{pol: pol, st: st, channels: channels, renderer: renderer, log: log}
}

// policyEnv is where the policy's relative file names start: its directory.
func policyEnv(pol *policy.Policy) notify.Env {
	env := notify.Env{LookupEnv: os.LookupEnv}
	if pol.Source != "" {
		env.Dir = filepath.Dir(pol.Source)
	}
	return env
}

// deliver tells the owners and the security team what an apply did and
// what is coming: warnings for the notify actions done, announcements of
// the keys deactivated and deleted (in this run or an earlier run of the
// plan, once). It prints one line of outcome, and a line per failure on
// stderr; it never fails: notifications do not change how an apply ends.
//
// directory is called only when there is something to tell.
func (nt *notifier) deliver(ctx context.Context, plan *remediate.Plan, out *remediate.Outcome, directory func() *directory, stdout, stderr io.Writer) {
	if nt == nil || out == nil || !hasNews(out) {
		return
	}
	if ctx.Err() != nil {
		fmt.Fprintln(stdout, "notifications: not sent (interrupted); the next apply of this plan sends them")
		return
	}
	events := notifyEvents(ctx, nt.pol, plan, out, directory(), nt.st)
	if len(events) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	digests, sum := notify.Build(ctx, nt.pol, out.RunID, time.Now(), events, nt.st)
	if sum.Err != nil {
		fmt.Fprintf(stderr, "keywarden: read which notifications were sent: %v; they are sent again\n", sum.Err)
	}
	o := notifyDelivery
	o.Renderer, o.Log = nt.renderer, nt.log
	rep := notify.Deliver(ctx, digests, nt.channels, nt.st, o)
	for _, d := range rep.Deliveries {
		if d.Err != nil {
			fmt.Fprintf(stderr, "keywarden: notification to %s (%s) failed: %v\n", d.To.Contact, d.To.Channel, d.Err)
		}
	}
	if rep.RecordErr != nil {
		fmt.Fprintf(stderr, "keywarden: record the notifications: %v\n", rep.RecordErr)
	}
	line := fmt.Sprintf("notifications: %d sent, %d failed", rep.Sent(), rep.Failed())
	var notes []string
	if sum.Repeats > 0 {
		notes = append(notes, fmt.Sprintf("%d %s not repeated within renotify_after (%s)", sum.Repeats,
			plural(sum.Repeats, "warning", "warnings"), nt.pol.Notifications.RenotifyAfter))
	}
	if sum.Unrouted > 0 {
		notes = append(notes, fmt.Sprintf("%d %s without an owner", sum.Unrouted, plural(sum.Unrouted, "key", "keys")))
	}
	if len(notes) > 0 {
		line += "; " + strings.Join(notes, ", ")
	}
	fmt.Fprintf(stdout, "%s (see 'keywarden history --run %s')\n", line, out.RunID)
}

// hasNews reports whether an apply did anything to tell.
func hasNews(out *remediate.Outcome) bool {
	for _, r := range out.Results {
		if r.Outcome == store.OutcomeDone {
			return true
		}
	}
	return false
}

// notifyEvents turns an apply's results into what to tell: a warning for
// each notify action done, an announcement for each key deactivated or
// deleted.
func notifyEvents(ctx context.Context, pol *policy.Policy, plan *remediate.Plan, out *remediate.Outcome, dir *directory, st store.Store) []notify.Event {
	var warned []remediate.Action
	for _, r := range out.Results {
		if r.Action.Type == remediate.Notify && r.Outcome == store.OutcomeDone {
			warned = append(warned, r.Action)
		}
	}
	next := nextStages(ctx, pol, plan, warned, dir, st)
	var events []notify.Event
	for _, r := range out.Results {
		a := r.Action
		it := notify.Item{
			AccountID: a.AccountID, AccountName: a.AccountName, UserName: a.UserName, AccessKeyID: a.AccessKeyID,
			Rule: strings.Join(a.Rules, ","), Severity: a.Severity, Stage: a.Stage, Message: a.Reason,
			Ref: plan.ID + "/" + a.ID,
		}
		if it.AccountName == "" {
			it.AccountName = dir.account(a.AccountID).Name
		}
		switch {
		case r.Outcome != store.OutcomeDone:
			continue
		case a.Type == remediate.Notify:
			it.Action = notify.ActionWarning
			if f, ok := next[a.AccountID+"/"+a.AccessKeyID]; ok {
				it.NextStage, it.NextAt = string(f.NextStage), f.NextStageAt
			}
		case a.Type == remediate.Deactivate:
			it.Action, it.Done = notify.ActionDeactivated, true
		case a.Type == remediate.Delete:
			it.Action, it.Done = notify.ActionDeleted, true
		default:
			continue
		}
		events = append(events, notify.Event{Item: it, Owner: dir.owner(a.AccountID, a.UserName)})
	}
	return events
}

// nextStages judges the warned keys again, as the plan saw them, for what
// comes next and when: per key, the soonest next stage of the rules that
// warned.
func nextStages(ctx context.Context, pol *policy.Policy, plan *remediate.Plan, warned []remediate.Action, dir *directory, st store.Store) map[string]policy.Finding {
	if len(warned) == 0 {
		return nil
	}
	byAccount := map[string]*inventory.AccountInventory{}
	users := map[string]*inventory.User{}
	var accounts []string
	for _, a := range warned {
		ai := byAccount[a.AccountID]
		if ai == nil {
			ai = &inventory.AccountInventory{Account: dir.account(a.AccountID), Status: inventory.AccountOK}
			byAccount[a.AccountID] = ai
			accounts = append(accounts, a.AccountID)
		}
		uk := a.AccountID + "/" + a.UserName
		u := users[uk]
		if u == nil {
			known := dir.user(a.AccountID, a.UserName)
			u = &inventory.User{Name: a.UserName, Path: known.Path, Tags: known.Tags, Groups: known.Groups}
			users[uk] = u
		}
		k := inventory.Key{ID: a.AccessKeyID, Status: a.Key.Status, CreatedAt: a.Key.CreatedAt}
		if a.Key.LastUsedAt != nil {
			k.LastUsedAt = *a.Key.LastUsedAt
		}
		u.Keys = append(u.Keys, k)
	}
	inv := &inventory.Inventory{}
	sort.Strings(accounts)
	for _, id := range accounts {
		ai := byAccount[id]
		for uk, u := range users {
			if strings.HasPrefix(uk, id+"/") {
				ai.Users = append(ai.Users, *u)
			}
		}
		inv.Accounts = append(inv.Accounts, *ai)
	}
	inactiveSince := func(account, key string) (time.Time, bool) {
		t, ok, err := st.DeactivatedAt(ctx, account, key)
		return t, ok && err == nil
	}
	rules := map[string]bool{}
	for _, a := range warned {
		for _, r := range a.Rules {
			rules[a.AccountID+"/"+a.AccessKeyID+"/"+r] = true
		}
	}
	out := map[string]policy.Finding{}
	for _, f := range pol.Evaluate(inv, policy.Options{AsOf: plan.AsOf, InactiveSince: inactiveSince}) {
		key := f.AccountID + "/" + f.AccessKeyID
		if !rules[key+"/"+string(f.Rule)] || f.NextStage == "" {
			continue
		}
		if prev, ok := out[key]; !ok || f.NextStageAt.Before(prev.NextStageAt) {
			out[key] = f
		}
	}
	return out
}

// directory is what routing knows of accounts and users: the accounts'
// names and e-mails, the users' tags.
type directory struct {
	accounts map[string]inventory.Account
	users    map[string]inventory.User // by account/user
}

func (d *directory) account(id string) inventory.Account {
	if d != nil {
		if a, ok := d.accounts[id]; ok {
			return a
		}
	}
	return inventory.Account{ID: id}
}

func (d *directory) user(account, name string) inventory.User {
	if d != nil {
		if u, ok := d.users[account+"/"+name]; ok {
			return u
		}
	}
	return inventory.User{Name: name}
}

func (d *directory) owner(account, user string) notify.Owner {
	return notify.Owner{AccountID: account, AccountEmail: d.account(account).Email, UserName: user, Tags: d.user(account, user).Tags}
}

// directoryOf is the directory of an inventory just read.
func directoryOf(inv *inventory.Inventory) *directory {
	d := &directory{accounts: map[string]inventory.Account{}, users: map[string]inventory.User{}}
	if inv == nil {
		return d
	}
	for _, a := range inv.Accounts {
		d.accounts[a.Account.ID] = a.Account
		for _, u := range a.Users {
			d.users[a.Account.ID+"/"+u.Name] = u
		}
	}
	return d
}

// userDetailsReader is the IAM call that reads users' tags (the call the
// scan makes too, so the role already has the permission).
type userDetailsReader interface {
	iam.GetAccountAuthorizationDetailsAPIClient
}

// readDirectory reads, for a saved plan, what routing needs of the
// accounts and users its actions touch: the accounts' e-mails from AWS
// Organizations (when the caller may read them) and the users' tags. What
// cannot be read is logged; routing then goes on without it.
func readDirectory(ctx context.Context, plan *remediate.Plan, sess *session, log *slog.Logger) *directory {
	d := &directory{accounts: map[string]inventory.Account{}, users: map[string]inventory.User{}}
	want := map[string]map[string]bool{}
	var ids []string
	for _, a := range plan.Actions {
		if want[a.AccountID] == nil {
			want[a.AccountID] = map[string]bool{}
			ids = append(ids, a.AccountID)
		}
		want[a.AccountID][a.UserName] = true
	}
	if len(ids) == 0 {
		return d
	}
	sort.Strings(ids)
	if sel, err := inventory.Discover(ctx, organizations.NewFromConfig(sess.base), sess.callerAcct, inventory.Selection{Accounts: ids}); err == nil {
		for _, a := range sel.Accounts {
			d.accounts[a.ID] = a
		}
	} else {
		log.Warn("notifications: cannot read the accounts' contacts", "error", err)
	}
	for _, id := range ids {
		if err := readUsers(ctx, iam.NewFromConfig(sess.config(id)), id, want[id], d); err != nil {
			log.Warn("notifications: cannot read the users' tags; owners are found without them", "account", id, "error", err)
		}
	}
	return d
}

func readUsers(ctx context.Context, c userDetailsReader, account string, want map[string]bool, d *directory) error {
	p := iam.NewGetAccountAuthorizationDetailsPaginator(c, &iam.GetAccountAuthorizationDetailsInput{
		Filter: []iamtypes.EntityType{iamtypes.EntityTypeUser}, MaxItems: aws.Int32(1000),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, u := range page.UserDetailList {
			name := aws.ToString(u.UserName)
			if !want[name] {
				continue
			}
			user := inventory.User{Name: name, Path: aws.ToString(u.Path), Groups: u.GroupList}
			if len(u.Tags) > 0 {
				user.Tags = make(map[string]string, len(u.Tags))
				for _, t := range u.Tags {
					user.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
			}
			d.users[account+"/"+name] = user
		}
	}
	return nil
}

// whoIsTold says who is told about a user's keys, for policy explain:
// "owner: alice@example.com (via tag owner)", and the security team.
func whoIsTold(pol *policy.Policy, acct inventory.Account, u inventory.User) []string {
	var lines []string
	to, ok := notify.Route(pol, notify.Owner{AccountID: acct.ID, AccountEmail: acct.Email, UserName: u.Name, Tags: u.Tags})
	switch {
	case !ok:
		lines = append(lines, "owner: not found (no owner tag, owners entry, account e-mail or default)")
	default:
		line := fmt.Sprintf("owner: %s (via %s)", to.Contact, to.Via)
		if to.Channel != "" {
			line += " through channel " + to.Channel
		}
		lines = append(lines, line)
	}
	if team, ok := notify.Team(pol); ok {
		lines = append(lines, fmt.Sprintf("security team: %s (channel %s)", team.Contact, team.Channel))
	}
	if len(pol.Notifications.Channels) == 0 {
		lines[0] += "; no notification channels: nothing is sent"
	}
	return lines
}

// printNotifications lists a run's notifications, for history.
func printNotifications(w io.Writer, ns []store.Notification) {
	if len(ns) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NOTIFIED\tRECIPIENT\tCHANNEL\tACCOUNT\tUSER\tKEY ID\tOUTCOME\tATTEMPTS\tDETAIL")
	for _, n := range ns {
		recipient := strings.TrimPrefix(n.Recipient, n.Channel+":")
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", n.At.Format(time.RFC3339), recipient, n.Channel,
			n.AccountID, n.UserName, n.AccessKeyID, n.Outcome, n.Attempts, n.Detail)
	}
	tw.Flush()
}
