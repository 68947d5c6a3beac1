package awschannel_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/awschannel"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

const sender = "keywarden@example.com"

func verifySender(t *testing.T, cfg aws.Config, identity string) {
	t.Helper()
	if _, err := sesv2.NewFromConfig(cfg).CreateEmailIdentity(t.Context(), &sesv2.CreateEmailIdentityInput{EmailIdentity: aws.String(identity)}); err != nil {
		t.Fatalf("create SES identity %s: %v", identity, err)
	}
}

func TestSESSends(t *testing.T) {
	srv := moto.Shared(t)
	cfg := awsConfig(t, srv.URL, 1)
	verifySender(t, cfg, sender)

	to := notify.Recipient{Contact: "alice@example.com", Channel: "ses", Via: "tag owner"}
	tests := []struct {
		name, from string
		m          notify.Message
		want       motoSESMessage
	}{
		{
			name: "text",
			from: sender,
			m:    notify.Message{To: to, Subject: "keywarden: 2 keys\r\nBcc: eve@example.com", Text: "Two keys need attention.\n", Digest: notify.Digest{RunID: "run-1"}},
			want: motoSESMessage{
				Source: sender, Subject: "keywarden: 2 keys Bcc: eve@example.com", Body: "Two keys need attention.\n",
				Destinations: map[string][]string{"ToAddresses": {"alice@example.com"}},
			},
		},
		{
			// moto keeps only the HTML part when there is one.
			name: "html and display name",
			from: "Keywarden <" + sender + ">",
			m:    notify.Message{To: to, Subject: "", Text: "plain", HTML: "<p>rich</p>"},
			want: motoSESMessage{
				Source: `"Keywarden" <` + sender + `>`, Subject: awschannel.DefaultSESSubject, Body: "<p>rich</p>",
				Destinations: map[string][]string{"ToAddresses": {"alice@example.com"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(motoSESMessages(t, srv.URL))
			ch := awschannel.NewSES(cfg, tt.from)
			if ch.Name() != "ses" {
				t.Errorf("Name() = %q, want ses", ch.Name())
			}
			if err := ch.Send(t.Context(), tt.m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			sent := motoSESMessages(t, srv.URL)
			if len(sent) != before+1 {
				t.Fatalf("moto has %d sent messages, want %d", len(sent), before+1)
			}
			if diff := cmp.Diff(tt.want, sent[len(sent)-1], cmpopts.IgnoreFields(motoSESMessage{}, "ID")); diff != "" {
				t.Errorf("sent message (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSESUnverifiedSender(t *testing.T) {
	srv := moto.Shared(t)
	cfg := awsConfig(t, srv.URL, 1)
	verifySender(t, cfg, sender)

	ch := awschannel.NewSES(cfg, "someone@unverified.example")
	err := ch.Send(t.Context(), notify.Message{To: notify.Recipient{Contact: "alice@example.com"}, Subject: "s", Text: "AKIAIOSFODNN7EXAMPLE"})
	if err == nil {
		t.Fatal("Send from an unverified sender succeeded")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "MessageRejected" {
		t.Errorf("error %v: want the APIError MessageRejected in the chain", err)
	}
	if !errors.Is(err, awschannel.ErrPermanent) {
		t.Errorf("error %v: want ErrPermanent", err)
	}
	for _, want := range []string{"ses: send to alice@example.com from someone@unverified.example", "verified SES identity"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "AKIA") {
		t.Errorf("error %q contains the message", err)
	}
	if n := len(motoSESMessages(t, srv.URL)); n != 0 {
		t.Errorf("moto has %d sent messages, want 0", n)
	}
}

func TestSESRejectsBadAddresses(t *testing.T) {
	cfg := awsConfig(t, "http://127.0.0.1:1", 1) // never reached
	tests := []struct {
		name, from, to, want string
	}{
		{"empty recipient", sender, "", "recipient \"\": no e-mail address"},
		{"not an address", sender, "alice", "not an e-mail address"},
		{"two addresses", sender, "alice@example.com, bob@example.com", "not an e-mail address"},
		{"header injection", sender, "alice@example.com\r\nBcc: eve@example.com", "not an e-mail address"},
		{"no domain name", sender, "alice@localhost", "with a domain name"},
		{"slack webhook name", sender, "#security", "not an e-mail address"},
		{"non-ASCII", sender, "alice@exämple.com", "punycode"},
		{"bad sender", "keywarden", "alice@example.com", `sender "keywarden"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := awschannel.NewSES(cfg, tt.from).Send(t.Context(), notify.Message{To: notify.Recipient{Contact: tt.to}, Subject: "s", Text: "t"})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, awschannel.ErrPermanent) {
				t.Errorf("Send: %v, want an ErrPermanent error containing %q", err, tt.want)
			}
		})
	}
}
