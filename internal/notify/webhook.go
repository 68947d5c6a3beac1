package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

// The generic webhook's headers (docs/notifications.md).
const (
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256, keyed with
	// the channel's secret, of the timestamp, a dot, and the body.
	SignatureHeader = "X-Keywarden-Signature"
	// TimestampHeader carries the Unix time (seconds) of the attempt.
	TimestampHeader = "X-Keywarden-Timestamp"
	// DeliveryHeader identifies the digest: the same on every attempt, so
	// that a receiver can drop a repeat. It is the digest's idempotency key,
	// also in IdempotencyHeader and the payload's idempotency_key.
	DeliveryHeader = "X-Keywarden-Delivery"
)

// WebhookSchemaVersion is the version of the webhook payload.
const WebhookSchemaVersion = 1

// WebhookDigest is the generic webhook's JSON payload.
type WebhookDigest struct {
	SchemaVersion int    `json:"schema_version"`
	Type          string `json:"type"` // always "keywarden.digest"
	RunID         string `json:"run_id"`
	// IdempotencyKey is Digest.IdempotencyKey, as in the Idempotency-Key
	// header; here it is signed with the rest.
	IdempotencyKey string           `json:"idempotency_key"`
	GeneratedAt    time.Time        `json:"generated_at"`
	Subject        string           `json:"subject"`
	Recipient      WebhookRecipient `json:"recipient"`
	Counts         WebhookCounts    `json:"counts"`
	Items          []WebhookItem    `json:"items"`
}

// WebhookRecipient is who the digest is for.
type WebhookRecipient struct {
	Contact string `json:"contact"`
	Channel string `json:"channel"`
	Team    bool   `json:"team"`
	Via     string `json:"via"`
}

// WebhookCounts counts the items.
type WebhookCounts struct {
	Done     int `json:"done"`
	Warnings int `json:"warnings"`
}

// WebhookItem is one key.
type WebhookItem struct {
	AccountID   string     `json:"account_id"`
	AccountName string     `json:"account_name"`
	UserName    string     `json:"user_name"`
	AccessKeyID string     `json:"access_key_id"`
	Rules       []string   `json:"rules"`
	Severity    string     `json:"severity"`
	Stage       string     `json:"stage"`
	Message     string     `json:"message"`
	Action      string     `json:"action"` // deactivated, deleted or warning
	Done        bool       `json:"done"`
	NextStage   string     `json:"next_stage"`
	NextAt      *time.Time `json:"next_at"`
	Outlook     string     `json:"outlook"`
	Remedy      string     `json:"remedy"`
	Owner       string     `json:"owner"`
	// For a rotation (action rotated): the new key and where it is
	// stored; never its secret.
	NewAccessKeyID string `json:"new_access_key_id,omitempty"`
	SecretARN      string `json:"secret_arn,omitempty"`
	SecretRegion   string `json:"secret_region,omitempty"`
}

// WebhookPayload renders a digest as the webhook's JSON.
func WebhookPayload(d Digest, subject string) ([]byte, error) {
	p := WebhookDigest{
		SchemaVersion: WebhookSchemaVersion, Type: "keywarden.digest", RunID: d.RunID, IdempotencyKey: d.IdempotencyKey(),
		GeneratedAt: d.Generated.UTC(),
		Subject:     subject,
		Recipient:   WebhookRecipient{Contact: d.To.Contact, Channel: d.To.Channel, Team: d.To.Team, Via: d.To.Via},
		Items:       make([]WebhookItem, 0, len(d.Items)),
	}
	for _, it := range d.Items {
		wi := WebhookItem{AccountID: it.AccountID, AccountName: it.AccountName, UserName: it.UserName, AccessKeyID: it.AccessKeyID,
			Rules: []string{}, Severity: it.Severity, Stage: it.Stage, Message: it.Message, Action: it.Action, Done: it.Done,
			NextStage: it.NextStage, Outlook: it.Outlook(), Remedy: it.Remedy, Owner: it.Owner,
			NewAccessKeyID: it.NewAccessKeyID, SecretARN: it.SecretARN, SecretRegion: it.SecretRegion}
		if it.Rule != "" {
			wi.Rules = strings.Split(it.Rule, ",")
		}
		if !it.NextAt.IsZero() {
			t := it.NextAt.UTC()
			wi.NextAt = &t
		}
		if it.Done {
			p.Counts.Done++
		} else {
			p.Counts.Warnings++
		}
		p.Items = append(p.Items, wi)
	}
	return marshal(p)
}

// marshal writes v as compact JSON without escaping <, > and &, which
// payloads carry as text.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// Sign returns the signature of a webhook body sent at timestamp (Unix
// seconds, as in TimestampHeader): "sha256=" and the hex HMAC-SHA256 of
// timestamp + "." + body, keyed with secret.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify.
var (
	ErrBadSignature = errors.New("the signature does not match")
	ErrStale        = errors.New("the timestamp is too far from now")
)

// Verify checks a webhook delivery as a receiver should: the signature
// matches the timestamp and body (compared in constant time), and the
// timestamp is within tolerance of now, which stops replays of old
// deliveries.
func Verify(secret []byte, timestamp string, body []byte, signature string, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q is not a Unix time", ErrStale, timestamp)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: sent %s from now, more than %s", ErrStale, d.Round(time.Second), tolerance)
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature)) {
		return ErrBadSignature
	}
	return nil
}

// Webhook posts digests as signed JSON to an HTTP endpoint.
type Webhook struct {
	url    Secret
	secret Secret
	client *http.Client
	now    func() time.Time
}

// NewWebhook returns a channel posting to url, signing with secret. A nil
// client is http.DefaultClient; a nil now is time.Now.
func NewWebhook(url, secret Secret, client *http.Client, now func() time.Time) *Webhook {
	if now == nil {
		now = time.Now
	}
	return &Webhook{url: url, secret: secret, client: client, now: now}
}

// Name returns webhook.
func (w *Webhook) Name() string { return channelconfig.TypeWebhook }

// String names the channel without its URL.
func (w *Webhook) String() string { return "webhook" }

// Send posts m.JSON with a fresh timestamp and its signature, and the
// digest's idempotency key (in IdempotencyHeader and DeliveryHeader, which
// the signature does not cover; the payload's idempotency_key, which it
// does).
func (w *Webhook) Send(ctx context.Context, m Message) error {
	if w.url.IsZero() || w.secret.IsZero() {
		return Permanent(fmt.Errorf("%w: the webhook's URL or signing secret", ErrNoSecret))
	}
	ts := strconv.FormatInt(w.now().Unix(), 10)
	key := m.Digest.IdempotencyKey()
	h := http.Header{}
	h.Set(TimestampHeader, ts)
	h.Set(SignatureHeader, Sign([]byte(w.secret.Reveal()), ts, m.JSON))
	h.Set(IdempotencyHeader, key)
	h.Set(DeliveryHeader, key)
	return post(ctx, w.client, w.url.Reveal(), m.JSON, h)
}
