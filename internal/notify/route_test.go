package notify_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/notify"
)

func TestRoute(t *testing.T) {
	pol := parsePolicy(t, testPolicy)
	noAccountContact := parsePolicy(t, testPolicy+"  account_contact: false\n")
	noDefault := parsePolicy(t, `version: 1
notifications:
  account_contact: false
  owner_channel: email
  channels:
    email: {type: ses, ses: {from: keywarden@example.com}}
`)
	noChannels := parsePolicy(t, "version: 1\n")
	tests := []struct {
		name  string
		pol   string
		owner notify.Owner
		want  notify.Recipient
		found bool
	}{
		{"tag owner", "", owner("alice", map[string]string{"owner": "alice@example.com", "email": "other@example.com"}),
			notify.Recipient{Contact: "alice@example.com", Channel: "email", Via: "tag owner"}, true},
		{"the second tag key", "", owner("alice", map[string]string{"team": "x", "email": "a@example.com"}),
			notify.Recipient{Contact: "a@example.com", Channel: "email", Via: "tag email"}, true},
		{"a tag key in another case", "", owner("alice", map[string]string{"Owner": " Alice <alice@example.com> "}),
			notify.Recipient{Contact: "Alice <alice@example.com>", Channel: "email", Via: "tag Owner"}, true},
		{"a tag that is not an address, for e-mail", "", owner("alice", map[string]string{"owner": "team-alice", "email": "alice@example.com"}),
			notify.Recipient{Contact: "alice@example.com", Channel: "email", Via: "tag email"}, true},
		{"an empty tag", "", owner("alice", map[string]string{"owner": " "}),
			notify.Recipient{Contact: "aws-prod@example.com", Channel: "email", Via: "account contact"}, true},
		{"owners map by user glob", "", owner("svc-billing-eu", nil),
			notify.Recipient{Contact: "billing@example.com", Channel: "email", Via: "owners map (p.yaml:5)"}, true},
		{"a tag beats the owners map", "", owner("svc-billing-eu", map[string]string{"owner": "bob@example.com"}),
			notify.Recipient{Contact: "bob@example.com", Channel: "email", Via: "tag owner"}, true},
		{"owners map by account", "", notify.Owner{AccountID: "222222222222", AccountEmail: "aws-pay@example.com", UserName: "ci"},
			notify.Recipient{Contact: "#payments", Channel: "slack", Via: "owners map (p.yaml:7)"}, true},
		{"account contact", "", owner("carol", nil),
			notify.Recipient{Contact: "aws-prod@example.com", Channel: "email", Via: "account contact"}, true},
		{"account contact not known", "", notify.Owner{AccountID: "333333333333", UserName: "carol"},
			notify.Recipient{Contact: "cloud@example.com", Channel: "email", Via: "default"}, true},
		{"account contact off", "off", owner("carol", nil),
			notify.Recipient{Contact: "cloud@example.com", Channel: "email", Via: "default"}, true},
		{"nobody", "nodefault", owner("carol", map[string]string{"owner": "not-an-address"}), notify.Recipient{}, false},
		{"no channels: who would be told", "none", owner("carol", map[string]string{"contact": "#carol"}),
			notify.Recipient{Contact: "#carol", Via: "tag contact"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pol
			switch tt.pol {
			case "off":
				p = noAccountContact
			case "nodefault":
				p = noDefault
			case "none":
				p = noChannels
			}
			got, ok := notify.Route(p, tt.owner)
			if ok != tt.found {
				t.Fatalf("Route found = %v, want %v (%+v)", ok, tt.found, got)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Route (-want +got):\n%s", diff)
			}
		})
	}
	team, ok := notify.Team(pol)
	if want := (notify.Recipient{Contact: "security@example.com", Channel: "hooks", Team: true, Via: "security team"}); !ok || team != want {
		t.Errorf("Team = %+v, %v; want %+v", team, ok, want)
	}
	if _, ok := notify.Team(noDefault); ok {
		t.Errorf("Team without a security team: found one")
	}
}
