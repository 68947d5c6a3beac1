package inventory_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/testutil/awstest"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

// motoPairs is one moto account whose users each have two keys, created
// one right after the other as a script does: many pairs share their
// creation second, which is all the credential report tells a slot by.
// It returns the hub's configuration and the account.
func motoPairs(tb testing.TB, users int) (aws.Config, inventory.Account) {
	tb.Helper()
	srv := moto.Start(tb)
	ctx := tb.Context()
	hub := awstest.Config(tb, srv.URL, "AKIAIOSFODNN7EXAMPLE", "moto")
	client := iam.NewFromConfig(hub)
	for i := range users {
		name := aws.String(fmt.Sprintf("svc-%04d", i))
		if _, err := client.CreateUser(ctx, &iam.CreateUserInput{UserName: name}); err != nil {
			tb.Fatal(err)
		}
		for range 2 {
			if _, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: name}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	id, err := sts.NewFromConfig(hub).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		tb.Fatal(err)
	}
	return hub, inventory.Account{ID: aws.ToString(id.Account)}
}

// scanPairs scans the account of motoPairs from the credential report,
// with its own credentials, reading the key IDs of the users that need
// attention (all of them: two active keys each).
func scanPairs(tb testing.TB, hub aws.Config, acct inventory.Account) inventory.AccountInventory {
	tb.Helper()
	configFor := func(_ string, counter *awsx.CallCounter) aws.Config {
		cfg := hub.Copy()
		cfg.APIOptions = append(cfg.APIOptions, counter.APIOption)
		return cfg
	}
	inv, err := inventory.Scan(tb.Context(), []inventory.Account{acct}, configFor, inventory.Options{Source: inventory.SourceReport})
	if err != nil {
		tb.Fatal(err)
	}
	ai := inv.Accounts[0]
	if ai.Status != inventory.AccountOK || ai.Source != inventory.SourceReport {
		tb.Fatalf("%s from %s: %s: %s", ai.Status, ai.Source, ai.ErrorCode, ai.Error)
	}
	return ai
}

// motoFixedCalls are the calls the report path makes in an account it
// reads with its own credentials, whatever its users:
// GetAccountAuthorizationDetails, GenerateCredentialReport,
// GetCredentialReport and GetAccountSummary.
const motoFixedCalls = 4

// TestScanMotoPairsCalls: against moto, keys created in the same second
// and never used cost no GetAccessKeyLastUsed: the report gives their last
// use (none) whichever slot each is in. The report path then costs one
// ListAccessKeys per user needing attention, and nothing more.
func TestScanMotoPairsCalls(t *testing.T) {
	const users = 40
	hub, acct := motoPairs(t, users)
	ai := scanPairs(t, hub, acct)
	if want := motoFixedCalls + users; ai.Calls != want {
		t.Errorf("%d calls, want %d: %d fixed and one ListAccessKeys per user", ai.Calls, want, motoFixedCalls)
	}
	keys := 0
	for _, u := range ai.Users {
		for _, k := range u.Keys {
			keys++
			if k.ID == "" || !k.LastUsedAt.IsZero() {
				t.Errorf("%s: key %+v: want its ID read, and never used", u.Name, k)
			}
		}
	}
	if keys != 2*users {
		t.Errorf("%d keys, want %d", keys, 2*users)
	}
}

// BenchmarkScanMoto scans one moto account of 500 users with two keys
// each (the organization of the comparison with Cloud Custodian in
// docs/performance.md) from the credential report. It reports the calls
// per account and per user needing attention (all of them here).
func BenchmarkScanMoto(b *testing.B) {
	const users = 500
	hub, acct := motoPairs(b, users)
	calls, scans := 0, 0
	for b.Loop() {
		calls += scanPairs(b, hub, acct).Calls
		scans++
	}
	b.ReportMetric(float64(calls)/float64(scans), "calls/account")
	b.ReportMetric(float64(calls-scans*motoFixedCalls)/float64(scans*users), "calls/flagged-user")
}
