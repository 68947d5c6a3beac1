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
	mu      sync.Mutex
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
// soon as generation has started, since it is often ready at once), with
// jittered backoff, for at most reportWait.
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
			r.log.Debug("credential report not ready", "state", gen.State, "retry_in", delay)
		default:
			return nil, time.Time{}, waitErr("get credential report", err)
		}
		// Full jitter, as the SDK's own backoff: accounts polled together do not poll in step.
		t := time.NewTimer(time.Duration(rand.Int64N(int64(delay))) + delay/2)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, time.Time{}, waitErr("get credential report", ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, 4*time.Second)
	}
}

// userDetails are what GetAccountAuthorizationDetails tells of a user.
type userDetails struct {
	arn, id, path string
	created       time.Time
	tags          map[string]string
	groups        []string
}

// readUserDetails reads every user's path, tags and groups in a few
// paginated calls (1,000 users a page).
func (r *reader) readUserDetails(ctx context.Context) (map[string]userDetails, error) {
	out := make(map[string]userDetails)
	p := iam.NewGetAccountAuthorizationDetailsPaginator(r.iam, &iam.GetAccountAuthorizationDetailsInput{
		Filter: []types.EntityType{types.EntityTypeUser}, MaxItems: aws.Int32(1000),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read user tags and groups (GetAccountAuthorizationDetails): %w", err)
		}
		for _, u := range page.UserDetailList {
			d := userDetails{arn: aws.ToString(u.Arn), id: aws.ToString(u.UserId), path: aws.ToString(u.Path),
				created: aws.ToTime(u.CreateDate), groups: u.GroupList}
			if len(u.Tags) > 0 {
				d.tags = make(map[string]string, len(u.Tags))
				for _, t := range u.Tags {
					d.tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
				}
			}
			out[aws.ToString(u.UserName)] = d
		}
	}
	return out, nil
}

// readRoot reads whether the root user has keys and MFA.
func (r *reader) readRoot(ctx context.Context, root *Root) error {
	out, err := r.iam.GetAccountSummary(ctx, &iam.GetAccountSummaryInput{})
	if err != nil {
		return fmt.Errorf("read account summary: %w", err)
	}
	root.KeysPresent = root.KeysPresent || out.SummaryMap["AccountAccessKeysPresent"] > 0
	root.MFAActive = root.MFAActive || out.SummaryMap["AccountMFAEnabled"] > 0
	return nil
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
	for _, e := range rep.Users {
		inReport[e.User] = true
		d, ok := details[e.User]
		if !ok {
			r.warn("user %s is in the credential report but no longer exists", e.User)
			continue
		}
		users = append(users, User{
			Name: e.User, ARN: e.ARN, UserID: d.id, Path: d.path, CreatedAt: e.CreatedAt,
			Tags: d.tags, Groups: d.groups,
			PasswordEnabled: e.PasswordEnabled, PasswordLastUsed: e.PasswordLastUsed, MFAActive: e.MFAActive,
			Keys: reportKeys(&e),
		})
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
		users = append(users, User{Name: name, ARN: d.arn, UserID: d.id, Path: d.path, CreatedAt: d.created,
			Tags: d.tags, Groups: d.groups, Keys: nil})
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
	var keys []Key
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
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].CreatedAt.Before(keys[j].CreatedAt) })
	return keys
}

// resolveKeys reads a user's keys live and matches them to the report's
// slots by creation time. The live listing wins: a key deleted since the
// report is dropped, a key created since is added with its last use read
// live, and the status is the current one.
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
	var keys []Key
	for _, lk := range live {
		k := Key{ID: aws.ToString(lk.AccessKeyId), Status: string(lk.Status), CreatedAt: aws.ToTime(lk.CreateDate)}
		// Match by creation time; two keys created in the same second are
		// told apart by status, and otherwise their last use is read live.
		var same, sameStatus []int
		for i, rk := range u.Keys {
			if rk.ID == "" && rk.CreatedAt.Equal(k.CreatedAt.Truncate(time.Second)) {
				same = append(same, i)
				if rk.Status == k.Status {
					sameStatus = append(sameStatus, i)
				}
			}
		}
		slot := -1
		switch {
		case len(same) == 1:
			slot = same[0]
		case len(sameStatus) == 1:
			slot = sameStatus[0]
		}
		if slot >= 0 {
			rk := u.Keys[slot]
			k.Slot, k.LastUsedAt, k.LastUsedService, k.LastUsedRegion = rk.Slot, rk.LastUsedAt, rk.LastUsedService, rk.LastUsedRegion
		} else {
			if !fresh && len(same) == 0 {
				r.warn("key %s of %s is newer than the credential report; its last use was read live", k.ID, u.Name)
			}
			if err := r.lastUsed(ctx, &k); err != nil {
				return err
			}
		}
		keys = append(keys, k)
	}
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].CreatedAt.Before(keys[j].CreatedAt) })
	u.Keys = keys
	return nil
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
		k.LastUsedService = notApplicable(aws.ToString(lu.ServiceName))
		k.LastUsedRegion = notApplicable(aws.ToString(lu.Region))
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
			name := aws.ToString(u.UserName)
			d := details[name]
			users = append(users, User{Name: name, ARN: aws.ToString(u.Arn), UserID: aws.ToString(u.UserId),
				Path: aws.ToString(u.Path), CreatedAt: aws.ToTime(u.CreateDate), Tags: d.tags, Groups: d.groups,
				PasswordLastUsed: aws.ToTime(u.PasswordLastUsed)})
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
