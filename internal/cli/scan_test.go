package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
	"github.com/keywarden/keywarden/internal/report"
)

// scanSandbox is a sandbox with a generated organization, served over HTTP,
// with the AWS environment of the test pointing at it as the hub admin.
type scanSandbox struct {
	sb  *awsemu.Sandbox
	org *orggen.Org
	// keyIDs are the IDs of the IAM users' keys by account (root keys,
	// whose IDs are never read, are not in it).
	keyIDs map[string][]string
	// secrets are secret access keys the sandbox holds: the hub admin's and
	// those of the keys the test added.
	secrets []string
}

// newScanSandbox starts the sandbox and sets the environment of the test
// (so it cannot run in parallel) the way a user would for a real account.
func newScanSandbox(t *testing.T) *scanSandbox {
	t.Helper()
	s := &scanSandbox{sb: awsemu.New(awsemu.Options{Seed: 3}), keyIDs: map[string][]string{}}
	org, err := orggen.Generate(s.sb, orggen.Options{Seed: 11, Accounts: 6, UsersPerAccount: 6,
		OnKey: func(k awsemu.KeySpec) {
			if k.User != "" {
				s.keyIDs[k.Account] = append(s.keyIDs[k.Account], k.ID)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.org = org
	s.secrets = append(s.secrets, org.AdminKey.SecretAccessKey)
	// Keys whose secrets the test knows, in every active member account.
	for _, a := range org.Accounts {
		if a.Management || a.State != awsemu.AccountActive {
			continue
		}
		name := "svc-secret-holder"
		if err := s.sb.AddUser(awsemu.UserSpec{Account: a.ID, Name: name, Path: "/service/"}); err != nil {
			t.Fatal(err)
		}
		k, err := s.sb.AddAccessKey(awsemu.KeySpec{Account: a.ID, User: name, CreatedAt: org.Now.Add(-200 * 24 * time.Hour),
			LastUsed: org.Now.Add(-time.Hour), LastUsedService: "s3", LastUsedRegion: "eu-west-1"})
		if err != nil {
			t.Fatal(err)
		}
		s.keyIDs[a.ID] = append(s.keyIDs[a.ID], k.AccessKeyID)
		s.secrets = append(s.secrets, k.SecretAccessKey)
	}
	srv := httptest.NewServer(s.sb)
	t.Cleanup(srv.Close)

	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
		"AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_ORGANIZATIONS", "KEYWARDEN_EXTERNAL_ID"} {
		t.Setenv(k, "") // restored when the test ends
		os.Unsetenv(k)
	}
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", org.AdminKey.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", org.AdminKey.SecretAccessKey)
	t.Setenv("AWS_REGION", awsemu.DefaultRegion)
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	return s
}

// active returns the accounts a scan of the organization reads.
func (s *scanSandbox) active() []orggen.Account {
	var out []orggen.Account
	for _, a := range s.org.Accounts {
		if a.State == awsemu.AccountActive {
			out = append(out, a)
		}
	}
	return out
}

// member returns the i-th active member account.
func (s *scanSandbox) member(i int) orggen.Account {
	var members []orggen.Account
	for _, a := range s.active() {
		if !a.Management {
			members = append(members, a)
		}
	}
	return members[i]
}

// wantKeys counts the keys of the given accounts, the root's and those the
// test added included.
func (s *scanSandbox) wantKeys(accounts []orggen.Account) int {
	n := 0
	for _, a := range accounts {
		n += a.Keys
		if !a.Management {
			n++ // svc-secret-holder's
		}
	}
	return n
}

// cmdResult is one run of the command line.
type cmdResult struct {
	err            error
	code           int
	stdout, stderr string
}

func runKeywarden(t *testing.T, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, args, &stdout, &stderr)
	return cmdResult{err: err, code: ExitCode(err), stdout: stdout.String(), stderr: stderr.String()}
}

func decodeScanJSON(t *testing.T, data string) *report.Document {
	t.Helper()
	var doc report.Document
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("output is not the JSON document: %v\n%s", err, data)
	}
	return &doc
}

func TestScanCommandJSON(t *testing.T) {
	s := newScanSandbox(t)
	active := s.active()
	var suspended []string
	for _, a := range s.org.Accounts {
		if a.State != awsemu.AccountActive {
			suspended = append(suspended, a.ID)
		}
	}
	tests := []struct {
		name    string
		args    []string
		source  string
		wantIDs bool // every key ID is read
	}{
		{"report path, key IDs needing attention", nil, "report", false},
		{"report path, every key ID", []string{"--key-ids", "all"}, "report", true},
		{"API path", []string{"--source", "api"}, "api", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runKeywarden(t, append([]string{"scan", "--org", "--format", "json"}, tt.args...)...)
			if r.code != ExitOK {
				t.Fatalf("exit code %d (%v), want 0; stderr:\n%s", r.code, r.err, r.stderr)
			}
			doc := decodeScanJSON(t, r.stdout)
			if doc.SchemaVersion != 1 {
				t.Errorf("schema_version %d, want 1", doc.SchemaVersion)
			}
			if !strings.HasSuffix(doc.Caller, ":user/"+orggen.AdminUser) {
				t.Errorf("caller %q, want the hub admin", doc.Caller)
			}
			if doc.Summary.Accounts != len(active) || doc.Summary.AccountsOK != len(active) || doc.Summary.AccountsFailed != 0 {
				t.Errorf("summary %+v, want %d accounts, all ok", doc.Summary, len(active))
			}
			perAccount := map[string]int{}
			for _, a := range active {
				perAccount[a.ID] = s.wantKeys([]orggen.Account{a})
			}
			for _, a := range doc.Accounts {
				if a.Status != "ok" || a.Source == nil || *a.Source != tt.source || a.Error != nil {
					t.Errorf("account %s: status %s, source %v, error %v; want ok from the %s", a.ID, a.Status, ptrValue(a.Source), ptrValue(a.Error), tt.source)
				}
				if want := perAccount[a.ID]; a.Keys != want && tt.source == "report" {
					t.Errorf("account %s: %d keys, want %d", a.ID, a.Keys, want)
				}
			}
			// The API path cannot see root keys: only the report lists them.
			want := s.wantKeys(active)
			if tt.source == "api" {
				want -= s.org.RootKeys - suspendedRootKeys(s.org)
			}
			if len(doc.Keys) != want || doc.Summary.Keys != want {
				t.Errorf("%d keys (summary %d), want %d", len(doc.Keys), doc.Summary.Keys, want)
			}
			if tt.wantIDs {
				got := map[string][]string{}
				for _, k := range doc.Keys {
					if !k.Root() {
						got[k.AccountID] = append(got[k.AccountID], ptrValue(k.AccessKeyID))
					}
				}
				want := map[string][]string{}
				for _, a := range active {
					want[a.ID] = slices.Sorted(slices.Values(s.keyIDs[a.ID]))
					slices.Sort(got[a.ID])
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("key IDs by account (-generated +scanned):\n%s", diff)
				}
			}
			for _, id := range suspended {
				if !strings.Contains(r.stderr, "skipping account "+id) {
					t.Errorf("stderr does not say suspended account %s was skipped:\n%s", id, r.stderr)
				}
			}
		})
	}
}

func suspendedRootKeys(org *orggen.Org) int {
	n := 0
	for _, a := range org.Accounts {
		if a.State != awsemu.AccountActive {
			n += a.RootKeys
		}
	}
	return n
}

func ptrValue[T any](p *T) T {
	var zero T
	if p != nil {
		return *p
	}
	return zero
}

// TestScanCommandPartial: an account whose role cannot be assumed makes the
// exit code 3, and the output still holds every other account.
func TestScanCommandPartial(t *testing.T) {
	s := newScanSandbox(t)
	bad := s.member(1)
	s.sb.SetFaults(awsemu.Fault{Account: bad.ID, DenyAssumeRole: true})
	r := runKeywarden(t, "scan", "--org", "--format", "json")
	if r.code != ExitPartial || !errors.Is(r.err, ErrPartial) {
		t.Fatalf("exit code %d (%v), want %d", r.code, r.err, ExitPartial)
	}
	if !strings.Contains(r.err.Error(), bad.ID+": AccessDenied") {
		t.Errorf("error %q does not name the failed account and why", r.err)
	}
	doc := decodeScanJSON(t, r.stdout)
	var others []orggen.Account
	for _, a := range s.active() {
		if a.ID != bad.ID {
			others = append(others, a)
		}
	}
	if doc.Summary.AccountsOK != len(others) || doc.Summary.AccountsFailed != 1 {
		t.Errorf("summary %+v, want %d ok and 1 failed", doc.Summary, len(others))
	}
	if want := s.wantKeys(others); len(doc.Keys) != want {
		t.Errorf("%d keys, want the %d of the accounts read", len(doc.Keys), want)
	}
	for _, a := range doc.Accounts {
		if a.ID != bad.ID {
			if a.Status != "ok" {
				t.Errorf("account %s: %s (%s), want ok", a.ID, a.Status, ptrValue(a.Error))
			}
			continue
		}
		role := "arn:aws:iam::" + bad.ID + ":role/" + orggen.DefaultRoleName
		if a.Status != "failed" || ptrValue(a.ErrorCode) != "AccessDenied" || !strings.Contains(ptrValue(a.Error), role) {
			t.Errorf("failed account: status %s, error_code %v, error %q; want failed, AccessDenied, naming %s",
				a.Status, ptrValue(a.ErrorCode), ptrValue(a.Error), role)
		}
		if a.Source != nil || a.Users != 0 || a.Keys != 0 || a.RootKeysPresent != nil {
			t.Errorf("failed account reports what it could not read: %+v", a)
		}
	}
	for _, k := range doc.Keys {
		if k.AccountID == bad.ID {
			t.Errorf("key %v listed for the failed account", ptrValue(k.AccessKeyID))
		}
	}
}

func TestScanCommandOutputFile(t *testing.T) {
	s := newScanSandbox(t)
	path := filepath.Join(t.TempDir(), "keys.json")
	r := runKeywarden(t, "scan", "--org", "--format", "json", "--output", path)
	if r.code != ExitOK {
		t.Fatalf("exit code %d (%v); stderr:\n%s", r.code, r.err, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout is not empty with --output:\n%s", r.stdout)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("output file mode %v, want 0600", mode)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := decodeScanJSON(t, string(data))
	if want := s.wantKeys(s.active()); len(doc.Keys) != want {
		t.Errorf("file holds %d keys, want %d", len(doc.Keys), want)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".keywarden-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left beside the output: %v", leftovers)
	}
}

func TestScanCommandAsOf(t *testing.T) {
	newScanSandbox(t)
	asOf := time.Now().UTC().AddDate(0, 0, 100).Truncate(24 * time.Hour)
	for _, arg := range []string{asOf.Format(time.DateOnly), asOf.Format(time.RFC3339)} {
		t.Run(arg, func(t *testing.T) {
			r := runKeywarden(t, "scan", "--org", "--format", "json", "--source", "api", "--as-of", arg)
			if r.code != ExitOK {
				t.Fatalf("exit code %d (%v); stderr:\n%s", r.code, r.err, r.stderr)
			}
			doc := decodeScanJSON(t, r.stdout)
			if !doc.AsOf.Equal(asOf) {
				t.Errorf("as_of %v, want %v", doc.AsOf, asOf)
			}
			if len(doc.Keys) == 0 {
				t.Fatal("no keys")
			}
			for _, k := range doc.Keys {
				if want := int(asOf.Sub(k.CreatedAt) / (24 * time.Hour)); k.AgeDays != want {
					t.Errorf("key %s created %v: age_days %d as of %v, want %d", ptrValue(k.AccessKeyID), k.CreatedAt, k.AgeDays, asOf, want)
				}
				if k.LastUsedAt != nil {
					if want := int(asOf.Sub(*k.LastUsedAt) / (24 * time.Hour)); ptrValue(k.DaysSinceLastUse) != want {
						t.Errorf("key %s: days_since_last_use %d, want %d", ptrValue(k.AccessKeyID), ptrValue(k.DaysSinceLastUse), want)
					}
				}
			}
		})
	}
}

func TestScanCommandUsage(t *testing.T) {
	s := newScanSandbox(t)
	tests := []struct {
		name string
		args []string
		flag string // named in the message
	}{
		{"bad source", []string{"--source", "cache"}, "--source"},
		{"bad account ID", []string{"--accounts", "12345"}, "--accounts"},
		{"bad excluded account ID", []string{"--org", "--exclude-accounts", "abcdefghijkl"}, "--exclude-accounts"},
		{"bad as-of", []string{"--as-of", "2027-13-45"}, "--as-of"},
		{"bad OU", []string{"--ou", "Workloads"}, "--ou"},
		{"bad key IDs", []string{"--key-ids", "some"}, "--key-ids"},
		{"bad format", []string{"--format", "yaml"}, "--format"},
		{"bad parallel", []string{"--parallel", "0"}, "--parallel"},
		{"unknown flag", []string{"--organisation"}, "--organisation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.sb.ResetCalls()
			r := runKeywarden(t, append([]string{"scan"}, tt.args...)...)
			if r.code != ExitUsage {
				t.Fatalf("exit code %d (%v), want %d", r.code, r.err, ExitUsage)
			}
			if !strings.Contains(r.err.Error(), tt.flag) {
				t.Errorf("error %q does not name %s", r.err, tt.flag)
			}
			var usage *UsageError
			if errors.As(r.err, &usage) && usage.Command != "keywarden scan" {
				t.Errorf("usage error for %q, want keywarden scan", usage.Command)
			}
			if r.stdout != "" {
				t.Errorf("stdout after a usage error:\n%s", r.stdout)
			}
			if calls := s.sb.Calls(); len(calls) != 0 {
				t.Errorf("a bad command line called AWS: %v", calls)
			}
		})
	}
}

func TestDemoCommandJSON(t *testing.T) {
	r := runKeywarden(t, "demo", "--format", "json", "--accounts", "3", "--users-per-account", "5")
	if r.code != ExitOK {
		t.Fatalf("exit code %d (%v); stderr:\n%s", r.code, r.err, r.stderr)
	}
	doc := decodeScanJSON(t, r.stdout)
	if doc.SchemaVersion != 1 || len(doc.Keys) == 0 || doc.Summary.AccountsFailed != 0 || doc.Summary.AccountsOK == 0 {
		t.Errorf("demo: schema_version %d, %d keys, summary %+v; want version 1, keys and every account read",
			doc.SchemaVersion, len(doc.Keys), doc.Summary)
	}
}

// TestScanCommandNeverPrintsSecrets runs scans in every format, with debug
// logs, with a failed account, and looks for the sandbox's secrets in
// everything the command wrote.
func TestScanCommandNeverPrintsSecrets(t *testing.T) {
	s := newScanSandbox(t)
	if len(s.secrets) < 2 {
		t.Fatalf("only %d secrets to look for", len(s.secrets))
	}
	s.sb.SetFaults(awsemu.Fault{Account: s.member(0).ID, DenyAssumeRole: true})
	dir := t.TempDir()
	for i, args := range [][]string{
		{"--log-level", "debug", "scan", "--org", "--format", "json", "--key-ids", "all"},
		{"--log-level", "debug", "--log-format", "json", "scan", "--org", "--format", "table", "--source", "api"},
		{"--log-level", "debug", "scan", "--org", "--format", "csv"},
		{"--log-level", "debug", "scan", "--org", "--format", "json", "--output", filepath.Join(dir, "out.json")},
		{"--log-level", "debug", "scan", "--accounts", s.org.ManagementAccount, "--hub-via-role"}, // no spoke role there: fails
		{"--log-level", "debug", "scan"},
	} {
		r := runKeywarden(t, args...)
		// The one account of the fifth refuses the role: no account read at all is an error.
		if r.code != ExitOK && r.code != ExitPartial && (i != 4 || r.code != ExitError) {
			t.Errorf("%v: exit code %d (%v)", args, r.code, r.err)
		}
		written := []string{r.stdout, r.stderr}
		if r.err != nil {
			written = append(written, r.err.Error())
		}
		if i == 3 {
			data, err := os.ReadFile(filepath.Join(dir, "out.json"))
			if err != nil {
				t.Fatal(err)
			}
			written = append(written, string(data))
		}
		if !strings.Contains(r.stderr, "level=DEBUG") && !strings.Contains(r.stderr, `"level":"DEBUG"`) {
			t.Errorf("%v: no debug logs on stderr:\n%s", args, r.stderr)
		}
		for _, w := range written {
			for _, secret := range s.secrets {
				if strings.Contains(w, secret) {
					t.Errorf("%v: a secret access key was written:\n%s", args, w)
				}
			}
		}
	}
}

// TestScanCommandInterrupted: Ctrl-C (the context cancelled) mid-scan exits
// 130 at once, without output.
func TestScanCommandInterrupted(t *testing.T) {
	s := newScanSandbox(t)
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) }) // before the server closes
	s.sb.SetFaults(awsemu.Fault{Operation: "GetAccountAuthorizationDetails", Hold: hold})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"scan", "--org", "--format", "json"}, &stdout, &stderr) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if code := ExitCode(err); code != ExitInterrupted {
			t.Errorf("exit code %d (%v), want %d", code, err, ExitInterrupted)
		}
		if stdout.Len() != 0 {
			t.Errorf("output after an interrupted scan:\n%s", stdout.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("scan did not stop within 5 s of Ctrl-C")
	}
}
