package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"golang.org/x/sync/errgroup"
)

// iamReader is every IAM call an inventory makes; it is also the list of
// read permissions keywarden needs in each account.
type iamReader interface {
	GenerateCredentialReport(context.Context, *iam.GenerateCredentialReportInput, ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error)
	GetCredentialReport(context.Context, *iam.GetCredentialReportInput, ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error)
	GetAccountSummary(context.Context, *iam.GetAccountSummaryInput, ...func(*iam.Options)) (*iam.GetAccountSummaryOutput, error)
	GetAccessKeyLastUsed(context.Context, *iam.GetAccessKeyLastUsedInput, ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error)
	iam.GetAccountAuthorizationDetailsAPIClient
	iam.ListUsersAPIClient
	iam.ListAccessKeysAPIClient
}

// NeedKeyIDs decides, on the report path, whether a user's access key IDs
// are read (one ListAccessKeys call per user). The report has no key IDs;
// reading them for every user would cost a call per user.
type NeedKeyIDs func(u User, asOf time.Time) bool

// AllKeyIDs reads every user's key IDs.
func AllKeyIDs(User, time.Time) bool { return true }

// NoKeyIDs reads none.
func NoKeyIDs(User, time.Time) bool { return false }

// reader reads one account.
type reader struct {
	iam          iamReader
	asOf         time.Time
	needIDs      NeedKeyIDs
	userParallel int
	reportWait   time.Duration
	log          *slog.Logger
	warnings     []string
	// partial, when set, is a read that failed without failing the
	// account: the account is then partial.
	partial *partialRead
	// strs keeps one copy of the services and regions of last use; mu
	// guards it and warnings.
	strs interner
	mu   sync.Mutex
	// slots, when set, is the slot the account holds, given up while it
	// waits for its credential report; inFlight are the reads running
	// beside the report's, which keep the slot until they are done.
	slots      *slots
	inFlight   sync.WaitGroup
	accountCtx context.Context
	slotGone   bool
}

// pause waits d, within ctx, for the credential report. The account's
// slot goes to another account meanwhile, once the reads running beside
// the report's are done, and is taken back before pause returns, unless
// the account's own time is up (slotGone).
func (r *reader) pause(ctx context.Context, d time.Duration) error {
	if r.slots != nil {
		r.inFlight.Wait()
		r.slots.release()
	}
	t := time.NewTimer(d)
	select {
	case <-ctx.Done():
		t.Stop()
	case <-t.C:
	}
	if r.slots != nil {
		if err := r.slots.acquire(r.accountCtx, true); err != nil {
			r.slotGone = true
			return err
		}
	}
	return ctx.Err()
}

// done gives the account's slot back.
func (r *reader) done() {
	if r.slots != nil && !r.slotGone {
		r.slots.release()
	}
}

func (r *reader) warn(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// errReportUnavailable wraps the reasons the report path gives way to the API path.
var errReportUnavailable = errors.New("credential report unavailable")

// fetchReport generates the credential report if needed and returns it:
// GenerateCredentialReport until COMPLETE (trying GetCredentialReport as
// soon as generation has started, since it is often ready at once, but
// not while IAM says it is in progress), with jittered backoff, for at
// most reportWait. While it waits the account gives its slot up (pause).
func (r *reader) fetchReport(parent context.Context) (*CredentialReport, time.Time, error) {
	ctx, cancel := context.WithTimeout(parent, r.reportWait)
	defer cancel()
	// waitErr turns the report wait running out (but not the account's own
	// deadline) into errReportUnavailable, so that the API path takes over.
	waitErr := func(what string, err error) error {
		if parent.Err() == nil && ctx.Err() != nil {
			return fmt.Errorf("%w: not ready after %v", errReportUnavailable, r.reportWait)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	delay := 250 * time.Millisecond
	for {
		gen, err := r.iam.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			if isAccessDenied(err) {
				return nil, time.Time{}, fmt.Errorf("%w: GenerateCredentialReport denied: %w", errReportUnavailable, err)
			}
			return nil, time.Time{}, waitErr("generate credential report", err)
		}
		// While IAM says the report is being generated, asking for it would only cost a call.
		if gen.State != types.ReportStateTypeInprogress {
			out, err := r.iam.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
			if err == nil {
				rep, perr := ParseCredentialReport(out.Content)
				if perr != nil {
					return nil, time.Time{}, fmt.Errorf("%w: %w", errReportUnavailable, perr)
				}
				return rep, aws.ToTime(out.GeneratedTime), nil
			}
			var notReady *types.CredentialReportNotReadyException
			var expired *types.CredentialReportExpiredException
			var notPresent *types.CredentialReportNotPresentException
			switch {
			case isAccessDenied(err):
				return nil, time.Time{}, fmt.Errorf("%w: GetCredentialReport denied: %w", errReportUnavailable, err)
			case errors.As(err, &notReady), errors.As(err, &expired), errors.As(err, &notPresent):
			default:
				return nil, time.Time{}, waitErr("get credential report", err)
			}
		}
		r.log.Debug("credential report not ready", "state", gen.State, "retry_in", delay)
		if err := r.pause(ctx, jitter(delay)); err != nil {
			return nil, time.Time{}, waitErr("get credential report", err)
		}
		delay = min(delay*2, 4*time.Second)
	}
}

// jitter spreads a wait over [d/2, 3d/2), as the SDK's own backoff does,
// so that accounts polled together do not poll in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(rand.Int64N(int64(d))) + d/2
}

// userDetails are what GetAccountAuthorizationDetails tells of a user.
type userDetails struct {
	arn, path string
	tags      Tags
	groups    []string
}

// readUserDetails reads every user's path, tags and groups in a few
// paginated calls (1,000 users a page). Strings that many users share
// (paths, tag keys, group names, whole lists of groups) are kept once.
func (r *reader) readUserDetails(ctx context.Context) (map[string]userDetails, error) {
	out := make(map[string]userDetails)
	var in interner
	p := iam.NewGetAccountAuthorizationDetailsPaginator(r.iam, &iam.GetAccountAuthorizationDetailsInput{
		Filter: []types.EntityType{types.EntityTypeUser}, MaxItems: aws.Int32(1000),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read user tags and groups (GetAccountAuthorizationDetails): %w", err)
		}
		for _, u := range page.UserDetailList {
			d := userDetails{arn: aws.ToString(u.Arn), path: in.string(aws.ToString(u.Path)), groups: in.list(u.GroupList)}
			if len(u.Tags) > 0 {
				d.tags = make(Tags, len(u.Tags))
				for i, t := range u.Tags {
					d.tags[i] = Tag{Key: in.string(aws.ToString(t.Key)), Value: aws.ToString(t.Value)}
				}
			}
			out[aws.ToString(u.UserName)] = d
		}
	}
	return out, nil
}

// rootSummary is what GetAccountSummary tells of the root user.
type rootSummary struct {
	keysPresent, mfaActive bool
}

// readRoot reads whether the root user has keys and MFA.
func (r *reader) readRoot(ctx context.Context) (rootSummary, error) {
	out, err := r.iam.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		return rootSummary{}, fmt.Errorf("read account summary: %w", err)
	}
	return rootSummary{
		keysPresent: out.SummaryMap["AccountAccessKeysPresent"] > 0,
		mfaActive:   out.SummaryMap["AccountMFAEnabled"] > 0,
	}, nil
}

// fromReport builds the account's users from the credential report, then
// reads key IDs live for the users that need them.
func (r *reader) fromReport(ctx context.Context, rep *CredentialReport, details map[string]userDetails) ([]User, Root, error) {
	var root Root
	if rep.Root != nil {
		root.MFAActive = rep.Root.MFAActive
		root.Keys = reportKeys(rep.Root)
		for _, k := range root.Keys {
			root.KeysPresent = root.KeysPresent || k.Active()
		}
	}
	users := make([]User, 0, len(rep.Users))
	inReport := make(map[string]bool, len(rep.Users))
	// The users' keys, in one array for the account.
	n := 0
	for i := range rep.Users {
		n += rep.Users[i].keyCount()
	}
	keys := make([]Key, 0, n)
	for i := range rep.Users {
		e := &rep.Users[i]
		inReport[e.User] = true
		d, ok := details[e.User]
		if !ok {
			r.warn("user %s is in the credential report but no longer exists", e.User)
			continue
		}
		u := User{Name: e.User, ARN: e.ARN, Path: d.path, Tags: d.tags, Groups: d.groups}
		if e.PasswordEnabled || e.MFAActive || !e.PasswordLastUsed.IsZero() {
			u.Console = &Console{PasswordEnabled: e.PasswordEnabled, MFAActive: e.MFAActive, PasswordLastUsed: e.PasswordLastUsed}
		}
		start := len(keys)
		keys = appendReportKeys(keys, e)
		if len(keys) > start {
			u.Keys = keys[start:len(keys):len(keys)]
		}
		users = append(users, u)
	}
	// Users created after the report was generated: read them live.
	var fresh []string
	for name := range details {
		if !inReport[name] {
			fresh = append(fresh, name)
		}
	}
	sort.Strings(fresh)
	for _, name := range fresh {
		d := details[name]
		name, _ = endOf(d.arn, name)
		users = append(users, User{Name: name, ARN: d.arn, Path: d.path, Tags: d.tags, Groups: d.groups})
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.userParallel)
	for i := range users {
		u := &users[i]
		isFresh := !inReport[u.Name]
		if !isFresh && !r.needIDs(*u, r.asOf) {
			continue
		}
		g.Go(func() error { return r.resolveKeys(gctx, u, isFresh) })
	}
	if err := g.Wait(); err != nil {
		return nil, root, err
	}
	// Users deleted between the report and now were marked by resolveKeys.
	kept := users[:0]
	for _, u := range users {
		if u.Name != "" {
			kept = append(kept, u)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Name < kept[j].Name })
	return kept, root, nil
}

// reportKeys returns the keys in an entry's two slots, oldest first.
func reportKeys(e *ReportEntry) []Key {
	if e.keyCount() == 0 {
		return nil
	}
	return appendReportKeys(make([]Key, 0, e.keyCount()), e)
}

// appendReportKeys appends the keys in an entry's two slots, oldest first.
func appendReportKeys(keys []Key, e *ReportEntry) []Key {
	start := len(keys)
	for i, k := range e.Keys {
		if !k.Present {
			continue
		}
		status := StatusInactive
		if k.Active {
			status = StatusActive
		}
		keys = append(keys, Key{Slot: i + 1, Status: status, CreatedAt: k.LastRotated,
			LastUsedAt: k.LastUsed, LastUsedService: k.LastUsedService, LastUsedRegion: k.LastUsedRegion})
	}
	mine := keys[start:]
	sort.SliceStable(mine, func(i, j int) bool { return mine[i].CreatedAt.Before(mine[j].CreatedAt) })
	return keys
}

// keyCount is how many keys the entry's slots hold.
func (e *ReportEntry) keyCount() int {
	n := 0
	for _, k := range e.Keys {
		if k.Present {
			n++
		}
	}
	return n
}

// resolveKeys reads a user's keys live and matches them to the report's
// slots (matchSlots). The live listing wins: a key deleted since the
// report is dropped, a key created since is added with its last use read
// live, and the status is the current one. GetAccessKeyLastUsed is called
// only for a key whose last use the report does not give.
func (r *reader) resolveKeys(ctx context.Context, u *User, fresh bool) error {
	live, err := r.listKeys(ctx, u.Name)
	var noUser *types.NoSuchEntityException
	if errors.As(err, &noUser) {
		r.warn("user %s was deleted after the credential report", u.Name)
		u.Name = "" // dropped by the caller
		return nil
	}
	if err != nil {
		return err
	}
	keys := make([]Key, len(live))
	for i, lk := range live {
		keys[i] = Key{ID: aws.ToString(lk.AccessKeyId), Status: keyStatus(lk.Status), CreatedAt: aws.ToTime(lk.CreateDate)}
	}
	for i, m := range matchSlots(keys, u.Keys) {
		k := &keys[i]
		switch {
		case m.slot >= 0:
			rk := u.Keys[m.slot]
			k.Slot, k.LastUsedAt, k.LastUsedService, k.LastUsedRegion = rk.Slot, rk.LastUsedAt, rk.LastUsedService, rk.LastUsedRegion
		case m.lastUse >= 0:
			// Its slot is not known, but every slot it may be in says the same.
			rk := u.Keys[m.lastUse]
			k.LastUsedAt, k.LastUsedService, k.LastUsedRegion = rk.LastUsedAt, rk.LastUsedService, rk.LastUsedRegion
		default:
			if !fresh && m.newer {
				r.warn("key %s of %s is newer than the credential report; its last use was read live", k.ID, u.Name)
			}
			if err := r.lastUsed(ctx, k); err != nil {
				return err
			}
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].CreatedAt.Before(keys[j].CreatedAt) })
	if len(keys) > 0 && len(keys) <= cap(u.Keys) {
		// In the room the report's keys had (shared with other users of
		// the account, but this part is the user's own).
		u.Keys = append(u.Keys[:0], keys...)
		return nil
	}
	u.Keys = keys
	return nil
}

// keyStatus is a status as IAM lists it, in the spelling of the constants
// (so that the decoded string is not kept).
func keyStatus(s types.StatusType) string {
	switch s {
	case types.StatusTypeActive:
		return StatusActive
	case types.StatusTypeInactive:
		return StatusInactive
	}
	return string(s)
}

// slotMatch is what the credential report tells of one live key.
type slotMatch struct {
	// slot is the index, among the report's keys, of the key's own slot;
	// -1 when not known.
	slot int
	// lastUse is, when the slot is not known but every slot the key may
	// be in gives the same last use, the index of one of them; -1 otherwise.
	lastUse int
	// newer is true when no slot was created in the key's second: the key
	// is newer than the report.
	newer bool
}

// matchSlots matches a user's live keys to the keys of its credential
// report row. The report has no key IDs: a slot is known by its key's
// creation, to the second. Keys created in different seconds are matched
// by creation alone. Of two created in the same second, the report tells
// which is which only by their status, when the two differ in the report
// and live alike; otherwise, when both slots give the same last use (both
// never used, say), that last use is the key's, whichever slot it is in.
// Only when neither helps is a key's last use left to be read live.
func matchSlots(live, report []Key) []slotMatch {
	out := make([]slotMatch, len(live))
	for i := range out {
		out[i] = slotMatch{slot: -1, lastUse: -1}
	}
	second := func(k Key) time.Time { return k.CreatedAt.Truncate(time.Second) }
	grouped := make([]bool, len(live))
	for i := range live {
		if grouped[i] {
			continue
		}
		// The live keys and the report's slots created in this second.
		var ls, rs []int
		for j := i; j < len(live); j++ {
			if !grouped[j] && second(live[j]).Equal(second(live[i])) {
				ls, grouped[j] = append(ls, j), true
			}
		}
		for j := range report {
			if second(report[j]).Equal(second(live[i])) {
				rs = append(rs, j)
			}
		}
		matchGroup(out, live, report, ls, rs)
	}
	return out
}

// matchGroup matches the live keys ls to the report's slots rs, all
// created in the same second.
func matchGroup(out []slotMatch, live, report []Key, ls, rs []int) {
	// withStatus returns the one index of idx whose key has status, -1
	// when there is not exactly one.
	withStatus := func(keys []Key, idx []int, status string) int {
		found := -1
		for _, i := range idx {
			if keys[i].Status == status {
				if found >= 0 {
					return -1
				}
				found = i
			}
		}
		return found
	}
	switch {
	case len(rs) == 0:
		for _, l := range ls {
			out[l].newer = true
		}
		return
	case len(ls) == 1 && len(rs) == 1:
		out[ls[0]].slot = rs[0]
		return
	case len(ls) == 2 && len(rs) == 2 &&
		live[ls[0]].Status != live[ls[1]].Status && report[rs[0]].Status != report[rs[1]].Status:
		for _, l := range ls {
			out[l].slot = withStatus(report, rs, live[l].Status)
		}
		return
	case len(ls) == 1:
		// A key of the second was deleted since the report.
		if r := withStatus(report, rs, live[ls[0]].Status); r >= 0 {
			out[ls[0]].slot = r
			return
		}
	case len(rs) == 1:
		// A key of the second was created since the report: the other
		// is the one the report has, if its status tells which.
		if l := withStatus(live, ls, report[rs[0]].Status); l >= 0 {
			out[l].slot = rs[0]
		}
		return
	}
	for _, r := range rs[1:] {
		if !sameLastUse(report[r], report[rs[0]]) {
			return
		}
	}
	for _, l := range ls {
		out[l].lastUse = rs[0]
	}
}

// sameLastUse reports whether a and b were last used at the same time,
// with the same service, in the same region.
func sameLastUse(a, b Key) bool {
	return a.LastUsedAt.Equal(b.LastUsedAt) && a.LastUsedService == b.LastUsedService && a.LastUsedRegion == b.LastUsedRegion
}

func (r *reader) listKeys(ctx context.Context, user string) ([]types.AccessKeyMetadata, error) {
	var out []types.AccessKeyMetadata
	p := iam.NewListAccessKeysPaginator(r.iam, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list access keys of %s: %w", user, err)
		}
		out = append(out, page.AccessKeyMetadata...)
	}
	return out, nil
}

func (r *reader) lastUsed(ctx context.Context, k *Key) error {
	out, err := r.iam.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(k.ID)})
	if err != nil {
		return fmt.Errorf("read last use of key %s: %w", k.ID, err)
	}
	if lu := out.AccessKeyLastUsed; lu != nil && lu.LastUsedDate != nil {
		// "Never used" is decided by the date alone: the region is N/A for global services.
		k.LastUsedAt = lu.LastUsedDate.UTC()
		r.mu.Lock()
		k.LastUsedService = r.strs.string(notApplicable(aws.ToString(lu.ServiceName)))
		k.LastUsedRegion = r.strs.string(notApplicable(aws.ToString(lu.Region)))
		r.mu.Unlock()
	}
	return nil
}

func notApplicable(s string) string {
	if s == "N/A" {
		return ""
	}
	return s
}

// fromAPI reads every user, key and last use through the IAM API.
func (r *reader) fromAPI(ctx context.Context, details map[string]userDetails) ([]User, error) {
	var users []User
	p := iam.NewListUsersPaginator(r.iam, &iam.ListUsersInput{MaxItems: aws.Int32(1000)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		for _, u := range page.Users {
			arn := aws.ToString(u.Arn)
			name, _ := endOf(arn, aws.ToString(u.UserName))
			d, ok := details[name]
			path := d.path
			if !ok {
				path = aws.ToString(u.Path)
			}
			user := User{Name: name, ARN: arn, Path: path, Tags: d.tags, Groups: d.groups}
			if u.PasswordLastUsed != nil {
				user.Console = &Console{PasswordLastUsed: aws.ToTime(u.PasswordLastUsed)}
			}
			users = append(users, user)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.userParallel)
	for i := range users {
		u := &users[i]
		g.Go(func() error { return r.resolveKeys(gctx, u, true) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	kept := users[:0]
	for _, u := range users {
		if u.Name != "" {
			kept = append(kept, u)
		}
	}
	return kept, nil
}
