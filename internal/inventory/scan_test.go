package inventory_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
	"github.com/keywarden/keywarden/internal/inventory"
)

// checkAgainstTruth checks that every account of inv that is not in failed
// was read completely and correctly, and that the ones in failed failed.
func checkAgainstTruth(t *testing.T, e *env, inv *inventory.Inventory, source inventory.Source, v viewOpts, failed map[string]bool) {
	t.Helper()
	for _, ai := range inv.Accounts {
		id := ai.Account.ID
		if failed[id] {
			continue
		}
		if ai.Status != inventory.AccountOK {
			t.Errorf("account %s: status %s (%s: %s), want ok", id, ai.Status, ai.ErrorCode, ai.Error)
			continue
		}
		if ai.Source != source || ai.Fallback != "" {
			t.Errorf("account %s: source %s (fallback %q), want %s", id, ai.Source, ai.Fallback, source)
		}
		if diff := cmp.Diff(e.truth.users(id, v), viewUsers(ai, v), cmpViews...); diff != "" {
			t.Errorf("account %s (%s): users (-truth +scan):\n%s", id, ai.Account.Name, diff)
		}
		root := e.truth.rootKeys(id)
		if source == inventory.SourceReport {
			if diff := cmp.Diff(root, viewRoot(ai.Root), cmpViews...); diff != "" {
				t.Errorf("account %s: root keys (-truth +scan):\n%s", id, diff)
			}
		}
		if ai.Root.KeysPresent != (len(root) > 0) {
			t.Errorf("account %s: root KeysPresent %v, want %v", id, ai.Root.KeysPresent, len(root) > 0)
		}
		if ai.ReadAt.IsZero() || ai.Calls == 0 || ai.Duration <= 0 {
			t.Errorf("account %s: ReadAt %v, Calls %d, Duration %v: want all set", id, ai.ReadAt, ai.Calls, ai.Duration)
		}
	}
}

// TestScanLargeOrgWithFaults scans 200 accounts through throttling, server
// errors and two accounts whose role cannot be assumed: every other account
// must come back complete and exactly as generated.
func TestScanLargeOrgWithFaults(t *testing.T) {
	start := time.Now()
	e := newEnv(t, envOptions{gen: orggen.Options{Seed: 42, Accounts: 200, UsersPerAccount: 8}})
	t.Logf("generated %d accounts, %d users, %d keys in %v", len(e.org.Accounts), e.org.Users, e.org.Keys, time.Since(start))

	var suspended, active []string
	for _, a := range e.org.Accounts {
		if a.State == awsemu.AccountSuspended {
			suspended = append(suspended, a.ID)
		} else {
			active = append(active, a.ID)
		}
	}
	// Two member accounts that cannot be reached.
	var denied []string
	for _, a := range e.activeAccounts() {
		if !a.Management && len(denied) < 2 && a.Users > 0 {
			denied = append(denied, a.ID)
		}
	}
	faults := []awsemu.Fault{{ThrottleRate: 30, ThrottleBurst: 10, ErrorRate: 0.03}}
	for _, id := range denied {
		faults = append(faults, awsemu.Fault{Account: id, DenyAssumeRole: true})
	}
	e.sb.SetFaults(faults...)

	sel := e.discover(t)
	var gotActive, gotSkipped []string
	for _, a := range sel.Accounts {
		gotActive = append(gotActive, a.ID)
	}
	for _, a := range sel.Skipped {
		gotSkipped = append(gotSkipped, a.ID)
		if a.State != awsemu.AccountSuspended {
			t.Errorf("skipped %s in state %q, want SUSPENDED", a.ID, a.State)
		}
	}
	slices.Sort(active)
	slices.Sort(suspended)
	slices.Sort(gotSkipped)
	if diff := cmp.Diff(active, gotActive); diff != "" {
		t.Errorf("Discover: accounts (-want +got):\n%s", diff)
	}
	if len(suspended) == 0 {
		t.Fatal("the generated organization has no suspended account")
	}
	if diff := cmp.Diff(suspended, gotSkipped); diff != "" {
		t.Errorf("Discover: skipped (-want +got):\n%s", diff)
	}

	isDenied := map[string]bool{}
	for _, id := range denied {
		isDenied[id] = true
	}
	for _, tc := range []struct {
		name   string
		source inventory.Source
		view   viewOpts
	}{
		{"report", inventory.SourceReport, reportView},
		{"api", inventory.SourceAPI, apiView},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			inv := e.scan(t, sel.Accounts, inventory.Options{Source: tc.source, Parallel: 50, NeedKeyIDs: inventory.AllKeyIDs})
			took := time.Since(began)
			e.refreshLive(e.org.AdminKeyID)

			// The fewest calls that read the accounts, had nothing failed:
			// AssumeRole (not in the management account), GetAccountAuthorizationDetails,
			// GetAccountSummary, then the report's two calls and ListAccessKeys
			// per user, or ListUsers, ListAccessKeys per user and
			// GetAccessKeyLastUsed per key.
			calls, fewest := 0, 0
			for _, ai := range inv.Accounts {
				if ai.Status != inventory.AccountOK {
					continue
				}
				calls += ai.Calls
				users := e.truth.users(ai.Account.ID, apiView)
				fewest += 3 + len(users)
				if ai.Account.ID == e.org.ManagementAccount {
					fewest--
				}
				if tc.source == inventory.SourceReport {
					fewest += 2
					continue
				}
				fewest++
				for _, u := range users {
					fewest += len(u.Keys)
				}
			}
			t.Logf("%s path: %d accounts in %v, %d calls of which %d retries", tc.source, len(inv.Accounts), took, calls, calls-fewest)
			if calls <= fewest {
				t.Errorf("%d calls, at most the %d needed without faults: the faults were not met", calls, fewest)
			}

			checkAgainstTruth(t, e, inv, tc.source, tc.view, isDenied)
			failed := inv.Failed()
			if len(failed) != len(denied) {
				t.Errorf("%d accounts failed, want %d", len(failed), len(denied))
			}
			for _, ai := range failed {
				id := ai.Account.ID
				if !isDenied[id] {
					t.Errorf("account %s failed (%s: %s), want it read", id, ai.ErrorCode, ai.Error)
					continue
				}
				role := "arn:aws:iam::" + id + ":role/" + testRole
				if ai.ErrorCode != "AccessDenied" || !strings.Contains(ai.Error, role) {
					t.Errorf("account %s: error %s: %q, want AccessDenied naming %s", id, ai.ErrorCode, ai.Error, role)
				}
				if len(ai.Users) != 0 || ai.Root.KeysPresent || len(ai.Root.Keys) != 0 {
					t.Errorf("account %s failed but has %d users and root %+v", id, len(ai.Users), ai.Root)
				}
			}
		})
	}
	t.Logf("whole test: %v", time.Since(start))
}

// smallEnv is a small organization: the management account and members.
func smallEnv(t *testing.T, sandbox awsemu.Options, members, users int) *env {
	t.Helper()
	return newEnv(t, envOptions{sandbox: sandbox, gen: orggen.Options{Seed: 7, Accounts: members, UsersPerAccount: users}})
}

// TestScanReportPath covers the ways the credential report can be slow or
// missing: the scan falls back to the API (and says why) or waits for it.
func TestScanReportPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		sandbox      awsemu.Options
		fault        *awsemu.Fault
		reportWait   time.Duration
		timeout      time.Duration
		wantSource   inventory.Source
		wantFallback string // part of the fallback reason; "" for none
	}{
		{
			name:       "generation denied falls back to the API",
			fault:      &awsemu.Fault{Operation: "GenerateCredentialReport", Deny: true},
			wantSource: inventory.SourceAPI, wantFallback: "GenerateCredentialReport denied",
		},
		{
			name:       "download denied falls back to the API",
			fault:      &awsemu.Fault{Operation: "GetCredentialReport", Deny: true},
			wantSource: inventory.SourceAPI, wantFallback: "GetCredentialReport denied",
		},
		{
			name:       "report in progress for a few polls",
			sandbox:    awsemu.Options{ReportInProgressPolls: 3},
			wantSource: inventory.SourceReport,
		},
		{
			name:       "report never ready within the wait",
			sandbox:    awsemu.Options{ReportInProgressPolls: 1000},
			reportWait: 700 * time.Millisecond,
			wantSource: inventory.SourceAPI, wantFallback: "not ready after",
		},
		{
			// The two-minute report wait is capped at half the account's
			// bound, so that the API path still has time.
			name:       "report wait capped by the account timeout",
			sandbox:    awsemu.Options{ReportInProgressPolls: 1000},
			timeout:    3 * time.Second,
			wantSource: inventory.SourceAPI, wantFallback: "not ready after 1.5s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := smallEnv(t, tt.sandbox, 3, 6)
			if tt.fault != nil {
				e.sb.SetFaults(*tt.fault)
			}
			sel := e.discover(t)
			inv := e.scan(t, sel.Accounts, inventory.Options{NeedKeyIDs: inventory.AllKeyIDs, ReportWait: tt.reportWait, AccountTimeout: tt.timeout})
			e.refreshLive(e.org.AdminKeyID)
			view := reportView
			if tt.wantSource == inventory.SourceAPI {
				view = apiView
			}
			for _, ai := range inv.Accounts {
				if ai.Status != inventory.AccountOK {
					t.Errorf("account %s: %s (%s: %s), want ok", ai.Account.ID, ai.Status, ai.ErrorCode, ai.Error)
					continue
				}
				if ai.Source != tt.wantSource {
					t.Errorf("account %s: source %s, want %s", ai.Account.ID, ai.Source, tt.wantSource)
				}
				switch {
				case tt.wantFallback == "" && ai.Fallback != "":
					t.Errorf("account %s: fallback %q, want none", ai.Account.ID, ai.Fallback)
				case !strings.Contains(ai.Fallback, tt.wantFallback):
					t.Errorf("account %s: fallback %q, want it to say %q", ai.Account.ID, ai.Fallback, tt.wantFallback)
				}
				if got := !ai.ReportGeneratedAt.IsZero(); got != (tt.wantSource == inventory.SourceReport) {
					t.Errorf("account %s: ReportGeneratedAt %v on the %s path", ai.Account.ID, ai.ReportGeneratedAt, ai.Source)
				}
				if diff := cmp.Diff(e.truth.users(ai.Account.ID, view), viewUsers(ai, view), cmpViews...); diff != "" {
					t.Errorf("account %s: users (-truth +scan):\n%s", ai.Account.ID, diff)
				}
			}
		})
	}
}

// TestScanAccountFailures: an account that cannot be read (too slow,
// throttled out, failing) fails with its reason and does not hold up the
// others.
func TestScanAccountFailures(t *testing.T) {
	t.Parallel()
	const timeout = 800 * time.Millisecond
	one := func(fault awsemu.Fault) func(e *env) []string {
		return func(e *env) []string {
			fault.Account = e.activeAccounts()[1].ID
			e.sb.SetFaults(fault)
			return []string{fault.Account}
		}
	}
	tests := []struct {
		name     string
		sandbox  awsemu.Options
		failing  func(e *env) []string // sets the faults, returns the accounts that fail
		wantCode string
		wantErr  string
	}{
		{name: "slow account", failing: one(awsemu.Fault{Latency: 3 * time.Second}),
			wantCode: "timeout", wantErr: "--account-timeout"},
		{name: "throttled out", failing: one(awsemu.Fault{ThrottleRate: 0.001, ThrottleBurst: 1}),
			wantCode: "Throttling", wantErr: "Rate exceeded"},
		{name: "server errors", failing: one(awsemu.Fault{Operation: "GetAccountAuthorizationDetails", ErrorRate: 1}),
			wantCode: "ServiceFailure", wantErr: "GetAccountAuthorizationDetails"},
		{name: "user details denied", failing: one(awsemu.Fault{Operation: "GetAccountAuthorizationDetails", Deny: true}),
			wantCode: "AccessDenied", wantErr: "iam:GetAccountAuthorizationDetails"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := smallEnv(t, tt.sandbox, 3, 5)
			failing := map[string]bool{}
			for _, id := range tt.failing(e) {
				failing[id] = true
			}
			sel := e.discover(t)
			began := time.Now()
			inv := e.scan(t, sel.Accounts, inventory.Options{AccountTimeout: timeout})
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("scan took %v with an account timeout of %v", took, timeout)
			}
			e.refreshLive(e.org.AdminKeyID)
			checkAgainstTruth(t, e, inv, inventory.SourceReport, viewOpts{password: true, details: true, lastUse: true}, failing)
			for id := range failing {
				ai := byID(inv)[id]
				if ai.Status != inventory.AccountFailed || ai.ErrorCode != tt.wantCode || !strings.Contains(ai.Error, tt.wantErr) {
					t.Errorf("account %s: status %s, code %q, error %q; want failed, %s, saying %q", id, ai.Status, ai.ErrorCode, ai.Error, tt.wantCode, tt.wantErr)
				}
				if len(ai.Users) != 0 || ai.Root.KeysPresent {
					t.Errorf("account %s failed with %d users and root %+v, want nothing", id, len(ai.Users), ai.Root)
				}
			}
		})
	}
}

// TestScanCancelled: cancelling the context stops the scan at once, with
// the context's error and no inventory.
func TestScanCancelled(t *testing.T) {
	t.Parallel()
	e := smallEnv(t, awsemu.Options{}, 3, 3)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) }) // before the server closes
	e.sb.SetFaults(awsemu.Fault{Operation: "GetAccountAuthorizationDetails", Hold: hold})
	sel := e.discover(t)
	ctx, cancel := context.WithCancel(t.Context())
	type outcome struct {
		inv *inventory.Inventory
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		inv, err := inventory.Scan(ctx, sel.Accounts, e.configFor(), inventory.Options{})
		done <- outcome{inv, err}
	}()
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case o := <-done:
		if !errors.Is(o.err, context.Canceled) || o.inv != nil {
			t.Errorf("Scan = %v, %v after cancel; want nil, context.Canceled", o.inv, o.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Scan did not return within 5 s of its context being cancelled")
	}
}

// TestScanReportOlderThanChanges scans twice within the report's four
// hours: keys created, deactivated and users created or deleted in between
// are seen live.
func TestScanReportOlderThanChanges(t *testing.T) {
	t.Parallel()
	e := smallEnv(t, awsemu.Options{}, 2, 5)
	member := e.activeAccounts()[1].ID
	now := e.sb.Clock().Now()
	seed := func(spec awsemu.UserSpec, keys ...awsemu.KeySpec) {
		t.Helper()
		spec.Account = member
		if err := e.sb.AddUser(spec); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			k.Account, k.User = member, spec.Name
			if _, err := e.sb.AddAccessKey(k); err != nil {
				t.Fatal(err)
			}
		}
	}
	day := 24 * time.Hour
	// alice's only key is 200 days old (NeedsAttention reads her key IDs);
	// bob has no key; carol will be deleted.
	seed(awsemu.UserSpec{Name: "alice", CreatedAt: now.Add(-300 * day)},
		awsemu.KeySpec{ID: "AKIAALICEOLD00000001", CreatedAt: now.Add(-200 * day), LastUsed: now.Add(-3 * day), LastUsedService: "ec2", LastUsedRegion: "eu-west-1"})
	seed(awsemu.UserSpec{Name: "bob", CreatedAt: now.Add(-30 * day)})
	seed(awsemu.UserSpec{Name: "carol", CreatedAt: now.Add(-30 * day)},
		awsemu.KeySpec{ID: "AKIACAROL00000000001", CreatedAt: now.Add(-20 * day)})
	accounts := []inventory.Account{{ID: member}}

	first := e.scan(t, accounts, inventory.Options{NeedKeyIDs: inventory.NoKeyIDs}).Accounts[0]
	if first.Status != inventory.AccountOK || first.ReportGeneratedAt.IsZero() {
		t.Fatalf("first scan: %s %s (%s), report generated %v", first.Status, first.ErrorCode, first.Error, first.ReportGeneratedAt)
	}

	// After the report: a second key for alice, a first one for bob (both
	// used since), and carol gone through the IAM API.
	used := now.Add(-time.Hour).Truncate(time.Second)
	for _, k := range []awsemu.KeySpec{
		{User: "alice", ID: "AKIAALICENEW00000001", LastUsed: used, LastUsedService: "s3", LastUsedRegion: "eu-central-1"},
		{User: "bob", ID: "AKIABOBNEW0000000001", LastUsed: used, LastUsedService: "sqs", LastUsedRegion: "us-west-2"},
	} {
		k.Account = member
		if _, err := e.sb.AddAccessKey(k); err != nil {
			t.Fatal(err)
		}
	}
	admin := iam.NewFromConfig(e.assumer().Config(member, nil))
	if _, err := admin.DeleteAccessKey(t.Context(), &iam.DeleteAccessKeyInput{UserName: aws.String("carol"), AccessKeyId: aws.String("AKIACAROL00000000001")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteUser(t.Context(), &iam.DeleteUserInput{UserName: aws.String("carol")}); err != nil {
		t.Fatal(err)
	}
	// alice's old key deactivated; dave, a user the report has never seen.
	if _, err := admin.UpdateAccessKey(t.Context(), &iam.UpdateAccessKeyInput{UserName: aws.String("alice"),
		AccessKeyId: aws.String("AKIAALICEOLD00000001"), Status: iamtypes.StatusTypeInactive}); err != nil {
		t.Fatal(err)
	}
	seed(awsemu.UserSpec{Name: "dave"}, awsemu.KeySpec{ID: "AKIADAVE000000000001", LastUsed: used, LastUsedService: "sts", LastUsedRegion: "ap-south-1"})

	aliceKeys := []keyView{
		{ID: "AKIAALICEOLD00000001", Status: "Inactive", Created: now.Add(-200 * day).Truncate(time.Second),
			LastUsed: now.Add(-3 * day).Truncate(time.Second), Service: "ec2", Region: "eu-west-1"},
		{ID: "AKIAALICENEW00000001", Status: "Active", LastUsed: used, Service: "s3", Region: "eu-central-1"},
	}
	bobKeys := []keyView{{ID: "AKIABOBNEW0000000001", Status: "Active", LastUsed: used, Service: "sqs", Region: "us-west-2"}}
	daveKeys := []keyView{{ID: "AKIADAVE000000000001", Status: "Active", LastUsed: used, Service: "sts", Region: "ap-south-1"}}
	tests := []struct {
		name  string
		need  inventory.NeedKeyIDs
		users map[string][]keyView // users whose keys are checked
	}{
		{"all key IDs", inventory.AllKeyIDs, map[string][]keyView{"alice": aliceKeys, "bob": bobKeys, "dave": daveKeys}},
		{"keys needing attention", inventory.NeedsAttention, map[string][]keyView{"alice": aliceKeys, "dave": daveKeys}},
		// A user newer than the report is always read live.
		{"no key IDs", inventory.NoKeyIDs, map[string][]keyView{"dave": daveKeys}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ai := e.scan(t, accounts, inventory.Options{NeedKeyIDs: tt.need}).Accounts[0]
			if ai.Status != inventory.AccountOK || ai.Source != inventory.SourceReport {
				t.Fatalf("status %s source %s (%s: %s), want ok from the report", ai.Status, ai.Source, ai.ErrorCode, ai.Error)
			}
			if !ai.ReportGeneratedAt.Equal(first.ReportGeneratedAt) {
				t.Errorf("report generated at %v, want the first scan's %v (reused within 4 hours)", ai.ReportGeneratedAt, first.ReportGeneratedAt)
			}
			users := map[string]inventory.User{}
			for _, u := range ai.Users {
				users[u.Name] = u
			}
			if _, ok := users["carol"]; ok {
				t.Errorf("carol, deleted after the report, is still listed")
			}
			if !hasWarning(ai, "carol") {
				t.Errorf("no warning about carol, deleted after the report; warnings: %q", ai.Warnings)
			}
			if _, read := tt.users["alice"]; read && !hasWarning(ai, "AKIAALICENEW00000001", "newer than the credential report") {
				t.Errorf("no warning about alice's key newer than the report; warnings: %q", ai.Warnings)
			}
			for name, want := range tt.users {
				var got []keyView
				for _, k := range users[name].Keys {
					got = append(got, viewKey(k))
				}
				// The new keys were created "now": their creation is checked apart.
				for i := range got {
					if i < len(want) && got[i].ID == want[i].ID && want[i].Created.IsZero() {
						if d := got[i].Created.Sub(now); d < -time.Minute || d > time.Minute {
							t.Errorf("%s: key %s created %v, want about %v", name, got[i].ID, got[i].Created, now)
						}
						got[i].Created = time.Time{}
					}
				}
				if diff := cmp.Diff(want, got, cmpViews...); diff != "" {
					t.Errorf("%s: keys (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

// TestScanCallsPerAccount: the report path costs a handful of calls per
// account, plus one ListAccessKeys per user whose key IDs are read.
func TestScanCallsPerAccount(t *testing.T) {
	t.Parallel()
	e := smallEnv(t, awsemu.Options{}, 5, 14)
	sel := e.discover(t)
	asOf := e.sb.Clock().Now()
	tests := []struct {
		name string
		need inventory.NeedKeyIDs
	}{
		{"no key IDs", inventory.NoKeyIDs},
		{"keys needing attention", inventory.NeedsAttention},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := e.scan(t, sel.Accounts, inventory.Options{NeedKeyIDs: tt.need, AsOf: asOf})
			for _, ai := range inv.Accounts {
				if ai.Status != inventory.AccountOK || ai.Source != inventory.SourceReport {
					t.Errorf("account %s: %s from %s (%s), want ok from the report", ai.Account.ID, ai.Status, ai.Source, ai.Error)
					continue
				}
				var flagged, withIDs []string
				for _, u := range e.truth.users(ai.Account.ID, reportView) {
					if tt.need(e.truth.reportUser(ai.Account.ID, u.Name), asOf) {
						flagged = append(flagged, u.Name)
					}
				}
				for _, u := range ai.Users {
					if len(u.Keys) > 0 && u.Keys[0].ID != "" {
						withIDs = append(withIDs, u.Name)
					}
				}
				if diff := cmp.Diff(flagged, withIDs, cmpViews...); diff != "" {
					t.Errorf("account %s: users whose key IDs were read (-flagged +read):\n%s", ai.Account.ID, diff)
				}
				if limit := 5 + len(flagged); ai.Calls > limit {
					t.Errorf("account %s: %d calls for %d users (%d flagged), want at most %d", ai.Account.ID, ai.Calls, len(ai.Users), len(flagged), limit)
				}
				t.Logf("account %s: %d users, %d flagged, %d calls", ai.Account.ID, len(ai.Users), len(flagged), ai.Calls)
			}
		})
	}
}

// TestScanKeysCreatedInTheSameSecond: the report tells a user's two keys
// apart only by creation time, to the second. Two keys created in the same
// second (a script creating both) must still each keep their own status and
// last use; the report path reads a last use live (GetAccessKeyLastUsed)
// only when the report cannot say which is which: the same status, and
// different last uses.
func TestScanKeysCreatedInTheSameSecond(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tests := []struct {
		name string
		keys func(now time.Time) []keyView // created in the same second
		// lastUsedCalls is how many GetAccessKeyLastUsed calls the report path makes.
		lastUsedCalls int
	}{
		{"told apart by status", func(now time.Time) []keyView {
			return []keyView{
				{ID: "AKIATWINSA0000000001", Status: "Inactive", LastUsed: now.Add(-60 * day), Service: "ec2", Region: "eu-west-1"},
				{ID: "AKIATWINSB0000000001", Status: "Active", LastUsed: now.Add(-time.Hour), Service: "s3", Region: "us-west-2"},
			}
		}, 0},
		{"both never used", func(time.Time) []keyView {
			return []keyView{{ID: "AKIATWINSA0000000001", Status: "Active"}, {ID: "AKIATWINSB0000000001", Status: "Active"}}
		}, 0},
		{"both used alike", func(now time.Time) []keyView {
			return []keyView{
				{ID: "AKIATWINSA0000000001", Status: "Active", LastUsed: now.Add(-day), Service: "s3", Region: "us-west-2"},
				{ID: "AKIATWINSB0000000001", Status: "Active", LastUsed: now.Add(-day), Service: "s3", Region: "us-west-2"},
			}
		}, 0},
		{"same status, used apart", func(now time.Time) []keyView {
			return []keyView{
				{ID: "AKIATWINSA0000000001", Status: "Active", LastUsed: now.Add(-60 * day), Service: "ec2", Region: "eu-west-1"},
				{ID: "AKIATWINSB0000000001", Status: "Active"},
			}
		}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := smallEnv(t, awsemu.Options{}, 1, 1)
			member := e.activeAccounts()[1].ID
			now := e.sb.Clock().Now().Truncate(time.Second)
			created := now.Add(-100 * day)
			if err := e.sb.AddUser(awsemu.UserSpec{Account: member, Name: "twins", CreatedAt: created.Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			want := tt.keys(now)
			for i := range want {
				k := &want[i]
				k.Created = created
				if _, err := e.sb.AddAccessKey(awsemu.KeySpec{Account: member, User: "twins", ID: k.ID, Status: k.Status,
					CreatedAt: k.Created, LastUsed: k.LastUsed, LastUsedService: k.Service, LastUsedRegion: k.Region}); err != nil {
					t.Fatal(err)
				}
			}
			for _, source := range []inventory.Source{inventory.SourceReport, inventory.SourceAPI} {
				e.sb.ResetCalls()
				ai := e.scan(t, []inventory.Account{{ID: member}}, inventory.Options{Source: source, NeedKeyIDs: inventory.AllKeyIDs}).Accounts[0]
				if ai.Status != inventory.AccountOK || ai.Source != source {
					t.Fatalf("%s path: %s from %s: %s: %s", source, ai.Status, ai.Source, ai.ErrorCode, ai.Error)
				}
				var got []keyView
				for _, u := range ai.Users {
					if u.Name == "twins" {
						for _, k := range u.Keys {
							got = append(got, viewKey(k))
						}
					}
				}
				sortByID := func(a, b keyView) int { return strings.Compare(a.ID, b.ID) }
				slices.SortFunc(got, sortByID)
				if diff := cmp.Diff(want, got, cmpViews...); diff != "" {
					t.Errorf("%s path: keys of twins (-want +got):\n%s", source, diff)
				}
				if source != inventory.SourceReport {
					continue
				}
				if n := callsOf(e.sb, member, "GetAccessKeyLastUsed"); n != tt.lastUsedCalls {
					t.Errorf("report path: %d GetAccessKeyLastUsed calls, want %d", n, tt.lastUsedCalls)
				}
				if len(ai.Warnings) != 0 {
					t.Errorf("report path: warnings %q", ai.Warnings)
				}
			}
		})
	}
}

// callsOf is how many calls of op the sandbox answered for account.
func callsOf(sb *awsemu.Sandbox, account, op string) int {
	n := 0
	for _, c := range sb.Calls() {
		if c.Account == account && c.Operation == op {
			n += c.Calls
		}
	}
	return n
}

// TestScanReadsSummaryAlongside: GetAccountSummary does not wait for the
// other reads of the account. The sandbox holds back, until the account's
// GetAccountSummary has come in, the call that each path makes after the
// others have begun (GetCredentialReport on the report path, ListUsers on
// the API path): were the summary read after them, it would never come in,
// and the held call would be let go at the deadline and the test fail.
func TestScanReadsSummaryAlongside(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		source inventory.Source
		held   string
	}{
		{inventory.SourceReport, "GetCredentialReport"},
		{inventory.SourceAPI, "ListUsers"},
	} {
		t.Run(string(tt.source), func(t *testing.T) {
			t.Parallel()
			e := smallEnv(t, awsemu.Options{}, 1, 3)
			member := e.activeAccounts()[1].ID
			summary := make(chan struct{})
			var once sync.Once
			late := atomic.Bool{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				form, _ := url.ParseQuery(string(body))
				switch form.Get("Action") {
				case "GetAccountSummary":
					once.Do(func() { close(summary) })
				case tt.held:
					select {
					case <-summary:
					case <-time.After(10 * time.Second):
						late.Store(true)
					}
				}
				e.sb.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)
			e.url = srv.URL
			e.hub = e.config(t, e.org.AdminKey.AccessKeyID, e.org.AdminKey.SecretAccessKey)

			ai := e.scan(t, []inventory.Account{{ID: member}}, inventory.Options{Source: tt.source}).Accounts[0]
			if ai.Status != inventory.AccountOK || ai.Source != tt.source {
				t.Fatalf("%s from %s: %s: %s", ai.Status, ai.Source, ai.ErrorCode, ai.Error)
			}
			if late.Load() {
				t.Errorf("%s waited for GetAccountSummary, which had not been called: the summary is read after the other reads", tt.held)
			}
		})
	}
}

// TestScanRootSummaryFailure: GetAccountSummary is how the API path learns
// of root access keys. When it fails there, the account is partial: its
// users and keys are kept, whether root has keys is unknown (not "none"),
// and the reason says so. From a credential report with its root row, the
// report already says it, and the failure is only a warning.
func TestScanRootSummaryFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		source       inventory.Source
		faults       []awsemu.Fault // Account is set to the account under test
		wantStatus   inventory.AccountStatus
		wantCode     string
		wantError    []string // parts of Error
		wantFallback string
	}{
		{
			name: "API path, summary denied", source: inventory.SourceAPI,
			faults:     []awsemu.Fault{{Operation: "GetAccountSummary", Deny: true}},
			wantStatus: inventory.AccountPartial, wantCode: "AccessDenied",
			wantError: []string{"root access keys not checked", "GetAccountSummary: AccessDenied", "iam:GetAccountSummary"},
		},
		{
			name: "API path, summary failing", source: inventory.SourceAPI,
			faults:     []awsemu.Fault{{Operation: "GetAccountSummary", ErrorRate: 1}},
			wantStatus: inventory.AccountPartial, wantCode: "ServiceFailure",
			wantError: []string{"root access keys not checked", "GetAccountSummary: ServiceFailure"},
		},
		{
			name: "report denied, API fallback, summary denied", source: inventory.SourceReport,
			faults: []awsemu.Fault{{Operation: "GenerateCredentialReport", Deny: true},
				{Operation: "GetAccountSummary", Deny: true}},
			wantStatus: inventory.AccountPartial, wantCode: "AccessDenied",
			wantError:    []string{"root access keys not checked", "GetAccountSummary: AccessDenied"},
			wantFallback: "GenerateCredentialReport denied",
		},
		{
			// The report's <root_account> row gives the root keys.
			name: "report path, summary denied", source: inventory.SourceReport,
			faults:     []awsemu.Fault{{Operation: "GetAccountSummary", Deny: true}},
			wantStatus: inventory.AccountOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := smallEnv(t, awsemu.Options{}, 3, 4)
			target := e.activeAccounts()[1].ID
			if len(e.truth.rootKeys(target)) == 0 {
				// A root key, so that "no root keys" would be a wrong answer.
				spec := awsemu.KeySpec{Account: target, CreatedAt: e.org.Now.Add(-400 * 24 * time.Hour)}
				k, err := e.sb.AddAccessKey(spec)
				if err != nil {
					t.Fatal(err)
				}
				spec.ID, spec.Status = k.AccessKeyID, awsemu.StatusActive
				e.truth.addKey(spec)
			}
			var faults []awsemu.Fault
			for _, f := range tt.faults {
				f.Account = target
				faults = append(faults, f)
			}
			e.sb.SetFaults(faults...)
			sel := e.discover(t)
			inv := e.scan(t, sel.Accounts, inventory.Options{Source: tt.source, NeedKeyIDs: inventory.AllKeyIDs})
			e.refreshLive(e.org.AdminKeyID)

			source, view := tt.source, reportView
			if tt.wantFallback != "" || tt.source == inventory.SourceAPI {
				source, view = inventory.SourceAPI, apiView
			}
			checkAgainstTruth(t, e, inv, tt.source, reportViewFor(tt.source), map[string]bool{target: true})

			ai := byID(inv)[target]
			if ai.Status != tt.wantStatus || ai.ErrorCode != tt.wantCode || ai.Source != source || !strings.Contains(ai.Fallback, tt.wantFallback) {
				t.Fatalf("account %s: status %s, code %q, source %s, fallback %q, error %q; want %s, %q, %s, fallback %q",
					target, ai.Status, ai.ErrorCode, ai.Source, ai.Fallback, ai.Error, tt.wantStatus, tt.wantCode, source, tt.wantFallback)
			}
			t.Logf("account %s: %s (%s) %q", target, ai.Status, ai.ErrorCode, ai.Error)
			for _, part := range tt.wantError {
				if !strings.Contains(ai.Error, part) {
					t.Errorf("error %q does not say %q", ai.Error, part)
				}
			}
			// What was read is kept, partial or not.
			if diff := cmp.Diff(e.truth.users(target, view), viewUsers(ai, view), cmpViews...); diff != "" {
				t.Errorf("users (-truth +scan):\n%s", diff)
			}
			incomplete := inv.Incomplete()
			if len(inv.Failed()) != 0 {
				t.Errorf("Failed() = %d accounts, want none", len(inv.Failed()))
			}
			if tt.wantStatus == inventory.AccountOK {
				if ai.Error != "" || ai.NotRead != "" || ai.Root.KeysUnknown || !ai.Root.KeysPresent {
					t.Errorf("complete account: error %q, not read %q, root %+v; want root keys from the report", ai.Error, ai.NotRead, ai.Root)
				}
				if !hasWarning(ai, "root user", "GetAccountSummary") {
					t.Errorf("warnings %q: want one about the account summary", ai.Warnings)
				}
				if len(incomplete) != 0 {
					t.Errorf("Incomplete() = %d accounts, want none", len(incomplete))
				}
				return
			}
			if ai.NotRead != "root access keys" || !ai.Root.KeysUnknown || ai.Root.KeysPresent || len(ai.Root.Keys) != 0 {
				t.Errorf("partial account: not read %q, root %+v; want root access keys unknown", ai.NotRead, ai.Root)
			}
			if ai.Status.Complete() {
				t.Error("a partial account is Complete")
			}
			if len(incomplete) != 1 || incomplete[0].Account.ID != target {
				t.Errorf("Incomplete() = %v, want only %s", incomplete, target)
			}
		})
	}
}

// reportViewFor is what checkAgainstTruth compares on a path.
func reportViewFor(s inventory.Source) viewOpts {
	if s == inventory.SourceAPI {
		return apiView
	}
	return reportView
}

// TestScanStartsReportsBeforeWaiting: an account waiting for its
// credential report gives its slot up, so that with one slot every
// account has asked for its report before the first one is read, and the
// calls spent polling stay few (GetCredentialReport only when IAM says the
// report may be ready).
func TestScanStartsReportsBeforeWaiting(t *testing.T) {
	t.Parallel()
	const polls = 2
	e := smallEnv(t, awsemu.Options{ReportInProgressPolls: polls}, 4, 3)
	sel := e.discover(t)
	e.sb.ResetCalls()
	var startedAtFirst int
	inv := e.scan(t, sel.Accounts, inventory.Options{Parallel: 1, Progress: func(done, _, _ int) {
		if done != 1 {
			return
		}
		for _, c := range e.sb.Calls() {
			if c.Operation == "GenerateCredentialReport" {
				startedAtFirst++
			}
		}
	}})
	if startedAtFirst != len(sel.Accounts) {
		t.Errorf("when the first account was read, %d of %d accounts had asked for their report; want all", startedAtFirst, len(sel.Accounts))
	}
	perAccount := map[string]map[string]int{}
	for _, c := range e.sb.Calls() {
		if perAccount[c.Account] == nil {
			perAccount[c.Account] = map[string]int{}
		}
		perAccount[c.Account][c.Operation] += c.Calls
	}
	for _, ai := range inv.Accounts {
		if ai.Status != inventory.AccountOK || ai.Source != inventory.SourceReport {
			t.Errorf("account %s: %s from %s (%s), want ok from the report", ai.Account.ID, ai.Status, ai.Source, ai.Error)
		}
		// STARTED, then a GetCredentialReport that finds it in progress,
		// polls × INPROGRESS, COMPLETE and the GetCredentialReport that reads it.
		got := perAccount[ai.Account.ID]
		if got["GenerateCredentialReport"] != polls+2 || got["GetCredentialReport"] != 2 {
			t.Errorf("account %s: %d GenerateCredentialReport and %d GetCredentialReport calls, want %d and 2",
				ai.Account.ID, got["GenerateCredentialReport"], got["GetCredentialReport"], polls+2)
		}
	}
}
