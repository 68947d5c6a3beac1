// Package benchorg seeds the sandbox with an organization of an exact
// shape — so many member accounts, so many users each, so many of them
// flagged — signs in to it as a run of keywarden does, and gives the least
// time a scan of it can take. The bench/scan driver and the inventory
// benchmarks share it.
//
// The realistic generator (internal/awsemu/orggen) spreads ages and uses at
// random; a benchmark needs to know how many users need attention, since
// that is what the report path's cost depends on.
//
// It stops short of running the scan: the driver runs it through the
// engine, as "keywarden scan --org" does, and the engine lies above what
// the inventory's benchmarks may import (internal/archtest).
package benchorg

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
)

// DefaultRoleName is the role each member account trusts the management account with.
const DefaultRoleName = "KeywardenSpoke"

// FlagKind says how a flagged user's keys need attention.
type FlagKind string

const (
	// FlagOld gives the user one active key 100 to 499 days old.
	FlagOld FlagKind = "old"
	// FlagTwoKeys gives the user two fresh active keys.
	FlagTwoKeys FlagKind = "two"
	// FlagMix alternates between FlagOld and FlagTwoKeys.
	FlagMix FlagKind = "mix"
)

// ParseFlagKind reads "old", "two" or "mix".
func ParseFlagKind(s string) (FlagKind, error) {
	switch k := FlagKind(s); k {
	case FlagOld, FlagTwoKeys, FlagMix:
		return k, nil
	}
	return "", fmt.Errorf("flag kind %q: want old, two or mix", s)
}

// Spec is the shape of the organization to seed.
type Spec struct {
	Accounts int // member accounts; the management account comes on top
	Users    int // IAM users in each member account
	// Flagged is the fraction of each account's users whose keys need
	// attention (inventory.NeedsAttention); each account gets exactly
	// round(Users × Flagged) of them. The others have one key, 10 to 69
	// days old and used in the last three days.
	Flagged  float64
	Kind     FlagKind  // how flagged users are flagged; FlagMix when ""
	RoleName string    // DefaultRoleName when ""
	Now      time.Time // ages count back from it; zero means now
	Seed     uint64    // picks the flagged users and the ages
}

// Org is the seeded organization.
type Org struct {
	Management string      // the management account, where Admin lives
	Members    []string    // member account IDs, in the order they were added
	Admin      awsemu.Key  // the key keywarden signs with
	RootID     string      // the organization's root
	RoleName   string      // the role assumed in each member
	Shape      AccountWork // what each member account holds
	Users      int         // IAM users in all, the admin included
	Keys       int         // access keys in all, the admin's included
	Flagged    int         // users needing attention in all
}

// AccountWork is what one member account holds, for the lower bounds.
type AccountWork struct {
	Users   int // IAM users
	Keys    int // their access keys
	MaxKeys int // the most keys one user has
	Flagged int // users needing attention, whose key IDs the report path reads by default
}

// Seed adds the organization to sb through the seeding API.
func Seed(sb *awsemu.Sandbox, spec Spec) (*Org, error) {
	if spec.Accounts < 0 || spec.Users < 0 || spec.Flagged < 0 || spec.Flagged > 1 {
		return nil, errors.New("benchorg: accounts and users must not be negative, flagged must be in [0, 1]")
	}
	kind := spec.Kind
	if kind == "" {
		kind = FlagMix
	}
	role := spec.RoleName
	if role == "" {
		role = DefaultRoleName
	}
	now := spec.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Second)
	day := 24 * time.Hour
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0xbe9c4))

	mgmt, err := sb.AddAccount(awsemu.AccountSpec{Name: "management", CreatedAt: now.Add(-1000 * day)})
	if err != nil {
		return nil, err
	}
	const admin = "keywarden-admin"
	if err := sb.AddUser(awsemu.UserSpec{Account: mgmt, Name: admin, CreatedAt: now.Add(-30 * day)}); err != nil {
		return nil, err
	}
	key, err := sb.AddAccessKey(awsemu.KeySpec{Account: mgmt, User: admin, CreatedAt: now.Add(-10 * day), LastUsed: now.Add(-time.Hour)})
	if err != nil {
		return nil, err
	}
	root, err := sb.CreateOrganization(mgmt)
	if err != nil {
		return nil, err
	}
	org := &Org{Management: mgmt, Admin: key, RootID: root, RoleName: role, Users: 1, Keys: 1}

	flagged := int(math.Round(float64(spec.Users) * spec.Flagged))
	org.Shape = AccountWork{Users: spec.Users, Flagged: flagged}
	for i := range spec.Accounts {
		id, err := sb.AddAccount(awsemu.AccountSpec{Name: fmt.Sprintf("member-%05d", i), CreatedAt: now.Add(-900 * day)})
		if err != nil {
			return nil, err
		}
		if err := sb.AddRole(awsemu.RoleSpec{Account: id, Name: role, TrustedAccounts: []string{mgmt}}); err != nil {
			return nil, err
		}
		if err := sb.AddGroup(id, "developers", "", now.Add(-900*day)); err != nil {
			return nil, err
		}
		isFlagged := make([]bool, spec.Users)
		for _, j := range rng.Perm(spec.Users)[:flagged] {
			isFlagged[j] = true
		}
		keys, nth := 0, 0
		for j := range spec.Users {
			name := fmt.Sprintf("user-%05d", j)
			if err := sb.AddUser(awsemu.UserSpec{
				Account: id, Name: name, CreatedAt: now.Add(-800 * day),
				Tags:   []awsemu.Tag{{Key: "owner", Value: name + "@example.com"}},
				Groups: []string{"developers"},
			}); err != nil {
				return nil, err
			}
			u := inventory.User{Name: name}
			// Fresh: 10 to 69 days old, used in the last three days.
			fresh := func() inventory.Key {
				created := now.Add(-time.Duration(10+rng.IntN(60)) * day)
				return inventory.Key{Status: inventory.StatusActive, CreatedAt: created,
					LastUsedAt: now.Add(-time.Duration(rng.IntN(72*60)) * time.Minute)}
			}
			switch {
			case !isFlagged[j]:
				u.Keys = []inventory.Key{fresh()}
			case kind == FlagOld || kind == FlagMix && nth%2 == 0:
				k := fresh()
				k.CreatedAt = now.Add(-time.Duration(100+rng.IntN(400)) * day)
				u.Keys = []inventory.Key{k}
			default:
				a, b := fresh(), fresh()
				if b.CreatedAt.Equal(a.CreatedAt) {
					b.CreatedAt = b.CreatedAt.Add(time.Hour)
				}
				u.Keys = []inventory.Key{a, b}
			}
			if isFlagged[j] {
				nth++
			}
			if got := inventory.NeedsAttention(u, now); got != isFlagged[j] {
				return nil, fmt.Errorf("benchorg: user %s: NeedsAttention is %v, want %v", name, got, isFlagged[j])
			}
			for _, k := range u.Keys {
				if _, err := sb.AddAccessKey(awsemu.KeySpec{Account: id, User: name, CreatedAt: k.CreatedAt,
					LastUsed: k.LastUsedAt, LastUsedService: "s3", LastUsedRegion: "eu-west-1"}); err != nil {
					return nil, err
				}
			}
			keys += len(u.Keys)
			org.Shape.MaxKeys = max(org.Shape.MaxKeys, len(u.Keys))
		}
		if err := sb.JoinOrganization(id, root, time.Time{}); err != nil {
			return nil, err
		}
		org.Members = append(org.Members, id)
		org.Users += spec.Users
		org.Keys += keys
		org.Flagged += flagged
	}
	if spec.Accounts > 0 {
		org.Shape.Keys = (org.Keys - 1) / spec.Accounts // the same in every account up to rounding
	}
	return org, nil
}

// Target is where and as whom to sign in.
type Target struct {
	Endpoint string
	Admin    awsemu.Key
	RoleName string // DefaultRoleName when ""
	// HTTPClient replaces the HTTP client of awsx.Load when not nil.
	HTTPClient aws.HTTPClient
}

// Session is the organization's admin signed in to the sandbox: the
// configuration each run's hub starts from.
type Session struct {
	Base     aws.Config
	RoleName string
}

// Connect loads the admin's configuration as the CLI does (awsx.Load, with
// t.HTTPClient in place of its HTTP client when set). It calls nothing.
func Connect(ctx context.Context, t Target) (*Session, error) {
	base, err := awsx.Load(ctx, awsx.Options{
		Endpoint: t.Endpoint, Region: awsemu.DefaultRegion,
		Credentials: credentials.NewStaticCredentialsProvider(t.Admin.AccessKeyID, t.Admin.SecretAccessKey, ""),
	})
	if err != nil {
		return nil, err
	}
	// Set before any hub copies the configuration, so that every client,
	// the AssumeRole calls' included, uses it.
	if t.HTTPClient != nil {
		base.HTTPClient = t.HTTPClient
	}
	role := t.RoleName
	if role == "" {
		role = DefaultRoleName
	}
	return &Session{Base: base, RoleName: role}, nil
}

// NewHub starts a run as "keywarden scan" does: awsx.NewHub identifies the
// caller (one GetCallerIdentity call) and gives the run an assume-role
// cache of its own, empty, so that a scan through the hub pays for its
// AssumeRole calls as a run of the CLI does. The caller's own account is
// read with its own credentials.
func (s *Session) NewHub(ctx context.Context) (*awsx.Hub, error) {
	return awsx.NewHub(ctx, s.Base, awsx.HubOptions{Command: "scan", RoleName: s.RoleName})
}

// Reading is how a scan reads, as far as its lower bound depends on it;
// the fields mean what engine.Read's do.
type Reading struct {
	Source inventory.Source // SourceReport when ""
	// KeyIDs says whose key IDs the report path reads: "attention" (the
	// default: the flagged users, which Seed makes exactly the users that
	// need attention), "all" or "none".
	KeyIDs       string
	Parallel     int // accounts at once; zero: inventory.DefaultParallel
	UserParallel int // per-user calls at once; zero: inventory.DefaultUserParallel
	// ReportPolls is the sandbox's ReportInProgressPolls: how many more
	// GenerateCredentialReport calls answer INPROGRESS after STARTED.
	ReportPolls int
	// ThrottleRate and ThrottleBurst are the sandbox's per-account token
	// bucket (calls a second, calls at once); zero rate: none.
	ThrottleRate  float64
	ThrottleBurst int
}

// management is what the management account holds: the admin and its key,
// which needs no attention.
var management = AccountWork{Users: 1, Keys: 1, MaxKeys: 1}

// KeyIDUsers is how many users of the whole organization the report path
// reads the key IDs of, with Reading.KeyIDs set to keyIDs.
func (o *Org) KeyIDUsers(keyIDs string) int {
	return management.keyIDsRead(keyIDs) + len(o.Members)*o.Shape.keyIDsRead(keyIDs)
}

// keyIDsRead is how many users of an account the report path reads the
// key IDs of.
func (w AccountWork) keyIDsRead(keyIDs string) int {
	switch keyIDs {
	case "all":
		return w.Users
	case "none":
		return 0
	}
	return w.Flagged
}

// Chain is how many calls reading one account makes one after another —
// the part of its read that latency multiplies, whatever the parallelism
// across accounts:
//
//	report: [AssumeRole]
//	        + max(GetAccountAuthorizationDetails pages,
//	              the report's calls,
//	              GetAccountSummary)
//	        + ⌈users whose key IDs are read / user-parallel⌉ rounds of ListAccessKeys
//	api:    [AssumeRole]
//	        + max(GetAccountAuthorizationDetails pages + ListUsers pages
//	              + max(1 + most keys of a user, ⌈(users + keys) / user-parallel⌉),
//	              GetAccountSummary)
//
// The report path reads the user details, the report and the account
// summary at the same time (inventory's reader.read), so only the longest
// of the three counts; the API path reads the summary beside everything
// else. All wait for the one AssumeRole the credentials cache makes for
// them. The report's calls are GenerateCredentialReport and
// GetCredentialReport when it is ready at once; with rd.ReportPolls = P > 0,
// STARTED then a GetCredentialReport that finds it not ready, P
// GenerateCredentialReport answering INPROGRESS, then COMPLETE and
// GetCredentialReport: P + 4 (and the waits of ReportWait between them).
// The report's last uses match the live keys, so the report path
// calls no GetAccessKeyLastUsed. The API path lists a user's keys before it
// reads their last uses, one after another: a user with k keys is a chain
// of 1 + k calls, and every user's calls share the user-parallel slots.
// AssumeRole counts only when viaRole. Both listings page at 1,000 users.
func Chain(rd Reading, w AccountWork, viaRole bool) int {
	up := userParallel(rd)
	pages := max(1, ceil(w.Users, 1000))
	const summary = 1 // GetAccountSummary, beside the other reads
	c := 0
	if viaRole {
		c++
	}
	switch rd.Source {
	case inventory.SourceAPI:
		reads := 2 * pages
		if w.Users > 0 {
			reads += max(1+w.MaxKeys, ceil(w.Users+w.Keys, up))
		}
		c += max(reads, summary)
	default:
		c += max(pages, reportCalls(rd), summary) + ceil(w.keyIDsRead(rd.KeyIDs), up)
	}
	return c
}

// Calls is how many calls reading one account makes in all (what a
// per-account throttle counts), as Chain describes them.
func Calls(rd Reading, w AccountWork, viaRole bool) int {
	pages := max(1, ceil(w.Users, 1000))
	c := 1 // GetAccountSummary
	if viaRole {
		c++
	}
	switch rd.Source {
	case inventory.SourceAPI:
		c += 2*pages + w.Users + w.Keys
	default:
		c += pages + reportCalls(rd) + w.keyIDsRead(rd.KeyIDs)
	}
	return c
}

func reportCalls(rd Reading) int {
	if rd.ReportPolls > 0 {
		return rd.ReportPolls + 4
	}
	return 2
}

// ReportWait is the least time an account waits between its polls of a
// report that stays in progress for polls more GenerateCredentialReport
// calls: polls + 1 waits of at least half of 250 ms, doubling up to 4 s
// (the inventory's jittered backoff).
func ReportWait(polls int) time.Duration {
	if polls <= 0 {
		return 0
	}
	var w time.Duration
	d := 250 * time.Millisecond
	for range polls + 1 {
		w += d / 2
		d = min(2*d, 4*time.Second)
	}
	return w
}

func userParallel(rd Reading) int {
	if rd.UserParallel < 1 {
		return inventory.DefaultUserParallel
	}
	return rd.UserParallel
}

func ceil(a, b int) int { return (a + b - 1) / b }

// Bound is the least time a scan can take when every call takes the same
// latency: no account is read faster than its chain of calls (plus its
// waits for the report) nor, under a per-account throttle of rate calls a
// second with a burst of b, faster than (its calls − b) / rate; and
// parallel accounts at a time share the time each holds a slot (an
// account waiting for its report holds none):
//
//	busy      = max( chain × latency, (calls − burst) / rate )
//	account   = max( chain × latency + report waits, (calls − burst) / rate )
//	bound     = max( max account, Σ busy / parallel ).
//
// Without waits or throttle that is max( max chain, Σ chains / parallel ) × latency.
type Bound struct {
	MaxChain   int     // the longest chain, in calls
	SumChains  int     // all the chains added up, in calls
	Parallel   int     // accounts read at once
	Calls      float64 // max(MaxChain, SumChains/Parallel)
	Latency    time.Duration
	ReportWait time.Duration // each account's least wait for its report
	// MemberTime is the least time one member account takes, its waits
	// and throttle included; Throttled says the throttle sets it.
	MemberTime time.Duration
	Throttled  bool
	LowerBound time.Duration
}

// ScanBound is the Bound of scanning org (its members through the role, the
// management account with the caller's own credentials).
func ScanBound(org *Org, rd Reading, latency time.Duration) Bound {
	parallel := rd.Parallel
	if parallel < 1 {
		parallel = inventory.DefaultParallel
	}
	member := Chain(rd, org.Shape, true)
	mgmt := Chain(rd, management, false)
	b := Bound{MaxChain: mgmt, SumChains: mgmt + member*len(org.Members), Parallel: parallel, Latency: latency}
	if len(org.Members) > 0 {
		b.MaxChain = max(b.MaxChain, member)
	}
	b.Calls = max(float64(b.MaxChain), float64(b.SumChains)/float64(parallel))
	if rd.Source != inventory.SourceAPI {
		b.ReportWait = ReportWait(rd.ReportPolls)
	}
	// An account's least time is its chain's, or its throttle's; it holds
	// its slot all that time but while it waits for its report.
	times := func(w AccountWork, viaRole bool) (busy, whole time.Duration, throttled bool) {
		chain := time.Duration(Chain(rd, w, viaRole)) * latency
		var th time.Duration
		if rd.ThrottleRate > 0 {
			over := max(0, Calls(rd, w, viaRole)-max(1, rd.ThrottleBurst))
			th = time.Duration(float64(over) / rd.ThrottleRate * float64(time.Second))
		}
		return max(chain, th), max(chain+b.ReportWait, th), th > chain+b.ReportWait
	}
	sum, longest, _ := times(management, false)
	if len(org.Members) > 0 {
		busy, whole, throttled := times(org.Shape, true)
		b.MemberTime, b.Throttled = whole, throttled
		longest = max(longest, whole)
		sum += busy * time.Duration(len(org.Members))
	}
	b.LowerBound = max(longest, sum/time.Duration(parallel))
	return b
}
