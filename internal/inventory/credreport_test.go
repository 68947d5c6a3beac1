package inventory

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ts parses an RFC 3339 time for expectations.
func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func readReport(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "credreport", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// awsWant is testdata/credreport/aws.csv, the example of aws-api.md §5.3.
func awsWant() *CredentialReport {
	return &CredentialReport{
		Root: &ReportEntry{
			User:             "<root_account>",
			ARN:              "arn:aws:iam::123456789012:root",
			CreatedAt:        ts("2020-01-01T00:00:00Z"),
			PasswordLastUsed: ts("2026-09-30T00:00:00Z"),
			MFAActive:        true,
			Line:             2,
		},
		Users: []ReportEntry{
			{
				User:                "alice",
				ARN:                 "arn:aws:iam::123456789012:user/alice",
				CreatedAt:           ts("2024-01-01T00:00:00Z"),
				PasswordEnabled:     true,
				PasswordLastUsed:    ts("2026-10-01T00:00:00Z"),
				PasswordLastChanged: ts("2024-01-01T00:00:00Z"),
				MFAActive:           true,
				Keys: [2]ReportKey{{
					Present:         true,
					Active:          true,
					LastRotated:     ts("2024-01-01T00:00:00Z"),
					LastUsed:        ts("2026-10-02T00:00:00Z"),
					LastUsedRegion:  "us-east-1",
					LastUsedService: "iam",
				}},
				Line: 3,
			},
			{
				User:      "svc-ci",
				ARN:       "arn:aws:iam::123456789012:user/svc/svc-ci",
				CreatedAt: ts("2023-05-05T10:00:00Z"),
				Keys: [2]ReportKey{
					{
						Present:     true,
						Active:      true,
						LastRotated: ts("2023-05-05T10:00:01Z"),
					},
					{
						Present:         true,
						LastRotated:     ts("2025-01-01T00:00:00Z"),
						LastUsed:        ts("2025-02-01T00:00:00Z"),
						LastUsedService: "s3",
					},
				},
				Line: 4,
			},
		},
	}
}

func TestParseCredentialReport(t *testing.T) {
	aws := readReport(t, "aws.csv")
	tests := []struct {
		name    string
		content []byte
		want    *CredentialReport
	}{
		{"aws", aws, awsWant()},
		{"aws with CRLF", bytes.ReplaceAll(aws, []byte("\n"), []byte("\r\n")), awsWant()},
		{"aws without final newline", bytes.TrimSuffix(aws, []byte("\n")), awsWant()},
		{"aws with byte order mark", append([]byte("\ufeff"), aws...), awsWant()},
		{"columns reordered, unknown columns ignored", readReport(t, "reordered-extra.csv"), awsWant()},
		{
			"blank lines skipped, lines counted",
			bytes.Replace(aws, []byte("\nalice,"), []byte("\n\n\nalice,"), 1),
			func() *CredentialReport {
				w := awsWant()
				w.Users[0].Line, w.Users[1].Line = 5, 6
				return w
			}(),
		},
		{
			// moto: no root row; password_last_changed set without a password;
			// not_supported for region and service.
			"moto",
			readReport(t, "moto.csv"),
			&CredentialReport{Users: []ReportEntry{
				{
					User:                "alice",
					ARN:                 "arn:aws:iam::123456789012:user/alice",
					CreatedAt:           ts("2026-11-20T09:15:02Z"),
					PasswordEnabled:     true,
					PasswordLastChanged: ts("2026-11-20T09:15:02Z"),
					MFAActive:           true,
					Keys: [2]ReportKey{
						{Present: true, Active: true, LastRotated: ts("2026-11-20T09:15:03Z"), LastUsed: ts("2026-11-21T12:00:00Z")},
						{Present: true, LastRotated: ts("2026-11-20T09:15:04Z")},
					},
					Line: 2,
				},
				{
					User:                "bob",
					ARN:                 "arn:aws:iam::123456789012:user/eng/bob",
					CreatedAt:           ts("2026-11-20T09:15:05Z"),
					PasswordLastChanged: ts("2026-11-20T09:15:05Z"),
					Line:                3,
				},
			}},
		},
		{
			"quirks: root last, aws-cn, TRUE/FALSE, Z, fractions, offsets, quotes, root key",
			readReport(t, "quirks.csv"),
			&CredentialReport{
				Users: []ReportEntry{
					{
						User:                "carol",
						ARN:                 "arn:aws-cn:iam::210987654321:user/carol",
						CreatedAt:           ts("2022-02-02T02:02:02Z"),
						PasswordEnabled:     true,
						PasswordLastUsed:    ts("2026-01-01T00:30:00.123456Z"),
						PasswordLastChanged: ts("2022-02-02T02:02:02Z"),
						Keys: [2]ReportKey{
							{
								Present:         true,
								LastRotated:     ts("2022-02-02T02:02:03.5Z"),
								LastUsed:        ts("2023-03-03T03:03:03Z"),
								LastUsedRegion:  "cn-north-1",
								LastUsedService: "sts",
							},
							{Present: true, Active: true, LastRotated: ts("2024-04-04T04:04:04Z")},
						},
						Line: 2,
					},
					{
						User:      "dave",
						ARN:       "arn:aws-cn:iam::210987654321:user/dave",
						CreatedAt: ts("2021-01-01T00:00:00Z"),
						Line:      3,
					},
				},
				Root: &ReportEntry{
					User:      "<root_account>",
					ARN:       "arn:aws-cn:iam::210987654321:root",
					CreatedAt: ts("2019-07-07T07:07:07Z"),
					Keys: [2]ReportKey{{
						Present:         true,
						Active:          true,
						LastRotated:     ts("2019-07-08T00:00:00Z"),
						LastUsed:        ts("2026-11-01T10:00:00Z"),
						LastUsedRegion:  "cn-northwest-1",
						LastUsedService: "ec2",
					}},
					Line: 4,
				},
			},
		},
		{"header only", []byte(reportHeader + "\n"), &CredentialReport{}},
		{"header only, no final newline", []byte(reportHeader), &CredentialReport{}},
		{"header only, CRLF", []byte(reportHeader + "\r\n"), &CredentialReport{}},
		{
			"special values in every timestamp column, inactive slot details dropped",
			[]byte(reportHeader + "\n" + userRow(t,
				"user_creation_time", "N/A",
				"password_last_used", "not_supported",
				"password_last_changed", "no_information",
				"password_next_rotation", "N/A",
				"access_key_1_active", "false",
				"access_key_1_last_rotated", "no_information",
				"access_key_1_last_used_date", "2026-01-01T00:00:00+00:00",
				"access_key_1_last_used_region", "us-east-1",
				"access_key_1_last_used_service", "s3",
				"cert_1_last_rotated", "not_supported",
			)),
			&CredentialReport{Users: []ReportEntry{{
				User:            "alice",
				ARN:             "arn:aws:iam::123456789012:user/alice",
				PasswordEnabled: true,
				MFAActive:       true,
				Line:            2,
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredentialReport(tt.content)
			if err != nil {
				t.Fatalf("ParseCredentialReport: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCredentialReport mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// reportHeader is the documented header, in AWS's order.
var reportHeader = strings.Join(columnNames[:], ",")

// goodRow is a valid user row: alice, one active key, used.
const goodRow = "alice,arn:aws:iam::123456789012:user/alice,2024-01-01T00:00:00+00:00,true,2026-10-01T00:00:00+00:00,2024-01-01T00:00:00+00:00,N/A,true,true,2024-01-01T00:00:00+00:00,2026-10-02T00:00:00+00:00,us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"

// goodRoot is a valid root row.
const goodRoot = "<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2026-09-30T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A"

// userRow returns goodRow with the given column, value pairs set, as a CSV
// line ending in "\n".
func userRow(t *testing.T, kv ...string) string {
	t.Helper()
	return editRow(t, goodRow, kv...)
}

func editRow(t *testing.T, row string, kv ...string) string {
	t.Helper()
	fields := strings.Split(row, ",")
	for i := 0; i+1 < len(kv); i += 2 {
		c := slices.Index(columnNames[:], kv[i])
		if c < 0 {
			t.Fatalf("unknown column %q", kv[i])
		}
		fields[c] = kv[i+1]
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(fields); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return b.String()
}

// dropColumns returns header and rows without the named columns.
func dropColumns(t *testing.T, rows []string, names ...string) string {
	t.Helper()
	var out []string
	for _, r := range rows {
		fields := strings.Split(strings.TrimSuffix(r, "\n"), ",")
		var kept []string
		for i, f := range fields {
			if !slices.Contains(names, columnNames[i]) {
				kept = append(kept, f)
			}
		}
		out = append(out, strings.Join(kept, ","))
	}
	return strings.Join(out, "\n") + "\n"
}

func TestParseCredentialReportErrors(t *testing.T) {
	h := reportHeader + "\n"
	long := strings.Repeat("x", 1000)
	tests := []struct {
		name    string
		content string
		want    *ReportError
		wantErr string
	}{
		{
			"empty content", "",
			&ReportError{Msg: "is empty"},
			"credential report is empty",
		},
		{
			"only blank lines", "\n\r\n\n",
			&ReportError{Msg: "is empty"},
			"credential report is empty",
		},
		{
			"missing column",
			dropColumns(t, []string{reportHeader, goodRow}, "mfa_active"),
			&ReportError{Line: 1, Msg: "missing column mfa_active"},
			"credential report line 1: missing column mfa_active",
		},
		{
			"missing columns, all named in header order",
			dropColumns(t, []string{reportHeader, goodRow}, "cert_2_last_rotated", "user", "access_key_2_active"),
			&ReportError{Line: 1, Msg: "missing columns user, access_key_2_active, cert_2_last_rotated"},
			"credential report line 1: missing columns user, access_key_2_active, cert_2_last_rotated",
		},
		{
			"not a credential report",
			"a,b,c\n1,2,3\n",
			&ReportError{Line: 1, Msg: "missing columns " + strings.Join(columnNames[:], ", ")},
			"credential report line 1: missing columns " + strings.Join(columnNames[:], ", "),
		},
		{
			"duplicate column",
			reportHeader + ",extra,arn\n",
			&ReportError{Line: 1, Column: "arn", Msg: "duplicate column"},
			"credential report line 1, column arn: duplicate column",
		},
		{
			"duplicate unknown column",
			reportHeader + ",extra,extra\n",
			&ReportError{Line: 1, Column: "extra", Msg: "duplicate column"},
			"credential report line 1, column extra: duplicate column",
		},
		{
			"bad boolean",
			h + goodRoot + "\n" + userRow(t, "mfa_active", "yes"),
			&ReportError{Line: 3, Column: "mfa_active", Value: "yes", Msg: "not a boolean (want true or false)"},
			`credential report line 3, column mfa_active: value "yes": not a boolean (want true or false)`,
		},
		{
			"empty boolean",
			h + userRow(t, "access_key_2_active", ""),
			&ReportError{Line: 2, Column: "access_key_2_active", Msg: "empty, want true or false"},
			"credential report line 2, column access_key_2_active: empty, want true or false",
		},
		{
			"not_supported password_enabled on a user row",
			h + userRow(t, "password_enabled", "not_supported"),
			&ReportError{Line: 2, Column: "password_enabled", Value: "not_supported", Msg: "not a boolean (want true or false)"},
			`credential report line 2, column password_enabled: value "not_supported": not a boolean (want true or false)`,
		},
		{
			"bad boolean in an ignored column",
			h + userRow(t, "cert_2_active", "1"),
			&ReportError{Line: 2, Column: "cert_2_active", Value: "1", Msg: "not a boolean (want true or false)"},
			`credential report line 2, column cert_2_active: value "1": not a boolean (want true or false)`,
		},
		{
			"bad timestamp",
			h + goodRoot + "\n" + userRow(t, "access_key_1_last_rotated", "xyz"),
			&ReportError{Line: 3, Column: "access_key_1_last_rotated", Value: "xyz", Msg: "not a timestamp"},
			`credential report line 3, column access_key_1_last_rotated: value "xyz": not a timestamp`,
		},
		{
			"timestamp without offset",
			h + userRow(t, "user_creation_time", "2024-01-01T00:00:00"),
			&ReportError{Line: 2, Column: "user_creation_time", Value: "2024-01-01T00:00:00", Msg: "not a timestamp"},
			`credential report line 2, column user_creation_time: value "2024-01-01T00:00:00": not a timestamp`,
		},
		{
			"timestamp with a space",
			h + userRow(t, "password_last_used", "2024-01-01 00:00:00+00:00"),
			&ReportError{Line: 2, Column: "password_last_used", Value: "2024-01-01 00:00:00+00:00", Msg: "not a timestamp"},
			`credential report line 2, column password_last_used: value "2024-01-01 00:00:00+00:00": not a timestamp`,
		},
		{
			"empty timestamp",
			h + userRow(t, "access_key_2_last_used_date", ""),
			&ReportError{Line: 2, Column: "access_key_2_last_used_date", Msg: "empty, want a timestamp or N/A"},
			"credential report line 2, column access_key_2_last_used_date: empty, want a timestamp or N/A",
		},
		{
			"zero timestamp",
			h + userRow(t, "access_key_1_last_rotated", "0001-01-01T00:00:00Z"),
			&ReportError{Line: 2, Column: "access_key_1_last_rotated", Value: "0001-01-01T00:00:00Z", Msg: "timestamp out of range"},
			`credential report line 2, column access_key_1_last_rotated: value "0001-01-01T00:00:00Z": timestamp out of range`,
		},
		{
			"too few fields",
			h + goodRoot + "\n" + strings.TrimSuffix(goodRow, ",false,N/A") + "\n",
			&ReportError{Line: 3, Msg: "row has 20 fields, header has 22"},
			"credential report line 3: row has 20 fields, header has 22",
		},
		{
			"too many fields",
			h + goodRow + ",extra\n",
			&ReportError{Line: 2, Msg: "row has 23 fields, header has 22"},
			"credential report line 2: row has 23 fields, header has 22",
		},
		{
			"active key without rotation date",
			h + userRow(t, "access_key_2_active", "true"),
			&ReportError{Line: 2, Column: "access_key_2_active", Value: "true", Msg: "key is active but access_key_2_last_rotated is N/A"},
			`credential report line 2, column access_key_2_active: value "true": key is active but access_key_2_last_rotated is N/A`,
		},
		{
			"two root rows",
			h + goodRoot + "\n" + goodRow + "\n" + goodRoot + "\n",
			&ReportError{Line: 4, Column: "user", Value: "<root_account>", Msg: "second <root_account> row (first on line 2)"},
			`credential report line 4, column user: value "<root_account>": second <root_account> row (first on line 2)`,
		},
		{
			"user twice",
			h + goodRow + "\n" + goodRoot + "\n" + goodRow + "\n",
			&ReportError{Line: 4, Column: "user", Value: "alice", Msg: "user appears twice (first on line 2)"},
			`credential report line 4, column user: value "alice": user appears twice (first on line 2)`,
		},
		{
			"empty user",
			h + userRow(t, "user", ""),
			&ReportError{Line: 2, Column: "user", Msg: "empty user name"},
			"credential report line 2, column user: empty user name",
		},
		{
			"ARN not an ARN",
			h + userRow(t, "arn", "alice"),
			&ReportError{Line: 2, Column: "arn", Value: "alice", Msg: "not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)"},
			`credential report line 2, column arn: value "alice": not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)`,
		},
		{
			"ARN of a role",
			h + userRow(t, "arn", "arn:aws:iam::123456789012:role/alice"),
			&ReportError{Line: 2, Column: "arn", Value: "arn:aws:iam::123456789012:role/alice", Msg: "not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)"},
			`credential report line 2, column arn: value "arn:aws:iam::123456789012:role/alice": not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)`,
		},
		{
			"ARN with a short account",
			h + userRow(t, "arn", "arn:aws:iam::12345:user/alice"),
			&ReportError{Line: 2, Column: "arn", Value: "arn:aws:iam::12345:user/alice", Msg: "not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)"},
			`credential report line 2, column arn: value "arn:aws:iam::12345:user/alice": not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)`,
		},
		{
			"ARN of another service",
			h + userRow(t, "arn", "arn:aws:s3:::123456789012:user/alice"),
			&ReportError{Line: 2, Column: "arn", Value: "arn:aws:s3:::123456789012:user/alice", Msg: "not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)"},
			`credential report line 2, column arn: value "arn:aws:s3:::123456789012:user/alice": not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)`,
		},
		{
			"user row with the root ARN",
			h + userRow(t, "arn", "arn:aws:iam::123456789012:root"),
			&ReportError{Line: 2, Column: "arn", Value: "arn:aws:iam::123456789012:root", Msg: "not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)"},
			`credential report line 2, column arn: value "arn:aws:iam::123456789012:root": not an IAM user ARN (want arn:<partition>:iam::<account>:user/<name>)`,
		},
		{
			"root row with a user ARN",
			h + editRow(t, goodRoot, "arn", "arn:aws:iam::123456789012:user/root"),
			&ReportError{Line: 2, Column: "arn", Value: "arn:aws:iam::123456789012:user/root", Msg: "not an IAM root user ARN (want arn:<partition>:iam::<account>:root)"},
			`credential report line 2, column arn: value "arn:aws:iam::123456789012:user/root": not an IAM root user ARN (want arn:<partition>:iam::<account>:root)`,
		},
		{
			"malformed CSV",
			h + goodRoot + "\nal\"ice" + strings.TrimPrefix(goodRow, "alice") + "\n",
			&ReportError{Line: 3, Msg: `malformed CSV: bare " in non-quoted-field (byte 3 of the line)`},
			`credential report line 3: malformed CSV: bare " in non-quoted-field (byte 3 of the line)`,
		},
		{
			"long value is cut",
			h + userRow(t, "password_last_changed", long),
			&ReportError{Line: 2, Column: "password_last_changed", Value: strings.Repeat("x", 77) + "...", Msg: "not a timestamp"},
			`credential report line 2, column password_last_changed: value "` + strings.Repeat("x", 77) + `...": not a timestamp`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredentialReport([]byte(tt.content))
			if err == nil {
				t.Fatalf("ParseCredentialReport succeeded with %+v, want error %q", got, tt.wantErr)
			}
			if got != nil {
				t.Errorf("ParseCredentialReport returned a report with its error: %+v", got)
			}
			var re *ReportError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *ReportError", err, err)
			}
			if diff := cmp.Diff(tt.want, re); diff != "" {
				t.Errorf("error mismatch (-want +got):\n%s", diff)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Error() = %q, want %q", err.Error(), tt.wantErr)
			}
		})
	}
}

func TestReportErrorString(t *testing.T) {
	tests := []struct {
		err  ReportError
		want string
	}{
		{ReportError{Msg: "is empty"}, "credential report is empty"},
		{ReportError{Line: 7, Msg: "bad"}, "credential report line 7: bad"},
		{ReportError{Column: "arn", Msg: "bad"}, "credential report column arn: bad"},
		{ReportError{Line: 7, Column: "arn", Msg: "bad"}, "credential report line 7, column arn: bad"},
		{ReportError{Line: 7, Column: "arn", Value: "v"}, `credential report line 7, column arn: value "v"`},
		{ReportError{Line: 7, Value: "a\"b\n"}, `credential report line 7: value "a\"b\n"`},
		// A Value set by hand, longer than the parser would keep, is cut
		// on a rune boundary.
		{
			ReportError{Value: strings.Repeat("é", 100), Msg: "bad"},
			`credential report value "` + strings.Repeat("é", 38) + `...": bad`,
		},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func FuzzParseCredentialReport(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "credreport", "*.csv"))
	if err != nil {
		f.Fatal(err)
	}
	if len(files) == 0 {
		f.Fatal("no sample reports in testdata/credreport")
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")))
	}
	f.Add([]byte(""))
	f.Add([]byte(reportHeader + "\n"))
	f.Add([]byte(reportHeader + "\n" + goodRow + "\n" + goodRoot + "\n"))

	f.Fuzz(func(t *testing.T, content []byte) {
		rep, err := ParseCredentialReport(content)
		if err != nil {
			var re *ReportError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *ReportError", err, err)
			}
			if len(re.Value) > maxValueLen {
				t.Errorf("error keeps a %d-byte value", len(re.Value))
			}
			if rep != nil {
				t.Errorf("report returned with error %v", err)
			}
			_ = err.Error()
			return
		}
		if rep == nil {
			t.Fatal("nil report without error")
		}
		check := func(e ReportEntry) {
			if e.User == "" {
				t.Errorf("line %d: empty user", e.Line)
			}
			if !strings.HasPrefix(e.ARN, "arn:") {
				t.Errorf("line %d: ARN %q", e.Line, e.ARN)
			}
			for _, tm := range []time.Time{e.CreatedAt, e.PasswordLastUsed, e.PasswordLastChanged} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("line %d: time %v not in UTC", e.Line, tm)
				}
			}
			for i, k := range e.Keys {
				if k.Present && k.LastRotated.IsZero() {
					t.Errorf("line %d key %d: present with zero LastRotated", e.Line, i+1)
				}
				if k.Active && !k.Present {
					t.Errorf("line %d key %d: active but not present", e.Line, i+1)
				}
				if !k.Present && k != (ReportKey{}) {
					t.Errorf("line %d key %d: absent key with details %+v", e.Line, i+1, k)
				}
			}
		}
		lines := map[int]bool{}
		if rep.Root != nil {
			if rep.Root.User != "<root_account>" {
				t.Errorf("root row named %q", rep.Root.User)
			}
			check(*rep.Root)
			lines[rep.Root.Line] = true
		}
		prev := 0
		for _, u := range rep.Users {
			if u.User == "<root_account>" {
				t.Errorf("line %d: root row among users", u.Line)
			}
			if u.Line <= prev {
				t.Errorf("line numbers do not increase: %d after %d", u.Line, prev)
			}
			if lines[u.Line] {
				t.Errorf("line %d used twice", u.Line)
			}
			prev = u.Line
			check(u)
		}
	})
}
