package awschannel_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/awschannel"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

// snsEnvelope is what an SQS queue subscribed to a topic without raw
// message delivery receives: SNS's JSON notification.
type snsEnvelope struct {
	Type              string
	TopicArn          string
	Subject           string
	Message           string
	MessageAttributes map[string]struct{ Type, Value string }
}

// snsFixture is a topic with an SQS queue subscribed to it.
type snsFixture struct {
	sns   *sns.Client
	sqs   *sqs.Client
	topic string
	queue string // URL
}

func newSNSFixture(t *testing.T, cfg aws.Config, name string) snsFixture {
	t.Helper()
	ctx := t.Context()
	f := snsFixture{sns: sns.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
	topic, err := f.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	f.topic = aws.ToString(topic.TopicArn)
	q, err := f.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-queue")})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	f.queue = aws.ToString(q.QueueUrl)
	attrs, err := f.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		t.Fatalf("queue attributes: %v", err)
	}
	if _, err := f.sns.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn,
		Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]),
	}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return f
}

// receive returns the one notification waiting in the queue, and deletes it.
func (f snsFixture) receive(t *testing.T) snsEnvelope {
	t.Helper()
	ctx := t.Context()
	out, err := f.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(f.queue),
		MaxNumberOfMessages: 10,
		WaitTimeSeconds:     1,
	})
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("queue has %d messages, want 1", len(out.Messages))
	}
	msg := out.Messages[0]
	if _, err := f.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(f.queue), ReceiptHandle: msg.ReceiptHandle}); err != nil {
		t.Fatalf("delete message: %v", err)
	}
	var env snsEnvelope
	if err := json.Unmarshal([]byte(aws.ToString(msg.Body)), &env); err != nil {
		t.Fatalf("SQS body is not an SNS notification: %v\n%s", err, aws.ToString(msg.Body))
	}
	return env
}

func digestMessage(to notify.Recipient, subject, text string) notify.Message {
	return notify.Message{
		To:      to,
		Subject: subject,
		Text:    text,
		HTML:    "<p>" + text + "</p>",
		Digest: notify.Digest{
			RunID:     "run-20261122-0001",
			Generated: time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC),
			To:        to,
			Items:     []notify.Item{{AccountID: "123456789012", UserName: "alice", Rule: "max-age"}, {AccountID: "123456789012", UserName: "bob", Rule: "unused"}},
		},
	}
}

func TestSNSPublishesToTopic(t *testing.T) {
	srv := moto.Shared(t)
	cfg := awsConfig(t, srv.URL, 1)
	f := newSNSFixture(t, cfg, "keywarden-digests")
	ch := awschannel.NewSNS(cfg, f.topic)
	if ch.Name() != "sns" {
		t.Errorf("Name() = %q, want sns", ch.Name())
	}

	long := strings.Repeat("rotate the key now ", 10)
	tests := []struct {
		name, subject, wantSubject string
	}{
		{"plain", "keywarden: 2 keys need attention", "keywarden: 2 keys need attention"},
		{"control characters", "keywarden:\r\n2 keys\tneed\x00 attention\x1b[31m ", "keywarden: 2 keys need attention [31m"},
		{"leading symbols", "\n⚠️ 2 keys", "2 keys"},
		{"long", long, "rotate the key now rotate the key now rotate the key now rotate the key now rotate the key now…"},
		{"empty", " \n ", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			to := notify.Recipient{Contact: "alice@example.com", Channel: "sns", Via: "tag owner"}
			body := "Two keys:\n- alice AKIA... 400 days old\n- bob unused\n"
			if err := ch.Send(t.Context(), digestMessage(to, tt.subject, body)); err != nil {
				t.Fatalf("Send: %v", err)
			}
			env := f.receive(t)
			if env.Type != "Notification" || env.TopicArn != f.topic {
				t.Errorf("envelope Type=%q TopicArn=%q, want Notification %s", env.Type, env.TopicArn, f.topic)
			}
			if env.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", env.Subject, tt.wantSubject)
			}
			if n := len([]rune(env.Subject)); n >= 100 {
				t.Errorf("Subject has %d characters, want fewer than 100", n)
			}
			if env.Message != body {
				t.Errorf("Message = %q, want %q", env.Message, body)
			}
			attrs := map[string]string{}
			for k, v := range env.MessageAttributes {
				attrs[k] = v.Type + ":" + v.Value
			}
			want := map[string]string{
				awschannel.AttrRunID:     "String:run-20261122-0001",
				awschannel.AttrRecipient: "String:alice@example.com",
				awschannel.AttrTeam:      "String:false",
				awschannel.AttrItems:     "Number:2",
			}
			if diff := cmp.Diff(want, attrs); diff != "" {
				t.Errorf("MessageAttributes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSNSContactOverridesTopic(t *testing.T) {
	srv := moto.Shared(t)
	cfg := awsConfig(t, srv.URL, 1)
	def := newSNSFixture(t, cfg, "keywarden-default")
	team := newSNSFixture(t, cfg, "keywarden-security")

	ch := awschannel.NewSNS(cfg, def.topic)
	to := notify.Recipient{Contact: team.topic, Channel: "sns", Team: true, Via: "default"}
	if err := ch.Send(t.Context(), digestMessage(to, "security digest", "all findings")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	env := team.receive(t)
	if env.TopicArn != team.topic || env.Message != "all findings" || env.MessageAttributes[awschannel.AttrTeam].Value != "true" {
		t.Errorf("team topic got %+v", env)
	}
	out, err := def.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(def.queue)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 0 {
		t.Errorf("default topic got %d messages, want 0", len(out.Messages))
	}
}

func TestSNSUnknownTopic(t *testing.T) {
	srv := moto.Shared(t)
	cfg := awsConfig(t, srv.URL, 1)
	const topic = "arn:aws:sns:us-east-1:123456789012:no-such-topic"
	ch := awschannel.NewSNS(cfg, topic)
	const secret = "AKIAIOSFODNN7EXAMPLE is 400 days old"
	err := ch.Send(t.Context(), digestMessage(notify.Recipient{Contact: "alice@example.com"}, "subject "+secret, secret))
	if err == nil {
		t.Fatal("Send to an unknown topic succeeded")
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "NotFound" {
		t.Errorf("error %v: want the APIError NotFound in the chain", err)
	}
	if !errors.Is(err, awschannel.ErrPermanent) || errors.Is(err, awschannel.ErrThrottled) {
		t.Errorf("error %v: want ErrPermanent, not ErrThrottled", err)
	}
	for _, want := range []string{"sns: publish to " + topic, "the topic does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "AKIA") {
		t.Errorf("error %q contains the message", err)
	}
}

func TestSNSSendErrorsBeforeCalling(t *testing.T) {
	cfg := awsConfig(t, "http://127.0.0.1:1", 1) // never reached
	tests := []struct {
		name, topic string
		m           notify.Message
		want        string
	}{
		{"no topic", "", digestMessage(notify.Recipient{Contact: "bob@example.com"}, "s", "text"), "no topic to publish to"},
		{"bad topic", "my-topic", digestMessage(notify.Recipient{}, "s", "text"), `"my-topic" is not an SNS topic ARN`},
		{"no text", "arn:aws:sns:us-east-1:123456789012:t", digestMessage(notify.Recipient{}, "s", " \n"), "has no text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := awschannel.NewSNS(cfg, tt.topic).Send(t.Context(), tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, awschannel.ErrPermanent) {
				t.Errorf("Send: %v, want an ErrPermanent error containing %q", err, tt.want)
			}
		})
	}
}

// TestSNSThrottled checks that SNS's Throttled (429) comes back as
// ErrThrottled for the caller's backoff, once the SDK's own attempts are
// spent (the standard retryer of aws-sdk-go-v2 1.47 makes one; later
// versions retry a 429).
func TestSNSThrottled(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>Throttled</Code><Message>Rate exceeded</Message></Error><RequestId>4d8e2f5a-0000-4000-8000-000000000000</RequestId></ErrorResponse>`)
	}))
	defer srv.Close()

	cfg := awsConfig(t, srv.URL, 0) // the SDK's default retryer
	ch := awschannel.NewSNS(cfg, "arn:aws:sns:us-east-1:123456789012:t")
	err := ch.Send(t.Context(), digestMessage(notify.Recipient{}, "s", "secret body"))
	if !errors.Is(err, awschannel.ErrThrottled) || errors.Is(err, awschannel.ErrPermanent) {
		t.Fatalf("Send: %v, want ErrThrottled", err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "Throttled" {
		t.Errorf("error %v: want the APIError Throttled in the chain", err)
	}
	if n := calls.Load(); n < 1 || n > 3 {
		t.Errorf("the SDK sent %d requests, want at most its default 3 attempts", n)
	}
	if strings.Contains(err.Error(), "secret body") {
		t.Errorf("error %q contains the message", err)
	}
}
