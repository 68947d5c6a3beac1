package awschannel

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

// sesSender is the one SES call the channel makes (IAM: ses:SendEmail on
// the sender identity).
type sesSender interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, optFns ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// sesChannel sends digests as e-mail through the SES v2 API.
type sesChannel struct {
	client sesSender
	from   string
}

// DefaultSESSubject is the subject of a message whose own subject is empty
// (SES requires one).
const DefaultSESSubject = "keywarden notification"

// TagRunID is the SES message tag that carries the run ID (visible in
// SES event publishing), set when the run ID is a valid tag value.
const TagRunID = "keywarden-run"

// NewSES returns the channel "ses", which e-mails each message to the
// recipient's Contact, an e-mail address, from the address from (a
// verified SES identity, or an address in a verified domain; it may carry
// a display name: "Keywarden <keywarden@example.com>").
//
// It uses the SES v2 API (SendEmail with Simple content): the subject is
// m.Subject made into one line, the body m.Text and, when set, m.HTML as
// the alternative part, both UTF-8. Addresses must be ASCII (SES does not
// support SMTPUTF8; write an internationalised domain in punycode). See
// the package documentation for errors.
func NewSES(cfg aws.Config, from string) notify.Channel {
	return &sesChannel{client: sesv2.NewFromConfig(cfg), from: from}
}

func (c *sesChannel) Name() string { return channelconfig.TypeSES }

func (c *sesChannel) Send(ctx context.Context, m notify.Message) error {
	from, err := parseAddress(c.from)
	if err != nil {
		return fmt.Errorf("ses: sender %q: %w: %w", c.from, err, ErrPermanent)
	}
	to, err := parseAddress(m.To.Contact)
	if err != nil {
		return fmt.Errorf("ses: recipient %q: %w: %w", m.To.Contact, err, ErrPermanent)
	}
	in, err := sesInput(from, to, m)
	if err != nil {
		return err
	}
	if _, err := c.client.SendEmail(ctx, in); err != nil {
		return sesError(from, to, err)
	}
	return nil
}

// sesInput builds the SendEmail request for m.
func sesInput(from, to string, m notify.Message) (*sesv2.SendEmailInput, error) {
	if strings.TrimSpace(m.Text) == "" && strings.TrimSpace(m.HTML) == "" {
		return nil, fmt.Errorf("ses: message to %s has no body: %w", to, ErrPermanent)
	}
	subject := cleanLine(m.Subject)
	if subject == "" {
		subject = DefaultSESSubject
	}
	body := &sestypes.Body{}
	if strings.TrimSpace(m.Text) != "" {
		body.Text = utf8Content(m.Text)
	}
	if strings.TrimSpace(m.HTML) != "" {
		body.Html = utf8Content(m.HTML)
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &sestypes.Destination{ToAddresses: []string{to}},
		Content: &sestypes.EmailContent{Simple: &sestypes.Message{
			Subject: utf8Content(subject),
			Body:    body,
		}},
	}
	if sesTagValue.MatchString(m.Digest.RunID) {
		in.EmailTags = []sestypes.MessageTag{{Name: aws.String(TagRunID), Value: aws.String(m.Digest.RunID)}}
	}
	return in, nil
}

func utf8Content(s string) *sestypes.Content {
	return &sestypes.Content{Data: aws.String(strings.ToValidUTF8(s, "\uFFFD")), Charset: aws.String("UTF-8")}
}

// sesTagValue is what SES allows in a message tag value.
var sesTagValue = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// parseAddress checks that s is one e-mail address SES can send to or
// from, with an optional display name, and returns it in the form to send:
// the bare address, or the name (MIME-encoded when not ASCII) and address.
func parseAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("no e-mail address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", errors.New("not an e-mail address")
	}
	local, domain, _ := strings.Cut(a.Address, "@")
	switch {
	case !isASCII(a.Address):
		return "", errors.New("not an ASCII e-mail address (SES needs the domain in punycode and an ASCII local part)")
	case local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, "["):
		return "", errors.New("not an e-mail address with a domain name")
	}
	if a.Name == "" {
		return a.Address, nil
	}
	return a.String(), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 || s[i] == 0x7f {
			return false
		}
	}
	return true
}

// sesError wraps a SendEmail error with the addresses and, for the codes
// that matter, what to do.
func sesError(from, to string, err error) error {
	prefix := fmt.Sprintf("ses: send to %s from %s", to, from)
	var rejected *sestypes.MessageRejected
	switch code := apiCode(err); {
	case errors.As(err, &rejected) || code == "MessageRejected":
		return fmt.Errorf("%s: rejected (is the sender a verified SES identity, and, while the account is in the SES sandbox, the recipient too?): %w: %w", prefix, ErrPermanent, err)
	case code == "MailFromDomainNotVerifiedException":
		return fmt.Errorf("%s: the sender's MAIL FROM domain is not verified: %w: %w", prefix, ErrPermanent, err)
	case code == "AccountSuspendedException" || code == "SendingPausedException":
		return fmt.Errorf("%s: sending is paused or suspended for this account or configuration set: %w: %w", prefix, ErrPermanent, err)
	case code == "TooManyRequestsException" || code == "LimitExceededException" || code == "Throttling":
		return fmt.Errorf("%s: %w: %w", prefix, ErrThrottled, err)
	case code == "BadRequestException" || code == "NotFoundException":
		return fmt.Errorf("%s: %w: %w", prefix, ErrPermanent, err)
	default:
		return fmt.Errorf("%s: %w", prefix, err)
	}
}
