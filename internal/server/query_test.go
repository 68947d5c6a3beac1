package server

import (
	"net/url"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

// FuzzQuery: the API's query parameters are refused (as a parameter
// error, for a 400) or read, never a panic, and what is read selects
// within bounds.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{"severity=high,critical&exempt=false", "user=svc-*&sort=-created", "limit=0", "user=[", "ou=Root/Prod&offset=5",
		"stage=deactivate&status=Active", "days=7", "sort=next_stage_at&limit=1000", "account=1,2,,3&rule=max_age"} {
		f.Add(q)
	}
	fs := []store.SnapshotFinding{
		{AccountID: "1", OUPath: "Root/Prod", UserName: "svc-a", Rule: "max_age", Severity: "high", Stage: "deactivate", KeyStatus: "Active"},
		{AccountID: "2", OUPath: "Root", UserName: "bob", Rule: "unused", Severity: "low", Exempt: true, NextStageAt: time.Unix(1, 0)},
		{AccountID: "3", UserName: "<root_account>", Rule: "root_key", Severity: "critical"},
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		var bp *badParam
		check := func(err error) bool {
			if err != nil {
				if !asBadParam(err, &bp) {
					t.Fatalf("%q: %v is not a parameter error", raw, err)
				}
				return false
			}
			return true
		}
		f, err := parseFilter(q)
		if !check(err) {
			return
		}
		p, err := parsePage(q)
		if !check(err) {
			return
		}
		if _, err := parseDays(q.Get("days")); !check(err) {
			return
		}
		var sel []store.SnapshotFinding
		for _, x := range fs {
			if f.match(x) {
				sel = append(sel, x)
			}
		}
		if !check(sortFindings(sel, q.Get("sort"))) {
			return
		}
		if got := paged(sel, p); len(got) > p.Limit || len(got) > len(sel) {
			t.Fatalf("%q: a page of %d from %d (limit %d)", raw, len(got), len(sel), p.Limit)
		}
	})
}

func asBadParam(err error, bp **badParam) bool {
	b, ok := err.(*badParam)
	*bp = b
	return ok
}

func TestInOU(t *testing.T) {
	for _, tc := range []struct {
		path, ou string
		want     bool
	}{
		{"Root/Workloads/Prod", "", true},
		{"Root/Workloads/Prod", "Prod", true},
		{"Root/Workloads/Prod", "Workloads", true},
		{"Root/Workloads/Prod", "Root/Workloads", true},
		{"Root/Workloads/Prod", "Workloads/Prod", true},
		{"Root/Workloads/Prod", "Work", false},
		{"Root/Workloads/Prod", "Prod/Workloads", false},
		{"Root", "Prod", false},
		{"", "Prod", false},
	} {
		if got := inOU(tc.path, tc.ou); got != tc.want {
			t.Errorf("inOU(%q, %q) = %v, want %v", tc.path, tc.ou, got, tc.want)
		}
	}
}
