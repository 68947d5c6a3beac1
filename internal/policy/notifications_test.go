package policy

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/notify/channelconfig"
)

func TestParseNotifications(t *testing.T) {
	p, err := Parse("p.yaml", []byte(`version: 1
notifications:
  owner_tags: [owner, team-email]
  owners:
    - users: ["svc-billing-*"]
      accounts: ["111111111111"]
      contact: billing@example.com
    - accounts: ["222222222222"]
      contact: "#payments"
      channel: slack
  account_contact: false
  default: {contact: cloud@example.com, channel: email}
  security_team: {contact: security@example.com, channel: hooks}
  renotify_after: 3d
  templates: {owner: owner.tmpl, team_html: team.html}
  channels:
    email:
      type: smtp
      smtp:
        host: smtp.example.com
        from: "Keywarden <keywarden@example.com>"
        username_env: SMTP_USER
        password_file: /run/secrets/smtp
        ca_file: ca.pem
    slack:
      type: slack
      url_env: SLACK_URL
    hooks:
      type: webhook
      url: https://hooks.example.com/kw
      secret_file: hook.secret
    topic:
      type: sns
      topic_arn: arn:aws:sns:eu-west-1:111111111111:keywarden
    ses:
      type: ses
      ses: {from: keywarden@example.com, region: eu-west-1}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Notifications{
		OwnerTags:    []string{"owner", "team-email"},
		OwnerChannel: "email", // the default's
		Owners: []OwnerRoute{
			{Users: []string{"svc-billing-*"}, Accounts: []string{"111111111111"}, Contact: "billing@example.com", Line: 5},
			{Accounts: []string{"222222222222"}, Contact: "#payments", Channel: "slack", Line: 8},
		},
		Default:       &Contact{Contact: "cloud@example.com", Channel: "email"},
		SecurityTeam:  &Contact{Contact: "security@example.com", Channel: "hooks"},
		RenotifyAfter: Duration(3 * 24 * time.Hour),
		Templates:     Templates{Owner: "owner.tmpl", TeamHTML: "team.html"},
		Channels: map[string]channelconfig.Config{
			"email": {Name: "email", Type: channelconfig.TypeSMTP, Line: 17, SMTP: channelconfig.SMTPConfig{Host: "smtp.example.com", Port: 587,
				From: "Keywarden <keywarden@example.com>", UsernameEnv: "SMTP_USER", Password: channelconfig.SecretRef{File: "/run/secrets/smtp"},
				StartTLS: true, CAFile: "ca.pem"}},
			"slack": {Name: "slack", Type: channelconfig.TypeSlack, URLRef: channelconfig.SecretRef{Env: "SLACK_URL"}, Line: 25},
			"hooks": {Name: "hooks", Type: channelconfig.TypeWebhook, URL: "https://hooks.example.com/kw", Secret: channelconfig.SecretRef{File: "hook.secret"}, Line: 28},
			"topic": {Name: "topic", Type: channelconfig.TypeSNS, TopicARN: "arn:aws:sns:eu-west-1:111111111111:keywarden", Line: 32},
			"ses":   {Name: "ses", Type: channelconfig.TypeSES, From: "keywarden@example.com", Region: "eu-west-1", Line: 35},
		},
	}
	if diff := cmp.Diff(want, p.Notifications); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	if p.Hash != Default().Hash {
		t.Errorf("notifications changed the policy's hash: a plan would go stale when a channel changes")
	}
}

func TestParseNotificationsOwnerChannel(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"the only e-mail channel", "channels: {slack: {type: slack, url_env: S}, mail: {type: ses, ses: {from: a@example.com}}}\n", "mail"},
		{"the default's", "default: {contact: '#x', channel: slack}\nchannels: {slack: {type: slack, url_env: S}, mail: {type: ses, ses: {from: a@example.com}}}\n", "slack"},
		{"written", "owner_channel: slack\nchannels: {slack: {type: slack, url_env: S}, mail: {type: ses, ses: {from: a@example.com}}}\n", "slack"},
		{"no channels", "owner_tags: [owner]\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\nnotifications:\n" + indent(tt.src)
			p, err := Parse("p.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if p.Notifications.OwnerChannel != tt.want {
				t.Errorf("owner channel %q, want %q", p.Notifications.OwnerChannel, tt.want)
			}
		})
	}
}

func indent(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := range lines {
		lines[i] = "  " + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestParseNotificationsProblems(t *testing.T) {
	const slack = "    s: {type: slack, url_env: SLACK_URL}\n"
	tests := []struct {
		name string
		src  string // under notifications:
		want []string
	}{
		{"not a mapping", "  [a]\n", []string{"p.yaml:3:3: notifications: want a mapping (key: value), not a list"}},
		{"unknown key", "  renotify: 7d\n", []string{
			"p.yaml:3:3: notifications.renotify: unknown key (did you mean renotify_after?); want one of owner_tags, owner_channel, owners, account_contact, default, security_team, renotify_after, channels, templates"}},
		{"bad duration", "  renotify_after: 7\n", []string{
			`p.yaml:3:19: notifications.renotify_after: "7" has no unit: write 7d for days, 7h for hours or 7w for weeks`}},
		{"bad tag key", "  owner_tags: [\"\"]\n", []string{
			`p.yaml:3:16: notifications.owner_tags[0]: "" is not a tag key: 1 to 128 letters, digits, spaces and _.:/=+-@`}},
		{"account_contact not a bool", "  account_contact: yes\n", []string{
			`p.yaml:3:20: notifications.account_contact: want true or false, not "yes"`}},

		// channels
		{"slack url in clear", "  channels:\n    s:\n      type: slack\n      url: https://hooks.slack.com/services/T0/B0/xyz\n", []string{
			"p.yaml:5:7: notifications.channels.s.url_env: missing: say where the Slack webhook URL is: url_env (an environment variable) or url_file",
			"p.yaml:6:7: notifications.channels.s.url: a Slack webhook URL is a secret, not for the policy file: put it in an environment variable or a file: use url_env or url_file"}},
		{"smtp password in clear", "  channels:\n    m:\n      type: smtp\n      smtp: {host: h, from: a@example.com, username: u, password: hunter2}\n", []string{
			"p.yaml:6:57: notifications.channels.m.smtp.password: a secret in the policy file: put it in an environment variable or a file: use password_env or password_file"}},
		{"webhook secret in clear", "  channels:\n    w: {type: webhook, url: https://x.example.com, secret: s3cr3t}\n", []string{
			"p.yaml:4:8: notifications.channels.w.secret_env: missing: say where the HMAC signing secret is: secret_env (an environment variable) or secret_file",
			"p.yaml:4:52: notifications.channels.w.secret: a secret in the policy file: put it in an environment variable or a file: use secret_env or secret_file"}},
		{"webhook url with credentials", "  channels:\n    w: {type: webhook, url: \"https://u:p@x.example.com\", secret_env: S}\n", []string{
			"p.yaml:4:29: notifications.channels.w.url: the URL holds credentials: put it in an environment variable or a file: use url_env or url_file"}},
		{"webhook url twice", "  channels:\n    w: {type: webhook, url: https://x.example.com, url_env: U, secret_env: S}\n", []string{
			"p.yaml:4:52: notifications.channels.w.url_env: given with url: keep one"}},
		{"webhook url not http", "  channels:\n    w: {type: webhook, url: ftp://x, secret_env: S}\n", []string{
			`p.yaml:4:29: notifications.channels.w.url: "ftp://x" is not an http or https URL`}},
		{"missing type", "  channels:\n    s: {url_env: X}\n", []string{
			"p.yaml:4:8: notifications.channels.s.type: missing: want one of slack, webhook, sns, smtp, ses"}},
		{"unknown type", "  channels:\n    s: {type: slak, url_env: X}\n", []string{
			`p.yaml:4:15: notifications.channels.s.type: unknown channel type "slak" (did you mean slack?); want one of slack, webhook, sns, smtp, ses`}},
		{"key of another type", "  channels:\n    s: {type: slack, url_env: X, topic_arn: arn:aws:sns:eu-west-1:111111111111:t}\n", []string{
			"p.yaml:4:34: notifications.channels.s.topic_arn: a slack channel has no topic_arn (sns channels do); it has type, url_env, url_file"}},
		{"unknown channel key", "  channels:\n    s: {type: slack, url_env: X, colour: red}\n", []string{
			"p.yaml:4:34: notifications.channels.s.colour: unknown key; want one of type, url_env, url_file"}},
		{"bad channel name", "  channels:\n    \"my channel\": {type: slack, url_env: X}\n", []string{
			`p.yaml:4:5: notifications.channels.my channel: "my channel" is not a channel name: 1 to 64 letters, digits and _.-, starting with a letter or digit`}},
		{"bad env name", "  channels:\n    s: {type: slack, url_env: 1X}\n", []string{
			`p.yaml:4:31: notifications.channels.s.url_env: "1X" is not an environment variable name: letters, digits and _, not starting with a digit`}},
		{"bad topic", "  channels:\n    t: {type: sns, topic_arn: keywarden}\n", []string{
			`p.yaml:4:31: notifications.channels.t.topic_arn: "keywarden" is not an SNS topic ARN: want arn:aws:sns:REGION:ACCOUNT:NAME`}},
		{"sns without topic", "  channels:\n    t: {type: sns, region: eu-west-1}\n", []string{
			"p.yaml:4:8: notifications.channels.t.topic_arn: missing: give the SNS topic's ARN"}},
		{"bad region", "  channels:\n    t: {type: sns, topic_arn: arn:aws:sns:eu-west-1:111111111111:t, region: Ireland}\n", []string{
			`p.yaml:4:77: notifications.channels.t.region: "Ireland" is not an AWS region: want one like eu-west-1`}},
		{"ses without from", "  channels:\n    e: {type: ses, ses: {region: eu-west-1}}\n", []string{
			"p.yaml:4:25: notifications.channels.e.ses.from: missing: give the sender's address"}},
		{"smtp problems", "  channels:\n    m:\n      type: smtp\n      smtp:\n        host: smtp.example.com:587\n        port: 0\n        from: keywarden\n        username: u\n        starttls: maybe\n", []string{
			"p.yaml:7:9: notifications.channels.m.smtp.password_env: missing: a username needs a password: password_env or password_file",
			`p.yaml:7:15: notifications.channels.m.smtp.host: "smtp.example.com:587" is not a host name: give the name alone, and the port as port`,
			`p.yaml:8:15: notifications.channels.m.smtp.port: want a port number from 1 to 65535, like 587, not "0"`,
			`p.yaml:9:15: notifications.channels.m.smtp.from: "keywarden" is not an e-mail address`,
			`p.yaml:11:19: notifications.channels.m.smtp.starttls: want true or false, not "maybe"`}},
		{"smtp without host", "  channels:\n    m: {type: smtp, smtp: {from: a@example.com}}\n", []string{
			"p.yaml:4:27: notifications.channels.m.smtp.host: missing: give the SMTP server's host name"}},

		// references and contacts
		{"unknown channel", "  security_team: {contact: sec@example.com, channel: mail}\n  channels:\n" + slack, []string{
			"p.yaml:3:3: notifications.owner_channel: missing: say which channel reaches the contacts found in user tags and account e-mails (owner_channel: NAME), or turn those off with owner_tags: [] and account_contact: false",
			`p.yaml:3:18: notifications.security_team.channel: no channel named "mail": the channels are s`}},
		{"no channels at all", "  default: {contact: sec@example.com, channel: mail}\n", []string{
			`p.yaml:3:12: notifications.default.channel: no channel named "mail": no channels are configured (add one under notifications.channels)`}},
		{"contact without channel", "  security_team: {contact: sec@example.com}\n", []string{
			"p.yaml:3:18: notifications.security_team.channel: missing: name the channel that reaches the contact"}},
		{"e-mail contact not an address", "  security_team: {contact: \"#security\", channel: m}\n  channels:\n    m: {type: ses, ses: {from: a@example.com}}\n", []string{
			`p.yaml:3:18: notifications.security_team.contact: channel m sends e-mail, and "#security" is not an e-mail address`}},
		{"owner without contact or criteria", "  owners:\n    - channel: s\n  channels:\n" + slack, []string{
			"p.yaml:3:3: notifications.owner_channel: missing: say which channel reaches the contacts found in user tags and account e-mails (owner_channel: NAME), or turn those off with owner_tags: [] and account_contact: false",
			"p.yaml:4:7: notifications.owners[0].contact: missing: say who is told (contact: team@example.com)",
			"p.yaml:4:7: notifications.owners[0]: matches every key: give users or accounts (the default section is for everyone else)"}},
		{"owner bad glob", "  owners:\n    - users: [\"a[\"]\n      contact: x\n", []string{
			`p.yaml:4:15: notifications.owners[0].users[0]: "a[" is not a valid pattern: syntax error in pattern`}},
		{"no owner channel", "  owners:\n    - users: [a]\n      contact: x\n  channels:\n" + slack, []string{
			"p.yaml:3:3: notifications.owner_channel: missing: say which channel reaches the contacts found in user tags and account e-mails (owner_channel: NAME), or turn those off with owner_tags: [] and account_contact: false",
			"p.yaml:4:7: notifications.owners[0]: no channel: give this entry a channel, or set owner_channel for it to use"}},
		{"template empty", "  templates: {owner: \"\"}\n", []string{
			"p.yaml:3:22: notifications.templates.owner: empty file name: name a template file, or leave the key out for the default"}},
		{"template unknown", "  templates: {owners: a.tmpl}\n", []string{
			"p.yaml:3:15: notifications.templates.owners: unknown key (did you mean owner?); want one of owner, team, owner_html, team_html"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\nnotifications:\n" + tt.src
			if diff := cmp.Diff(tt.want, problems(t, src)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nfile:\n%s", diff, src)
			}
		})
	}
}

// TestParseNotificationsOff: turning owner routing off needs no owner channel.
func TestParseNotificationsOff(t *testing.T) {
	src := "version: 1\nnotifications:\n  owner_tags: []\n  account_contact: false\n  security_team: {contact: '#sec', channel: s}\n  channels:\n    s: {type: slack, url_file: slack.url}\n"
	if got := problems(t, src); got != nil {
		t.Errorf("problems: %q", got)
	}
}

// TestNotificationsDocExample: the policy section of docs/notifications.md
// is valid, and says what the page says it does.
func TestNotificationsDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/notifications.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "## The policy section\n\n```yaml\n")
	if !ok {
		t.Fatal("docs/notifications.md has no policy section example")
	}
	example, _, _ := strings.Cut(rest, "```")
	p, err := Parse("keywarden.yaml", []byte("version: 1\n"+example))
	if err != nil {
		t.Fatalf("the example of docs/notifications.md is invalid:\n%v", err)
	}
	n := p.Notifications
	if len(n.Channels) != 5 || len(n.Owners) != 2 || n.OwnerChannel != "email" || n.SecurityTeam == nil || n.Templates.TeamHTML == "" {
		t.Errorf("the example parses to %+v", n)
	}
	for _, typ := range channelconfig.Types {
		found := false
		for _, c := range n.Channels {
			found = found || c.Type == typ
		}
		if !found {
			t.Errorf("the example has no %s channel", typ)
		}
	}
}
