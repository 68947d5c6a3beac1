package conformance

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/google/go-cmp/cmp"
)

// reportHeader is the credential report's header, ref §5.1.
var reportHeader = []string{"user", "arn", "user_creation_time", "password_enabled", "password_last_used",
	"password_last_changed", "password_next_rotation", "mfa_active",
	"access_key_1_active", "access_key_1_last_rotated", "access_key_1_last_used_date",
	"access_key_1_last_used_region", "access_key_1_last_used_service",
	"access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
	"access_key_2_last_used_region", "access_key_2_last_used_service",
	"cert_1_active", "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"}

// reportRow is one parsed report line, by column name.
type reportRow map[string]string

// generateReport polls GenerateCredentialReport until COMPLETE and returns
// the states it saw.
func generateReport(t *testing.T, c *iam.Client) []types.ReportStateType {
	t.Helper()
	var states []types.ReportStateType
	for range 20 {
		out, err := c.GenerateCredentialReport(t.Context(), &iam.GenerateCredentialReportInput{})
		ok(t, err, "GenerateCredentialReport")
		states = append(states, out.State)
		if out.State == types.ReportStateTypeComplete {
			return states
		}
	}
	t.Fatalf("GenerateCredentialReport: not COMPLETE after %v", states)
	return nil
}

// getReport fetches and parses the report, checking its format.
func getReport(t *testing.T, c *iam.Client) (*iam.GetCredentialReportOutput, []reportRow) {
	t.Helper()
	out, err := c.GetCredentialReport(t.Context(), &iam.GetCredentialReportInput{})
	ok(t, err, "GetCredentialReport")
	if out.ReportFormat != types.ReportFormatTypeTextCsv {
		t.Errorf("GetCredentialReport: ReportFormat %q, want text/csv", out.ReportFormat)
	}
	r := csv.NewReader(bytes.NewReader(out.Content))
	records, err := r.ReadAll()
	ok(t, err, "parse credential report CSV")
	if len(records) == 0 {
		t.Fatal("credential report is empty")
	}
	if diff := cmp.Diff(reportHeader, records[0]); diff != "" {
		t.Fatalf("credential report header (-want +got):\n%s", diff)
	}
	if strings.Contains(string(out.Content), "\r") {
		t.Errorf("credential report lines end in CRLF, want LF")
	}
	var rows []reportRow
	for _, rec := range records[1:] {
		row := reportRow{}
		for i, col := range reportHeader {
			row[col] = rec[i]
		}
		rows = append(rows, row)
	}
	return out, rows
}

// wantTimestamp checks that v is an RFC 3339 time with whole seconds and an
// explicit +00:00 offset, as real reports write it, between lo and hi.
func wantTimestamp(t *testing.T, where, v string, lo, hi time.Time) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, v)
	if err != nil || !strings.HasSuffix(v, "+00:00") || strings.Contains(v, ".") {
		t.Errorf("%s: %q, want YYYY-MM-DDTHH:MM:SS+00:00", where, v)
		return ts
	}
	if ts.Before(lo.Truncate(time.Second)) || ts.After(hi) {
		t.Errorf("%s: %v, want between %v and %v", where, ts, lo, hi)
	}
	return ts
}

func TestCredentialReport(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tgt *target) {
		ctx := t.Context()
		c := tgt.iam(tgt.hub)
		start := time.Now().Add(-time.Minute)

		_, err := c.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
		wantTyped[*types.CredentialReportNotPresentException](t, err, "GetCredentialReport before any generation")
		wantAPIError(t, err, "GetCredentialReport before any generation", "ReportNotPresent", http.StatusGone)

		// nokey: no key; onekey: one key, used once; twokeys: two keys, the
		// second inactive and unused.
		for _, n := range []string{"nokey", "onekey", "twokeys"} {
			_, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(n)})
			ok(t, err, "CreateUser "+n)
		}
		used, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("onekey")})
		ok(t, err, "CreateAccessKey")
		_, err = tgt.iam(tgt.keyConfig(t, aws.ToString(used.AccessKey.AccessKeyId), aws.ToString(used.AccessKey.SecretAccessKey))).
			ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: aws.String("onekey")})
		ok(t, err, "ListAccessKeys signed with onekey's key")
		var second *string
		for range 2 {
			out, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("twokeys")})
			ok(t, err, "CreateAccessKey")
			second = out.AccessKey.AccessKeyId
		}
		_, err = c.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String("twokeys"), AccessKeyId: second, Status: types.StatusTypeInactive})
		ok(t, err, "UpdateAccessKey")

		states := generateReport(t, c)
		if states[0] != types.ReportStateTypeStarted {
			t.Errorf("GenerateCredentialReport: first state %q, want STARTED", states[0])
		}
		out, rows := getReport(t, c)
		now := time.Now().Add(time.Minute)
		if tgt.deviates(reportGeneratedTimeFixed) {
			if want := time.Date(2015, 2, 2, 20, 2, 2, 0, time.UTC); !aws.ToTime(out.GeneratedTime).Equal(want) {
				t.Errorf("GetCredentialReport (moto): GeneratedTime %v, want %v", out.GeneratedTime, want)
			}
		} else if g := aws.ToTime(out.GeneratedTime); g.Before(start) || g.After(now) {
			t.Errorf("GetCredentialReport: GeneratedTime %v, want about now", g)
		}

		if !tgt.deviates(reportRootRowMissing) && (len(rows) == 0 || rows[0]["user"] != "<root_account>") {
			t.Errorf("credential report: no <root_account> row first (%d rows)", len(rows))
		} else if !tgt.deviates(reportRootRowMissing) {
			root := rows[0]
			rows = rows[1:]
			if root["arn"] != "arn:aws:iam::"+tgt.mgmt+":root" {
				t.Errorf("root row arn %q", root["arn"])
			}
			if pe := root["password_enabled"]; pe != "not_supported" && pe != "false" {
				t.Errorf("root row password_enabled %q, want not_supported or false", pe)
			}
			for _, col := range []string{"password_last_changed", "password_next_rotation"} {
				if root[col] != "not_supported" {
					t.Errorf("root row %s %q, want not_supported", col, root[col])
				}
			}
			if root["access_key_1_active"] != "false" || root["access_key_1_last_rotated"] != "N/A" {
				t.Errorf("root row without keys: access_key_1_active %q last_rotated %q, want false N/A",
					root["access_key_1_active"], root["access_key_1_last_rotated"])
			}
		}
		for _, r := range rows {
			if r["user"] == "<root_account>" {
				t.Errorf("credential report: <root_account> row is not the first data row")
			}
		}

		byUser := map[string]reportRow{}
		var names []string
		for _, r := range rows {
			names = append(names, r["user"])
			byUser[r["user"]] = r
		}
		if want := []string{adminUser, "nokey", "onekey", "twokeys"}; !cmp.Equal(slices.Sorted(slices.Values(names)), want) {
			t.Fatalf("credential report users %v, want each of %v once", names, want)
		}

		for name, r := range byUser {
			where := "report row " + name
			if r["arn"] != "arn:aws:iam::"+tgt.mgmt+":user/"+name {
				t.Errorf("%s: arn %q", where, r["arn"])
			}
			created := wantTimestamp(t, where+" user_creation_time", r["user_creation_time"], start, now)
			for _, col := range []string{"password_enabled", "mfa_active", "access_key_1_active", "access_key_2_active", "cert_1_active", "cert_2_active"} {
				if r[col] != "true" && r[col] != "false" {
					t.Errorf("%s: %s %q, want lowercase true/false", where, col, r[col])
				}
			}
			want := map[string]string{
				"password_enabled":       "false",
				"password_last_used":     "N/A",
				"password_last_changed":  "N/A",
				"password_next_rotation": "N/A",
				"mfa_active":             "false",
				"cert_1_active":          "false",
				"cert_1_last_rotated":    "N/A",
				"cert_2_active":          "false",
				"cert_2_last_rotated":    "N/A",
			}
			if tgt.deviates(reportPasswordLastUsed) {
				want["password_last_used"] = "not_supported"
			}
			if tgt.deviates(reportPasswordNextRotation) {
				want["password_next_rotation"] = "not_supported"
			}
			if tgt.deviates(reportPasswordLastChanged) {
				delete(want, "password_last_changed")
				if v := wantTimestamp(t, where+" password_last_changed", r["password_last_changed"], start, now); !v.Equal(created) {
					t.Errorf("%s: password_last_changed %v, want moto's user creation time %v", where, v, created)
				}
			}
			for col, v := range want {
				if r[col] != v {
					t.Errorf("%s: %s %q, want %q", where, col, r[col], v)
				}
			}
		}

		noUse := [3]string{"N/A", "N/A", "N/A"}
		if tgt.deviates(reportKeyUseNotSupported) {
			noUse = [3]string{"N/A", "not_supported", "not_supported"}
		}
		wantKeySlot := func(name string, slot int, active string, rotated bool, use [3]string) {
			t.Helper()
			r := byUser[name]
			p := "access_key_" + string(rune('0'+slot)) + "_"
			where := "report row " + name + " " + p
			if r[p+"active"] != active {
				t.Errorf("%sactive %q, want %q", where, r[p+"active"], active)
			}
			if rotated {
				wantTimestamp(t, where+"last_rotated", r[p+"last_rotated"], start, now)
			} else if r[p+"last_rotated"] != "N/A" {
				t.Errorf("%slast_rotated %q, want N/A", where, r[p+"last_rotated"])
			}
			if use[0] == "<time>" {
				wantTimestamp(t, where+"last_used_date", r[p+"last_used_date"], start, now)
			} else if r[p+"last_used_date"] != use[0] {
				t.Errorf("%slast_used_date %q, want %q", where, r[p+"last_used_date"], use[0])
			}
			if got := [2]string{r[p+"last_used_region"], r[p+"last_used_service"]}; got != [2]string{use[1], use[2]} {
				t.Errorf("%slast_used_region/service %q, want %q", where, got, use[1:])
			}
		}
		wantKeySlot("nokey", 1, "false", false, noUse)
		wantKeySlot("nokey", 2, "false", false, noUse)
		usedCols := [3]string{"<time>", region, "iam"}
		if tgt.deviates(reportKeyUseNotSupported) {
			usedCols = [3]string{"<time>", "not_supported", "not_supported"}
		}
		wantKeySlot("onekey", 1, "true", true, usedCols)
		wantKeySlot("onekey", 2, "false", false, noUse)
		// Slot order is not documented; AWS-like reports (and moto) put the
		// older key in slot 1.
		wantKeySlot("twokeys", 1, "true", true, noUse)
		wantKeySlot("twokeys", 2, "false", true, noUse)

		// Changes after generation: AWS serves the snapshot for four hours.
		_, err = c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("late")})
		ok(t, err, "CreateUser late")
		if states := generateReport(t, c); len(states) != 1 {
			t.Errorf("GenerateCredentialReport within 4 hours: states %v, want COMPLETE at once", states)
		}
		_, rows = getReport(t, c)
		var sawLate bool
		for _, r := range rows {
			sawLate = sawLate || r["user"] == "late"
		}
		if sawLate != tgt.deviates(reportLive) {
			t.Errorf("credential report regenerated within 4 hours shows a user created after generation: %v, want %v",
				sawLate, tgt.deviates(reportLive))
		}
	})
}
