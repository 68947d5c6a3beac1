package notify_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

// TestRenderRotated: the owner of a rotated key is told where the new key
// is (account, region, ARN), how to read it, and by when to switch.
func TestRenderRotated(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:keywarden/iam-user/alice-AbCdEf"
	it := notify.Item{AccountID: "111111111111", AccountName: "prod", UserName: "alice", AccessKeyID: "AKIAOLD",
		Rule: "max_age", Severity: "medium", Stage: "rotate", Message: "key is 95 days old", Action: notify.ActionRotated, Done: true,
		NextStage: "deactivate", NextAt: time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC),
		NewAccessKeyID: "AKIANEW", SecretARN: arn, SecretRegion: "eu-west-1"}
	it.Remedy = notify.Remedy(it, "run-1")
	d := notify.Digest{RunID: "run-1", Generated: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
		To: notify.Recipient{Contact: "alice@example.com", Channel: "hook", Via: "tag owner"}, Items: []notify.Item{it}}
	for _, typ := range []string{channelconfig.TypeWebhook, channelconfig.TypeSlack} {
		m, err := notify.DefaultRenderer().Render(d, typ)
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range []string{m.Text, m.HTML, string(m.JSON)} {
			for _, want := range []string{"aws secretsmanager get-secret-value --secret-id " + arn + " --region eu-west-1", "AKIANEW", "2027-01-10"} {
				if !strings.Contains(part, want) {
					t.Errorf("%s message lacks %q:\n%s", typ, want, part)
				}
			}
		}
		if !strings.Contains(m.Subject, "1 access key rotated") {
			t.Errorf("subject %q", m.Subject)
		}
		if typ == channelconfig.TypeWebhook {
			var p notify.WebhookDigest
			if err := json.Unmarshal(m.JSON, &p); err != nil {
				t.Fatal(err)
			}
			got := p.Items[0]
			if got.Action != "rotated" || got.SecretARN != arn || got.SecretRegion != "eu-west-1" || got.NewAccessKeyID != "AKIANEW" || !got.Done {
				t.Errorf("webhook item %+v", got)
			}
		}
	}
	team := d
	team.To = notify.Recipient{Contact: "secops@example.com", Channel: "hook", Team: true}
	m, err := notify.DefaultRenderer().Render(team, channelconfig.TypeWebhook)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Subject, "1 rotated") {
		t.Errorf("team subject %q", m.Subject)
	}
}
