package policy

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the actual output")

// problems parses src as p.yaml and returns its problems as text, nil if
// it is valid.
func problems(t *testing.T, src string) []string {
	t.Helper()
	p, err := Parse("p.yaml", []byte(src))
	if err == nil {
		if p == nil {
			t.Fatal("Parse returned neither a policy nor an error")
		}
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse error is %T, want *ValidationError: %v", err, err)
	}
	if p != nil {
		t.Errorf("Parse returned a policy with its error")
	}
	var out []string
	for _, pr := range ve.Problems {
		out = append(out, pr.String())
	}
	return out
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// The file as a whole.
		{"empty", "", []string{"p.yaml: empty policy file: want at least `version: 1`"}},
		{"comments only", "# nothing yet\n", []string{"p.yaml: empty policy file: want at least `version: 1`"}},
		{"document marker only", "---\n", []string{"p.yaml: empty policy file: want at least `version: 1`"}},
		{"two documents", "version: 1\n---\nversion: 1\n", []string{
			"p.yaml:2:1: a second YAML document: a policy file holds one (remove the --- line)"}},
		{"tab", "version: 1\nrules:\n\tmax_age: {}\n", []string{
			"p.yaml:3: invalid YAML: found character that cannot start any token (the line holds a tab: YAML indents with spaces only)"}},
		{"syntax error", "version: 1\nrules: [\n", []string{"p.yaml:2: invalid YAML: did not find expected node content"}},
		{"unknown anchor", "version: *v\n", []string{"p.yaml: invalid YAML: unknown anchor 'v' referenced"}},
		{"not a mapping", "- version: 1\n", []string{
			"p.yaml:1:1: want a mapping of sections (version, accounts, rules, exemptions, overrides, safety, notifications, automation, rotation), not a list"}},
		{"unknown key", "version: 1\ncolour: red\n", []string{
			"p.yaml:2:1: colour: unknown key; want one of version, accounts, rules, exemptions, overrides, safety, notifications, automation, rotation"}},
		{"unknown key near a known one", "version: 1\nexemption: []\n", []string{
			"p.yaml:2:1: exemption: unknown key (did you mean exemptions?); want one of version, accounts, rules, exemptions, overrides, safety, notifications, automation, rotation"}},
		{"duplicate key", "version: 1\nsafety: {}\nsafety: {}\n", []string{"p.yaml:3:1: safety: duplicate key (first at line 2)"}},
		{"alias", "version: 1\nsafety:\n  protected_users: &p [a]\naccounts:\n  exclude: *p\n", []string{
			"p.yaml:5:12: accounts.exclude: YAML aliases (*p) are not supported: write the value out"}},
		{"alias in a list", "version: 1\nsafety:\n  protected_users: [&u a, *u]\n", []string{
			"p.yaml:3:27: safety.protected_users[1]: YAML aliases (*u) are not supported: write the value out"}},
		{"merge key", "version: 1\nrules:\n  max_age:\n    <<: {rotate: 90d}\n", []string{
			"p.yaml:4:5: rules.max_age: merge keys (<<) are not supported: write the settings out"}},
		{"complex key", "version: 1\n? [a]\n: b\n", []string{"p.yaml:2:3: want a key name, not a list"}},

		// version
		{"version missing", "rules: {}\n", []string{"p.yaml:1:1: version: missing: a policy file starts with `version: 1`"}},
		{"version 2", "version: 2\n", []string{"p.yaml:1:10: version: unsupported version 2: this keywarden reads version 1"}},
		{"version quoted", "version: \"1\"\n", []string{`p.yaml:1:10: version: want the number 1, not "1"`}},
		{"version list", "version: [1]\n", []string{"p.yaml:1:10: version: want the number 1, not a list"}},

		// accounts
		{"accounts unknown key", "version: 1\naccounts:\n  org: true\n", []string{
			"p.yaml:3:3: accounts.org: unknown key; want one of organization, ous, accounts, exclude, role_name, act_role_name, external_id_env"}},
		{"organization not a bool", "version: 1\naccounts:\n  organization: yes\n", []string{
			`p.yaml:3:17: accounts.organization: want true or false, not "yes"`}},
		{"account ID too short", "version: 1\naccounts:\n  accounts: [\"12345\"]\n", []string{
			`p.yaml:3:14: accounts.accounts[0]: "12345" is not an account ID: want 12 digits, quoted like "111111111111"`}},
		{"account ID unquoted, 13 digits", "version: 1\naccounts:\n  exclude: [1234567890123]\n", []string{
			`p.yaml:3:13: accounts.exclude[0]: "1234567890123" is not an account ID: want 12 digits, quoted like "111111111111"`}},
		{"account ID unquoted, not plain digits", "version: 1\naccounts:\n  exclude: [0x1234567890]\n", []string{
			`p.yaml:3:13: accounts.exclude[0]: "0x1234567890" is not an account ID: want 12 digits, quoted like "111111111111"`}},
		{"account IDs not a list", "version: 1\naccounts:\n  exclude: \"111111111111\"\n", []string{
			`p.yaml:3:12: accounts.exclude: want a list, not "111111111111"`}},
		{"bad OU", "version: 1\naccounts:\n  ous: [ou-ab12-sandbox]\n", []string{
			`p.yaml:3:9: accounts.ous[0]: "ou-ab12-sandbox" is not an OU ID: want ou-xxxx-xxxxxxxx`}},
		{"root among scan OUs", "version: 1\naccounts:\n  ous: [r-ab12]\n", []string{
			`p.yaml:3:9: accounts.ous[0]: "r-ab12" is the organization's root: use organization: true`}},
		{"OU entry a mapping", "version: 1\naccounts:\n  ous: [{id: ou-ab12-34cd56ef}]\n", []string{
			"p.yaml:3:9: accounts.ous[0]: want text, not a mapping"}},
		{"role name", "version: 1\naccounts:\n  role_name: my role\n", []string{
			`p.yaml:3:14: accounts.role_name: "my role" is not an IAM role name: 1 to 64 letters, digits and +=,.@_-`}},
		{"role name too long", "version: 1\naccounts:\n  role_name: " + strings.Repeat("r", 65) + "\n", []string{
			`p.yaml:3:14: accounts.role_name: "` + strings.Repeat("r", 65) + `" is not an IAM role name: 1 to 64 letters, digits and +=,.@_-`}},
		{"act role name", "version: 1\naccounts:\n  act_role_name: act/role\n", []string{
			`p.yaml:3:18: accounts.act_role_name: "act/role" is not an IAM role name: 1 to 64 letters, digits and +=,.@_-`}},
		{"role name empty", "version: 1\naccounts:\n  role_name:\n", []string{
			"p.yaml:3:13: accounts.role_name: want text, not nothing"}},
		{"external ID variable", "version: 1\naccounts:\n  external_id_env: 1-EXTERNAL\n", []string{
			`p.yaml:3:20: accounts.external_id_env: "1-EXTERNAL" is not an environment variable name: letters, digits and _, not starting with a digit`}},

		// rules
		{"rules a list", "version: 1\nrules: [max_age]\n", []string{
			"p.yaml:2:8: rules: want a mapping of rule names (key: value), not a list"}},
		{"unknown rule", "version: 1\nrules:\n  max-age: {rotate: 90d}\n", []string{
			`p.yaml:3:3: rules.max-age: unknown rule "max-age" (did you mean max_age?); the rules are max_age, unused, unused_initial, multiple_active, root_key, inactive_cleanup`}},
		{"expired exemptions are not a rule", "version: 1\nrules:\n  exemption_expired: {}\n", []string{
			`p.yaml:3:3: rules.exemption_expired: unknown rule "exemption_expired"; the rules are max_age, unused, unused_initial, multiple_active, root_key, inactive_cleanup`}},
		{"rule a scalar", "version: 1\nrules:\n  max_age: 90d\n", []string{
			`p.yaml:3:12: rules.max_age: want a mapping of settings (key: value), not "90d"`}},
		{"rule unknown key", "version: 1\nrules:\n  max_age:\n    rotate: 90d\n    rotat: 3d\n", []string{
			"p.yaml:5:5: rules.max_age.rotat: unknown key (did you mean rotate?); want one of enabled, severity, warn, rotate, deactivate, delete"}},
		{"multiple_active unknown key", "version: 1\nrules:\n  multiple_active: {mode: report}\n", []string{
			"p.yaml:3:21: rules.multiple_active.mode: unknown key; want one of enabled, severity, action"}},
		{"bad duration", "version: 1\nrules:\n  max_age:\n    rotate: 9x\n", []string{
			`p.yaml:4:13: rules.max_age.rotate: "9x": unknown unit "x": want h (hours), d (days) or w (weeks)`}},
		{"not a duration", "version: 1\nrules:\n  max_age:\n    rotate: ninety\n", []string{
			`p.yaml:4:13: rules.max_age.rotate: "ninety" is not a duration: want a number and a unit, like 90d, 36h or 2w`}},
		{"duration without unit", "version: 1\nrules:\n  max_age:\n    rotate: 90\n", []string{
			`p.yaml:4:13: rules.max_age.rotate: "90" has no unit: write 90d for days, 90h for hours or 90w for weeks`}},
		{"zero duration", "version: 1\nrules:\n  max_age:\n    rotate: 0d\n", []string{
			`p.yaml:4:13: rules.max_age.rotate: "0d": a threshold must be more than zero`}},
		{"negative duration", "version: 1\nrules:\n  max_age:\n    rotate: -3d\n", []string{
			`p.yaml:4:13: rules.max_age.rotate: "-3d" is not a duration: want a number and a unit, like 90d, 36h or 2w`}},
		{"huge duration", "version: 1\nrules:\n  max_age:\n    rotate: 2000000000w\n", []string{
			`p.yaml:4:13: rules.max_age.rotate: "2000000000w" is too long: at most 36500d (100 years)`}},
		{"duration a list", "version: 1\nrules:\n  max_age:\n    rotate: [90d]\n", []string{
			"p.yaml:4:13: rules.max_age.rotate: want a duration like 90d, 36h or 2w, not a list"}},
		{"stage not allowed", "version: 1\nrules:\n  unused:\n    rotate: 30d\n    deactivate: 45d\n", []string{
			"p.yaml:4:5: rules.unused.rotate: unused has no rotate stage; its stages are warn, deactivate, delete"}},
		{"inactive_cleanup deactivate", "version: 1\nrules:\n  inactive_cleanup: {deactivate: 10d, delete: 30d}\n", []string{
			"p.yaml:3:22: rules.inactive_cleanup.deactivate: inactive_cleanup has no deactivate stage; its stages are warn, delete"}},
		{"root_key stage", "version: 1\nrules:\n  root_key: {warn: 1d}\n", []string{
			"p.yaml:3:14: rules.root_key.warn: root_key has no stages: it only reports (no role can remove the root user's keys)"}},
		{"multiple_active stage", "version: 1\nrules:\n  multiple_active: {delete: 1d}\n", []string{
			"p.yaml:3:21: rules.multiple_active.delete: multiple_active has no stages: it reports, or deactivates the key used less recently with action: deactivate_less_used"}},
		{"stages out of order", "version: 1\nrules:\n  max_age:\n    warn: 90d\n    rotate: 80d\n", []string{
			"p.yaml:5:13: rules.max_age.rotate: rotate (80d) must be more than warn (90d): stages run warn → rotate → deactivate → delete"}},
		{"equal stages", "version: 1\nrules:\n  unused: {warn: 2w, delete: 14d}\n", []string{
			"p.yaml:3:30: rules.unused.delete: delete (14d) must be more than warn (14d): stages run warn → rotate → deactivate → delete"}},
		{"order checked beside a bad duration", "version: 1\nrules:\n  max_age: {warn: 90d, rotate: 80d, delete: 9x}\n", []string{
			"p.yaml:3:32: rules.max_age.rotate: rotate (80d) must be more than warn (90d): stages run warn → rotate → deactivate → delete",
			`p.yaml:3:45: rules.max_age.delete: "9x": unknown unit "x": want h (hours), d (days) or w (weeks)`}},
		{"no stage", "version: 1\nrules:\n  max_age: {severity: high}\n", []string{
			"p.yaml:3:12: rules.max_age: no stage: set at least one of warn, rotate, deactivate, delete, or `enabled: false` to turn the rule off"}},
		{"bad severity", "version: 1\nrules:\n  root_key: {severity: urgent}\n", []string{
			`p.yaml:3:24: rules.root_key.severity: unknown severity "urgent": want info, low, medium, high or critical`}},
		{"enabled not a bool", "version: 1\nrules:\n  root_key: {enabled: \"no\"}\n", []string{
			`p.yaml:3:23: rules.root_key.enabled: want true or false, not "no"`}},
		{"action on another rule", "version: 1\nrules:\n  max_age: {rotate: 90d, action: deactivate_less_used}\n", []string{
			"p.yaml:3:26: rules.max_age.action: only multiple_active has an action; its stages are warn, rotate, deactivate, delete"}},
		{"unknown action", "version: 1\nrules:\n  multiple_active: {action: delete_both}\n", []string{
			`p.yaml:3:29: rules.multiple_active.action: unknown action "delete_both": want report or deactivate_less_used`}},
		{"duplicate rule", "version: 1\nrules:\n  root_key: {}\n  root_key: {}\n", []string{
			"p.yaml:4:3: rules.root_key: duplicate key (first at line 3)"}},

		// exemptions
		{"exemptions a mapping", "version: 1\nexemptions: {users: [a]}\n", []string{
			"p.yaml:2:13: exemptions: want a list, not a mapping"}},
		{"exemption a scalar", "version: 1\nexemptions: [svc-*]\n", []string{
			`p.yaml:2:14: exemptions[0]: want an exemption (a mapping with a reason), not "svc-*"`}},
		{"exemption without reason", "version: 1\nexemptions:\n  - users: [svc-*]\n", []string{
			`p.yaml:3:5: exemptions[0].reason: missing: every exemption says why (reason: "…")`}},
		{"exemption with a blank reason", "version: 1\nexemptions:\n  - users: [svc-*]\n    reason: \"  \"\n", []string{
			"p.yaml:4:13: exemptions[0].reason: blank: say why these keys are exempt"}},
		{"exemption with a null reason", "version: 1\nexemptions:\n  - users: [svc-*]\n    reason:\n", []string{
			"p.yaml:4:12: exemptions[0].reason: want text, not nothing"}},
		{"exemption without criteria", "version: 1\nexemptions:\n  - rules: [max_age]\n    reason: all of them\n", []string{
			"p.yaml:3:5: exemptions[0]: exempts every key: give at least one of accounts, ous, users, paths, groups or tags"}},
		{"exemption with an empty list", "version: 1\nexemptions:\n  - users: [svc-*]\n    accounts: []\n    reason: r\n", []string{
			"p.yaml:4:15: exemptions[0].accounts: empty list: list at least one, or leave the key out"}},
		{"exemption with a null list", "version: 1\nexemptions:\n  - users:\n    reason: r\n", []string{
			"p.yaml:3:11: exemptions[0].users: empty list: list at least one, or leave the key out"}},
		{"exemption unknown key", "version: 1\nexemptions:\n  - user: [svc-*]\n    reason: r\n", []string{
			"p.yaml:3:5: exemptions[0].user: unknown key (did you mean users?); want one of accounts, ous, users, paths, groups, tags, rules, reason, expires",
			"p.yaml:3:5: exemptions[0]: exempts every key: give at least one of accounts, ous, users, paths, groups or tags"}},
		{"exemption bad account", "version: 1\nexemptions:\n  - accounts: [\"11111111111\"]\n    reason: r\n", []string{
			`p.yaml:3:16: exemptions[0].accounts[0]: "11111111111" is not an account ID: want 12 digits, quoted like "111111111111"`}},
		{"exemption bad OU", "version: 1\nexemptions:\n  - ous: [ou-AB12-34cd56ef]\n    reason: r\n", []string{
			`p.yaml:3:11: exemptions[0].ous[0]: "ou-AB12-34cd56ef" is not an OU or root ID: want ou-xxxx-xxxxxxxx or r-xxxx`}},
		{"exemption bad user pattern", "version: 1\nexemptions:\n  - users: [\"svc-[\"]\n    reason: r\n", []string{
			`p.yaml:3:13: exemptions[0].users[0]: "svc-[" is not a valid pattern: syntax error in pattern`}},
		{"exemption empty user pattern", "version: 1\nexemptions:\n  - users: [\"\"]\n    reason: r\n", []string{
			"p.yaml:3:13: exemptions[0].users[0]: empty pattern"}},
		{"exemption relative path", "version: 1\nexemptions:\n  - paths: [service/*]\n    reason: r\n", []string{
			`p.yaml:3:13: exemptions[0].paths[0]: "service/*" is not an IAM path: paths start with /, like /service/ or /service/*/`}},
		{"exemption bad path pattern", "version: 1\nexemptions:\n  - paths: [\"/svc/[a\"]\n    reason: r\n", []string{
			`p.yaml:3:13: exemptions[0].paths[0]: "/svc/[a" is not a valid pattern: syntax error in pattern`}},
		{"exemption group pattern", "version: 1\nexemptions:\n  - groups: [admins-*]\n    reason: r\n", []string{
			`p.yaml:3:14: exemptions[0].groups[0]: "admins-*" is not an IAM group name: letters, digits and +=,.@_- (exact names, no patterns)`}},
		{"exemption unknown rule", "version: 1\nexemptions:\n  - users: [a]\n    rules: [max_age, unsed]\n    reason: r\n", []string{
			`p.yaml:4:22: exemptions[0].rules[1]: unknown rule "unsed" (did you mean unused?); the rules are max_age, unused, unused_initial, multiple_active, root_key, inactive_cleanup`}},
		{"exemption empty rules", "version: 1\nexemptions:\n  - users: [a]\n    rules: []\n    reason: r\n", []string{
			"p.yaml:4:12: exemptions[0].rules: empty list: list at least one, or leave the key out"}},
		{"exemption bad date", "version: 1\nexemptions:\n  - users: [a]\n    reason: r\n    expires: 2027-02-30\n", []string{
			`p.yaml:5:14: exemptions[0].expires: "2027-02-30" is not a date: want YYYY-MM-DD`}},
		{"exemption date with time", "version: 1\nexemptions:\n  - users: [a]\n    reason: r\n    expires: 2027-01-31T12:00:00Z\n", []string{
			`p.yaml:5:14: exemptions[0].expires: "2027-01-31T12:00:00Z" is not a date: want YYYY-MM-DD`}},
		{"exemption date short", "version: 1\nexemptions:\n  - users: [a]\n    reason: r\n    expires: \"2027-1-31\"\n", []string{
			`p.yaml:5:14: exemptions[0].expires: "2027-1-31" is not a date: want YYYY-MM-DD`}},
		{"exemption date a list", "version: 1\nexemptions:\n  - users: [a]\n    reason: r\n    expires: [2027-01-31]\n", []string{
			"p.yaml:5:14: exemptions[0].expires: want a date like 2027-01-31, not a list"}},
		{"tags a list", "version: 1\nexemptions:\n  - tags: [keywarden-exempt]\n    reason: r\n", []string{
			"p.yaml:3:11: exemptions[0].tags: want a mapping of tag keys to values (key: value), not a list"}},
		{"tag value a mapping", "version: 1\nexemptions:\n  - tags: {team: {name: x}}\n    reason: r\n", []string{
			`p.yaml:3:18: exemptions[0].tags.team: want the tag's value as text ("*" matches any value), not a mapping`}},
		{"tag value missing", "version: 1\nexemptions:\n  - tags: {team: }\n    reason: r\n", []string{
			`p.yaml:3:18: exemptions[0].tags.team: want the tag's value as text ("*" matches any value), not nothing`}},
		{"tags empty", "version: 1\nexemptions:\n  - tags: {}\n    reason: r\n", []string{
			"p.yaml:3:11: exemptions[0].tags: empty: give at least one tag, or leave the key out"}},
		{"tag key empty", "version: 1\nexemptions:\n  - tags: {\"\": x}\n    reason: r\n", []string{
			"p.yaml:3:12: exemptions[0].tags: empty tag key"}},

		// overrides
		{"override a scalar", "version: 1\noverrides: [x]\n", []string{
			`p.yaml:2:13: overrides[0]: want an override (a mapping with accounts or ous, and rules), not "x"`}},
		{"override without target", "version: 1\noverrides:\n  - rules: {max_age: {rotate: 30d}}\n", []string{
			"p.yaml:3:5: overrides[0]: applies to nothing: give accounts or ous"}},
		{"override without rules", "version: 1\noverrides:\n  - accounts: [\"111111111111\"]\n", []string{
			"p.yaml:3:5: overrides[0].rules: missing: an override changes at least one rule, like rules: {max_age: {rotate: 30d}}"}},
		{"override with empty rules", "version: 1\noverrides:\n  - accounts: [\"111111111111\"]\n    rules: {}\n", []string{
			"p.yaml:4:12: overrides[0].rules: empty: an override changes at least one rule, like max_age: {rotate: 30d}"}},
		{"override unknown key", "version: 1\noverrides:\n  - account: [\"111111111111\"]\n    rules: {max_age: {rotate: 30d}}\n", []string{
			"p.yaml:3:5: overrides[0].account: unknown key (did you mean accounts?); want one of accounts, ous, rules",
			"p.yaml:3:5: overrides[0]: applies to nothing: give accounts or ous"}},
		{"override unknown rule", "version: 1\noverrides:\n  - ous: [r-ab12]\n    rules: {maxage: {rotate: 30d}}\n", []string{
			`p.yaml:4:13: overrides[0].rules.maxage: unknown rule "maxage" (did you mean max_age?); the rules are max_age, unused, unused_initial, multiple_active, root_key, inactive_cleanup`}},
		{"override bad account", "version: 1\noverrides:\n  - accounts: [\"1111\"]\n    rules: {max_age: {rotate: 30d}}\n", []string{
			`p.yaml:3:16: overrides[0].accounts[0]: "1111" is not an account ID: want 12 digits, quoted like "111111111111"`}},
		{"override stage not allowed", "version: 1\noverrides:\n  - ous: [ou-ab12-34cd56ef]\n    rules: {unused: {rotate: 30d}}\n", []string{
			"p.yaml:4:22: overrides[0].rules.unused.rotate: unused has no rotate stage; its stages are warn, deactivate, delete"}},
		{"override against the default", "version: 1\noverrides:\n  - ous: [ou-ab12-34cd56ef]\n    rules:\n      max_age: {warn: 100d}\n", []string{
			"p.yaml:5:23: overrides[0].rules.max_age.warn: warn (100d) must be less than rotate (90d, the default max_age): stages run warn → rotate → deactivate → delete"}},
		{"override against the file", "version: 1\nrules:\n  max_age:\n    warn: 80d\n    rotate: 90d\noverrides:\n  - ous: [ou-ab12-sandbox1]\n    rules:\n      max_age: {deactivate: 30d}\n", []string{
			"p.yaml:9:29: overrides[0].rules.max_age.deactivate: deactivate (30d) must be more than rotate (90d, from rules.max_age at line 5): stages run warn → rotate → deactivate → delete"}},
		{"override order within itself", "version: 1\noverrides:\n  - accounts: [\"111111111111\"]\n    rules:\n      unused: {warn: 10d, deactivate: 5d}\n", []string{
			"p.yaml:5:39: overrides[0].rules.unused.deactivate: deactivate (5d) must be more than warn (10d): stages run warn → rotate → deactivate → delete"}},
		{"override before the rules", "version: 1\noverrides:\n  - accounts: [\"111111111111\"]\n    rules: {unused: {deactivate: 50d}}\nrules:\n  unused: {deactivate: 40d, delete: 45d}\n", []string{
			"p.yaml:4:34: overrides[0].rules.unused.deactivate: deactivate (50d) must be less than delete (45d, from rules.unused at line 6): stages run warn → rotate → deactivate → delete"}},
		{"override enables a rule without stages", "version: 1\nrules:\n  max_age: {enabled: false}\noverrides:\n  - accounts: [\"111111111111\"]\n    rules: {max_age: {enabled: true}}\n", []string{
			"p.yaml:6:22: overrides[0].rules.max_age: enables max_age, which has no stage: set at least one of warn, rotate, deactivate, delete"}},

		// safety
		{"safety limits out of range", "version: 1\nsafety:\n  max_actions: 0\n  max_account_fraction: 1.5\n  recent_use_guard: 1x\n", []string{
			"p.yaml:3:16: safety.max_actions: want a whole number from 1 to 100000, not \"0\"",
			"p.yaml:4:25: safety.max_account_fraction: want a fraction more than 0 and at most 1, like 0.25, not \"1.5\"",
			"p.yaml:5:21: safety.recent_use_guard: \"1x\": unknown unit \"x\": want h (hours), d (days) or w (weeks)"}},
		{"safety unknown key", "version: 1\nsafety:\n  protected: [a]\n", []string{
			"p.yaml:3:3: safety.protected: unknown key (did you mean protected_users?); want one of protected_users, recent_use_guard, max_actions, max_account_fraction, max_plan_age"}},
		{"protected users bad pattern", "version: 1\nsafety:\n  protected_users: [\"break-glass-[\"]\n", []string{
			`p.yaml:3:21: safety.protected_users[0]: "break-glass-[" is not a valid pattern: syntax error in pattern`}},
		{"protected users not a list", "version: 1\nsafety:\n  protected_users: break-glass-*\n", []string{
			`p.yaml:3:20: safety.protected_users: want a list, not "break-glass-*"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, problems(t, tt.src)); diff != "" {
				t.Errorf("problems (-want +got):\n%s\nfile:\n%s", diff, tt.src)
			}
		})
	}
}

// TestParseManyProblems checks that one file with many problems reports
// them all, sorted by line, in the format of the golden file.
func TestParseManyProblems(t *testing.T) {
	const name = "testdata/problems.yaml"
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(name, data)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse: got %v, want a *ValidationError", err)
	}
	if len(ve.Problems) < 20 {
		t.Errorf("got %d problems, want every one of at least 20:\n%v", len(ve.Problems), err)
	}
	for i := 1; i < len(ve.Problems); i++ {
		a, b := ve.Problems[i-1], ve.Problems[i]
		if a.Line > b.Line || (a.Line == b.Line && a.Column > b.Column) {
			t.Errorf("problems not sorted: %v before %v", a, b)
		}
	}
	golden(t, "testdata/problems.golden", err.Error()+"\n")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(name, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", name, diff)
	}
}

func dur(s string) *Duration {
	d, err := ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return &d
}

func TestParseValid(t *testing.T) {
	const name = "testdata/valid.yaml"
	p, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	want := &Policy{
		Version: 1,
		Accounts: AccountsConfig{
			Organization:  true,
			OUs:           []string{"ou-ab12-34cd56ef"},
			Exclude:       []string{"222222222222"},
			RoleName:      "KeywardenSpoke",
			ExternalIDEnv: "KEYWARDEN_EXTERNAL_ID",
		},
		Rules: map[RuleName]RuleConfig{
			MaxAge:          {Severity: SeverityMedium, Thresholds: Thresholds{Warn: dur("80d"), Rotate: dur("90d"), Deactivate: dur("100d"), Delete: dur("110d")}},
			Unused:          {Severity: SeverityMedium, Thresholds: Thresholds{Warn: dur("30d"), Deactivate: dur("45d"), Delete: dur("90d")}},
			UnusedInitial:   {Severity: SeverityLow, Thresholds: Thresholds{Deactivate: dur("7d")}},
			MultipleActive:  {Severity: SeverityMedium, Action: ActionReport},
			RootKey:         {Severity: SeverityCritical},
			InactiveCleanup: {Severity: SeverityLow, Thresholds: Thresholds{Delete: dur("30d")}},
		},
		Exemptions: []Exemption{{
			Users:    []string{"svc-legacy-*"},
			Accounts: []string{"111111111111"},
			Rules:    []RuleName{MaxAge},
			Reason:   "vendor appliance; SEC-123",
			Expires:  &Date{2027, 1, 31},
			Line:     18,
		}, {
			Tags:   map[string]string{"keywarden-exempt": "true"},
			Reason: "owner-managed rotation",
			Line:   23,
		}},
		Overrides: []Override{{
			OUs: []string{"ou-ab12-sandbox1"},
			Rules: map[RuleName]RuleConfig{
				MaxAge: {Thresholds: Thresholds{Warn: dur("20d"), Rotate: dur("25d"), Deactivate: dur("30d"), Delete: dur("40d")}},
			},
			Line: 26,
		}},
		Safety:        func() Safety { s := DefaultSafety(); s.ProtectedUsers = []string{"break-glass-*"}; return s }(),
		Notifications: DefaultNotifications(),
		Automation:    Automation{Mode: ModeReport},
		Rotation:      DefaultRotation(),
		Source:        name,
	}
	want.Hash = hashPolicy(want)
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("Load(%s) (-want +got):\n%s", name, diff)
	}
	if p.Hash == Default().Hash {
		t.Errorf("a policy unlike the defaults has the defaults' hash")
	}
}

// TestParseRules checks how the rules a file writes replace the defaults.
func TestParseRules(t *testing.T) {
	def := Default().Rules
	no, yes := false, true
	tests := []struct {
		name string
		src  string
		want map[RuleName]RuleConfig // the rules that differ from the defaults
	}{
		{"no rules", "version: 1\n", nil},
		{"null rules", "version: 1\nrules:\n", nil},
		{"a stage left out is gone", "version: 1\nrules:\n  max_age: {warn: 80d}\n", map[RuleName]RuleConfig{
			MaxAge: {Severity: SeverityMedium, Thresholds: Thresholds{Warn: dur("80d")}}}},
		{"severity given", "version: 1\nrules:\n  unused: {severity: high, deactivate: 45d}\n", map[RuleName]RuleConfig{
			Unused: {Severity: SeverityHigh, Thresholds: Thresholds{Deactivate: dur("45d")}}}},
		{"written rule is enabled", "version: 1\nrules:\n  inactive_cleanup: {delete: 2w}\n", map[RuleName]RuleConfig{
			InactiveCleanup: {Severity: SeverityLow, Thresholds: Thresholds{Delete: dur("14d")}}}},
		{"enabled true is the default", "version: 1\nrules:\n  inactive_cleanup: {enabled: true, delete: 30d}\n", map[RuleName]RuleConfig{
			InactiveCleanup: {Severity: SeverityLow, Thresholds: Thresholds{Delete: dur("30d")}}}},
		{"disabled", "version: 1\nrules:\n  root_key: {enabled: false}\n  max_age: {enabled: false}\n", map[RuleName]RuleConfig{
			RootKey: {Enabled: &no, Severity: SeverityCritical},
			MaxAge:  {Enabled: &no, Severity: SeverityMedium}}},
		{"null rule", "version: 1\nrules:\n  multiple_active:\n", nil},
		{"action", "version: 1\nrules:\n  multiple_active: {action: deactivate_less_used}\n", map[RuleName]RuleConfig{
			MultipleActive: {Severity: SeverityMedium, Action: ActionDeactivateLessUsed}}},
		{"hours", "version: 1\nrules:\n  unused_initial: {warn: 36h, deactivate: 3d}\n", map[RuleName]RuleConfig{
			UnusedInitial: {Severity: SeverityLow, Thresholds: Thresholds{Warn: dur("36h"), Deactivate: dur("72h")}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			want := Default().Rules
			for r, c := range tt.want {
				want[r] = c
			}
			if diff := cmp.Diff(want, p.Rules); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
	// An override keeps what it writes, and only that.
	p, err := Parse("p.yaml", []byte("version: 1\noverrides:\n  - accounts: [\"111111111111\"]\n    rules:\n      inactive_cleanup: {enabled: true}\n      max_age: {severity: high}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantOverride := map[RuleName]RuleConfig{InactiveCleanup: {Enabled: &yes}, MaxAge: {Severity: SeverityHigh}}
	if diff := cmp.Diff(wantOverride, p.Overrides[0].Rules); diff != "" {
		t.Errorf("override rules (-want +got):\n%s", diff)
	}
	if got := merge(def[InactiveCleanup], p.Overrides[0].Rules[InactiveCleanup]); !got.IsEnabled() || *got.Delete != *def[InactiveCleanup].Delete {
		t.Errorf("merge: got %+v, want inactive_cleanup enabled with the default delete", got)
	}
}

func TestParseAccountsAndSafety(t *testing.T) {
	p, err := Parse("p.yaml", []byte(`version: 1
accounts:
  accounts: [123456789012, "000000000001"]
  role_name: Other+Role@x
safety:
  protected_users: [break-glass-*, "admin?"]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := AccountsConfig{Accounts: []string{"123456789012", "000000000001"}, RoleName: "Other+Role@x", ExternalIDEnv: "KEYWARDEN_EXTERNAL_ID"}
	if diff := cmp.Diff(want, p.Accounts); diff != "" {
		t.Errorf("accounts (-want +got):\n%s", diff)
	}
	wantSafety := DefaultSafety()
	wantSafety.ProtectedUsers = []string{"break-glass-*", "admin?"}
	if diff := cmp.Diff(wantSafety, p.Safety); diff != "" {
		t.Errorf("safety (-want +got):\n%s", diff)
	}
}

// TestParseHashIgnoresForm checks that comments, order, flow or block
// style and empty sections do not change the hash, and a threshold does.
func TestParseHashIgnoresForm(t *testing.T) {
	a := "version: 1\nrules:\n  max_age: {rotate: 90d, warn: 80d}\nexemptions:\n  - users: [a]\n    reason: r\n"
	b := "# comment\nexemptions: [{reason: r, users: [a]}]\naccounts: {ous: [], exclude: []}\nsafety: {protected_users: []}\noverrides: []\nrules:\n  max_age:\n    warn: 80d\n    rotate: 13w 1d\nversion: 1\n"
	b = strings.Replace(b, "13w 1d", "2160h", 1)
	pa, err := Parse("a.yaml", []byte(a))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Parse("b.yaml", []byte(b))
	if err != nil {
		t.Fatal(err)
	}
	if pa.Hash != pb.Hash {
		t.Errorf("the same policy written two ways hashes differently")
	}
	pc, err := Parse("c.yaml", []byte(strings.Replace(a, "90d", "91d", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if pc.Hash == pa.Hash {
		t.Errorf("a changed threshold leaves the hash unchanged")
	}
}

func TestStarter(t *testing.T) {
	p, err := Parse("keywarden.yaml", Starter())
	if err != nil {
		t.Fatalf("the starter file is invalid:\n%v", err)
	}
	def := Default()
	if diff := cmp.Diff(def.Rules, p.Rules); diff != "" {
		t.Errorf("starter rules differ from the defaults (-default +starter):\n%s", diff)
	}
	if diff := cmp.Diff(def.Accounts, p.Accounts); diff != "" {
		t.Errorf("starter accounts differ from the defaults (-default +starter):\n%s", diff)
	}
	if diff := cmp.Diff(def.Notifications, p.Notifications); diff != "" {
		t.Errorf("starter notifications differ from the defaults (-default +starter):\n%s", diff)
	}
	if p.Hash != def.Hash {
		t.Errorf("starter hash %s, defaults %s", p.Hash, def.Hash)
	}
	// The examples it shows, uncommented, are valid too.
	var lines []string
	for _, line := range strings.Split(string(Starter()), "\n") {
		if rest, ok := strings.CutPrefix(line, "  # "); ok && (strings.HasPrefix(rest, "- ") || strings.HasPrefix(rest, "  ")) {
			line = "  " + rest
		}
		lines = append(lines, line)
	}
	uncommented := strings.Join(lines, "\n")
	q, err := Parse("uncommented.yaml", []byte(uncommented))
	if err != nil {
		t.Fatalf("the starter's examples, uncommented, are invalid:\n%v\n%s", err, uncommented)
	}
	if len(q.Exemptions) != 2 || len(q.Overrides) != 1 {
		t.Errorf("uncommented starter: %d exemptions and %d overrides, want 2 and 1", len(q.Exemptions), len(q.Overrides))
	}
	if n := q.Notifications; len(n.Channels) != 3 || len(n.Owners) != 1 || n.OwnerChannel != "email" {
		t.Errorf("uncommented starter: %d channels, %d owners, owner channel %q; want 3, 1 and email", len(n.Channels), len(n.Owners), n.OwnerChannel)
	}
	if b := Starter(); &b[0] == &starter[0] {
		t.Errorf("Starter returns the embedded bytes themselves")
	}
}

func TestLoadDefault(t *testing.T) {
	dir := t.TempDir()
	explicit := filepath.Join(dir, "explicit.yaml")
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(explicit, "version: 1\nrules:\n  root_key: {severity: high}\n")
	withFile := filepath.Join(dir, "with")
	if err := os.Mkdir(withFile, 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(withFile, DefaultFile), "version: 1\nrules:\n  root_key: {severity: low}\n")
	without := filepath.Join(dir, "without")
	if err := os.Mkdir(without, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, path, dir string
		source          string
		rootSeverity    Severity
		err             string
	}{
		{"explicit path", explicit, withFile, explicit, SeverityHigh, ""},
		{"file in dir", "", withFile, filepath.Join(withFile, DefaultFile), SeverityLow, ""},
		{"no file: defaults", "", without, "", SeverityCritical, ""},
		{"explicit path missing", filepath.Join(without, "nope.yaml"), withFile, "", "", "read policy: open " + filepath.Join(without, "nope.yaml") + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := LoadDefault(tt.path, tt.dir)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got error %v, want one containing %q", err, tt.err)
				}
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error %v is not fs.ErrNotExist", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Source != tt.source || p.Rules[RootKey].Severity != tt.rootSeverity {
				t.Errorf("got source %q, root_key severity %s; want %q, %s", p.Source, p.Rules[RootKey].Severity, tt.source, tt.rootSeverity)
			}
		})
	}

	// An invalid file in dir is an error naming it, not a quiet fallback.
	bad := filepath.Join(dir, "bad")
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(bad, DefaultFile), "version: 1\nrule: {}\n")
	_, err := LoadDefault("", bad)
	if want := filepath.Join(bad, DefaultFile) + ":2:1: rule: unknown key (did you mean rules?)"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want an error starting %q", err, want)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "k.yaml", Line: 12, Column: 5, Field: "rules.max_age.rotate", Msg: "m"}, "k.yaml:12:5: rules.max_age.rotate: m"},
		{Problem{File: "k.yaml", Line: 12, Msg: "m"}, "k.yaml:12: m"},
		{Problem{File: "k.yaml", Msg: "m"}, "k.yaml: m"},
		{Problem{Msg: "m"}, "m"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// FuzzParse checks that no input makes the loader panic, that every error
// is a sorted list of problems, and that what it accepts is a sound policy:
// a stable hash and stages in order, in the rules and in every override
// merged over them.
func FuzzParse(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range seeds {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(Starter())
	f.Add([]byte("version: 1\n"))
	f.Add([]byte("version: 1\nrules: {unused: {warn: 1h, delete: 2w}}\noverrides: [{accounts: [\"111111111111\"], rules: {unused: {deactivate: 3d}}}]\n"))
	f.Add([]byte("version: 1\nnotifications:\n  owners: [{users: [a*], contact: a@example.com}]\n  security_team: {contact: s@example.com, channel: m}\n  channels:\n    m: {type: smtp, smtp: {host: h, from: k@example.com, username: u, password_env: P}}\n    w: {type: webhook, url: \"https://x.example.com\", secret_file: s}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxFileSize {
			t.Skip("refused by size alone: TestPolicySizeLimit")
		}
		p, err := Parse("f.yaml", data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error is not a list of problems: %#v", err)
			}
			for i, pr := range ve.Problems {
				if pr.File != "f.yaml" || pr.Msg == "" {
					t.Fatalf("problem without a file or message: %#v", pr)
				}
				if i > 0 && pr.Line < ve.Problems[i-1].Line {
					t.Fatalf("problems not sorted by line:\n%v", err)
				}
			}
			return
		}
		if p.Version != 1 {
			t.Fatalf("accepted version %d", p.Version)
		}
		if p.Hash != hashPolicy(p) {
			t.Fatalf("Hash is not the policy's hash")
		}
		again, err := Parse("g.yaml", data)
		if err != nil || again.Hash != p.Hash {
			t.Fatalf("parsing again: hash %v, error %v; first hash %s", again, err, p.Hash)
		}
		for _, r := range Rules {
			c, ok := p.Rules[r]
			if !ok {
				t.Fatalf("rule %s missing", r)
			}
			checkInOrder(t, string(r), r, c)
			for i, o := range p.Overrides {
				if oc, ok := o.Rules[r]; ok {
					checkInOrder(t, fmt.Sprintf("overrides[%d].%s", i, r), r, merge(c, oc))
				}
			}
		}
		for _, e := range p.Exemptions {
			if strings.TrimSpace(e.Reason) == "" || e.Line == 0 {
				t.Fatalf("exemption without a reason or line: %+v", e)
			}
		}
		// Every channel named exists, and whoever is found can be reached.
		n := p.Notifications
		named := []string{n.OwnerChannel}
		for _, c := range []*Contact{n.Default, n.SecurityTeam} {
			if c != nil {
				named = append(named, c.Channel)
			}
		}
		for _, o := range n.Owners {
			named = append(named, o.Channel)
		}
		for _, name := range named {
			if _, ok := n.Channels[name]; name != "" && !ok {
				t.Fatalf("channel %q named but not configured", name)
			}
		}
		if len(n.Channels) > 0 && (len(n.OwnerTags) > 0 || n.AccountContact) && n.OwnerChannel == "" {
			t.Fatalf("owners found in tags or account e-mails have no channel")
		}
	})
}

func checkInOrder(t *testing.T, what string, r RuleName, c RuleConfig) {
	t.Helper()
	var prev *Duration
	for _, s := range Stages {
		d := c.Get(s)
		if d == nil {
			continue
		}
		if *d <= 0 || (prev != nil && *d <= *prev) {
			t.Fatalf("%s: stages out of order: %+v", what, c.Thresholds)
		}
		if !stageAllowed(r, s) {
			t.Fatalf("%s: stage %s not allowed", what, s)
		}
		prev = d
	}
}

func ExampleParse() {
	_, err := Parse("keywarden.yaml", []byte(`version: 1
rules:
  max_age: {warn: 100d, rotate: 90d}
  unused: {rotate: 30d}
exemptions:
  - users: [svc-*]
`))
	fmt.Println(err)
	// Output:
	// keywarden.yaml:3:33: rules.max_age.rotate: rotate (90d) must be more than warn (100d): stages run warn → rotate → deactivate → delete
	// keywarden.yaml:4:12: rules.unused.rotate: unused has no rotate stage; its stages are warn, deactivate, delete
	// keywarden.yaml:6:5: exemptions[0].reason: missing: every exemption says why (reason: "…")
}

// TestPolicySizeLimit: a file larger than MaxFileSize is refused, naming
// it, without being read to its end.
func TestPolicySizeLimit(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	data := append([]byte("version: 1\n# "), bytes.Repeat([]byte("x"), MaxFileSize)...)
	if err := os.WriteFile(big, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, load := range map[string]func() error{
		"Load":        func() error { _, err := Load(big); return err },
		"LoadDefault": func() error { _, err := LoadDefault(big, ""); return err },
		"Parse":       func() error { _, err := Parse(big, data); return err },
		"/dev/zero":   func() error { _, err := Load("/dev/zero"); return err },
	} {
		err := load()
		if err == nil || !strings.Contains(err.Error(), "larger than 1024 KiB") {
			t.Errorf("%s: %v, want the size limit named", name, err)
		}
	}
}

func TestParseAutomation(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		want     Automation
		problems []string
	}{
		{"default", "version: 1\n", Automation{Mode: ModeReport}, nil},
		{"enforce", "version: 1\nautomation:\n  mode: enforce\n  schedule: rate(1 day)\n  security_hub: true\n  reports_s3: s3://acme-keywarden/reports\n",
			Automation{Mode: ModeEnforce, Schedule: "rate(1 day)", SecurityHub: true, ReportsS3: "s3://acme-keywarden/reports", Line: 3}, nil},
		{"cron", "version: 1\nautomation: {schedule: \"cron(0 6 * * ? *)\"}\n", Automation{Mode: ModeReport, Schedule: "cron(0 6 * * ? *)", Line: 2}, nil},
		{"retention", "version: 1\nautomation: {snapshot_retention: 90d}\n", Automation{Mode: ModeReport, SnapshotRetention: new(Duration(90 * 24 * 3600e9)), Line: 2}, nil},
		{"retention forever", "version: 1\nautomation: {snapshot_retention: forever}\n", Automation{Mode: ModeReport, SnapshotRetention: new(Duration(0)), Line: 2}, nil},
		{"bad retention", "version: 1\nautomation:\n  snapshot_retention: 90\n", Automation{}, []string{
			`p.yaml:3:23: automation.snapshot_retention: "90" has no unit: write 90d for days, 90h for hours or 90w for weeks`}},
		{"bad mode", "version: 1\nautomation:\n  mode: fix\n", Automation{}, []string{
			`p.yaml:3:9: automation.mode: want report (scan and warn, change nothing) or enforce (plan and apply within the safety limits), not "fix"`}},
		{"bad schedule", "version: 1\nautomation:\n  schedule: daily\n", Automation{}, []string{
			`p.yaml:3:13: automation.schedule: want an EventBridge schedule like rate(1 day) or cron(0 6 * * ? *), not "daily"`}},
		{"bad bucket", "version: 1\nautomation:\n  reports_s3: https://example.com/x\n", Automation{}, []string{
			`p.yaml:3:15: automation.reports_s3: want s3://BUCKET or s3://BUCKET/PREFIX, not "https://example.com/x"`}},
		{"typo", "version: 1\nautomation:\n  mdoe: enforce\n", Automation{}, []string{
			`p.yaml:3:3: automation.mdoe: unknown key; want one of mode, schedule, security_hub, reports_s3, snapshot_retention`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("p.yaml", []byte(tt.yaml))
			if tt.problems != nil {
				var got []string
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Parse: %v, want problems", err)
				}
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
			if diff := cmp.Diff(tt.want, p.Automation); diff != "" {
				t.Errorf("automation (-want +got):\n%s", diff)
			}
			if p.Hash != Default().Hash {
				t.Errorf("the automation section changed the policy's hash")
			}
		})
	}
}
