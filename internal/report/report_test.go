package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/keywarden/keywarden/internal/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the actual output")

// TestGolden renders the fixture in every format and compares the output
// with testdata/scan.<format>.
func TestGolden(t *testing.T) {
	// The other formats have golden tests of their own, with findings.
	for _, f := range []Format{FormatTable, FormatJSON, FormatCSV} {
		t.Run(string(f), func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, fixtureDoc(), f); err != nil {
				t.Fatalf("Render: %v", err)
			}
			golden := filepath.Join("testdata", "scan."+string(f))
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", golden, diff)
			}
		})
	}
}

func TestWholeDays(t *testing.T) {
	asOf := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		from time.Time
		want int
	}{
		{"same instant", asOf, 0},
		{"one second before", asOf.Add(-time.Second), 0},
		{"a second short of a day", asOf.Add(-24*time.Hour + time.Second), 0},
		{"exactly one day", asOf.Add(-24 * time.Hour), 1},
		{"exactly 90 days", asOf.AddDate(0, 0, -90), 90},
		{"a second short of 90 days", asOf.AddDate(0, 0, -90).Add(time.Second), 89},
		{"90 days and a bit", asOf.AddDate(0, 0, -90).Add(-time.Hour), 90},
		{"created after as_of", asOf.Add(time.Hour), 0},
		{"created long after as_of", asOf.AddDate(1, 0, 0), 0},
		{"other time zone", asOf.In(time.FixedZone("X", 5*3600)).Add(-48 * time.Hour), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := wholeDays(tt.from, asOf); got != tt.want {
				t.Errorf("wholeDays(%s, %s) = %d, want %d", tt.from, asOf, got, tt.want)
			}
		})
	}
}

func TestHoursBetween(t *testing.T) {
	gen := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want float64
	}{
		{0, 0},
		{-time.Hour, 0}, // report "generated" after the document: clock skew
		{2 * time.Hour, 2},
		{2*time.Hour + 5*time.Minute, 2.1}, // 2.083
		{2*time.Hour + 2*time.Minute, 2},   // 2.033
		{3*time.Hour + 57*time.Minute, 4},  // 3.95
		{time.Minute, 0},
	}
	for _, tt := range tests {
		if got := hoursBetween(gen.Add(-tt.ago), gen); got != tt.want {
			t.Errorf("hoursBetween(%v before) = %v, want %v", tt.ago, got, tt.want)
		}
	}
}

// TestBuildAges checks the ages of keys through Build, against as_of.
func TestBuildAges(t *testing.T) {
	asOf := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	inv := &inventory.Inventory{Accounts: []inventory.AccountInventory{{
		Account: inventory.Account{ID: "111111111111"},
		Status:  inventory.AccountOK,
		Source:  inventory.SourceAPI,
		Users: []inventory.User{
			{Name: "a", Keys: []inventory.Key{{ID: "AKIA1", Status: "Active", CreatedAt: asOf.AddDate(0, 0, -90), LastUsedAt: asOf.AddDate(0, 0, -45)}}},
			{Name: "b", Keys: []inventory.Key{{ID: "AKIA2", Status: "Active", CreatedAt: asOf.Add(time.Hour), LastUsedAt: asOf.Add(2 * time.Hour)}}},
			{Name: "c", Keys: []inventory.Key{{ID: "AKIA3", Status: "Active", CreatedAt: asOf.Add(-time.Hour), LastUsedAt: asOf.Add(-time.Minute)}}},
			{Name: "d", Keys: []inventory.Key{{ID: "AKIA4", Status: "Active", CreatedAt: asOf.AddDate(0, 0, -3).Add(500 * time.Millisecond)}}},
		},
	}}}
	doc := Build(inv, BuildOptions{GeneratedAt: asOf.AddDate(0, 0, -10), AsOf: asOf})
	type ages struct {
		Age      int
		LastUsed *int
	}
	got := map[string]ages{}
	for _, k := range doc.Keys {
		got[k.UserName] = ages{k.AgeDays, k.DaysSinceLastUse}
	}
	n := func(i int) *int { return &i }
	want := map[string]ages{
		"a": {90, n(45)},
		"b": {0, n(0)}, // created and used after as_of
		"c": {0, n(0)},
		"d": {3, nil}, // sub-second part dropped: exactly 3 days
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ages (-want +got):\n%s", diff)
	}
}

func TestBuildDefaults(t *testing.T) {
	t.Run("nil inventory", func(t *testing.T) {
		gen := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		doc := Build(nil, BuildOptions{GeneratedAt: gen})
		if doc.Accounts == nil || doc.Keys == nil || doc.Findings == nil {
			t.Errorf("nil slices in %+v", doc)
		}
		if !doc.AsOf.Equal(gen) {
			t.Errorf("AsOf = %v, want GeneratedAt %v", doc.AsOf, gen)
		}
		if doc.SchemaVersion != 1 {
			t.Errorf("SchemaVersion = %d, want 1", doc.SchemaVersion)
		}
	})
	t.Run("generated at the end of the scan", func(t *testing.T) {
		inv := fixture()
		doc := Build(inv, BuildOptions{})
		want := inv.FinishedAt.Truncate(time.Second)
		if !doc.GeneratedAt.Equal(want) || !doc.AsOf.Equal(want) {
			t.Errorf("GeneratedAt, AsOf = %v, %v; want FinishedAt %v", doc.GeneratedAt, doc.AsOf, want)
		}
	})
	t.Run("times in UTC to the second", func(t *testing.T) {
		local := time.Date(2026, 3, 1, 13, 0, 0, 999, time.FixedZone("CET", 3600))
		doc := Build(nil, BuildOptions{GeneratedAt: local})
		if got := doc.GeneratedAt.Format(time.RFC3339Nano); got != "2026-03-01T12:00:00Z" {
			t.Errorf("GeneratedAt = %s, want 2026-03-01T12:00:00Z", got)
		}
	})
}

func TestBuildSummary(t *testing.T) {
	got := fixtureDoc().Summary
	want := Summary{
		Accounts: 3, AccountsOK: 2, AccountsFailed: 1,
		Users: 4, Keys: 5, ActiveKeys: 4, InactiveKeys: 1,
		RootKeys: 1, Findings: 0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

func TestBuildOrder(t *testing.T) {
	doc := fixtureDoc()
	var accts []string
	for _, a := range doc.Accounts {
		accts = append(accts, a.ID)
	}
	if diff := cmp.Diff([]string{"111111111111", "222222222222", "333333333333"}, accts); diff != "" {
		t.Errorf("account order (-want +got):\n%s", diff)
	}
	var keys []string
	for _, k := range doc.Keys {
		keys = append(keys, k.AccountID+" "+k.UserName+" "+k.CreatedAt.Format(time.DateOnly))
	}
	want := []string{
		"111111111111 <root_account> 2021-11-03",
		"111111111111 alice 2026-02-10",
		"111111111111 svc-payments 2024-06-01",
		"111111111111 svc-payments 2025-01-20",
		"222222222222 dave 2025-03-01",
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("key order (-want +got):\n%s", diff)
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"table", FormatTable, false},
		{"json", FormatJSON, false},
		{"csv", FormatCSV, false},
		{"JSON", FormatJSON, false},
		{" csv ", FormatCSV, false},
		{"", "", true},
		{"yaml", "", true},
		{"jsonl", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFormat(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseFormat(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseFormat(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), "table, json, csv") {
				t.Errorf("error %q does not list the valid formats", err)
			}
		})
	}
	if err := Render(&bytes.Buffer{}, fixtureDoc(), Format("xml")); err == nil {
		t.Error("Render with an unknown format: no error")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	doc := fixtureDoc()
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatJSON); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("invalid JSON:\n%s", buf.String())
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("}\n")) {
		t.Error("no trailing newline")
	}
	var back Document
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(doc, &back); diff != "" {
		t.Errorf("decoded document differs (-built +decoded):\n%s", diff)
	}
}

// TestJSONNulls checks the raw JSON: arrays that are never null and the
// nulls documented in docs/scripting.md.
func TestJSONNulls(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, fixtureDoc(), FormatJSON); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Findings json.RawMessage            `json:"findings"`
		Accounts []map[string]any           `json:"accounts"`
		Keys     []map[string]any           `json:"keys"`
		Summary  map[string]json.RawMessage `json:"summary"`
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw.Findings) != "[]" {
		t.Errorf("findings = %s, want []", raw.Findings)
	}
	if strings.Contains(buf.String(), `\u003c`) {
		t.Error("<root_account> is escaped")
	}

	accts := map[string]map[string]any{}
	for _, a := range raw.Accounts {
		accts[a["id"].(string)] = a
	}
	keys := map[string]map[string]any{}
	for _, k := range raw.Keys {
		keys[k["account_id"].(string)+"/"+k["user_name"].(string)+"/"+k["created_at"].(string)[:10]] = k
	}
	type check struct {
		obj   map[string]any
		field string
		want  any // nil: JSON null
	}
	checks := []check{
		{accts["111111111111"], "error", nil},
		{accts["111111111111"], "error_code", nil},
		{accts["111111111111"], "source", "report"},
		{accts["111111111111"], "fallback", nil},
		{accts["111111111111"], "report_generated_at", "2026-03-01T10:00:00Z"},
		{accts["111111111111"], "report_age_hours", 2.0},
		{accts["111111111111"], "root_keys_present", true},
		{accts["222222222222"], "source", "api"},
		{accts["222222222222"], "fallback", "credential report not ready after 30s"},
		{accts["222222222222"], "report_generated_at", nil},
		{accts["222222222222"], "report_age_hours", nil},
		{accts["222222222222"], "root_keys_present", false},
		{accts["333333333333"], "status", "failed"},
		{accts["333333333333"], "error_code", "AccessDenied"},
		{accts["333333333333"], "source", nil},
		{accts["333333333333"], "root_keys_present", nil},
		{accts["333333333333"], "users", 0.0},
		{accts["333333333333"], "duration_ms", 183.0},
		{keys["111111111111/<root_account>/2021-11-03"], "access_key_id", nil},
		{keys["111111111111/<root_account>/2021-11-03"], "user_arn", "arn:aws:iam::111111111111:root"},
		{keys["111111111111/<root_account>/2021-11-03"], "days_since_last_use", 0.0},
		{keys["111111111111/<root_account>/2021-11-03"], "last_used_region", nil},
		{keys["111111111111/alice/2026-02-10"], "access_key_id", nil},
		{keys["111111111111/alice/2026-02-10"], "last_used_at", nil},
		{keys["111111111111/alice/2026-02-10"], "days_since_last_use", nil},
		{keys["111111111111/alice/2026-02-10"], "last_used_service", nil},
		{keys["111111111111/alice/2026-02-10"], "key_slot", 1.0},
		{keys["111111111111/alice/2026-02-10"], "age_days", 32.0},
		{keys["111111111111/svc-payments/2024-06-01"], "status", "Inactive"},
		{keys["222222222222/dave/2025-03-01"], "key_slot", nil},
		{keys["222222222222/dave/2025-03-01"], "access_key_id", "AKIAEXAMPLEDAVE00001"},
		{keys["222222222222/dave/2025-03-01"], "last_used_region", nil},
	}
	for _, c := range checks {
		if c.obj == nil {
			t.Fatalf("object for %s missing", c.field)
		}
		got, ok := c.obj[c.field]
		if !ok {
			t.Errorf("%v: no field %s", c.obj["id"], c.field)
			continue
		}
		if got != c.want {
			t.Errorf("%v %v: %s = %#v, want %#v", c.obj["id"], c.obj["user_name"], c.field, got, c.want)
		}
	}
	for _, f := range []string{"accounts", "accounts_ok", "accounts_failed", "users", "keys", "active_keys", "inactive_keys", "root_keys", "findings"} {
		if _, ok := raw.Summary[f]; !ok {
			t.Errorf("summary has no %s", f)
		}
	}
}

func TestJSONFindings(t *testing.T) {
	f := []Finding{
		{
			Rule: "root_key", Severity: "critical", Stage: "warn",
			AccountID: "111111111111", UserName: RootUserName,
			Message: "the root user has an access key",
		},
		{
			Rule: "max_age", Severity: "high", Stage: "warn", NextStage: "rotate",
			NextStageAt: time.Date(2026, 3, 20, 0, 0, 0, 5, time.FixedZone("X", 3600)),
			AccountID:   "222222222222", UserName: "dave", AccessKeyID: "AKIAEXAMPLEDAVE00001",
			Message: "key is 379 days old", Exempt: true, ExemptionReason: "vendor integration",
			Controls: []Control{{Framework: "AWS Security Hub", ID: "IAM.3", Title: "IAM users' access keys should be rotated every 90 days or less"}},
		},
	}
	doc := Build(fixture(), BuildOptions{GeneratedAt: fixtureGenerated, Findings: f})
	if doc.Summary.Findings != 2 {
		t.Errorf("summary.findings = %d, want 2", doc.Summary.Findings)
	}
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range raw.Findings {
		var b bytes.Buffer
		if err := json.Compact(&b, r); err != nil {
			t.Fatal(err)
		}
		got = append(got, b.String())
	}
	want := []string{
		`{"rule":"root_key","severity":"critical","stage":"warn","due_at":null,"next_stage":null,"next_stage_at":null,"account_id":"111111111111","account_name":null,"user_name":"<root_account>","user_arn":null,"access_key_id":null,"key_slot":null,"key_created_at":null,"message":"the root user has an access key","exempt":false,"exemption_reason":null,"exemption_source":null,"exemption_expires":null,"estimated":false,"controls":[]}`,
		`{"rule":"max_age","severity":"high","stage":"warn","due_at":null,"next_stage":"rotate","next_stage_at":"2026-03-19T23:00:00Z","account_id":"222222222222","account_name":null,"user_name":"dave","user_arn":null,"access_key_id":"AKIAEXAMPLEDAVE00001","key_slot":null,"key_created_at":null,"message":"key is 379 days old","exempt":true,"exemption_reason":"vendor integration","exemption_source":null,"exemption_expires":null,"estimated":false,"controls":[{"framework":"AWS Security Hub","id":"IAM.3","title":"IAM users' access keys should be rotated every 90 days or less"}]}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	var back Document
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	f[0].Controls = []Control{}
	f[1].NextStageAt = f[1].NextStageAt.UTC().Truncate(time.Second)
	if diff := cmp.Diff(f, back.Findings); diff != "" {
		t.Errorf("decoded findings (-want +got):\n%s", diff)
	}
}

func TestCSV(t *testing.T) {
	doc := fixtureDoc()
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatCSV); err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(&buf)
	r.FieldsPerRecord = len(CSVHeader)
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse with %d columns: %v", len(CSVHeader), err)
	}
	if len(CSVHeader) != 15 || CSVHeader[14] != "account_status" {
		t.Errorf("%d columns ending with %q, want 15, the last account_status", len(CSVHeader), CSVHeader[len(CSVHeader)-1])
	}
	if diff := cmp.Diff(CSVHeader, rows[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if len(rows) != 1+len(doc.Keys) {
		t.Fatalf("%d rows, want 1 header + %d keys", len(rows), len(doc.Keys))
	}
	col := map[string]int{}
	for i, h := range CSVHeader {
		col[h] = i
	}
	alice := rows[2] // root key first
	if alice[col["user_name"]] != "alice" {
		t.Fatalf("row 2 is %v, want alice's key", alice)
	}
	for _, c := range []string{"access_key_id", "last_used_at", "days_since_last_use", "last_used_service", "last_used_region"} {
		if alice[col[c]] != "" {
			t.Errorf("alice's %s = %q, want empty (null)", c, alice[col[c]])
		}
	}
	if got := rows[5][col["key_slot"]]; got != "" {
		t.Errorf("API key's key_slot = %q, want empty", got)
	}
}

// TestTagsNotOutput: tags can hold anything, so no format outputs them.
func TestTagsNotOutput(t *testing.T) {
	for _, f := range Formats() {
		var buf bytes.Buffer
		if err := Render(&buf, fixtureDoc(), f); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{secretTagKey, secretTagValue, "alice@example.com"} {
			if strings.Contains(buf.String(), s) {
				t.Errorf("%s output contains the tag text %q", f, s)
			}
		}
	}
}

func TestTable(t *testing.T) {
	inv := &inventory.Inventory{Accounts: []inventory.AccountInventory{
		{
			// Read from the API: root keys known from GetAccountSummary only.
			Account: inventory.Account{ID: "444444444444"},
			Status:  inventory.AccountOK,
			Source:  inventory.SourceAPI,
			Users:   []inventory.User{{Name: "nokeys"}},
			Root:    inventory.Root{KeysPresent: true},
		},
		{
			Account:   inventory.Account{ID: "555555555555", Name: "odd\tname"},
			Status:    inventory.AccountFailed,
			Error:     "request timed out\nafter 30s \x1b[31m",
			ErrorCode: "timeout",
		},
	}}
	var buf bytes.Buffer
	if err := Render(&buf, Build(inv, BuildOptions{GeneratedAt: fixtureGenerated}), FormatTable); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"444444444444  (API)\n  no access keys\n  the root user has access keys",
		"555555555555  odd name  FAILED: timeout: request timed out after 30s  [31m\n",
		"accounts with root keys  1\n",
		"could not read 1 account:\n  555555555555  odd name  timeout: request timed out",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{"\x1b", "key ID not read", "ages as of"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("table contains %q:\n%s", unwanted, out)
		}
	}
	for i, line := range strings.Split(out, "\n") {
		if strings.HasSuffix(line, " ") {
			t.Errorf("line %d has trailing spaces: %q", i+1, line)
		}
	}
}

// TestNoAWSImports: report never imports the AWS SDK (see STYLE.md).
func TestNoAWSImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path := strings.Trim(imp.Path.Value, `"`); strings.HasPrefix(path, "github.com/aws/") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}

// TestCSVInjection: names others choose (IAM user and account names may
// start with = + - or @) are never written as cells a spreadsheet would
// read as a formula.
func TestCSVInjection(t *testing.T) {
	doc := fixtureDoc()
	doc.Keys[1].UserName = "=HYPERLINK(\"http://x\")"
	doc.Keys[1].AccountName = "+acct"
	doc.Keys[1].OUPath = "@ou"
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatCSV); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ col, want string }{
		{"user_name", "'=HYPERLINK(\"http://x\")"}, {"account_name", "'+acct"}, {"ou_path", "'@ou"},
	} {
		if got := rows[2][slices.Index(CSVHeader, tc.col)]; got != tc.want {
			t.Errorf("%s = %q, want %q", tc.col, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{{"alice", "alice"}, {"-x", "'-x"}, {"", ""}, {"a=b", "a=b"}} {
		if got := CSVCell(tc.in); got != tc.want {
			t.Errorf("CSVCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
