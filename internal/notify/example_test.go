package notify_test

import (
	"context"
	"fmt"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/channelconfig"
	"github.com/keywarden/keywarden/internal/policy"
)

// Route finds who is told about a user's keys, and why.
func ExampleRoute() {
	pol, _ := policy.Parse("keywarden.yaml", []byte(`version: 1
notifications:
  owners:
    - users: ["svc-billing-*"]
      contact: billing-team@example.com
  channels:
    email: {type: ses, ses: {from: keywarden@example.com}}
`))
	for _, o := range []notify.Owner{
		{AccountID: "111111111111", UserName: "alice", Tags: inventory.Tags{{Key: "owner", Value: "alice@example.com"}}},
		{AccountID: "111111111111", UserName: "svc-billing-eu"},
		{AccountID: "111111111111", UserName: "carol", AccountEmail: "aws-prod@example.com"},
	} {
		to, _ := notify.Route(pol, o)
		fmt.Printf("%s: %s (via %s) through %s\n", o.UserName, to.Contact, to.Via, to.Channel)
	}
	// Output:
	// alice: alice@example.com (via tag owner) through email
	// svc-billing-eu: billing-team@example.com (via owners map (keywarden.yaml:4)) through email
	// carol: aws-prod@example.com (via account contact) through email
}

// Build makes one digest per recipient, Deliver sends them; a receiver of
// the webhook checks each delivery with Verify.
func ExampleDeliver() {
	pol, _ := policy.Parse("keywarden.yaml", []byte(`version: 1
notifications:
  owner_channel: print
  channels:
    print: {type: webhook, url: "https://hooks.example.com/kw", secret_env: HOOK_SECRET}
`))
	events := []notify.Event{{
		Item: notify.Item{AccountID: "111111111111", UserName: "alice", AccessKeyID: "AKIAIOSFODNN7EXAMPLE",
			Rule: "max_age", Stage: "warn", Message: "active key is 85 days old", Action: notify.ActionWarning},
		Owner: notify.Owner{AccountID: "111111111111", UserName: "alice", Tags: inventory.Tags{{Key: "owner", Value: "alice@example.com"}}},
	}}
	ctx := context.Background()
	digests, _ := notify.Build(ctx, pol, "run-1", time.Now(), events, nil)
	rep := notify.Deliver(ctx, digests, map[string]notify.Channel{"print": printer{}}, nil, notify.DeliverOptions{})
	fmt.Printf("%d sent, %d failed\n", rep.Sent(), rep.Failed())
	// Output:
	// to alice@example.com: keywarden: 1 access key needs your attention
	// 1 sent, 0 failed
}

// printer is a channel that prints.
type printer struct{}

func (printer) Name() string { return channelconfig.TypeWebhook }

func (printer) Send(_ context.Context, m notify.Message) error {
	fmt.Printf("to %s: %s\n", m.To.Contact, m.Subject)
	return nil
}

func ExampleVerify() {
	secret := []byte("whsec-example")
	body := []byte(`{"schema_version":1}`)
	ts := "1772357400"
	sig := notify.Sign(secret, ts, body) // what keywarden sends in X-Keywarden-Signature
	now := time.Unix(1772357430, 0)
	fmt.Println(notify.Verify(secret, ts, body, sig, now, 5*time.Minute))
	fmt.Println(notify.Verify(secret, ts, []byte(`{"schema_version":2}`), sig, now, 5*time.Minute))
	// Output:
	// <nil>
	// the signature does not match
}
