package engine

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/awschannel"
	"github.com/keywarden/keywarden/internal/notify/channelconfig"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// NotifyOptions tune the notifications after an apply.
type NotifyOptions struct {
	// Delivery tunes each digest's delivery (attempts, backoff); zero
	// values are notify's defaults.
	Delivery notify.DeliverOptions
	// Timeout bounds all the deliveries of one apply; zero means 5 minutes.
	Timeout time.Duration
	// Registry opens channels; nil means every built-in type, SNS and SES
	// with the hub's AWS configuration.
	Registry notify.Registry
}

// NotifyReport is what became of telling people after an apply.
type NotifyReport struct {
	// Problems are channels or templates that could not be opened; their
	// deliveries fail and are recorded, the apply is not affected.
	Problems []string
	// Interrupted: the apply was cancelled and nothing was sent.
	Interrupted bool
	Sent        int
	Failed      int
	// Failures say, per failed delivery, to whom and why.
	Failures []string
	// Repeats are warnings not repeated within renotify_after.
	Repeats int
	// Unrouted are keys whose owner could not be found.
	Unrouted int
	// RecordErr is set when the journal could not record a delivery.
	RecordErr error
	// Queued are digests not delivered now, kept in the state store's
	// outbox for a later run or 'keywarden notify retry'.
	Queued int
	// Retried are notices kept by earlier runs, delivered now.
	Retried int
	// StillQueued are notices kept by earlier runs that failed again.
	StillQueued int
}

// ChannelRegistry is every channel type keywarden can send through: those
// of package notify, and SNS and SES with the given AWS configuration, in
// the channel's region if it names one.
func ChannelRegistry(base aws.Config) notify.Registry {
	reg := notify.Builtin(nil)
	regional := func(region string) aws.Config {
		cfg := base.Copy()
		if region != "" {
			cfg.Region = region
		}
		return cfg
	}
	reg[channelconfig.TypeSNS] = func(c channelconfig.Config, _ notify.Env) (notify.Channel, error) {
		return awsChannel{awschannel.NewSNS(regional(c.Region), c.TopicARN)}, nil
	}
	reg[channelconfig.TypeSES] = func(c channelconfig.Config, _ notify.Env) (notify.Channel, error) {
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

// notifier delivers the digests of an apply; nil when the policy has no
// channel (notify actions are then only journaled).
type notifier struct {
	e        *Engine
	channels map[string]notify.Channel
	renderer *notify.Renderer
	problems []string
}

// newNotifier opens the policy's channels and templates. What cannot be
// opened is reported and does not stop the apply.
func (e *Engine) newNotifier() *notifier {
	n := e.Policy.Notifications
	if len(n.Channels) == 0 {
		return nil
	}
	env := PolicyEnv(e.Policy)
	reg := e.Notify.Registry
	if reg == nil {
		reg = ChannelRegistry(e.Hub.Base)
	}
	nt := &notifier{e: e}
	var errs []error
	nt.channels, errs = reg.Open(n, env)
	for _, err := range errs {
		nt.problems = append(nt.problems, err.Error()+"; its notifications will fail and be recorded (the apply goes on)")
	}
	renderer, err := notify.NewRenderer(n.Templates, env)
	if err != nil {
		nt.problems = append(nt.problems, err.Error()+"; the built-in templates are used instead")
		renderer = notify.DefaultRenderer()
	}
	nt.renderer = renderer
	return nt
}

// detail is what the journal says of a warning recorded.
func (nt *notifier) detail() string {
	if nt == nil {
		return ""
	}
	return "delivered after the apply to the channels configured"
}

// PolicyEnv is where the policy's relative file names start: its directory.
func PolicyEnv(pol *policy.Policy) notify.Env {
	env := notify.Env{LookupEnv: os.LookupEnv}
	if pol.Source != "" {
		env.Dir = filepath.Dir(pol.Source)
	}
	return env
}

// deliver tells the owners and the security team what an apply did and
// what is coming: warnings for the notify actions done, announcements of
// the keys deactivated and deleted (in this run or an earlier run of the
// plan, once). Notices left undelivered by earlier runs are retried first.
// What cannot be delivered now — a channel down, Ctrl-C — goes into the
// state store's outbox, for the next run or 'keywarden notify retry'. It
// never fails: notifications do not change how an apply ends. inv is the
// live read the apply judged by: it knows the owners.
func (nt *notifier) deliver(ctx context.Context, plan *remediate.Plan, out *remediate.Outcome, inv *inventory.Inventory) *NotifyReport {
	if nt == nil || out == nil {
		return nil
	}
	e := nt.e
	rep := &NotifyReport{Problems: nt.problems}
	// Building the digests and queueing them happen even after Ctrl-C:
	// what was done must be told, if not now then later.
	keep := context.WithoutCancel(ctx)
	var digests []notify.Digest
	if hasNews(out) {
		events := notifyEvents(keep, e, plan, out, directoryOf(inv))
		var sum notify.BuildSummary
		digests, sum = notify.Build(keep, e.Policy, out.RunID, e.now(), events, e.Store)
		if sum.Err != nil {
			rep.Problems = append(rep.Problems, "read which notifications were sent: "+sum.Err.Error()+"; they are sent again")
		}
		rep.Repeats, rep.Unrouted = sum.Repeats, sum.Unrouted
	}
	if ctx.Err() != nil {
		rep.Interrupted = true
		rep.Queued += nt.enqueue(keep, digests, "interrupted before delivery")
		return rep
	}
	// One delivery for this run's digests and the outbox's due ones, this
	// run's first: a slow or failing old notice delays nothing new.
	claimed, retried := nt.claimOutbox(ctx, rep)
	if len(digests)+len(retried) == 0 {
		if len(rep.Problems) == 0 {
			return nil
		}
		return rep
	}
	nt.deliverAll(ctx, rep, digests, claimed, retried)
	return rep
}

// deliverAll delivers this run's digests and the outbox's, keeping in the
// outbox what is still undelivered.
func (nt *notifier) deliverAll(ctx context.Context, rep *NotifyReport, digests []notify.Digest, claimed []store.Notice, retried []notify.Digest) {
	e := nt.e
	keep := context.WithoutCancel(ctx)
	timeout := e.Notify.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	all := append(append([]notify.Digest(nil), digests...), retried...)
	dr := notify.Deliver(dctx, all, nt.channels, e.Store, nt.options())
	for i, d := range dr.Deliveries {
		what := "failed"
		if d.Interrupted {
			what = "not sent (interrupted)"
		}
		if i < len(digests) {
			if d.Err == nil {
				rep.Sent++
				continue
			}
			rep.Failed++
			rep.Failures = append(rep.Failures, "notification to "+d.To.Contact+" ("+d.To.Channel+") "+what+": "+d.Err.Error())
			rep.Queued += nt.enqueue(keep, []notify.Digest{d.Digest}, d.Err.Error())
			continue
		}
		n := claimed[i-len(digests)]
		if d.Err == nil {
			if err := e.Store.MarkNoticeDelivered(keep, n.ID, e.now()); err != nil {
				e.log().Warn("mark a notification delivered", "id", n.ID, "error", err)
			}
			rep.Retried++
			continue
		}
		wait := noticeRetryAfter << min(max(n.Attempts-1, 0), 10)
		if d.Interrupted {
			wait = 0 // not tried: due again at once
		}
		e.Store.MarkNoticeFailed(keep, n.ID, d.Err.Error(), e.now().Add(min(wait, noticeMaxBackoff)))
		rep.Failures = append(rep.Failures, "notification to "+d.To.Contact+" ("+d.To.Channel+"), kept from run "+d.Digest.RunID+", "+what+" again: "+d.Err.Error())
		rep.StillQueued++
	}
	rep.Interrupted = rep.Interrupted || (dr.Interrupted() > 0 && ctx.Err() != nil)
	if dr.RecordErr != nil && rep.RecordErr == nil {
		rep.RecordErr = dr.RecordErr
	}
}

func (nt *notifier) options() notify.DeliverOptions {
	o := nt.e.Notify.Delivery
	o.Renderer, o.Log = nt.renderer, nt.e.log()
	return o
}

// Outbox timing: a notice is tried again after noticeRetryAfter, doubling
// up to noticeMaxBackoff, and given up after noticeExpiry.
const (
	noticeRetryAfter = 15 * time.Minute
	noticeMaxBackoff = 6 * time.Hour
	noticeExpiry     = 7 * 24 * time.Hour
	noticeClaimHold  = 10 * time.Minute
	noticeClaimLimit = 500
)

// enqueue keeps undelivered digests in the outbox and returns how many it
// kept. The same digest queued twice is kept once (its idempotency key).
func (nt *notifier) enqueue(ctx context.Context, digests []notify.Digest, why string) int {
	e := nt.e
	n := 0
	for _, d := range digests {
		payload, err := json.Marshal(d)
		if err != nil {
			nt.problems = append(nt.problems, "keep a notification for later: "+err.Error())
			continue
		}
		now := e.now()
		_, err = e.Store.EnqueueNotice(ctx, store.Notice{
			Key: d.IdempotencyKey(), RunID: d.RunID, Recipient: d.To.Channel + ":" + d.To.Contact, Channel: d.To.Channel,
			ItemKey: "digest", Payload: payload, LastError: why,
			CreatedAt: now, NextAttemptAt: now.Add(noticeRetryAfter), ExpiresAt: now.Add(noticeExpiry),
		})
		if err != nil {
			e.log().Warn("keep a notification for later", "recipient", d.To.Contact, "error", err)
			continue
		}
		n++
	}
	return n
}

// claimOutbox claims the outbox's notices that are due, with their
// digests; a notice that cannot be read is set aside.
func (nt *notifier) claimOutbox(ctx context.Context, rep *NotifyReport) ([]store.Notice, []notify.Digest) {
	e := nt.e
	now := e.now()
	if _, err := e.Store.ExpireNotices(ctx, now); err != nil {
		rep.Problems = append(rep.Problems, "read the notification outbox: "+err.Error())
		return nil, nil
	}
	notices, err := e.Store.ClaimNotices(ctx, now, noticeClaimHold, noticeClaimLimit)
	if err != nil {
		rep.Problems = append(rep.Problems, "read the notification outbox: "+err.Error())
		return nil, nil
	}
	var claimed []store.Notice
	var digests []notify.Digest
	for _, n := range notices {
		var d notify.Digest
		if err := json.Unmarshal(n.Payload, &d); err != nil {
			e.Store.MarkNoticeFailed(ctx, n.ID, "not a digest keywarden can read: "+err.Error(), now.Add(noticeMaxBackoff))
			continue
		}
		claimed = append(claimed, n)
		digests = append(digests, d)
	}
	return claimed, digests
}

// RetryNotices delivers the notices earlier runs could not, that are due
// now: what 'keywarden notify retry' does, and every apply does first.
func (e *Engine) RetryNotices(ctx context.Context) (*NotifyReport, error) {
	if e.Store == nil {
		return nil, errors.New("retrying notifications needs the state store that keeps them")
	}
	nt := e.newNotifier()
	if nt == nil {
		return nil, errors.New("the policy has no notification channel to deliver through")
	}
	rep := &NotifyReport{Problems: nt.problems}
	claimed, digests := nt.claimOutbox(ctx, rep)
	if len(digests) > 0 {
		nt.deliverAll(ctx, rep, nil, claimed, digests)
	}
	return rep, nil
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
func notifyEvents(ctx context.Context, e *Engine, plan *remediate.Plan, out *remediate.Outcome, dir *directory) []notify.Event {
	var warned []remediate.Action
	for _, r := range out.Results {
		if (r.Action.Type == remediate.Notify || r.Action.Type == remediate.Rotate) && r.Outcome == store.OutcomeDone {
			warned = append(warned, r.Action)
		}
	}
	next := nextStages(ctx, e, plan, warned, dir)
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
			// A rotation held at its deadline: say where the new key is.
			for _, r := range plan.Rotations {
				if r.AccountID == a.AccountID && r.OldKeyID == a.AccessKeyID && r.Phase == remediate.PhaseHeld {
					it.NewAccessKeyID, it.SecretARN, it.SecretRegion = r.NewKeyID, r.SecretARN, remediate.SecretRegion(r.SecretARN)
				}
			}
		case a.Type == remediate.Rotate:
			// Where the new key is, and the deadline: the old key's next
			// stage. Never the secret: keywarden no longer holds it.
			it.Action, it.Done = notify.ActionRotated, true
			it.NewAccessKeyID, it.SecretARN, _ = remediate.RotationDetail(r.Detail)
			it.SecretRegion = remediate.SecretRegion(it.SecretARN)
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
func nextStages(ctx context.Context, e *Engine, plan *remediate.Plan, warned []remediate.Action, dir *directory) map[string]policy.Finding {
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
	var journalErr error
	rules := map[string]bool{}
	for _, a := range warned {
		for _, r := range a.Rules {
			rules[a.AccountID+"/"+a.AccessKeyID+"/"+r] = true
		}
	}
	out := map[string]policy.Finding{}
	for _, f := range e.Policy.Evaluate(inv, policy.Options{AsOf: plan.AsOf, InactiveSince: e.inactiveSince(ctx, &journalErr)}) {
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
	if a, ok := d.accounts[id]; ok {
		return a
	}
	return inventory.Account{ID: id}
}

func (d *directory) user(account, name string) inventory.User {
	if u, ok := d.users[account+"/"+name]; ok {
		return u
	}
	return inventory.User{Name: name}
}

func (d *directory) owner(account, user string) notify.Owner {
	return notify.Owner{AccountID: account, AccountEmail: d.account(account).Email, UserName: user, Tags: d.user(account, user).Tags}
}

// directoryOf is the directory of an inventory.
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
