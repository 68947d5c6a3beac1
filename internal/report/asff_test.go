package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// exportFindings are findings on the fixture's keys for the ASFF and OCSF
// tests: a key whose ID was read (with controls), keys whose ID was not
// (report path), an API-path key without slot, a root key from the report
// and one known only from the account summary, an exempt finding, and two
// expired exemptions of one key (the same Id but for the suffix).
func exportFindings() []Finding {
	maxAge := []Control{
		{Framework: "CIS AWS Foundations Benchmark", Versions: "v1.2.0", ID: "1.4", Title: "Ensure access keys are rotated every 90 days or less"},
		{Framework: "CIS AWS Foundations Benchmark", Versions: "v1.4.0–v4.0.1", ID: "1.14", Title: "Ensure access keys are rotated every 90 days or less"},
		{Framework: "AWS Security Hub", ID: "IAM.3", Title: "IAM users' access keys should be rotated every 90 days or less"},
	}
	root := []Control{
		{Framework: "CIS AWS Foundations Benchmark", Versions: "v1.4.0–v4.0.1", ID: "1.4", Title: "Ensure no 'root' user account access key exists"},
		{Framework: "AWS Security Hub", ID: "IAM.4", Title: "IAM root user access key should not exist"},
	}
	return []Finding{
		{
			Rule: "root_key", Severity: "critical", Stage: "report", DueAt: fixtureAsOf,
			AccountID: "111111111111", AccountName: "prod-payments", UserName: RootUserName,
			UserARN: "arn:aws:iam::111111111111:root", KeySlot: 1, KeyCreatedAt: day(2021, 11, 3),
			Message:  "the root user has an active access key; remove it (only the root user can, from the console)",
			Controls: root,
		},
		{
			Rule: "unused_initial", Severity: "low", Stage: "warn", DueAt: day(2026, 2, 17),
			NextStage: "deactivate", NextStageAt: day(2026, 3, 17),
			AccountID: "111111111111", AccountName: "prod-payments",
			UserName: "alice", UserARN: "arn:aws:iam::111111111111:user/alice",
			KeySlot: 1, KeyCreatedAt: day(2026, 2, 10),
			Message: "key never used since it was created 33 days ago",
		},
		{
			Rule: "inactive_cleanup", Severity: "info", Stage: "warn", DueAt: day(2025, 12, 1),
			NextStage: "delete", NextStageAt: day(2026, 4, 10),
			AccountID: "111111111111", AccountName: "prod-payments",
			UserName: "svc-payments", UserARN: "arn:aws:iam::111111111111:user/services/svc-payments",
			KeySlot: 1, KeyCreatedAt: day(2024, 6, 1),
			Message: "inactive key not used for 468 days (delete after 500)", Estimated: true,
		},
		{
			Rule: "max_age", Severity: "high", Stage: "rotate", DueAt: day(2025, 4, 20),
			NextStage: "deactivate", NextStageAt: day(2026, 3, 22),
			AccountID: "111111111111", AccountName: "prod-payments",
			UserName: "svc-payments", UserARN: "arn:aws:iam::111111111111:user/services/svc-payments",
			AccessKeyID: "AKIAEXAMPLEPAYMENTS2", KeySlot: 2, KeyCreatedAt: day(2025, 1, 20),
			Message:  "key is 419 days old (rotate after 90)",
			Controls: maxAge,
		},
		{
			Rule: "root_key", Severity: "critical", Stage: "report", DueAt: fixtureAsOf,
			AccountID: "222222222222", AccountName: "dev-sandbox", UserName: RootUserName,
			UserARN: "arn:aws:iam::222222222222:root",
			Message: "the root user has an active access key; remove it (only the root user can, from the console)",
		},
		{
			Rule: "max_age", Severity: "medium", Stage: "warn", DueAt: day(2025, 5, 30),
			NextStage: "rotate", NextStageAt: day(2026, 3, 20),
			AccountID: "222222222222", AccountName: "dev-sandbox",
			UserName: "dave", UserARN: "arn:aws:iam::222222222222:user/dave",
			AccessKeyID: "AKIAEXAMPLEDAVE00001", KeyCreatedAt: day(2025, 3, 1),
			Message: "key is 379 days old (rotate after 90)",
			Exempt:  true, ExemptionReason: "vendor integration <no rotation API>",
			ExemptionSource: "keywarden.yaml:14", ExemptionExpires: "2026-06-30",
			Controls: maxAge,
		},
		{
			Rule: "exemption_expired", Severity: "medium", Stage: "report", DueAt: day(2026, 3, 1),
			AccountID: "222222222222", AccountName: "dev-sandbox",
			UserName: "dave", UserARN: "arn:aws:iam::222222222222:user/dave",
			AccessKeyID: "AKIAEXAMPLEDAVE00001", KeyCreatedAt: day(2025, 3, 1),
			Message: `the exemption at keywarden.yaml:20 ("pilot") expired on 2026-02-28; unused applies again`,
		},
		{
			Rule: "exemption_expired", Severity: "medium", Stage: "report", DueAt: day(2026, 3, 1),
			AccountID: "222222222222", AccountName: "dev-sandbox",
			UserName: "dave", UserARN: "arn:aws:iam::222222222222:user/dave",
			AccessKeyID: "AKIAEXAMPLEDAVE00001", KeyCreatedAt: day(2025, 3, 1),
			Message: `the exemption at keywarden.yaml:24 ("pilot") expired on 2026-02-28; multiple_active applies again`,
		},
	}
}

func exportDoc() *Document {
	return Build(fixture(), BuildOptions{GeneratedAt: fixtureGenerated, AsOf: fixtureAsOf, Findings: exportFindings()})
}

// exportGolden compares got with testdata/name; go test -update rewrites it.
func exportGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", golden, diff)
	}
}

var asffOpts = ASFFOptions{Region: "eu-west-1", ProductVersion: "v1.2.3"}

func TestASFFGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderASFF(&buf, exportDoc(), asffOpts); err != nil {
		t.Fatal(err)
	}
	exportGolden(t, "scan.asff.json", buf.Bytes())
	if strings.Contains(buf.String(), `\u003c`) {
		t.Error("<root_account> is escaped")
	}
}

// TestASFFRequired checks, on the JSON as sent, every field that the
// BatchImportFindings model or the ASFF user guide requires, with its
// limits.
func TestASFFRequired(t *testing.T) {
	var buf bytes.Buffer
	if err := RenderASFF(&buf, exportDoc(), asffOpts); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(exportFindings()) {
		t.Fatalf("%d findings, want %d", len(got), len(exportFindings()))
	}
	account := regexp.MustCompile(`^\d{12}$`)
	typ := regexp.MustCompile(`^[^/]+/[^/]+(/[^/]+)?$`)
	text := func(f map[string]any, name string, maxLen int) string {
		t.Helper()
		s, _ := f[name].(string)
		if s == "" || utf8.RuneCountInString(s) > maxLen {
			t.Errorf("%v: %s = %q, want 1 to %d characters", f["Id"], name, s, maxLen)
		}
		return s
	}
	for _, f := range got {
		if f["SchemaVersion"] != "2018-10-08" {
			t.Errorf("%v: SchemaVersion %v", f["Id"], f["SchemaVersion"])
		}
		text(f, "Id", 512)
		text(f, "GeneratorId", 512)
		text(f, "Title", 256)
		text(f, "Description", 1024)
		if id := text(f, "AwsAccountId", 12); !account.MatchString(id) {
			t.Errorf("AwsAccountId %q", id)
		}
		if arn := text(f, "ProductArn", 2048); arn != ASFFProductARN("aws", "eu-west-1", f["AwsAccountId"].(string)) {
			t.Errorf("%v: ProductArn %s, want the default product of the finding's account in eu-west-1", f["Id"], arn)
		}
		if g := f["GeneratorId"].(string); !strings.HasPrefix(g, ASFFGeneratorPrefix) {
			t.Errorf("GeneratorId %q lacks the prefix %s", g, ASFFGeneratorPrefix)
		}
		for _, name := range []string{"CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"} {
			if _, err := time.Parse(time.RFC3339, text(f, name, 64)); err != nil {
				t.Errorf("%v: %s: %v", f["Id"], name, err)
			}
		}
		label := f["Severity"].(map[string]any)["Label"]
		switch label {
		case "INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL":
		default:
			t.Errorf("%v: Severity.Label %v", f["Id"], label)
		}
		types, _ := f["Types"].([]any)
		if len(types) == 0 {
			t.Errorf("%v: no Types", f["Id"])
		}
		for _, ty := range types {
			if !typ.MatchString(ty.(string)) {
				t.Errorf("%v: type %q is not namespace/category[/classifier]", f["Id"], ty)
			}
		}
		resources, _ := f["Resources"].([]any)
		if len(resources) < 1 || len(resources) > 32 {
			t.Errorf("%v: %d resources", f["Id"], len(resources))
		}
		for _, r := range resources {
			r := r.(map[string]any)
			if r["Type"] == "" || r["Id"] == "" || r["Type"] == nil || r["Id"] == nil {
				t.Errorf("%v: resource %v lacks Type or Id", f["Id"], r)
			}
		}
		switch f["RecordState"] {
		case "ACTIVE", "ARCHIVED":
		default:
			t.Errorf("%v: RecordState %v", f["Id"], f["RecordState"])
		}
		if s := f["Compliance"].(map[string]any)["Status"]; s != "FAILED" {
			t.Errorf("%v: Compliance.Status %v, want FAILED", f["Id"], s)
		}
		if text := f["Remediation"].(map[string]any)["Recommendation"].(map[string]any)["Text"].(string); text == "" || len(text) > 512 {
			t.Errorf("%v: Remediation text %q", f["Id"], text)
		}
		pf := f["ProductFields"].(map[string]any)
		if len(pf) > 50 {
			t.Errorf("%v: %d product fields, ASFF allows 50", f["Id"], len(pf))
		}
		for k, v := range pf {
			if v == "" || len(k) > 128 || strings.HasPrefix(k, "aws/") {
				t.Errorf("%v: product field %q = %q", f["Id"], k, v)
			}
		}
		if _, ok := f["Workflow"]; ok {
			t.Errorf("%v: Workflow is set; it belongs to the customer", f["Id"])
		}
	}
}

func TestASFFIDs(t *testing.T) {
	ids := func(doc *Document) []string {
		var out []string
		for _, f := range ASFF(doc, asffOpts) {
			out = append(out, f.ID)
		}
		return out
	}
	first := ids(exportDoc())
	want := []string{
		"keywarden/111111111111/root/20211103T093000Z/root_key",
		"keywarden/111111111111/user/alice/20260210T093000Z/unused_initial",
		"keywarden/111111111111/user/svc-payments/20240601T093000Z/inactive_cleanup",
		"keywarden/111111111111/user/svc-payments/20250120T093000Z/max_age",
		"keywarden/222222222222/root/unknown/root_key",
		"keywarden/222222222222/user/dave/20250301T093000Z/max_age",
		"keywarden/222222222222/user/dave/20250301T093000Z/exemption_expired",
		"keywarden/222222222222/user/dave/20250301T093000Z/exemption_expired/2",
	}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	seen := map[string]bool{}
	for _, id := range first {
		if seen[id] {
			t.Errorf("id %s twice", id)
		}
		seen[id] = true
	}

	// The next scan: a day later, other messages and stages, and the keys
	// read the other way (IDs and slots known or not, as from the API or
	// the report with or without --key-ids).
	// (A root key known only from the account summary has nothing to
	// identify it by but the account: it stays as it is.)
	fs := exportFindings()
	for i := range fs {
		f := &fs[i]
		f.Message += " (a day later)"
		f.Stage, f.DueAt = "deactivate", f.DueAt.Add(time.Hour)
		if f.KeyCreatedAt.IsZero() {
			continue
		}
		if f.AccessKeyID == "" && f.UserName != RootUserName {
			f.AccessKeyID = "AKIANOWREADTOO000001"
		} else {
			f.AccessKeyID = ""
		}
		if f.KeySlot == 0 {
			f.KeySlot = 1
		} else {
			f.KeySlot = 0
		}
		f.KeyCreatedAt = f.KeyCreatedAt.Add(300 * time.Millisecond) // the API has sub-seconds (moto)
	}
	next := Build(fixture(), BuildOptions{GeneratedAt: fixtureGenerated.Add(24 * time.Hour), Findings: fs})
	if diff := cmp.Diff(first, ids(next)); diff != "" {
		t.Errorf("ids changed from one scan to the next (-first +next):\n%s", diff)
	}

	// Without a creation time, the key ID, else the slot.
	for _, tt := range []struct {
		f    Finding
		want string
	}{
		{Finding{Rule: "unused", AccountID: "1", UserName: "u", AccessKeyID: "AKIA1", KeySlot: 2}, "keywarden/1/user/u/AKIA1/unused"},
		{Finding{Rule: "unused", AccountID: "1", UserName: "u", KeySlot: 2}, "keywarden/1/user/u/slot2/unused"},
		{Finding{Rule: "unused", AccountID: "1", UserName: "root"}, "keywarden/1/user/root/unknown/unused"},
	} {
		if got := ASFFID(tt.f); got != tt.want {
			t.Errorf("ASFFID(%+v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestASFFExempt(t *testing.T) {
	for _, f := range ASFF(exportDoc(), asffOpts) {
		exempt := f.ProductFields["keywarden/exempt"] == "true"
		wantState := map[bool]string{false: ASFFRecordActive, true: ASFFRecordArchived}[exempt]
		if f.RecordState != wantState || f.Compliance.Status != ASFFComplianceFail {
			t.Errorf("%s (exempt %v): RecordState %s, Compliance %s; want %s, FAILED",
				f.ID, exempt, f.RecordState, f.Compliance.Status, wantState)
		}
		if !exempt {
			continue
		}
		want := map[string]string{
			"keywarden/exemption_reason":  "vendor integration <no rotation API>",
			"keywarden/exemption_source":  "keywarden.yaml:14",
			"keywarden/exemption_expires": "2026-06-30",
		}
		for k, v := range want {
			if f.ProductFields[k] != v {
				t.Errorf("%s: %s = %q, want %q", f.ID, k, f.ProductFields[k], v)
			}
		}
		if !strings.HasSuffix(f.Description, "Exempt until 2026-06-30 (keywarden.yaml:14): vendor integration <no rotation API>.") {
			t.Errorf("description does not say the finding is exempt: %q", f.Description)
		}
	}
}

func TestASFFOptions(t *testing.T) {
	doc := exportDoc()
	t.Run("defaults", func(t *testing.T) {
		for _, f := range ASFF(doc, ASFFOptions{}) {
			if want := "arn:aws:securityhub:us-east-1:" + f.AWSAccountID + ":product/" + f.AWSAccountID + "/default"; f.ProductARN != want {
				t.Errorf("ProductArn %s, want %s", f.ProductARN, want)
			}
			if f.Resources[0].Region != "us-east-1" || f.Resources[0].Partition != "aws" {
				t.Errorf("resource %+v, want us-east-1 in aws", f.Resources[0])
			}
			if _, ok := f.ProductFields["ProviderVersion"]; ok {
				t.Error("ProviderVersion without a version")
			}
		}
	})
	t.Run("product account and partition", func(t *testing.T) {
		for _, f := range ASFF(doc, ASFFOptions{Region: "us-gov-west-1", Partition: "aws-us-gov", ProductAccount: "999999999999"}) {
			if want := "arn:aws-us-gov:securityhub:us-gov-west-1:999999999999:product/999999999999/default"; f.ProductARN != want {
				t.Errorf("ProductArn %s, want %s", f.ProductARN, want)
			}
		}
	})
	t.Run("partition of the caller", func(t *testing.T) {
		d := exportDoc()
		d.Caller = "arn:aws-cn:sts::999999999999:assumed-role/hub/k"
		f := ASFF(d, ASFFOptions{Region: "cn-north-1"})[0]
		if !strings.HasPrefix(f.ProductARN, "arn:aws-cn:securityhub:cn-north-1:") || f.Resources[0].Partition != "aws-cn" {
			t.Errorf("ProductArn %s, partition %s; want aws-cn", f.ProductARN, f.Resources[0].Partition)
		}
	})
	t.Run("no findings", func(t *testing.T) {
		var buf bytes.Buffer
		if err := Render(&buf, fixtureDoc(), FormatASFF); err != nil {
			t.Fatal(err)
		}
		if buf.String() != "[]\n" {
			t.Errorf("output %q, want []", buf.String())
		}
	})
}

func TestASFFResources(t *testing.T) {
	got := map[string][]string{}
	for _, f := range ASFF(exportDoc(), asffOpts) {
		for _, r := range f.Resources {
			got[f.ID] = append(got[f.ID], r.Type+" "+r.ID)
		}
	}
	want := map[string][]string{
		"keywarden/111111111111/root/20211103T093000Z/root_key":                      {"AwsAccount AWS::::Account:111111111111"},
		"keywarden/111111111111/user/alice/20260210T093000Z/unused_initial":          {"AwsIamUser arn:aws:iam::111111111111:user/alice"},
		"keywarden/111111111111/user/svc-payments/20240601T093000Z/inactive_cleanup": {"AwsIamUser arn:aws:iam::111111111111:user/services/svc-payments"},
		"keywarden/111111111111/user/svc-payments/20250120T093000Z/max_age": {
			"AwsIamAccessKey AKIAEXAMPLEPAYMENTS2", "AwsIamUser arn:aws:iam::111111111111:user/services/svc-payments",
		},
		"keywarden/222222222222/root/unknown/root_key": {"AwsAccount AWS::::Account:222222222222"},
		"keywarden/222222222222/user/dave/20250301T093000Z/max_age": {
			"AwsIamAccessKey AKIAEXAMPLEDAVE00001", "AwsIamUser arn:aws:iam::222222222222:user/dave",
		},
		"keywarden/222222222222/user/dave/20250301T093000Z/exemption_expired": {
			"AwsIamAccessKey AKIAEXAMPLEDAVE00001", "AwsIamUser arn:aws:iam::222222222222:user/dave",
		},
		"keywarden/222222222222/user/dave/20250301T093000Z/exemption_expired/2": {
			"AwsIamAccessKey AKIAEXAMPLEDAVE00001", "AwsIamUser arn:aws:iam::222222222222:user/dave",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
}

func TestASFFTruncates(t *testing.T) {
	doc := exportDoc()
	doc.Findings[0].Message = strings.Repeat("é", 2000)
	f := ASFF(doc, asffOpts)[0]
	if n := utf8.RuneCountInString(f.Description); n != 1024 || !strings.HasSuffix(f.Description, "…") {
		t.Errorf("description of %d characters, want 1024 ending with …", n)
	}
	if !utf8.ValidString(f.Description) {
		t.Error("description cut inside a character")
	}
}
