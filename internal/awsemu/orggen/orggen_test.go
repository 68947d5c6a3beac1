package orggen_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// run is one generated organization with everything the generator reported.
type run struct {
	sb    *awsemu.Sandbox
	org   *orggen.Org
	users []awsemu.UserSpec
	keys  []awsemu.KeySpec
}

func frozenClock(t time.Time) *awsemu.Clock {
	c := awsemu.NewClock()
	c.Freeze()
	c.Set(t)
	return c
}

func generate(t testing.TB, sandboxSeed uint64, opts orggen.Options) *run {
	t.Helper()
	r := &run{sb: awsemu.New(awsemu.Options{Seed: sandboxSeed, Clock: frozenClock(testNow)})}
	opts.OnUser = func(u awsemu.UserSpec) {
		u.Tags, u.Groups = slices.Clone(u.Tags), slices.Clone(u.Groups)
		r.users = append(r.users, u)
	}
	opts.OnKey = func(k awsemu.KeySpec) { r.keys = append(r.keys, k) }
	org, err := orggen.Generate(r.sb, opts)
	if err != nil {
		t.Fatalf("Generate(%+v): %v", opts, err)
	}
	r.org = org
	return r
}

func keyIDs(keys []awsemu.KeySpec) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID
	}
	return ids
}

func manifestJSON(t *testing.T, org *orggen.Org) []byte {
	t.Helper()
	b, err := json.Marshal(org)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDeterminism(t *testing.T) {
	base := orggen.Options{Seed: 42, Now: testNow, ExternalID: "ext-1"}
	with := func(f func(*orggen.Options)) orggen.Options {
		o := base
		f(&o)
		return o
	}
	tests := []struct {
		name         string
		seedA, seedB uint64 // sandbox seeds
		a, b         orggen.Options
		sameManifest bool // manifests equal, as values and as JSON
		sameKeys     bool // users and keys equal, as reported and in the sandbox
		sameIDs      bool // account and key IDs equal
	}{
		{name: "same options", seedA: 1, seedB: 1, a: base, b: base,
			sameManifest: true, sameKeys: true, sameIDs: true},
		{name: "same options, bigger org", seedA: 3, seedB: 3,
			a:            with(func(o *orggen.Options) { o.Accounts, o.UsersPerAccount = 30, 50 }),
			b:            with(func(o *orggen.Options) { o.Accounts, o.UsersPerAccount = 30, 50 }),
			sameManifest: true, sameKeys: true, sameIDs: true},
		{name: "zero Now is the sandbox clock", seedA: 1, seedB: 1,
			a: base, b: with(func(o *orggen.Options) { o.Now = time.Time{} }),
			sameManifest: true, sameKeys: true, sameIDs: true},
		{name: "different seed", seedA: 1, seedB: 1,
			a: base, b: with(func(o *orggen.Options) { o.Seed = 43 })},
		{name: "different Now shifts times only", seedA: 1, seedB: 1,
			a: base, b: with(func(o *orggen.Options) { o.Now = testNow.Add(-day) }), sameIDs: true},
		{name: "sandbox seed changes only sandbox-made IDs", seedA: 1, seedB: 2,
			a: base, b: base, sameKeys: true, sameIDs: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := generate(t, tt.seedA, tt.a), generate(t, tt.seedB, tt.b)
			diff := cmp.Diff(a.org, b.org)
			jsonSame := bytes.Equal(manifestJSON(t, a.org), manifestJSON(t, b.org))
			if tt.sameManifest && (diff != "" || !jsonSame) {
				t.Errorf("manifests differ (JSON the same: %v) (-a +b):\n%s", jsonSame, diff)
			}
			if !tt.sameManifest && (diff == "" || jsonSame) {
				t.Errorf("manifests the same (JSON the same: %v), want different", jsonSame)
			}
			keysDiff := cmp.Diff(a.keys, b.keys) + cmp.Diff(a.users, b.users)
			if tt.sameKeys != (keysDiff == "") {
				t.Errorf("users and keys the same: %v, want %v; diff (-a +b):\n%.2000s", keysDiff == "", tt.sameKeys, keysDiff)
			}
			if tt.sameKeys {
				// The sandboxes agree on every key, as seen from the sandbox.
				for _, k := range a.keys {
					ka, okA := a.sb.AccessKey(k.ID)
					kb, okB := b.sb.AccessKey(k.ID)
					if !okA || !okB {
						t.Fatalf("key %s: in sandbox a %v, in b %v", k.ID, okA, okB)
					}
					if d := cmp.Diff(ka, kb); d != "" {
						t.Fatalf("key %s differs (-a +b):\n%s", k.ID, d)
					}
				}
			}
			ids := func(r *run) []string {
				var s []string
				for _, acc := range r.org.Accounts {
					s = append(s, acc.ID)
				}
				return append(s, keyIDs(r.keys)...)
			}
			if got := slices.Equal(ids(a), ids(b)); got != tt.sameIDs {
				t.Errorf("account and key IDs the same: %v, want %v", got, tt.sameIDs)
			}
			if !tt.sameIDs {
				common := 0
				inA := make(map[string]bool)
				for _, id := range keyIDs(a.keys) {
					inA[id] = true
				}
				for _, id := range keyIDs(b.keys) {
					if inA[id] {
						common++
					}
				}
				if common > 0 {
					t.Errorf("%d key IDs in common across seeds", common)
				}
			}
		})
	}
}

func hasTag(u awsemu.UserSpec, key, value string) bool {
	for _, t := range u.Tags {
		if t.Key == key && (value == "" || t.Value == value) {
			return true
		}
	}
	return false
}

type userKey struct{ account, name string }

func TestShape(t *testing.T) {
	for _, seed := range []uint64{0, 1, 2, 42, 1 << 40} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			r := generate(t, seed, orggen.Options{Seed: seed, Now: testNow})
			checkInvariants(t, r, 20)
			checkFeatures(t, r)
		})
	}
}

// checkFeatures asserts that the default organization has something for
// every rule of a key hygiene tool to find.
func checkFeatures(t *testing.T, r *run) {
	t.Helper()
	now := r.org.Now
	users := make(map[userKey]awsemu.UserSpec)
	for _, u := range r.users {
		users[userKey{u.Account, u.Name}] = u
	}
	perUser := make(map[userKey][]awsemu.KeySpec)
	for _, k := range r.keys {
		if k.User != "" {
			perUser[userKey{k.Account, k.User}] = append(perUser[userKey{k.Account, k.User}], k)
		}
	}
	anyKey := func(f func(awsemu.KeySpec) bool) bool { return slices.ContainsFunc(r.keys, f) }
	anyUser := func(f func(awsemu.UserSpec) bool) bool { return slices.ContainsFunc(r.users, f) }
	age := func(k awsemu.KeySpec) time.Duration { return now.Sub(k.CreatedAt) }
	active := func(k awsemu.KeySpec) bool { return k.Status == awsemu.StatusActive }

	features := []struct {
		name string
		ok   bool
	}{
		{"suspended account in Root/Suspended", slices.ContainsFunc(r.org.Accounts, func(a orggen.Account) bool {
			return a.State == awsemu.AccountSuspended && a.OUPath == "Root/Suspended"
		})},
		{"account in nested OU Root/Workloads/Prod", slices.ContainsFunc(r.org.Accounts, func(a orggen.Account) bool {
			return a.OUPath == "Root/Workloads/Prod"
		})},
		{"root access key", r.org.RootKeys > 0 && anyKey(func(k awsemu.KeySpec) bool { return k.User == "" })},
		{"user with two active keys", func() bool {
			for _, ks := range perUser {
				if len(ks) == 2 && active(ks[0]) && active(ks[1]) {
					return true
				}
			}
			return false
		}()},
		{"inactive key", anyKey(func(k awsemu.KeySpec) bool { return k.Status == awsemu.StatusInactive })},
		{"user with an old inactive key beside a newer active one", func() bool {
			for _, ks := range perUser {
				if len(ks) == 2 && !active(ks[0]) && active(ks[1]) && ks[0].CreatedAt.Before(ks[1].CreatedAt) {
					return true
				}
			}
			return false
		}()},
		{"inactive key older than 110 days", anyKey(func(k awsemu.KeySpec) bool {
			return k.Status == awsemu.StatusInactive && age(k) > 110*day
		})},
		{"never-used key", anyKey(func(k awsemu.KeySpec) bool { return k.LastUsed.IsZero() })},
		{"key used within the last hour", anyKey(func(k awsemu.KeySpec) bool {
			return !k.LastUsed.IsZero() && now.Sub(k.LastUsed) < time.Hour
		})},
		{"key used more than a year ago", anyKey(func(k awsemu.KeySpec) bool {
			return !k.LastUsed.IsZero() && now.Sub(k.LastUsed) > 365*day
		})},
		{"break-glass user", anyUser(func(u awsemu.UserSpec) bool {
			return u.Name == orggen.BreakGlassUser && hasTag(u, "purpose", "break-glass") && slices.Contains(u.Groups, orggen.GroupAdmins)
		})},
		{"service user with team but no owner", anyUser(func(u awsemu.UserSpec) bool {
			return u.Path == "/service/" && hasTag(u, "team", "") && !hasTag(u, "owner", "")
		})},
		{"user without any tag", anyUser(func(u awsemu.UserSpec) bool { return len(u.Tags) == 0 })},
		{"exempt user", anyUser(func(u awsemu.UserSpec) bool { return hasTag(u, orggen.ExemptTag, "true") })},
		{"person with owner tag and MFA", anyUser(func(u awsemu.UserSpec) bool {
			return u.Path == "/" && hasTag(u, "owner", u.Name+"@example.com") && u.Password && u.MFA
		})},
		{"person with password and no MFA", anyUser(func(u awsemu.UserSpec) bool { return u.Password && !u.MFA })},
		{"CI user in ci-deployers", anyUser(func(u awsemu.UserSpec) bool {
			return strings.HasPrefix(u.Name, "ci-") && slices.Contains(u.Groups, orggen.GroupCIDeployers)
		})},
		{"legacy vendor user with a key older than 3 years", func() bool {
			for uk, ks := range perUser {
				if strings.HasPrefix(uk.name, "svc-legacy-") && slices.ContainsFunc(ks, func(k awsemu.KeySpec) bool { return age(k) > 3*365*day }) {
					return true
				}
			}
			return false
		}()},
	}
	// Active keys on both sides of every likely age threshold, and last uses
	// on both sides of the unused threshold.
	for _, d := range []int{7, 30, 45, 80, 90, 100, 110, 365} {
		th := time.Duration(d) * day
		features = append(features,
			struct {
				name string
				ok   bool
			}{fmt.Sprintf("active key younger than %d days", d), anyKey(func(k awsemu.KeySpec) bool { return active(k) && age(k) < th })},
			struct {
				name string
				ok   bool
			}{fmt.Sprintf("active key older than %d days", d), anyKey(func(k awsemu.KeySpec) bool { return active(k) && age(k) > th })},
		)
	}
	for _, d := range []int{1, 7, 45, 90} {
		th := time.Duration(d) * day
		features = append(features,
			struct {
				name string
				ok   bool
			}{fmt.Sprintf("active key used within %d days", d), anyKey(func(k awsemu.KeySpec) bool {
				return active(k) && !k.LastUsed.IsZero() && now.Sub(k.LastUsed) < th
			})},
			struct {
				name string
				ok   bool
			}{fmt.Sprintf("active key last used more than %d days ago", d), anyKey(func(k awsemu.KeySpec) bool {
				return active(k) && !k.LastUsed.IsZero() && now.Sub(k.LastUsed) > th
			})},
		)
	}
	for _, f := range features {
		if !f.ok {
			t.Errorf("no %s", f.name)
		}
	}
}

var (
	accountIDRe = regexp.MustCompile(`^[1-9]\d{11}$`)
	keyIDRe     = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
	personRe    = regexp.MustCompile(`^[a-z]+\.[a-z]+\d*$`)
)

// checkInvariants asserts what must hold for any organization with
// usersPerAccount users per member account on average.
func checkInvariants(t *testing.T, r *run, usersPerAccount int) {
	t.Helper()
	org, now := r.org, r.org.Now
	if org.Now != testNow {
		t.Errorf("Now = %v, want %v", org.Now, testNow)
	}

	// Accounts: unique IDs and names, the management account first and alone in the Root.
	seenID, seenName := map[string]bool{}, map[string]bool{}
	byID := map[string]orggen.Account{}
	for i, a := range org.Accounts {
		if !accountIDRe.MatchString(a.ID) || seenID[a.ID] || seenName[a.Name] {
			t.Errorf("account %d %+v: bad or duplicate ID or name", i, a)
		}
		seenID[a.ID], seenName[a.Name], byID[a.ID] = true, true, a
		wantAlias := "acme-" + a.Name
		if a.Management {
			wantAlias = a.Name
		}
		if a.Email != "aws+"+a.Name+"@example.com" || a.Alias != wantAlias {
			t.Errorf("account %s: email %q, alias %q", a.Name, a.Email, a.Alias)
		}
		if wantMgmt := i == 0; a.Management != wantMgmt || (a.OUPath == "Root") != wantMgmt {
			t.Errorf("account %d %s: management %v in %s", i, a.Name, a.Management, a.OUPath)
		}
		if (a.State == awsemu.AccountSuspended) != (a.OUPath == "Root/Suspended") {
			t.Errorf("account %s: state %s in %s", a.Name, a.State, a.OUPath)
		}
	}
	if org.ManagementAccount != org.Accounts[0].ID || org.RootID == "" || org.Accounts[0].ParentID != org.RootID {
		t.Errorf("management %s, root %s, first account %+v", org.ManagementAccount, org.RootID, org.Accounts[0])
	}
	ouByID := map[string]orggen.OU{}
	for _, ou := range org.OUs {
		ouByID[ou.ID] = ou
	}
	for _, a := range org.Accounts[1:] {
		if ou, ok := ouByID[a.ParentID]; !ok || ou.Path != a.OUPath {
			t.Errorf("account %s: parent %s (%+v), path %s", a.Name, a.ParentID, ou, a.OUPath)
		}
	}

	// Users: unique per account, well named; totals agree.
	users := map[userKey]awsemu.UserSpec{}
	perAccount := map[string]int{}
	for _, u := range r.users {
		k := userKey{u.Account, u.Name}
		if _, dup := users[k]; dup {
			t.Errorf("user %s in %s twice", u.Name, u.Account)
		}
		users[k] = u
		perAccount[u.Account]++
		if u.CreatedAt.After(now) || u.CreatedAt.Before(byID[u.Account].CreatedAt) {
			t.Errorf("user %s created %v: outside account life (%v, %v]", u.Name, u.CreatedAt, byID[u.Account].CreatedAt, now)
		}
		if u.Password && (!u.PasswordLastUsed.IsZero() && (u.PasswordLastUsed.After(now) || u.PasswordLastUsed.Before(u.CreatedAt))) {
			t.Errorf("user %s: password last used %v, created %v", u.Name, u.PasswordLastUsed, u.CreatedAt)
		}
		switch {
		case u.Path == "/service/":
			if !strings.HasPrefix(u.Name, "svc-") {
				t.Errorf("service user %q", u.Name)
			}
		case u.Path == "/ci/":
			if !strings.HasPrefix(u.Name, "ci-") || !slices.Equal(u.Groups, []string{orggen.GroupCIDeployers}) {
				t.Errorf("CI user %q in %v", u.Name, u.Groups)
			}
		case u.Name == orggen.BreakGlassUser || u.Name == orggen.AdminUser:
		case !personRe.MatchString(u.Name) || !hasTag(u, "owner", "") || !hasTag(u, "team", ""):
			t.Errorf("person %q with tags %v", u.Name, u.Tags)
		}
	}
	if len(users) != org.Users {
		t.Errorf("%d users reported, manifest says %d", len(users), org.Users)
	}
	members := 0
	for _, a := range org.Accounts {
		if perAccount[a.ID] != a.Users {
			t.Errorf("account %s: %d users reported, manifest says %d", a.Name, perAccount[a.ID], a.Users)
		}
		if !a.Management {
			members += a.Users
		}
	}
	if want := (len(org.Accounts) - 1) * usersPerAccount; members != want {
		t.Errorf("member accounts have %d users, want %d", members, want)
	}

	// Keys: valid times, at most two per user, all in the sandbox as reported.
	perUser := map[userKey]int{}
	active, root := 0, 0
	for _, k := range r.keys {
		if !keyIDRe.MatchString(k.ID) {
			t.Errorf("key ID %q", k.ID)
		}
		if k.CreatedAt.After(now) {
			t.Errorf("key %s created %v, after now", k.ID, k.CreatedAt)
		}
		if !k.LastUsed.IsZero() {
			if k.LastUsed.After(now) || k.LastUsed.Before(k.CreatedAt) {
				t.Errorf("key %s created %v, last used %v, now %v", k.ID, k.CreatedAt, k.LastUsed, now)
			}
			if k.LastUsedService == "" || k.LastUsedRegion == "" {
				t.Errorf("key %s used without service or region: %+v", k.ID, k)
			}
		}
		if k.User == "" {
			root++
		} else {
			u, ok := users[userKey{k.Account, k.User}]
			if !ok || u.CreatedAt.After(k.CreatedAt) {
				t.Errorf("key %s of %s (known %v) created %v before its user %v", k.ID, k.User, ok, k.CreatedAt, u.CreatedAt)
			}
			perUser[userKey{k.Account, k.User}]++
			if n := perUser[userKey{k.Account, k.User}]; n > 2 {
				t.Errorf("user %s in %s has %d keys", k.User, k.Account, n)
			}
		}
		if k.Status == awsemu.StatusActive {
			active++
		}
		got, ok := r.sb.AccessKey(k.ID)
		want := awsemu.KeyState{
			AccessKeyID: k.ID, Account: k.Account, User: k.User, Status: k.Status, CreatedAt: k.CreatedAt,
			LastUsed: k.LastUsed, LastUsedService: k.LastUsedService, LastUsedRegion: k.LastUsedRegion,
		}
		if d := cmp.Diff(want, got); !ok || d != "" {
			t.Errorf("key %s in the sandbox (found %v) (-reported +sandbox):\n%s", k.ID, ok, d)
		}
	}
	if len(r.keys) != org.Keys || active != org.ActiveKeys || root != org.RootKeys {
		t.Errorf("keys %d/%d active %d/%d root %d/%d (reported/manifest)", len(r.keys), org.Keys, active, org.ActiveKeys, root, org.RootKeys)
	}

	// The hub identity.
	adm, ok := r.sb.AccessKey(org.AdminKeyID)
	if !ok || adm.Account != org.ManagementAccount || adm.User != orggen.AdminUser || adm.Status != awsemu.StatusActive ||
		adm.CreatedAt != now.Add(-10*day) || now.Sub(adm.LastUsed) > 10*time.Minute || org.AdminKey.AccessKeyID != org.AdminKeyID ||
		len(org.AdminKey.SecretAccessKey) != 40 {
		t.Errorf("admin key %+v (found %v), manifest key ID %s", adm, ok, org.AdminKeyID)
	}
}

// TestSizes covers small and edge-case organizations.
func TestSizes(t *testing.T) {
	tests := []struct {
		accounts, users int
		wantAccounts    int  // including management
		wantUsers       int  // in member accounts
		wantSuspended   bool // at least one
		wantRootKey     bool // at least one
	}{
		{accounts: -1, users: 0, wantAccounts: 1},
		{accounts: 1, users: 3, wantAccounts: 2, wantUsers: 3},
		{accounts: 2, users: -1, wantAccounts: 3},
		{accounts: 3, users: 1, wantAccounts: 4, wantUsers: 3, wantRootKey: true},
		{accounts: 4, users: 7, wantAccounts: 5, wantUsers: 28, wantSuspended: true, wantRootKey: true},
		{accounts: 200, users: 10, wantAccounts: 201, wantUsers: 2000, wantSuspended: true, wantRootKey: true},
		{accounts: 1000, users: 2, wantAccounts: 1001, wantUsers: 2000, wantSuspended: true, wantRootKey: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.accounts, tt.users), func(t *testing.T) {
			r := generate(t, 9, orggen.Options{Seed: 9, Now: testNow, Accounts: tt.accounts, UsersPerAccount: tt.users})
			checkInvariants(t, r, max(tt.users, 0))
			if len(r.org.Accounts) != tt.wantAccounts {
				t.Fatalf("%d accounts, want %d", len(r.org.Accounts), tt.wantAccounts)
			}
			members, suspended := 0, false
			users := map[string][]string{}
			for _, u := range r.users {
				users[u.Account] = append(users[u.Account], u.Name)
			}
			for _, a := range r.org.Accounts[1:] {
				members += a.Users
				suspended = suspended || a.State == awsemu.AccountSuspended
				if tt.users > 0 && (a.Users*10 < tt.users*8 || a.Users*10 > tt.users*12) {
					t.Errorf("account %s has %d users, not within 20%% of %d", a.Name, a.Users, tt.users)
				}
				if got, want := slices.Contains(users[a.ID], orggen.BreakGlassUser), a.Users >= 5; got != want {
					t.Errorf("account %s with %d users: break-glass user %v, want %v", a.Name, a.Users, got, want)
				}
			}
			if members != tt.wantUsers {
				t.Errorf("%d users in member accounts, want %d", members, tt.wantUsers)
			}
			if suspended != tt.wantSuspended {
				t.Errorf("suspended account: %v, want %v", suspended, tt.wantSuspended)
			}
			if got := r.org.RootKeys > 0; got != tt.wantRootKey && tt.wantRootKey {
				t.Errorf("root key: %v, want %v", got, tt.wantRootKey)
			}
			if r.org.AdminKeyID == "" {
				t.Error("no admin key")
			}
		})
	}
}

func TestErrors(t *testing.T) {
	if _, err := orggen.Generate(nil, orggen.Options{}); err == nil {
		t.Error("Generate(nil) succeeded")
	}
	sb := awsemu.New(awsemu.Options{Clock: frozenClock(testNow)})
	if _, err := orggen.Generate(sb, orggen.Options{Accounts: 1, UsersPerAccount: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := orggen.Generate(sb, orggen.Options{Accounts: 1, UsersPerAccount: 2}); err == nil {
		t.Error("second Generate in the same sandbox succeeded")
	}
	sb = awsemu.New(awsemu.Options{Clock: frozenClock(testNow)})
	if _, err := orggen.Generate(sb, orggen.Options{Accounts: 1, RoleName: "bad role name"}); err == nil {
		t.Error("Generate with an invalid role name succeeded")
	}
}

// TestAccountsAlreadyThere checks that generated account IDs avoid those
// the sandbox already has.
func TestAccountsAlreadyThere(t *testing.T) {
	first := generate(t, 1, orggen.Options{Seed: 5, Now: testNow, Accounts: 3, UsersPerAccount: 2})
	sb := awsemu.New(awsemu.Options{Seed: 1, Clock: frozenClock(testNow)})
	for _, a := range first.org.Accounts {
		if _, err := sb.AddAccount(awsemu.AccountSpec{ID: a.ID}); err != nil {
			t.Fatal(err)
		}
	}
	org, err := orggen.Generate(sb, orggen.Options{Seed: 5, Now: testNow, Accounts: 3, UsersPerAccount: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range org.Accounts {
		if a.ID == first.org.Accounts[i].ID {
			t.Errorf("account %d reuses ID %s", i, a.ID)
		}
	}
}

func TestSecretRedacted(t *testing.T) {
	r := generate(t, 1, orggen.Options{Seed: 1, Now: testNow, Accounts: 1, UsersPerAccount: 1})
	secret := r.org.AdminKey.SecretAccessKey
	if secret == "" {
		t.Fatal("no admin secret")
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("generated", "org", r.org)
	outputs := map[string]string{
		"%v":        fmt.Sprintf("%v", r.org),
		"%+v":       fmt.Sprintf("%+v", r.org),
		"%#v":       fmt.Sprintf("%#v", r.org),
		"value %+v": fmt.Sprintf("%+v", *r.org),
		"json":      string(manifestJSON(t, r.org)),
		"slog":      logged.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("%s shows the secret: %s", name, out)
		}
		if !strings.Contains(out, r.org.AdminKeyID) {
			t.Errorf("%s lacks the admin key ID: %s", name, out)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, size := range []struct{ accounts, users int }{{10, 100}, {100, 1000}, {1000, 1000}} {
		b.Run(fmt.Sprintf("%dx%d", size.accounts, size.users), func(b *testing.B) {
			var org *orggen.Org
			for b.Loop() {
				sb := awsemu.New(awsemu.Options{Seed: 1, Clock: frozenClock(testNow)})
				var err error
				org, err = orggen.Generate(sb, orggen.Options{Seed: 1, Accounts: size.accounts, UsersPerAccount: size.users})
				if err != nil {
					b.Fatal(err)
				}
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(org.Users), "users/op")
			b.ReportMetric(float64(org.Keys), "keys/op")
			b.ReportMetric(float64(ms.HeapSys)/(1<<20), "heapsys-MiB")
		})
	}
}
