package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

// Slack posts digests to a Slack incoming webhook, as blocks people can
// read: a header, then each key with what is wrong, what happens when,
// and what to do.
type Slack struct {
	url    Secret
	client *http.Client
}

// NewSlack returns a channel posting to the incoming webhook at url (a
// secret: whoever has it can post). A nil client is http.DefaultClient.
func NewSlack(url Secret, client *http.Client) *Slack { return &Slack{url: url, client: client} }

// Name returns slack.
func (s *Slack) Name() string { return channelconfig.TypeSlack }

// String names the channel without its URL.
func (s *Slack) String() string { return "slack incoming webhook" }

// Send posts m.JSON, the blocks Render made for Slack, with the digest's
// idempotency key in IdempotencyHeader. Slack's incoming webhooks take no
// such key and ignore the header (a retry after an answer that was lost
// can post twice); a proxy or a Slack-compatible receiver may use it.
func (s *Slack) Send(ctx context.Context, m Message) error {
	if s.url.IsZero() {
		return Permanent(fmt.Errorf("%w: no Slack webhook URL", ErrNoSecret))
	}
	h := http.Header{}
	h.Set(IdempotencyHeader, m.Digest.IdempotencyKey())
	return post(ctx, s.client, s.url.Reveal(), m.JSON, h)
}

// Slack's limits: blocks per message, characters per text.
const (
	slackMaxBlocks  = 50
	slackHeaderMax  = 150
	slackSectionMax = 3000
)

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

// slackMessage is what keywarden posts to Slack.
type slackMessage struct {
	Text   string       `json:"text"` // the notification's fallback
	Blocks []slackBlock `json:"blocks"`
}

// SlackPayload renders a digest as Slack blocks. Past Slack's 50 blocks,
// the rest is counted in a last section.
func SlackPayload(v View) ([]byte, error) {
	msg := slackMessage{Text: v.Subject}
	msg.Blocks = append(msg.Blocks,
		slackBlock{Type: "header", Text: &slackText{"plain_text", clip(v.Subject, slackHeaderMax)}},
		slackBlock{Type: "context", Elements: []slackText{{"mrkdwn", slackEscape(fmt.Sprintf("For %s (%s) · keywarden run %s", v.To.Contact, v.To.Via, v.RunID))}}},
	)
	items := append(append([]Item(nil), v.Done...), v.Warnings...)
	room := (slackMaxBlocks - len(msg.Blocks) - 1) / 2
	for i, it := range items {
		if i == room && len(items) > room {
			rest := len(items) - room
			msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &slackText{"mrkdwn",
				slackEscape(fmt.Sprintf("…and %d more %s: see keywarden history --run %s", rest, plural(rest, "key", "keys"), v.RunID))}})
			break
		}
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "divider"},
			slackBlock{Type: "section", Text: &slackText{"mrkdwn", clip(slackItem(it, v.To.Team), slackSectionMax)}})
	}
	return marshal(msg)
}

func slackItem(it Item, team bool) string {
	var b strings.Builder
	icon, what := ":warning:", "Needs attention"
	switch {
	case it.Done && it.Action == ActionDeleted:
		icon, what = ":wastebasket:", "Deleted"
	case it.Done && it.Action == ActionRotated:
		icon, what = ":arrows_counterclockwise:", "Rotated"
	case it.Done:
		icon, what = ":no_entry:", "Deactivated"
	}
	fmt.Fprintf(&b, "%s *%s:* `%s` of *%s* in %s\n", icon, what, slackEscape(it.AccessKeyID), slackEscape(it.UserName), slackEscape(accountName(it)))
	fmt.Fprintf(&b, "*What is wrong:* %s (%s, severity %s)\n", slackEscape(it.Message), slackEscape(it.Rule), slackEscape(it.Severity))
	fmt.Fprintf(&b, "*What happens:* %s\n", slackEscape(it.Outlook()))
	if team {
		owner := it.Owner
		if owner == "" {
			owner = "not found"
		}
		fmt.Fprintf(&b, "*Owner:* %s", slackEscape(owner))
		return b.String()
	}
	fmt.Fprintf(&b, "*What to do:*\n```%s```", slackEscape(it.Remedy))
	return b.String()
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
