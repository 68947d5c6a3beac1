package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRotation(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		want     Rotation
		problems []string
	}{
		{"default", "version: 1\n", DefaultRotation(), nil},
		{"all", `version: 1
rotation:
  enabled: true
  secret_name: "iam/{{.Account}}/{{ .User }}"
  readers: ["arn:aws:iam::111111111111:role/app", "arn:aws:iam::111111111111:root"]
  kms_key_id: alias/keywarden
  replica_regions: [eu-central-1]
  region: eu-west-1
  quiet_window: 2d
  on_deadline: deactivate
`, Rotation{Enabled: true, SecretName: "iam/{{.Account}}/{{ .User }}",
			Readers: []string{"arn:aws:iam::111111111111:role/app", "arn:aws:iam::111111111111:root"}, KMSKeyID: "alias/keywarden",
			ReplicaRegions: []string{"eu-central-1"}, Region: "eu-west-1", QuietWindow: Duration(48 * time.Hour), OnDeadline: OnDeadlineDeactivate, Line: 3}, nil},
		{"quiet window shorter than IAM's delay", "version: 1\nrotation:\n  quiet_window: 1h\n", Rotation{}, []string{
			`p.yaml:3:17: rotation.quiet_window: 1h is shorter than IAM's delay in showing a key's last use (up to about 4 hours): want at least 4h`}},
		{"bad on_deadline", "version: 1\nrotation:\n  on_deadline: delete\n", Rotation{}, []string{
			`p.yaml:3:16: rotation.on_deadline: want hold (keep the old key, tell the owner and the security team) or deactivate, not "delete"`}},
		{"bad name characters", "version: 1\nrotation:\n  secret_name: \"keys/{{.User}}!\"\n", Rotation{}, []string{
			`p.yaml:3:16: rotation.secret_name: "keys/{{.User}}!": a Secrets Manager name holds only ASCII letters, digits and /_+=.@-`}},
		{"unknown placeholder", "version: 1\nrotation:\n  secret_name: \"keys/{{.Owner}}\"\n", Rotation{}, []string{
			`p.yaml:3:16: rotation.secret_name: unknown placeholder {{.Owner}}: want {{.User}} or {{.Account}}`}},
		{"no user", "version: 1\nrotation:\n  secret_name: \"keys/{{.Account}}\"\n", Rotation{}, []string{
			`p.yaml:3:16: rotation.secret_name: "keys/{{.Account}}" has no {{.User}}: every user needs a secret of its own`}},
		{"template code", "version: 1\nrotation:\n  secret_name: \"keys/{{.User}}{{if 1}}x{{end}}\"\n", Rotation{}, []string{
			`p.yaml:3:16: rotation.secret_name: "keys/{{.User}}{{if 1}}x{{end}}": the placeholders are {{.User}} and {{.Account}}, nothing else`}},
		{"bad reader", "version: 1\nrotation:\n  readers: [alice]\n", Rotation{}, []string{
			`p.yaml:3:13: rotation.readers[0]: want a principal ARN such as arn:aws:iam::111111111111:role/app, not "alice"`}},
		{"bad region", "version: 1\nrotation:\n  region: Ireland\n  replica_regions: [eu-west-1, mars]\n", Rotation{}, []string{
			`p.yaml:3:11: rotation.region: want a region such as eu-west-1, not "Ireland"`,
			`p.yaml:4:32: rotation.replica_regions[1]: want a region such as eu-west-1, not "mars"`}},
		{"replica in own region", "version: 1\nrotation:\n  region: eu-west-1\n  replica_regions: [eu-west-1]\n", Rotation{}, []string{
			`p.yaml:3:3: rotation.replica_regions: eu-west-1 is the secret's own region (rotation.region): a replica goes to another region`}},
		{"typo", "version: 1\nrotation:\n  enable: true\n", Rotation{}, []string{
			`p.yaml:3:3: rotation.enable: unknown key (did you mean enabled?); want one of enabled, secret_name, readers, kms_key_id, replica_regions, region, quiet_window, on_deadline`}},
		{"not a bool", "version: 1\nrotation:\n  enabled: yes please\n", Rotation{}, []string{
			`p.yaml:3:12: rotation.enabled: want true or false, not "yes please"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte(tt.yaml))
			if tt.problems != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Parse: %v, want problems", err)
				}
				var got []string
				for _, pr := range ve.Problems {
					got = append(got, pr.String())
				}
				if diff := cmp.Diff(tt.problems, got); diff != "" {
					t.Errorf("problems (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.Rotation); diff != "" {
				t.Errorf("rotation (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRotationHash: an enabled rotation section is part of the policy's
// hash (it changes what apply does), a disabled one is not.
func TestRotationHash(t *testing.T) {
	hash := func(y string) string {
		t.Helper()
		p, err := Parse("p.yaml", []byte("version: 1\n"+y))
		if err != nil {
			t.Fatal(err)
		}
		return p.Hash
	}
	base := hash("")
	if got := hash("rotation: {enabled: false, kms_key_id: alias/x}\n"); got != base {
		t.Errorf("a disabled rotation section changed the hash")
	}
	on := hash("rotation: {enabled: true}\n")
	if on == base {
		t.Errorf("enabling rotation did not change the hash")
	}
	if hash("rotation: {enabled: true, readers: [\"arn:aws:iam::111111111111:role/app\"]}\n") == on ||
		hash("rotation: {enabled: true, secret_name: \"k/{{.User}}\"}\n") == on ||
		hash("rotation: {enabled: true, region: eu-west-1}\n") == on ||
		hash("rotation: {enabled: true, quiet_window: 2d}\n") == on ||
		hash("rotation: {enabled: true, on_deadline: deactivate}\n") == on {
		t.Errorf("a change to an enabled rotation section did not change the hash")
	}
	if hash("rotation:\n  enabled: true\n") != on {
		t.Errorf("the hash depends on how the section is written")
	}
}

func TestSecretNameFor(t *testing.T) {
	r := Rotation{SecretName: "iam/{{.Account}}/{{.User}}"}
	if got, err := r.SecretNameFor("111111111111", "alice"); err != nil || got != "iam/111111111111/alice" {
		t.Errorf("SecretNameFor = %q, %v", got, err)
	}
	if got, err := (Rotation{}).SecretNameFor("111111111111", "bob"); err != nil || got != "keywarden/iam-user/bob" {
		t.Errorf("default SecretNameFor = %q, %v", got, err)
	}
	// IAM allows a comma in a user's name; Secrets Manager does not.
	if _, err := r.SecretNameFor("111111111111", "a,b"); err == nil || !strings.Contains(err.Error(), "not a valid Secrets Manager name") {
		t.Errorf("SecretNameFor(a,b) = %v, want an error", err)
	}
}
