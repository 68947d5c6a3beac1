package awschannel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

// SNS limits for Publish.
const (
	// MaxSNSSubject is the longest Subject sent, in UTF-16 code units: SNS
	// wants "less than 100 characters".
	MaxSNSSubject = 99
	// MaxSNSMessage is SNS's limit for a message with its attributes
	// (256 KiB, counted in bytes).
	MaxSNSMessage = 256 << 10
)

// Message attributes set on every published message; a subscription can
// filter on them (a filter policy on keywarden.team, for example, sends
// only the security team's digests to one queue).
const (
	AttrRunID     = "keywarden.run_id"
	AttrRecipient = "keywarden.recipient"
	AttrTeam      = "keywarden.team"  // "true" or "false"
	AttrItems     = "keywarden.items" // Number: keys in the digest
)

// snsPublisher is the one SNS call the channel makes (IAM: sns:Publish).
type snsPublisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// snsChannel publishes digests to an SNS topic.
type snsChannel struct {
	client snsPublisher
	topic  string
}

// NewSNS returns the channel "sns", which publishes each message to an SNS
// topic: topicARN, or the recipient's Contact when that is an SNS topic
// ARN (so that a team can own its topic). Any other Contact (an e-mail
// address, say) is only passed on in the keywarden.recipient attribute.
//
// The Subject is m.Subject made into one line of printable text and cut
// to fewer than 100 characters; the Message is m.Text, cut at a line end
// with a note when it would exceed 256 KiB. For a FIFO topic (".fifo")
// the message group is "keywarden" and the deduplication ID a hash of the
// run, the recipient and the content, so that a retried Send within five
// minutes is not delivered twice. See the package documentation for errors.
func NewSNS(cfg aws.Config, topicARN string) notify.Channel {
	return &snsChannel{client: sns.NewFromConfig(cfg), topic: topicARN}
}

func (c *snsChannel) Name() string { return channelconfig.TypeSNS }

// snsTopicARN matches an SNS topic ARN in any partition.
var snsTopicARN = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)

// IsSNSTopicARN reports whether s looks like an SNS topic ARN.
func IsSNSTopicARN(s string) bool { return snsTopicARN.MatchString(s) }

func (c *snsChannel) Send(ctx context.Context, m notify.Message) error {
	topic := c.topic
	if IsSNSTopicARN(m.To.Contact) {
		topic = m.To.Contact
	}
	if topic == "" {
		return fmt.Errorf("sns: no topic to publish to: set the channel's topic ARN or give the recipient an SNS topic ARN: %w", ErrPermanent)
	}
	if !IsSNSTopicARN(topic) {
		return fmt.Errorf("sns: %q is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME): %w", topic, ErrPermanent)
	}
	in, err := snsInput(topic, m)
	if err != nil {
		return err
	}
	if _, err := c.client.Publish(ctx, in); err != nil {
		return snsError(topic, err)
	}
	return nil
}

// snsInput builds the Publish request for m.
func snsInput(topic string, m notify.Message) (*sns.PublishInput, error) {
	attrs := snsAttributes(m)
	text := strings.ToValidUTF8(m.Text, "\uFFFD")
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("sns: message for %s has no text: %w", topic, ErrPermanent)
	}
	in := &sns.PublishInput{
		TopicArn:          aws.String(topic),
		Message:           aws.String(fitSNSMessage(text, MaxSNSMessage-attributesSize(attrs))),
		MessageAttributes: attrs,
	}
	if s := snsSubject(m.Subject); s != "" {
		in.Subject = aws.String(s)
	}
	if strings.HasSuffix(topic, ".fifo") {
		in.MessageGroupId = aws.String("keywarden")
		in.MessageDeduplicationId = aws.String(dedupID(m))
	}
	return in, nil
}

// snsSubject makes s a valid SNS Subject: one line, no control
// characters, fewer than 100 characters, starting with a letter, digit
// or punctuation mark (as SNS's e-mail protocol asks). "" means none.
func snsSubject(s string) string {
	s = strings.TrimLeftFunc(cleanLine(s), func(r rune) bool {
		return !unicodeLetterDigitPunct(r)
	})
	return cutUTF16(s, MaxSNSSubject)
}

// fitSNSMessage returns text when it fits in max bytes, and otherwise as
// much of it as fits together with a note that says it was cut.
func fitSNSMessage(text string, max int) string {
	if len(text) <= max {
		return text
	}
	note := fmt.Sprintf("\n\n[keywarden: message cut to fit the SNS limit of 256 KB; the full message was %d bytes. Run `keywarden scan` for every finding.]\n", len(text))
	return cutBytes(text, max-len(note)) + note
}

// snsAttributes are the message attributes for m; empty values are left
// out (SNS rejects them).
func snsAttributes(m notify.Message) map[string]snstypes.MessageAttributeValue {
	attrs := map[string]snstypes.MessageAttributeValue{
		AttrTeam:  {DataType: aws.String("String"), StringValue: aws.String(strconv.FormatBool(m.To.Team))},
		AttrItems: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(len(m.Digest.Items)))},
	}
	if v := cleanLine(m.Digest.RunID); v != "" {
		attrs[AttrRunID] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if v := cleanLine(m.To.Contact); v != "" {
		attrs[AttrRecipient] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return attrs
}

// attributesSize is what the attributes count toward the message size:
// each name, data type and value.
func attributesSize(attrs map[string]snstypes.MessageAttributeValue) int {
	n := 0
	for name, v := range attrs {
		n += len(name) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// dedupID is the FIFO deduplication ID of m: the same digest sent again
// (a retry) gets the same ID.
func dedupID(m notify.Message) string {
	h := sha256.New()
	for _, s := range []string{m.Digest.RunID, m.To.Contact, m.Subject, m.Text} {
		fmt.Fprintf(h, "%d:%s;", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// snsError wraps a Publish error with the topic and, for the codes that
// matter, what to do.
func snsError(topic string, err error) error {
	var nf *snstypes.NotFoundException
	switch code := apiCode(err); {
	case errors.As(err, &nf) || code == "NotFound":
		return fmt.Errorf("sns: publish to %s: the topic does not exist (check the ARN, its region and account): %w: %w", topic, ErrPermanent, err)
	case code == "Throttled" || code == "Throttling":
		return fmt.Errorf("sns: publish to %s: %w: %w", topic, ErrThrottled, err)
	case code == "AuthorizationError" || code == "InvalidParameter" || code == "InvalidParameterValue":
		return fmt.Errorf("sns: publish to %s: %w: %w", topic, ErrPermanent, err)
	default:
		return fmt.Errorf("sns: publish to %s: %w", topic, err)
	}
}
