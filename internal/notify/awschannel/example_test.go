package awschannel_test

import (
	"context"
	"errors"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/awschannel"
)

// An SNS channel publishes to the configured topic; a caller retries with
// backoff, except for errors that no retry can fix.
func ExampleNewSNS() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	ch := awschannel.NewSNS(cfg, "arn:aws:sns:us-east-1:123456789012:keywarden-digests")
	err = ch.Send(ctx, notify.Message{
		To:      notify.Recipient{Contact: "alice@example.com", Channel: "sns"},
		Subject: "keywarden: 2 keys need attention",
		Text:    "…",
	})
	switch {
	case errors.Is(err, awschannel.ErrPermanent):
		log.Printf("keywarden: %v", err) // fix the configuration; do not retry
	case err != nil:
		log.Printf("keywarden: %v (will retry)", err)
	}
}
