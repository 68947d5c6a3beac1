// Package notify tells the people who can act: it routes each finding and
// action to the key's owner, groups them into one digest per owner per run
// (and one for the security team), renders them, and delivers them through
// the owner's channel, once: a warning is not repeated within renotify_after.
//
// It never imports the AWS SDK: channels that need AWS (SNS, SES) live in
// notify/awschannel and are plugged in through the Channel interface.
//
// The steps, each usable alone: Route finds a key's owner (and says how);
// Build turns a run's events into digests, leaving out what the state
// store says was sent recently; a Renderer renders a digest for a channel
// (templates, Slack blocks, the webhook's JSON); Deliver sends, retries
// with backoff, records every outcome and never fails the caller. A
// Registry opens the policy's channels, their secrets read from the
// environment or files and held in Secret, which never prints.
// docs/notifications.md is the user's side of it.
package notify

import (
	"context"
	"errors"
	"time"
)

// Channel delivers rendered messages. Implementations: Slack incoming
// webhooks, generic webhooks (HMAC-signed), e-mail over SMTP, and in
// notify/awschannel SNS topics and e-mail through SES.
type Channel interface {
	// Name is the channel's kind, as in the policy: slack, webhook, sns, smtp, ses.
	Name() string
	// Send delivers one message; an error is retried by the caller with backoff.
	Send(ctx context.Context, m Message) error
}

// Recipient is who a digest goes to.
type Recipient struct {
	// Contact is an address the channel understands: an e-mail address, a
	// Slack webhook name, an SNS topic ARN, a webhook name.
	Contact string
	// Channel is the name of the configured channel to use.
	Channel string
	// Team is true for the security team's digest.
	Team bool
	// Via says how the owner was found: "tag owner", "owners map
	// (keywarden.yaml:40)", "account contact", "default".
	Via string
}

// Key identifies the recipient across runs, for de-duplication:
// channel:contact.
func (r Recipient) Key() string { return r.Channel + ":" + r.Contact }

// Item is one key in a digest: what is wrong, what happens and when, what to do.
type Item struct {
	AccountID   string
	AccountName string
	UserName    string
	AccessKeyID string // "" when not known
	Rule        string
	Severity    string
	Stage       string
	Message     string
	// Action is what keywarden did or will do: "deactivated", "deleted",
	// "rotated", "warning".
	Action    string
	NextStage string
	NextAt    time.Time
	// Done is true for an action already carried out (always announced).
	Done bool
	// Remedy says what the owner can do: the rotation commands or console steps.
	Remedy string
	// NewAccessKeyID, SecretARN and SecretRegion say, for a rotation
	// (ActionRotated), which new key was created and where it is stored:
	// never its secret.
	NewAccessKeyID string
	SecretARN      string
	SecretRegion   string

	// Ref identifies the action the item comes from across resumed runs
	// (plan ID and action ID): an announcement is sent once per Ref.
	Ref string
	// Owner says who the key's owner is told through ("alice@example.com
	// via tag owner"), "" when no owner was found; the security team's
	// digest shows it.
	Owner string
}

// Digest is everything one recipient is told in one run.
type Digest struct {
	RunID     string
	Generated time.Time
	To        Recipient
	Items     []Item
}

// Message is a digest rendered for a channel.
type Message struct {
	To      Recipient
	Subject string
	Text    string // plain text (e-mail, SNS)
	HTML    string // e-mail HTML part, "" for none
	// JSON is the generic webhook payload (documented schema), and Slack
	// blocks for Slack; channels pick what they need.
	JSON   []byte
	Digest Digest
}

// ErrPermanent marks a delivery error that retrying cannot fix (a 4xx
// answer, a refused address, a missing secret): Deliver does not retry it.
var ErrPermanent = errors.New("permanent failure")

// Permanent marks err as not worth retrying.
func Permanent(err error) error {
	if err == nil || errors.Is(err, ErrPermanent) {
		return err
	}
	return permanentError{err}
}

type permanentError struct{ err error }

func (e permanentError) Error() string   { return e.err.Error() }
func (e permanentError) Unwrap() []error { return []error{e.err, ErrPermanent} }
