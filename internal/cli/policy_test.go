package cli

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/policy"
)

// TestExplainGolden renders policy explain for the users of the golden
// inventory's Prod account, judged by the golden policy: overrides from
// two OUs, an exemption in force and one expired, a key whose ID was not
// read, a user without keys, and the root user.
func TestExplainGolden(t *testing.T) {
	pol := loadGoldenPolicy(t)
	acct := goldenInventory().Accounts[0]
	tests := []struct {
		name      string
		user, key string
	}{
		{"two_keys", "svc-billing", ""},                    // one old active key, one inactive
		{"one_key", "svc-billing", "AKIAGOLDENBILLING002"}, // --key
		{"root", policy.RootUserName, ""},
		{"young_key", "alice", ""},           // nothing fires: the next stages and their dates
		{"multiple_active", "ci-deploy", ""}, // which of two active keys is flagged
		{"id_not_read", "bob", ""},           // named by its report slot
		{"no_keys", "carol", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expl, err := pol.Explain(acct, tt.user, tt.key, policy.Options{AsOf: goldenAsOf})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := renderExplanation(&out, pol, acct, expl, goldenAsOf); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "explain_"+tt.name+".txt", out.Bytes())
			for i, line := range strings.Split(out.String(), "\n") {
				if strings.TrimRight(line, " \t") != line {
					t.Errorf("line %d ends in blanks: %q", i+1, line)
				}
			}
		})
	}
}

// TestPolicyInitCommand: policy init writes the starter, refuses to
// overwrite a file without --force, and what it writes validates.
func TestPolicyInitCommand(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	read := func(name string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	starter := string(policy.Starter())

	r := runKeywarden(t, "policy", "init")
	if r.code != ExitOK {
		t.Fatalf("policy init: exit %d (%v)", r.code, r.err)
	}
	if got := read(policy.DefaultFile); got != starter {
		t.Errorf("keywarden.yaml is not the starter:\n%s", got)
	}
	if want := "wrote keywarden.yaml; check it with 'keywarden policy validate keywarden.yaml'\n"; r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	// The starter equals the defaults.
	p, err := policy.Load(policy.DefaultFile)
	if err != nil {
		t.Fatal(err)
	}
	if p.Hash != policy.Default().Hash {
		t.Errorf("the starter's policy hash %s differs from the defaults' %s", p.Hash, policy.Default().Hash)
	}

	r = runKeywarden(t, "policy", "validate")
	if r.code != ExitOK || r.stdout != "keywarden.yaml: ok (0 exemptions, 0 overrides)\n" {
		t.Errorf("policy validate of the starter: exit %d (%v), stdout %q", r.code, r.err, r.stdout)
	}

	const edited = "version: 1\n# edited by hand\n"
	if err := os.WriteFile(filepath.Join(dir, policy.DefaultFile), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runKeywarden(t, "policy", "init")
	if r.code != ExitError {
		t.Errorf("second policy init: exit %d (%v), want %d", r.code, r.err, ExitError)
	}
	if r.err == nil || !strings.Contains(r.err.Error(), "keywarden.yaml already exists") || !strings.Contains(r.err.Error(), "--force") {
		t.Errorf("second policy init: error %v, want it to say the file exists and name --force", r.err)
	}
	if got := read(policy.DefaultFile); got != edited {
		t.Errorf("a refused policy init changed the file:\n%s", got)
	}

	r = runKeywarden(t, "policy", "init", "--force")
	if r.code != ExitOK {
		t.Fatalf("policy init --force: exit %d (%v)", r.code, r.err)
	}
	if got := read(policy.DefaultFile); got != starter {
		t.Errorf("policy init --force did not write the starter:\n%s", got)
	}

	r = runKeywarden(t, "policy", "init", "other.yaml")
	if r.code != ExitOK || read("other.yaml") != starter {
		t.Errorf("policy init other.yaml: exit %d (%v)", r.code, r.err)
	}
	r = runKeywarden(t, "policy", "init", filepath.Join("no-such-dir", "k.yaml"))
	if r.code != ExitError || !errors.Is(r.err, fs.ErrNotExist) {
		t.Errorf("policy init into a missing directory: exit %d (%v), want %d", r.code, r.err, ExitError)
	}
}

// TestPolicyValidateCommand: ok with counts for a valid file; for an
// invalid one, exit 1 and every problem printed at file:line:column.
func TestPolicyValidateCommand(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.yaml")
	src := `version: 2
rules:
  max_age: {rotate: 90x}
exemptions:
  - users: ["svc-*"]
overrides:
  - ous: [Prod]
    rules: {unused: {deactivate: 10d}}
`
	if err := os.WriteFile(broken, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	starter := filepath.Join(dir, "starter.yaml")
	if err := os.WriteFile(starter, policy.Starter(), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")
	badTemplate := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(badTemplate, []byte("version: 1\nnotifications:\n  templates: {owner: owner.tmpl}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		file   string
		code   int
		stdout string
		// Lines of the error as printed, each as a prefix.
		problems []string
	}{
		{"starter", starter, ExitOK, starter + ": ok (0 exemptions, 0 overrides)\n", nil},
		{"golden", goldenPolicyFile, ExitOK, goldenPolicyFile + ": ok (3 exemptions, 2 overrides)\n", nil},
		{"broken", broken, ExitError, "", []string{
			"keywarden: " + broken + ":1:10: version: unsupported version 2",
			broken + ":3:21: rules.max_age.rotate: \"90x\": unknown unit",
			broken + ":5:5: exemptions[0].reason: missing",
			broken + ":7:11: overrides[0].ous[0]: \"Prod\" is not an OU",
		}},
		{"template missing", badTemplate, ExitError, "", []string{
			"keywarden: " + badTemplate + ": notifications.templates.owner: open " + filepath.Join(dir, "owner.tmpl") + ": no such file or directory",
		}},
		{"missing", missing, ExitError, "", []string{
			"keywarden: read policy: open " + missing + ": no such file or directory (keywarden policy init " + missing + " writes a starter)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runKeywarden(t, "policy", "validate", tt.file)
			if r.code != tt.code || r.stdout != tt.stdout {
				t.Fatalf("exit %d (%v), stdout %q; want exit %d, stdout %q", r.code, r.err, r.stdout, tt.code, tt.stdout)
			}
			if tt.problems == nil {
				return
			}
			var printed bytes.Buffer
			printError(&printed, r.err)
			lines := strings.Split(strings.TrimSuffix(printed.String(), "\n"), "\n")
			if len(lines) != len(tt.problems) {
				t.Fatalf("%d lines printed, want %d:\n%s", len(lines), len(tt.problems), printed.String())
			}
			for i, want := range tt.problems {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("line %d: %q, want it to start %q", i+1, lines[i], want)
				}
			}
			var verr *policy.ValidationError
			if tt.name == "broken" && (!errors.As(r.err, &verr) || len(verr.Problems) != len(tt.problems)) {
				t.Errorf("error %v: want a *policy.ValidationError with %d problems", r.err, len(tt.problems))
			}
		})
	}
}

// TestPolicyExplainCommand runs policy explain against the sandbox: every
// rule's verdict for a user's key, the root user, a policy file's
// exemption and override, and the errors for what does not exist.
func TestPolicyExplainCommand(t *testing.T) {
	s := newScanSandbox(t)
	prod := s.member(0) // Root/Workloads/Prod
	holder := "svc-secret-holder"
	holderKey := s.keyIDs[prod.ID][len(s.keyIDs[prod.ID])-1] // added last by newScanSandbox
	roots := rootKeyAccounts(s)
	if len(roots) == 0 {
		t.Fatal("the generated organization has no active account with a root key")
	}
	rootAcct := roots[0]
	dir := t.TempDir()
	config := filepath.Join(dir, "keywarden.yaml")
	writeFile(t, config, `version: 1
exemptions:
  - users: ["svc-secret-*"]
    rules: [max_age]
    reason: "rotated by the vault; SEC-9"
    expires: 2099-12-31
overrides:
  - ous: [`+ouID(t, s, "Workloads")+`]
    rules:
      unused: {warn: 30d}
`)
	missing := filepath.Join(dir, "missing.yaml")
	badTemplate := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(badTemplate, []byte("version: 1\nnotifications:\n  templates: {owner: owner.tmpl}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		code int
		want []string // regular expressions, each matching a line of stdout, in order
		err  string   // in the error
	}{
		{
			name: "built-in policy",
			args: []string{"--account", prod.ID, "--user", holder},
			want: []string{
				`^account ` + prod.ID + ` \(` + prod.Name + `, Root/Workloads/Prod\)$`,
				`^user svc-secret-holder, judged by the built-in policy as of \d{4}-\d\d-\d\d \d\d:\d\d UTC$`,
				`^key ` + holderKey + `: Active, created \d{4}-\d\d-\d\d \(200 days ago\), last used \d{4}-\d\d-\d\d \(s3\)$`,
				`^  max_age +FIRED +active key is 200 days old; due for rotation \(90d\)$`,
				`^ +thresholds: rotate 90d; severity medium$`,
				`^  unused +no +last used \d{4}-\d\d-\d\d, 0 days ago; deactivate falls due on \d{4}-\d\d-\d\d$`,
				`^  unused_initial +n/a +the key has been used$`,
				`^  multiple_active +n/a +the user has one active key$`,
				`^  inactive_cleanup +n/a +the rule is disabled$`,
			},
		},
		{
			name: "policy file",
			args: []string{"--account", prod.ID, "--user", holder, "--key", holderKey, "--config", config},
			want: []string{
				`^user svc-secret-holder, judged by ` + regexp.QuoteMeta(config) + ` as of `,
				`^  max_age +EXEMPT +active key is 200 days old; due for rotation \(90d\)$`,
				`^ +exempt: "rotated by the vault; SEC-9" \(line 3, until 2099-12-31\)$`,
				`^  unused +no +last used .*; warn falls due on `,
				`^ +thresholds: warn 30d, deactivate 45d; severity medium$`,
				`^ +changed by the override at ` + regexp.QuoteMeta(config) + `:8 \(OU ou-`,
			},
		},
		{
			name: "root user",
			args: []string{"--account", rootAcct, "--user", policy.RootUserName},
			want: []string{
				`^user <root_account>, judged by the built-in policy`,
				`^root key: (active|inactive)$`,
				`^  root_key +FIRED +the root user has an (active|inactive) access key; remove it`,
			},
		},
		{
			name: "unknown key",
			args: []string{"--account", prod.ID, "--user", holder, "--key", "AKIAIOSFODNN7EXAMPLE"},
			code: ExitError,
			err:  "user svc-secret-holder in account " + prod.ID + " has no key AKIAIOSFODNN7EXAMPLE",
		},
		{
			name: "unknown user",
			args: []string{"--account", prod.ID, "--user", "nobody"},
			code: ExitError,
			err:  "no user nobody in account " + prod.ID,
		},
		{
			name: "missing policy file",
			args: []string{"--account", prod.ID, "--user", holder, "--config", missing},
			code: ExitError,
			err:  missing,
		},
		{
			name: "no user",
			args: []string{"--account", prod.ID},
			code: ExitUsage, // a missing required flag is a bad command line
			err:  `--user is required`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.sb.ResetCalls()
			r := runKeywarden(t, append([]string{"policy", "explain"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d (%v), want %d; stderr:\n%s", r.code, r.err, tt.code, r.stderr)
			}
			if tt.err != "" {
				if !strings.Contains(r.err.Error(), tt.err) {
					t.Errorf("error %q, want it to contain %q", r.err, tt.err)
				}
				if r.stdout != "" {
					t.Errorf("output with an error:\n%s", r.stdout)
				}
			}
			if tt.name == "missing policy file" && len(s.sb.Calls()) != 0 {
				t.Errorf("AWS was called before the policy file was read: %v", s.sb.Calls())
			}
			matchLines(t, r.stdout, tt.want)
		})
	}
}

// matchLines checks that each pattern matches a line of out, in order.
func matchLines(t *testing.T, out string, patterns []string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	i := 0
	for _, p := range patterns {
		re := regexp.MustCompile(p)
		for i < len(lines) && !re.MatchString(lines[i]) {
			i++
		}
		if i == len(lines) {
			t.Errorf("no line matching %q (after the previous pattern's) in:\n%s", p, out)
			return
		}
		i++
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// ouID returns the ID of the generated organization's OU named name.
func ouID(t *testing.T, s *scanSandbox, name string) string {
	t.Helper()
	for _, ou := range s.org.OUs {
		if ou.Name == name {
			return ou.ID
		}
	}
	t.Fatalf("no OU %s in the generated organization", name)
	return ""
}

// rootKeyAccounts returns the active accounts whose root user has keys.
func rootKeyAccounts(s *scanSandbox) []string {
	var ids []string
	for _, a := range s.active() {
		if a.RootKeys > 0 {
			ids = append(ids, a.ID)
		}
	}
	return ids
}
