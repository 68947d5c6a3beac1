package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/inventory"
)

// partialError is what the inventory says of an account read from the API
// whose GetAccountSummary was denied.
const partialError = "root access keys not checked: GetAccountSummary: AccessDenied: User: arn:aws:sts::999999999999:assumed-role/keywarden-spoke/keywarden is not authorized to perform: iam:GetAccountSummary"

// partialFixture is the fixture with a fourth account, read from the API
// but with its root keys not checked, and a finding on its one key.
func partialFixture() *Document {
	inv := fixture()
	inv.Accounts = append(inv.Accounts, inventory.AccountInventory{
		Account: inventory.Account{ID: "444444444444", Name: "data-lake", OUPath: "Root/Workloads/Data", State: "ACTIVE"},
		Status:  inventory.AccountPartial, Source: inventory.SourceAPI,
		Error: partialError, ErrorCode: "AccessDenied", NotRead: "root access keys",
		ReadAt: fixtureGenerated.Add(-2 * time.Second),
		Users: []inventory.User{{
			Name: "etl", ARN: "arn:aws:iam::444444444444:user/etl",
			Keys: []inventory.Key{{ID: "AKIAEXAMPLEETL000001", Status: inventory.StatusActive, CreatedAt: day(2024, 2, 1),
				LastUsedAt: day(2026, 3, 10), LastUsedService: "s3", LastUsedRegion: "eu-west-1"}},
		}},
		Root:  inventory.Root{KeysUnknown: true},
		Calls: 5, Duration: 900 * time.Millisecond,
	})
	return Build(inv, BuildOptions{GeneratedAt: fixtureGenerated, AsOf: fixtureAsOf, Findings: []Finding{{
		Rule: "max_age", Severity: "medium", Stage: "deactivate", AccountID: "444444444444", AccountName: "data-lake",
		UserName: "etl", UserARN: "arn:aws:iam::444444444444:user/etl", AccessKeyID: "AKIAEXAMPLEETL000001",
		KeyCreatedAt: day(2024, 2, 1), Message: "active key is 772 days old (limit 90)", Controls: []Control{},
	}}})
}

// TestPartialAccount: an account read in part is neither ok nor failed in
// any format: its keys and findings are listed, it is counted as partial,
// and what could not be read is said with why; whether its root user has
// keys is unknown (null), never false.
func TestPartialAccount(t *testing.T) {
	doc := partialFixture()
	if want := (Summary{Accounts: 4, AccountsOK: 2, AccountsPartial: 1, AccountsFailed: 1, Users: 5, Keys: 6, ActiveKeys: 5,
		InactiveKeys: 1, RootKeys: 1, Findings: 1}); !cmp.Equal(want, doc.Summary) {
		t.Errorf("summary (-want +got):\n%s", cmp.Diff(want, doc.Summary))
	}
	render := func(f Format) string {
		var buf bytes.Buffer
		if err := Render(&buf, doc, f); err != nil {
			t.Fatalf("Render %s: %v", f, err)
		}
		return buf.String()
	}

	t.Run("json", func(t *testing.T) {
		var raw struct {
			Summary  map[string]any   `json:"summary"`
			Accounts []map[string]any `json:"accounts"`
			Keys     []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal([]byte(render(FormatJSON)), &raw); err != nil {
			t.Fatal(err)
		}
		if raw.Summary["accounts_partial"] != 1.0 || raw.Summary["accounts_failed"] != 1.0 || raw.Summary["accounts_ok"] != 2.0 {
			t.Errorf("summary %v: want 2 ok, 1 partial, 1 failed", raw.Summary)
		}
		a := raw.Accounts[3]
		for field, want := range map[string]any{
			"id": "444444444444", "status": "partial", "error": partialError, "error_code": "AccessDenied",
			"source": "api", "root_keys_present": nil, "users": 1.0, "keys": 1.0,
		} {
			if got, ok := a[field]; !ok || got != want {
				t.Errorf("accounts[3].%s = %#v, want %#v", field, got, want)
			}
		}
		if k := raw.Keys[len(raw.Keys)-1]; k["account_id"] != "444444444444" || k["access_key_id"] != "AKIAEXAMPLEETL000001" {
			t.Errorf("the partial account's key is not listed last: %v", k)
		}
	})

	t.Run("csv", func(t *testing.T) {
		rows, err := csv.NewReader(strings.NewReader(render(FormatCSV))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := len(CSVHeader) - 1
		statuses := map[string]string{}
		for _, r := range rows[1:] {
			statuses[r[0]+"/"+r[3]] = r[col]
		}
		want := map[string]string{
			"111111111111/<root_account>": "ok", "111111111111/alice": "ok", "111111111111/svc-payments": "ok",
			"222222222222/dave": "ok", "444444444444/etl": "partial",
		}
		if diff := cmp.Diff(want, statuses); diff != "" {
			t.Errorf("account_status by key (-want +got):\n%s", diff)
		}
	})

	t.Run("table", func(t *testing.T) {
		out := render(FormatTable)
		for _, want := range []string{
			"444444444444  data-lake  Root/Workloads/Data  (API)  PARTIAL: " + partialError + "\n",
			"  etl   AKIAEXAMPLEETL000001  Active  772d  4d ago     s3       max_age: deactivate\n",
			"accounts                 4: 2 read, 1 partial, 1 failed\n",
			"could not read 1 account:\n  333333333333",
			"could not read all of 1 account (nothing is acted on in them):\n  444444444444  data-lake  " + partialError + "\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("table lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("markdown", func(t *testing.T) {
		out := render(FormatMarkdown)
		for _, want := range []string{
			"| Accounts | 4: 2 read, 1 partial, 1 failed |",
			"### Accounts not read (1)",
			"### Accounts read in part (1)",
			"| data-lake (444444444444) | root access keys not checked: GetAccountSummary: AccessDenied:",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("markdown lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("html", func(t *testing.T) {
		out := render(FormatHTML)
		for _, want := range []string{
			`<a href="#partial">Accounts read in part</a>`,
			`<h2 id="partial-h">Accounts read in part</h2>`,
			`<td>data-lake<span class="id">444444444444</span></td><td>AccessDenied</td><td>root access keys not checked: GetAccountSummary: AccessDenied:`,
			`2 read, 1 partial, 1 failed`,
			`AKIAEXAMPLEETL000001`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("html lacks %q", want)
			}
		}
		if i, j := strings.Index(out, `id="failed-h"`), strings.Index(out, `id="partial-h"`); i < 0 || j < 0 || strings.Contains(out[i:j], "444444444444") {
			t.Error("the partial account is listed among the accounts not read")
		}
	})
}
