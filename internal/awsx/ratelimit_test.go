package awsx

import (
	"context"
	"errors"
	"math"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// TestAdaptiveLimit: no limit until the first throttling error, then the
// rate of the second before it; a cut for each throttled call sent after
// the last cut, a step up per success; other errors teach nothing.
func TestAdaptiveLimit(t *testing.T) {
	// The limiter's own waits follow the real clock: the test's clock
	// stays behind it, so that no turn is ever waited for.
	now := time.Now().Add(-24 * time.Hour)
	a := newAdaptiveLimit(func() time.Time { return now })
	throttle := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	denied := &smithy.GenericAPIError{Code: "AccessDenied"}
	ctx := context.Background()
	send := func() time.Time {
		t.Helper()
		sent, err := a.wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return sent
	}
	// 12 calls in the last second, 3 more before it.
	var early time.Time
	for i := range 15 {
		if i == 3 {
			now = now.Add(1100 * time.Millisecond)
		}
		early = send()
		if a.observe(early, nil) {
			t.Fatal("a success counted as throttled")
		}
	}
	if a.limited {
		t.Fatal("limited before any throttling error")
	}
	if !a.observe(early, throttle) {
		t.Fatal("a throttling error not counted as one")
	}
	if !a.limited || a.rate != 12 {
		t.Fatalf("after the first throttling error: limited %v at %g calls/s; want limited at 12", a.limited, a.rate)
	}
	now = now.Add(time.Millisecond)
	a.observe(early, throttle)
	if a.rate != 12 {
		t.Fatalf("a call sent before the cut, throttled, cut the rate to %g", a.rate)
	}
	now = now.Add(time.Millisecond)
	a.observe(send(), throttle)
	if want := 12 * limitCut; !near(a.rate, want) {
		t.Fatalf("after a call sent after the cut was throttled: %g calls/s, want %g", a.rate, want)
	}
	before := a.rate
	if a.observe(send(), denied) || a.rate != before {
		t.Fatalf("AccessDenied changed the rate to %g", a.rate)
	}
	a.observe(send(), nil)
	if want := before + limitStep; !near(a.rate, want) {
		t.Fatalf("after a success: %g calls/s, want %g", a.rate, want)
	}
	for range 100 {
		now = now.Add(10 * time.Second)
		a.observe(send(), throttle)
	}
	if a.rate != limitFloor {
		t.Fatalf("after many throttling errors: %g calls/s, want the floor %g", a.rate, limitFloor)
	}
}

// TestHubPacesThrottledAccount: calls into an account that IAM throttles
// all succeed, its limit learns a rate near the account's quota, and the
// limit belongs to that account alone.
func TestHubPacesThrottledAccount(t *testing.T) {
	sb := awsemu.New(awsemu.Options{Seed: 1})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	hub, _ := sb.AddAccount(awsemu.AccountSpec{ID: "100000000001"})
	sb.AddUser(awsemu.UserSpec{Account: hub, Name: "admin"})
	key, _ := sb.AddAccessKey(awsemu.KeySpec{Account: hub, User: "admin"})
	var members []string
	for _, id := range []string{"200000000001", "200000000002"} {
		m, _ := sb.AddAccount(awsemu.AccountSpec{ID: id})
		sb.AddRole(awsemu.RoleSpec{Account: m, Name: "KeywardenSpoke", TrustedAccounts: []string{hub}})
		members = append(members, m)
	}
	const quota = 20
	sb.SetFaults(awsemu.Fault{Account: members[0], Operation: "iam:GetAccountSummary", ThrottleRate: quota, ThrottleBurst: 5})

	ctx := context.Background()
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	base, err := Load(ctx, Options{Endpoint: srv.URL, MaxAttempts: 2,
		Credentials: credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHub(ctx, base, HubOptions{Command: "scan", RoleName: "KeywardenSpoke"})
	if err != nil {
		t.Fatal(err)
	}
	// Two clients of the same account, as the inventory and the executor have.
	clients := []*iam.Client{iam.NewFromConfig(h.Config(members[0], nil)), iam.NewFromConfig(h.Config(members[0], nil))}
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i := range 8 {
		wg.Go(func() {
			for range 8 {
				if _, err := clients[i%2].GetAccountSummary(ctx, nil); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	// Two attempts each, with three resends at the limit's pace in each:
	// without the limit most of these calls would fail.
	if err := errors.Join(func() (all []error) {
		for err := range errs {
			all = append(all, err)
		}
		return all
	}()...); err != nil {
		t.Fatalf("calls failed under the account's quota: %v", err)
	}
	got := h.limits.limit(members[0], "IAM")
	got.mu.Lock()
	limited, rate := got.limited, got.rate
	got.mu.Unlock()
	if !limited || rate <= 0 || rate > 3*quota {
		t.Errorf("the throttled account's limit: limited %v at %g calls/s; want limited near %d", limited, rate, quota)
	}
	if _, err := iam.NewFromConfig(h.Config(members[1], nil)).GetAccountSummary(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if other := h.limits.limit(members[1], "IAM"); other.limited {
		t.Errorf("the other account is limited too")
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
