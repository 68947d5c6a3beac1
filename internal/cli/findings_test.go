package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/testutil/awstest"
	"github.com/keywarden/keywarden/internal/testutil/moto"
)

// Golden files of the scan with findings and of policy explain, under
// testdata/golden. `go test -update` rewrites them; the flag is the one the
// external test package (cli_test.go) declares for its scripts, looked up
// here because a test binary cannot declare it twice.

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if updateGolden() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
	}
}

// goldenAsOf is the moment the golden inventory is judged at.
var goldenAsOf = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// goldenAt is a fixed time of day on a date, so that ages are not whole days.
func goldenAt(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 9, 30, 0, 0, time.UTC) }

// goldenPolicyFile is the policy of the golden tests: see its comments.
const goldenPolicyFile = "testdata/policy/golden.yaml"

func loadGoldenPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	p, err := policy.Load(goldenPolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func userARN(account, path, name string) string {
	return "arn:aws:iam::" + account + ":user" + path + name
}

// goldenInventory is a scan of three accounts, made by hand: one read from
// the credential report (Prod, under the Workloads OU), one from the API
// after a fallback (NonProd, under Workloads), one that failed.
func goldenInventory() *inventory.Inventory {
	const prodID, devID = "111111111111", "222222222222"
	active, inactive := inventory.StatusActive, inventory.StatusInactive
	prod := inventory.AccountInventory{
		Account: inventory.Account{ID: prodID, Name: "prod-payments", Email: "aws+prod-payments@example.com",
			OUPath: "Root/Workloads/Prod", OUIDs: []string{"r-ab12", "ou-ab12-workload", "ou-ab12-prod0001"}, State: "ACTIVE"},
		Status: inventory.AccountOK, Source: inventory.SourceReport,
		ReportGeneratedAt: goldenAsOf.Add(-2 * time.Hour), ReadAt: goldenAsOf.Add(-time.Minute),
		Calls: 9, Duration: 1200 * time.Millisecond,
		Users: []inventory.User{
			{Name: "alice", Path: "/", ARN: userARN(prodID, "/", "alice"), Keys: []inventory.Key{
				{ID: "AKIAGOLDENALICE00001", Slot: 1, Status: active, CreatedAt: goldenAt(2026, 5, 20),
					LastUsedAt: goldenAt(2026, 5, 31), LastUsedService: "s3", LastUsedRegion: "eu-west-1"},
			}},
			// Its key ID was not read: the finding names the report slot.
			{Name: "bob", Path: "/", ARN: userARN(prodID, "/", "bob"), Keys: []inventory.Key{
				{Slot: 1, Status: active, CreatedAt: goldenAt(2025, 11, 1)},
			}},
			{Name: "carol", Path: "/", ARN: userARN(prodID, "/", "carol")},
			{Name: "ci-deploy", Path: "/ci/", ARN: userARN(prodID, "/ci/", "ci-deploy"), Keys: []inventory.Key{
				{ID: "AKIAGOLDENCIDEPLOY01", Slot: 1, Status: active, CreatedAt: goldenAt(2026, 2, 15),
					LastUsedAt: goldenAt(2026, 5, 31), LastUsedService: "sts", LastUsedRegion: "us-east-1"},
				{ID: "AKIAGOLDENCIDEPLOY02", Slot: 2, Status: active, CreatedAt: goldenAt(2026, 5, 25)},
			}},
			{Name: "svc-billing", Path: "/service/", ARN: userARN(prodID, "/service/", "svc-billing"), Keys: []inventory.Key{
				{ID: "AKIAGOLDENBILLING001", Slot: 1, Status: active, CreatedAt: goldenAt(2026, 1, 1),
					LastUsedAt: goldenAt(2026, 4, 1), LastUsedService: "s3", LastUsedRegion: "eu-west-1"},
				{ID: "AKIAGOLDENBILLING002", Slot: 2, Status: inactive, CreatedAt: goldenAt(2025, 6, 1),
					LastUsedAt: goldenAt(2025, 12, 1), LastUsedService: "s3", LastUsedRegion: "eu-west-1"},
			}},
		},
		Root: inventory.Root{KeysPresent: true, MFAActive: true, Keys: []inventory.Key{
			{Slot: 1, Status: active, CreatedAt: goldenAt(2024, 3, 1), LastUsedAt: goldenAt(2026, 5, 1), LastUsedService: "iam", LastUsedRegion: "us-east-1"},
		}},
	}
	dev := inventory.AccountInventory{
		Account: inventory.Account{ID: devID, Name: "dev-data", Email: "aws+dev-data@example.com",
			OUPath: "Root/Workloads/NonProd", OUIDs: []string{"r-ab12", "ou-ab12-workload", "ou-ab12-nonprod1"}, State: "ACTIVE"},
		Status: inventory.AccountOK, Source: inventory.SourceAPI, Fallback: "the credential report was denied (AccessDenied)",
		ReadAt: goldenAsOf.Add(-time.Minute), Calls: 14, Duration: 2300 * time.Millisecond,
		Users: []inventory.User{
			{Name: "dave", Path: "/", ARN: userARN(devID, "/", "dave"), Keys: []inventory.Key{
				{ID: "AKIAGOLDENDAVE000001", Status: inactive, CreatedAt: goldenAt(2026, 3, 1),
					LastUsedAt: goldenAt(2026, 3, 15), LastUsedService: "ec2", LastUsedRegion: "eu-west-1"},
			}},
			{Name: "svc-legacy-acme", Path: "/service/", ARN: userARN(devID, "/service/", "svc-legacy-acme"),
				Tags: inventory.Tags{{Key: "keywarden-exempt", Value: "true"}, {Key: "vendor", Value: "acme"}}, Keys: []inventory.Key{
					{ID: "AKIAGOLDENLEGACY0001", Status: active, CreatedAt: goldenAt(2023, 4, 10),
						LastUsedAt: goldenAt(2026, 5, 30), LastUsedService: "s3", LastUsedRegion: "eu-west-1"},
				}},
		},
		Root: inventory.Root{MFAActive: true},
	}
	failed := inventory.AccountInventory{
		Account: inventory.Account{ID: "333333333333", Name: "security-audit", Email: "aws+security-audit@example.com",
			OUPath: "Root/Security", OUIDs: []string{"r-ab12", "ou-ab12-security"}, State: "ACTIVE"},
		Status:    inventory.AccountFailed,
		Error:     "cannot assume the role: AccessDenied: not authorized to perform sts:AssumeRole on arn:aws:iam::333333333333:role/KeywardenSpoke",
		ErrorCode: "AccessDenied", Calls: 1, Duration: 80 * time.Millisecond,
	}
	return &inventory.Inventory{
		StartedAt: goldenAsOf.Add(-3 * time.Second), FinishedAt: goldenAsOf,
		Caller:   "arn:aws:iam::999999999999:user/keywarden-admin",
		Accounts: []inventory.AccountInventory{prod, dev, failed},
	}
}

// goldenVerdicts are the findings of the golden inventory under the golden
// policy as of goldenAsOf, worked out by hand: "account user key
// rule:stage" (the key's report slot when its ID was not read), "!" for
// exempt.
var goldenVerdicts = []string{
	"111111111111 <root_account> #1 root_key:report",
	"111111111111 bob #1 max_age:deactivate",        // 212 days: warn 80d, rotate 90d, deactivate 150d (Workloads)
	"111111111111 bob #1 unused:deactivate",         // never used: 212 days since creation
	"111111111111 bob #1 unused_initial:deactivate", // never used, 7d
	"111111111111 ci-deploy AKIAGOLDENCIDEPLOY01 max_age:rotate",
	"111111111111 ci-deploy AKIAGOLDENCIDEPLOY02 unused_initial:deactivate", // 7 days and 2.5 hours, never used
	"111111111111 ci-deploy AKIAGOLDENCIDEPLOY02 multiple_active:report",    // idle since its creation on 05-25, the other used 05-31
	"111111111111 svc-billing AKIAGOLDENBILLING002 inactive_cleanup:delete", // on in Prod: 182 days since its last use
	"111111111111 svc-billing AKIAGOLDENBILLING001 max_age:deactivate",      // 151 days; its exemption expired on 2026-01-31
	"111111111111 svc-billing AKIAGOLDENBILLING001 unused:deactivate!",      // 61 days; exempt until 2099
	"111111111111 svc-billing AKIAGOLDENBILLING001 exemption_expired:report",
	"222222222222 svc-legacy-acme AKIAGOLDENLEGACY0001 max_age:deactivate!", // tagged keywarden-exempt
}

// goldenVerdictsLater are the findings thirty days after goldenAsOf.
var goldenVerdictsLater = []string{
	"111111111111 <root_account> #1 root_key:report",
	"111111111111 alice AKIAGOLDENALICE00001 unused:warn", // 31 days since 05-31
	"111111111111 bob #1 max_age:deactivate",
	"111111111111 bob #1 unused:deactivate",
	"111111111111 bob #1 unused_initial:deactivate",
	"111111111111 ci-deploy AKIAGOLDENCIDEPLOY01 max_age:rotate", // 136 days: deactivate at 150
	"111111111111 ci-deploy AKIAGOLDENCIDEPLOY01 unused:warn",
	"111111111111 ci-deploy AKIAGOLDENCIDEPLOY02 unused:warn", // 37 days since its creation
	"111111111111 ci-deploy AKIAGOLDENCIDEPLOY02 unused_initial:deactivate",
	"111111111111 ci-deploy AKIAGOLDENCIDEPLOY02 multiple_active:report",
	"111111111111 svc-billing AKIAGOLDENBILLING002 inactive_cleanup:delete",
	"111111111111 svc-billing AKIAGOLDENBILLING001 max_age:deactivate",
	"111111111111 svc-billing AKIAGOLDENBILLING001 unused:deactivate!",
	"111111111111 svc-billing AKIAGOLDENBILLING001 exemption_expired:report",
	"222222222222 svc-legacy-acme AKIAGOLDENLEGACY0001 max_age:deactivate!",
}

func verdictOf(f report.Finding) string {
	key := f.AccessKeyID
	if key == "" {
		key = fmt.Sprintf("#%d", f.KeySlot)
	}
	v := fmt.Sprintf("%s %s %s %s:%s", f.AccountID, f.UserName, key, f.Rule, f.Stage)
	if f.Exempt {
		v += "!"
	}
	return v
}

// judged is what the engine's scan returns for an inventory: its findings
// as of asOf, or as of the end of the read.
func judged(pol *policy.Policy, inv *inventory.Inventory, asOf time.Time) *engine.ScanResult {
	if asOf.IsZero() {
		asOf = inv.FinishedAt
	}
	return &engine.ScanResult{Inventory: inv, AsOf: asOf, Findings: pol.Evaluate(inv, policy.Options{AsOf: asOf})}
}

// TestScanGolden renders the golden inventory, judged by the golden policy,
// the way the scan command does (writeScan), in JSON and as a table.
func TestScanGolden(t *testing.T) {
	pol := loadGoldenPolicy(t)
	tests := []struct {
		golden string // under testdata/golden
		format report.Format
		asOf   time.Time // --as-of
		want   []string  // the findings' verdicts, for JSON
	}{
		{"scan_findings.json", report.FormatJSON, time.Time{}, goldenVerdicts},
		{"scan_findings.txt", report.FormatTable, time.Time{}, nil},
		// --as-of thirty days on: the Prod keys last used on 05-31, or
		// created on 05-25 and never used, reach the unused warning (30d
		// in the Prod override).
		{"scan_findings_as_of.json", report.FormatJSON, goldenAsOf.AddDate(0, 0, 30), goldenVerdictsLater},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var out bytes.Buffer
			err := writeScan(judged(pol, goldenInventory(), tt.asOf), tt.asOf, tt.format, "", "", "critical", &out)
			if !errors.Is(err, ErrPartial) || ExitCode(err) != ExitPartial {
				t.Errorf("writeScan: %v (exit %d), want the failed account reported (exit %d) before the findings", err, ExitCode(err), ExitPartial)
			}
			checkGolden(t, tt.golden, out.Bytes())
			if tt.format != report.FormatJSON {
				return
			}
			doc := decodeScanJSON(t, out.String())
			var got []string
			for _, f := range doc.Findings {
				got = append(got, verdictOf(f))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("findings (-worked out +rendered):\n%s", diff)
			}
			wantAsOf := tt.asOf
			if wantAsOf.IsZero() {
				wantAsOf = goldenAsOf
			}
			if !doc.AsOf.Equal(wantAsOf) || !doc.GeneratedAt.Equal(goldenAsOf) || doc.Summary.Findings != len(tt.want) {
				t.Errorf("as_of %v, generated_at %v, %d findings; want %v, %v, %d",
					doc.AsOf, doc.GeneratedAt, doc.Summary.Findings, wantAsOf, goldenAsOf, len(tt.want))
			}
			for _, f := range doc.Findings {
				if f.Exempt != (f.ExemptionReason != "") || f.Exempt != (f.ExemptionSource != "") {
					t.Errorf("finding %s: exempt %v with reason %q and source %q", verdictOf(f), f.Exempt, f.ExemptionReason, f.ExemptionSource)
				}
				if f.Exempt && !strings.HasPrefix(f.ExemptionSource, goldenPolicyFile+":") {
					t.Errorf("finding %s: exemption source %q, want a line of %s", verdictOf(f), f.ExemptionSource, goldenPolicyFile)
				}
			}
		})
	}
}

// TestScanFailOn checks --fail-on on the golden inventory without its
// failed account: the findings not exempt, by severity, are 1 critical
// (root_key), 3 high (max_age), 3 medium (unused, multiple_active,
// exemption_expired) and 3 low (unused_initial twice, inactive_cleanup).
func TestScanFailOn(t *testing.T) {
	pol := loadGoldenPolicy(t)
	inv := goldenInventory()
	inv.Accounts = slices.DeleteFunc(inv.Accounts, func(a inventory.AccountInventory) bool { return a.Status != inventory.AccountOK })
	tests := []struct {
		level string
		want  int // findings at or above it; 0: exit 0
	}{
		{"none", 0},
		{"warn", 10},
		{"info", 10},
		{"low", 10},
		{"medium", 7},
		{"high", 4},
		{"critical", 1},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			var out bytes.Buffer
			err := writeScan(judged(pol, inv, time.Time{}), time.Time{}, report.FormatJSON, "", "", tt.level, &out)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("writeScan: %v, want no error", err)
				}
				return
			}
			if !errors.Is(err, ErrFindings) || ExitCode(err) != ExitFindings {
				t.Fatalf("writeScan: %v (exit %d), want ErrFindings (exit %d)", err, ExitCode(err), ExitFindings)
			}
			if want := fmt.Sprintf(": %d at or above --fail-on %s", tt.want, tt.level); !strings.HasSuffix(err.Error(), want) {
				t.Errorf("error %q, want it to end %q", err, want)
			}
			if out.Len() == 0 {
				t.Error("no output: the findings are written before the exit code says they exist")
			}
		})
	}
}

// scanFindings runs a scan in JSON and returns the result and the document
// (nil when nothing was written).
func scanFindings(t *testing.T, args ...string) (cmdResult, *report.Document) {
	t.Helper()
	r := runKeywarden(t, append([]string{"scan", "--format", "json"}, args...)...)
	if r.stdout == "" {
		return r, nil
	}
	return r, decodeScanJSON(t, r.stdout)
}

// TestScanCommandPolicy scans the sandbox with a policy file that exempts
// a user glob in one OU and overrides a rule in another: the JSON
// findings say which are exempt, why and by which line of the file.
func TestScanCommandPolicy(t *testing.T) {
	s := newScanSandbox(t)
	config := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, config, `version: 1
exemptions:
  - users: ["svc-secret-*"]
    ous: [`+ouID(t, s, "NonProd")+`]
    rules: [max_age]
    reason: "rotated by the vault; SEC-9"
    expires: 2099-12-31
overrides:
  - ous: [`+ouID(t, s, "Prod")+`]
    rules:
      max_age: {rotate: 300d}
`)
	r, doc := scanFindings(t, "--org", "--config", config)
	if r.code != ExitOK || doc == nil {
		t.Fatalf("exit %d (%v); stderr:\n%s", r.code, r.err, r.stderr)
	}
	if doc.Summary.Findings != len(doc.Findings) || len(doc.Findings) == 0 {
		t.Fatalf("summary counts %d findings, the document holds %d", doc.Summary.Findings, len(doc.Findings))
	}
	ouPath := map[string]string{}
	for _, a := range s.active() {
		ouPath[a.ID] = a.OUPath
	}
	// svc-secret-holder's key is 200 days old and used an hour ago: only
	// max_age can fire, and does except under the Prod override.
	holder := map[string][]string{}
	for _, f := range doc.Findings {
		if f.UserName == "svc-secret-holder" {
			holder[f.AccountID] = append(holder[f.AccountID], verdictOf(f)+" "+f.ExemptionReason+" "+f.ExemptionSource+" "+f.ExemptionExpires)
		}
		// The Prod override raises max_age to 300 days, and nothing else.
		if f.Rule == string(policy.MaxAge) {
			age := doc.AsOf.Sub(f.KeyCreatedAt)
			want := 90 * 24 * time.Hour
			if ouPath[f.AccountID] == "Root/Workloads/Prod" {
				want = 300 * 24 * time.Hour
			}
			if age < want {
				t.Errorf("max_age finding for a key %v old in %s (%s), want at least %v", age, f.AccountID, ouPath[f.AccountID], want)
			}
		}
	}
	want := map[string][]string{}
	for _, a := range s.active() {
		if a.Management {
			continue
		}
		key := s.keyIDs[a.ID][len(s.keyIDs[a.ID])-1] // svc-secret-holder's, added last
		v := a.ID + " svc-secret-holder " + key + " max_age:rotate"
		switch a.OUPath {
		case "Root/Workloads/Prod":
		case "Root/Workloads/NonProd":
			want[a.ID] = []string{v + "! rotated by the vault; SEC-9 " + config + ":3 2099-12-31"}
		default:
			want[a.ID] = []string{v + "   "}
		}
	}
	if diff := cmp.Diff(want, holder); diff != "" {
		t.Errorf("svc-secret-holder's findings by account (-want +got):\n%s", diff)
	}
}

// TestScanCommandFailOn: --fail-on sets exit code 4 when a finding not
// exempt is at or above the level; a failed account's exit code 3 wins.
// With the defaults, root_key is the only rule above medium (critical).
func TestScanCommandFailOn(t *testing.T) {
	s := newScanSandbox(t)
	roots := rootKeyAccounts(s)
	if len(roots) == 0 {
		t.Fatal("the generated organization has no active account with a root key")
	}
	withoutRoots := strings.Join(roots, ",")
	rootExempt := filepath.Join(t.TempDir(), "root-exempt.yaml")
	writeFile(t, rootExempt, `version: 1
exemptions:
  - users: ["<root_account>"]
    rules: [root_key]
    reason: "root keys held in the safe; SEC-1"
`)
	tests := []struct {
		name  string
		args  []string
		fault *awsemu.Fault
		code  int
	}{
		{"none", []string{"--fail-on", "none"}, nil, ExitOK},
		{"the default is none", nil, nil, ExitOK},
		{"high: root keys are critical", []string{"--fail-on", "high"}, nil, ExitFindings},
		{"critical", []string{"--fail-on", "critical"}, nil, ExitFindings},
		{"critical without the root keys", []string{"--fail-on", "critical", "--exclude-accounts", withoutRoots}, nil, ExitOK},
		{"high without the root keys", []string{"--fail-on", "high", "--exclude-accounts", withoutRoots}, nil, ExitOK},
		{"medium without the root keys", []string{"--fail-on", "medium", "--exclude-accounts", withoutRoots}, nil, ExitFindings},
		{"warn", []string{"--fail-on", "warn"}, nil, ExitFindings},
		{"critical with the root keys exempt", []string{"--fail-on", "critical", "--config", rootExempt}, nil, ExitOK},
		{"a failed account wins", []string{"--fail-on", "warn"}, &awsemu.Fault{Account: s.member(1).ID, DenyAssumeRole: true}, ExitPartial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.sb.SetFaults()
			if tt.fault != nil {
				s.sb.SetFaults(*tt.fault)
			}
			r, doc := scanFindings(t, append([]string{"--org"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d (%v), want %d; stderr:\n%s", r.code, r.err, tt.code, r.stderr)
			}
			if doc == nil {
				t.Fatal("no output")
			}
			if len(doc.Findings) == 0 {
				t.Fatal("no findings")
			}
			if tt.code != ExitFindings {
				return
			}
			level := tt.args[1]
			n := 0
			for _, f := range doc.Findings {
				if !f.Exempt && (level == "warn" || policy.Severity(f.Severity).AtLeast(policy.Severity(level))) {
					n++
				}
			}
			if want := fmt.Sprintf("findings: %d at or above --fail-on %s", n, level); r.err.Error() != want {
				t.Errorf("error %q, want %q", r.err, want)
			}
		})
	}
	s.sb.SetFaults()
	r := runKeywarden(t, "scan", "--org", "--fail-on", "severe")
	if r.code != ExitUsage || !strings.Contains(r.err.Error(), `--fail-on "severe"`) {
		t.Errorf("--fail-on severe: exit %d (%v), want %d naming the flag", r.code, r.err, ExitUsage)
	}
}

// TestScanCommandPolicyAccounts: the policy file's accounts section selects
// the accounts when no flag does; a flag given replaces what the file says.
func TestScanCommandPolicyAccounts(t *testing.T) {
	s := newScanSandbox(t)
	excluded, other, only := s.member(2).ID, s.member(3).ID, s.member(0).ID
	dir := t.TempDir()
	config := filepath.Join(dir, "keywarden.yaml")
	writeFile(t, config, `version: 1
accounts:
  organization: true
  exclude: ["`+excluded+`"]
`)
	badRole := filepath.Join(dir, "bad-role.yaml")
	writeFile(t, badRole, `version: 1
accounts:
  organization: true
  role_name: NoSuchRole
`)
	prodOnly := filepath.Join(dir, "prod-only.yaml")
	writeFile(t, prodOnly, `version: 1
accounts:
  ous: [`+ouID(t, s, "Prod")+`]
`)
	var prod []string
	for _, a := range s.active() {
		if a.OUPath == "Root/Workloads/Prod" {
			prod = append(prod, a.ID)
		}
	}
	slices.Sort(prod)
	missing := filepath.Join(dir, "missing.yaml")
	allBut := func(id string) []string {
		var out []string
		for _, a := range s.active() {
			if a.ID != id {
				out = append(out, a.ID)
			}
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name   string
		chdir  bool // run in dir, where keywarden.yaml is
		args   []string
		code   int
		want   []string // the accounts read (ok or failed)
		failed int
		err    string
	}{
		{"no policy file: the caller's account", false, nil, ExitOK, []string{s.org.ManagementAccount}, 0, ""},
		{"organization and exclude from the file", false, []string{"--config", config}, ExitOK, allBut(excluded), 0, ""},
		{"keywarden.yaml in the working directory", true, nil, ExitOK, allBut(excluded), 0, ""},
		{"--exclude-accounts replaces the file's exclude", false, []string{"--config", config, "--exclude-accounts", other}, ExitOK, allBut(other), 0, ""},
		{"--accounts replaces the file's selection", false, []string{"--config", config, "--accounts", only}, ExitOK, []string{only}, 0, ""},
		{"ous from the file", false, []string{"--config", prodOnly}, ExitOK, prod, 0, ""},
		{"--org replaces the file's ous", false, []string{"--config", prodOnly, "--org"}, ExitOK, allBut(""), 0, ""},
		{"role_name from the file", false, []string{"--config", badRole}, ExitPartial, allBut(""), len(s.active()) - 1, ""},
		{"--role-name replaces the file's", false, []string{"--config", badRole, "--role-name", orggenRole}, ExitOK, allBut(""), 0, ""},
		{"missing policy file", false, []string{"--org", "--config", missing}, ExitError, nil, 0, missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.chdir {
				t.Chdir(dir)
			}
			s.sb.ResetCalls()
			r, doc := scanFindings(t, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d (%v), want %d; stderr:\n%s", r.code, r.err, tt.code, r.stderr)
			}
			if tt.err != "" {
				if !strings.Contains(r.err.Error(), tt.err) {
					t.Errorf("error %q, want it to name %s", r.err, tt.err)
				}
				if calls := s.sb.Calls(); len(calls) != 0 {
					t.Errorf("AWS was called before the policy file was read: %v", calls)
				}
				return
			}
			var got []string
			failed := 0
			for _, a := range doc.Accounts {
				got = append(got, a.ID)
				if a.Status != "ok" {
					failed++
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("accounts read (-want +got):\n%s", diff)
			}
			if failed != tt.failed {
				t.Errorf("%d accounts failed, want %d", failed, tt.failed)
			}
		})
	}
}

// orggenRole is the spoke role of the generated organization.
const orggenRole = "KeywardenSpoke"

// useAWS points the AWS environment of the test (so it cannot run in
// parallel) at url, signing with the given key.
func useAWS(t *testing.T, url, keyID, secret string) {
	t.Helper()
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION",
		"AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_ORGANIZATIONS", "KEYWARDEN_EXTERNAL_ID"} {
		t.Setenv(k, "") // restored when the test ends
		os.Unsetenv(k)
	}
	t.Setenv("AWS_ENDPOINT_URL", url)
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
}

// motoKeys are the keys created in moto: account → user → keys, oldest
// first.
type motoKeys map[string]map[string][]*iamtypes.AccessKey

// newMotoFindingsOrg builds, in a fresh moto, through the AWS APIs, an
// organization of three accounts (the management account and two members,
// one in an OU) with the spoke role in each member, and in every account
// alice (one active key), bob (two active keys, the second created at
// least a second after the first), carol (one inactive key) and dan (no
// key); the management account also has the hub identity keywarden-admin.
// It returns the hub admin's key and every key created.
// motoCommandOrg is the organization newMotoFindingsOrg builds in a fresh
// moto, with the environment set for the keywarden command to run against
// it as the hub admin.
type motoCommandOrg struct {
	admin *iamtypes.AccessKey
	keys  motoKeys
	url   string
	hub   aws.Config // signs as the hub admin, as keywarden does
	// The test's policy, state and plan files, in a directory of its own.
	config, state, planFile string
}

func newMotoCommandOrg(t *testing.T) *motoCommandOrg {
	t.Helper()
	srv := moto.Start(t)
	admin, keys := newMotoFindingsOrg(t, srv.URL)
	id, secret := aws.ToString(admin.AccessKeyId), aws.ToString(admin.SecretAccessKey)
	useAWS(t, srv.URL, id, secret)
	dir := t.TempDir()
	return &motoCommandOrg{admin: admin, keys: keys, url: srv.URL, hub: awstest.Config(t, srv.URL, id, secret),
		config: filepath.Join(dir, "keywarden.yaml"), state: filepath.Join(dir, "state.db"), planFile: filepath.Join(dir, "plan.json")}
}

// configFor is a configuration acting in account as an operator would:
// the hub's own, or through the spoke role in a member account.
func (m *motoCommandOrg) configFor(account string) aws.Config {
	if _, hubAccount := m.keys[account]["keywarden-admin"]; hubAccount {
		return m.hub
	}
	return awsx.NewAssumer(m.hub, awsx.AssumerOptions{RoleName: orggenRole, SessionName: "operator"}).Config(account, nil)
}

func newMotoFindingsOrg(t *testing.T, url string) (*iamtypes.AccessKey, motoKeys) {
	t.Helper()
	ctx := t.Context()
	config := func(creds aws.CredentialsProvider) aws.Config {
		cfg, err := awsx.Load(ctx, awsx.Options{Region: "us-east-1", Endpoint: url, Credentials: creds, MaxBackoff: awstest.MaxBackoff})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	boot := iam.NewFromConfig(awstest.Config(t, url, "AKIAIOSFODNN7EXAMPLE", "bootstrap"))
	if _, err := boot.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("keywarden-admin")}); err != nil {
		t.Fatalf("create admin user: %v", err)
	}
	created, err := boot.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("keywarden-admin")})
	if err != nil {
		t.Fatalf("create admin key: %v", err)
	}
	admin := created.AccessKey
	hub := awstest.Config(t, url, aws.ToString(admin.AccessKeyId), aws.ToString(admin.SecretAccessKey))

	org := organizations.NewFromConfig(hub)
	out, err := org.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	mgmt := aws.ToString(out.Organization.MasterAccountId)
	keys := motoKeys{mgmt: {"keywarden-admin": {admin}}}
	roots, err := org.ListRoots(ctx, &organizations.ListRootsInput{})
	if err != nil || len(roots.Roots) != 1 {
		t.Fatalf("list roots: %v", err)
	}
	rootID := roots.Roots[0].Id
	ou, err := org.CreateOrganizationalUnit(ctx, &organizations.CreateOrganizationalUnitInput{Name: aws.String("Workloads"), ParentId: rootID})
	if err != nil {
		t.Fatalf("create OU: %v", err)
	}
	clients := map[string]*iam.Client{mgmt: iam.NewFromConfig(hub)}
	accounts := []string{mgmt}
	stsc := sts.NewFromConfig(hub)
	for i, name := range []string{"dev", "prod"} {
		id, err := moto.CreateAccount(ctx, org, name, "aws-"+name+"@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if _, err := org.MoveAccount(ctx, &organizations.MoveAccountInput{AccountId: aws.String(id),
				SourceParentId: rootID, DestinationParentId: ou.OrganizationalUnit.Id}); err != nil {
				t.Fatalf("move account %s: %v", id, err)
			}
		}
		provider := stscreds.NewAssumeRoleProvider(stsc, "arn:aws:iam::"+id+":role/OrganizationAccountAccessRole")
		c := iam.NewFromConfig(config(aws.NewCredentialsCache(provider)))
		trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+
			`"Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"sts:AssumeRole"}]}`, mgmt)
		if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(orggenRole), AssumeRolePolicyDocument: aws.String(trust)}); err != nil {
			t.Fatalf("create role in %s: %v", id, err)
		}
		clients[id] = c
		accounts = append(accounts, id)
		keys[id] = map[string][]*iamtypes.AccessKey{}
	}
	createKey := func(id, user string, status iamtypes.StatusType) {
		t.Helper()
		c := clients[id]
		out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
		if err != nil {
			t.Fatalf("create key for %s in %s: %v", user, id, err)
		}
		if status != iamtypes.StatusTypeActive {
			if _, err := c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(user),
				AccessKeyId: out.AccessKey.AccessKeyId, Status: status}); err != nil {
				t.Fatalf("deactivate key of %s in %s: %v", user, id, err)
			}
			out.AccessKey.Status = status
		}
		keys[id][user] = append(keys[id][user], out.AccessKey)
	}
	for _, id := range accounts {
		for _, user := range []string{"alice", "bob", "carol", "dan"} {
			if _, err := clients[id].CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(user)}); err != nil {
				t.Fatalf("create user %s in %s: %v", user, id, err)
			}
		}
		createKey(id, "alice", iamtypes.StatusTypeActive)
		createKey(id, "bob", iamtypes.StatusTypeActive)
		createKey(id, "carol", iamtypes.StatusTypeInactive)
	}
	// bob's second keys, in the next second: the report has creation
	// times to the second, and the older of two unused keys is the one
	// multiple_active flags.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	for _, id := range accounts {
		createKey(id, "bob", iamtypes.StatusTypeActive)
	}
	return admin, keys
}

// TestScanCommandMoto scans an organization built in moto, where keys can
// only be created now: --as-of 100 days ahead makes them old. Every key
// gets exactly the findings the default policy (with inactive_cleanup
// turned on) gives it, on both paths. moto's credential report has no
// root row and its account summary no root keys: no root_key finding.
func TestScanCommandMoto(t *testing.T) {
	m := newMotoCommandOrg(t)
	keys, config := m.keys, m.config
	writeFile(t, config, "version: 1\nrules:\n  inactive_cleanup: {delete: 30d}\n")
	asOf := time.Now().UTC().Add(100 * 24 * time.Hour).Truncate(time.Second)

	var want []string
	for id, users := range keys {
		for user, ks := range users {
			for i, k := range ks {
				v := id + " " + user + " " + aws.ToString(k.AccessKeyId) + " "
				switch {
				case k.Status != iamtypes.StatusTypeActive:
					want = append(want, v+"inactive_cleanup:delete")
				case user == "keywarden-admin": // used: it signs the scan
					want = append(want, v+"max_age:rotate", v+"unused:deactivate")
				default:
					want = append(want, v+"max_age:rotate", v+"unused:deactivate", v+"unused_initial:deactivate")
					if user == "bob" && i == 0 {
						want = append(want, v+"multiple_active:report")
					}
				}
			}
		}
	}
	slices.Sort(want)

	for _, source := range []string{"report", "api"} {
		t.Run(source, func(t *testing.T) {
			r, doc := scanFindings(t, "--org", "--source", source, "--key-ids", "all", "--as-of", asOf.Format(time.RFC3339),
				"--config", config, "--fail-on", "medium")
			if r.code != ExitFindings || doc == nil {
				t.Fatalf("exit %d (%v), want %d with the findings written; stderr:\n%s", r.code, r.err, ExitFindings, r.stderr)
			}
			if doc.Summary.AccountsOK != 3 || !strings.HasSuffix(doc.Caller, ":user/keywarden-admin") || !doc.AsOf.Equal(asOf) {
				t.Errorf("summary %+v, caller %s, as_of %v; want 3 accounts read by the admin as of %v", doc.Summary, doc.Caller, doc.AsOf, asOf)
			}
			var got []string
			for _, f := range doc.Findings {
				got = append(got, strings.TrimSuffix(verdictOf(f), "!"))
				if f.Exempt {
					t.Errorf("finding %s is exempt without an exemption", verdictOf(f))
				}
				if f.Rule == string(policy.InactiveCleanup) != f.Estimated {
					t.Errorf("finding %s: estimated %v, want it only for the inactive key (its deactivation date is not known)", verdictOf(f), f.Estimated)
				}
			}
			slices.Sort(got)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("findings as of %v (-want +got):\n%s", asOf, diff)
			}
			if doc.Summary.RootKeys != 0 {
				t.Errorf("%d accounts with root keys in moto", doc.Summary.RootKeys)
			}
		})
	}
}
