package awsemu_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/keywarden/keywarden/internal/awsemu"
)

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestFaults(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 6})
	ctx := context.Background()
	hub := f.config(t, f.admin)
	hubIAM := iam.NewFromConfig(hub)
	m0 := iam.NewFromConfig(f.member(t, hub, f.members[0]))
	m1 := iam.NewFromConfig(f.member(t, hub, f.members[1]))

	tests := []struct {
		name   string
		fault  awsemu.Fault
		client *iam.Client
		code   string
		status int
	}{
		{"throttled after burst", awsemu.Fault{Account: f.members[0], ThrottleRate: 0.001, ThrottleBurst: 1}, m0, "Throttling", 400},
		{"every call fails", awsemu.Fault{Operation: "iam:ListUsers", ErrorRate: 1}, m0, "ServiceFailure", 500},
		{"denied operation", awsemu.Fault{Account: f.members[0], Operation: "ListUsers", Deny: true}, m0, "AccessDenied", 403},
		{"other account unaffected", awsemu.Fault{Account: f.members[1], ErrorRate: 1}, m0, "", 0},
		{"other operation unaffected", awsemu.Fault{Operation: "ListAccessKeys", ErrorRate: 1}, m1, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sb.SetFaults()
			// Assume the role before the fault so that only ListUsers meets it.
			if _, err := tt.client.ListUsers(ctx, nil); err != nil {
				t.Fatal(err)
			}
			f.sb.SetFaults(tt.fault)
			var err error
			for range 2 { // the first call may spend the bucket's burst
				_, err = tt.client.ListUsers(ctx, nil)
			}
			if got := apiCode(err); got != tt.code || httpStatus(err) != tt.status && tt.status != 0 {
				t.Fatalf("got %v (status %d), want %s %d", err, httpStatus(err), tt.code, tt.status)
			}
		})
	}

	t.Run("latency", func(t *testing.T) {
		f.sb.SetFaults(awsemu.Fault{Account: f.hub, Operation: "GetAccountSummary", Latency: 150 * time.Millisecond})
		start := time.Now()
		if _, err := hubIAM.GetAccountSummary(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Fatalf("call took %v, want at least the injected 150ms", d)
		}
	})

	t.Run("hold until released", func(t *testing.T) {
		release := make(chan struct{})
		f.sb.SetFaults(awsemu.Fault{Operation: "ListAccountAliases", Hold: release})
		done := make(chan error, 1)
		go func() {
			_, err := hubIAM.ListAccountAliases(ctx, nil)
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("held call returned early: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("organizations throttling code", func(t *testing.T) {
		f.sb.SetFaults(awsemu.Fault{Operation: "organizations:ListAccounts", ThrottleRate: 0.001})
		orgs := organizations.NewFromConfig(hub)
		var err error
		for range 2 {
			_, err = orgs.ListAccounts(ctx, nil)
		}
		if apiCode(err) != "TooManyRequestsException" {
			t.Fatalf("got %v, want TooManyRequestsException", err)
		}
	})

	t.Run("retrying client gets through intermittent 5xx", func(t *testing.T) {
		f.sb.SetFaults(awsemu.Fault{Account: f.hub, Operation: "ListUsers", ErrorRate: 0.3})
		c := iam.NewFromConfig(hub, func(o *iam.Options) {
			o.RetryMaxAttempts = 10
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = 10
				so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		})
		for range 20 {
			if _, err := c.ListUsers(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
	})
	f.sb.SetFaults()

	var listUsers int
	for _, c := range f.sb.Calls() {
		if c.Account == f.members[0] && c.Operation == "ListUsers" {
			listUsers = c.Calls
		}
	}
	if listUsers == 0 {
		t.Fatal("Calls() counted no ListUsers in the first member account")
	}
}

// Bad input of every kind gets an AWS error, never a panic or a 200.
func TestBadRequests(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 7})
	tests := []struct {
		name, target, body, auth string
		status                   int
		code                     string
	}{
		{"unsigned", "", "Action=ListUsers&Version=2010-05-08", "", 403, "MissingAuthenticationToken"},
		{"malformed signature", "", "Action=ListUsers&Version=2010-05-08", "AWS4-HMAC-SHA256 Credential=AKIA", 400, "IncompleteSignature"},
		{"unknown key", "", "Action=ListUsers&Version=2010-05-08",
			"AWS4-HMAC-SHA256 Credential=AKIAUNKNOWNUNKNOWN12/20261122/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64),
			403, "InvalidClientTokenId"},
		{"missing version", "", "Action=ListUsers", "", 400, "MissingParameter"},
		{"unsigned json", "AWSOrganizationsV20161128.ListAccounts", "{}", "", 400, "MissingAuthenticationTokenException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
			if tt.target != "" {
				req.Header.Set("X-Amz-Target", tt.target)
				req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			} else {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			f.sb.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.code) {
				t.Fatalf("status %d body %s; want %d %s", rec.Code, rec.Body, tt.status, tt.code)
			}
		})
	}
}

func TestInvalidActionAndValidation(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 8})
	ctx := context.Background()
	c := iam.NewFromConfig(f.config(t, f.admin))
	_, err := c.ListUsers(ctx, &iam.ListUsersInput{MaxItems: aws.Int32(0)})
	if apiCode(err) != "ValidationError" || httpStatus(err) != 400 {
		t.Fatalf("MaxItems=0: %v", err)
	}
	_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("bad name!")})
	if apiCode(err) != "ValidationError" || !strings.Contains(err.Error(), "userName") {
		t.Fatalf("bad user name: %v", err)
	}
	_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{AccessKeyId: aws.String(f.admin.AccessKeyID), Status: "Bogus"})
	if apiCode(err) != "ValidationError" {
		t.Fatalf("bogus status: %v", err)
	}
	_, err = organizations.NewFromConfig(f.config(t, f.admin)).ListAccounts(ctx, &organizations.ListAccountsInput{MaxResults: aws.Int32(21)})
	if apiCode(err) != "InvalidInputException" {
		t.Fatalf("MaxResults=21: %v", err)
	}
}
