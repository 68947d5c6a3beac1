package server

import (
	"cmp"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/store"
)

// badParam is a query parameter that cannot be read: answered 400.
type badParam struct{ name, msg string }

func (e *badParam) Error() string { return "parameter " + e.name + ": " + e.msg }

// filter selects findings; every field set must match.
type filter struct {
	Accounts   []string // account IDs
	OU         string   // an OU name or path: the account is in it or below it
	Rules      []string
	Severities []string
	Stages     []string
	Exempt     *bool
	User       string // a glob (path.Match)
	Key        string // an access key ID
	Status     string // key status, Active or Inactive
}

func splitList(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// The policy's severities and stages, lowest first, as the snapshots
// hold them; their order ranks them.
var (
	knownSeverities = []string{string(policy.SeverityInfo), string(policy.SeverityLow), string(policy.SeverityMedium),
		string(policy.SeverityHigh), string(policy.SeverityCritical)}
	knownStages = []string{string(policy.StageReport), string(policy.StageWarn), string(policy.StageRotate),
		string(policy.StageDeactivate), string(policy.StageDelete)}
)

func parseFilter(q url.Values) (filter, error) {
	f := filter{Accounts: splitList(q.Get("account")), OU: strings.Trim(q.Get("ou"), "/"), Rules: splitList(q.Get("rule")),
		Severities: splitList(q.Get("severity")), Stages: splitList(q.Get("stage")), User: q.Get("user"), Key: q.Get("key"), Status: q.Get("status")}
	for _, s := range f.Severities {
		if !slices.Contains(knownSeverities, s) {
			return f, &badParam{"severity", fmt.Sprintf("%q: want one of %s", s, strings.Join(knownSeverities, ", "))}
		}
	}
	for _, s := range f.Stages {
		if !slices.Contains(knownStages, s) {
			return f, &badParam{"stage", fmt.Sprintf("%q: want one of %s", s, strings.Join(knownStages, ", "))}
		}
	}
	if v := q.Get("exempt"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return f, &badParam{"exempt", fmt.Sprintf("%q: want true or false", v)}
		}
		f.Exempt = &b
	}
	if f.User != "" {
		if _, err := path.Match(f.User, ""); err != nil {
			return f, &badParam{"user", fmt.Sprintf("%q is not a valid pattern (* ? [a-z]): %v", f.User, err)}
		}
	}
	switch f.Status {
	case "", "Active", "Inactive":
	default:
		return f, &badParam{"status", fmt.Sprintf("%q: want Active or Inactive", f.Status)}
	}
	return f, nil
}

// inOU reports whether an account at ouPath ("Root/Workloads/Prod") is in
// the OU ou, given by name ("Prod") or path ("Root/Workloads", or
// "Workloads/Prod"), or below it.
func inOU(ouPath, ou string) bool {
	if ou == "" {
		return true
	}
	parts := strings.Split(ouPath, "/")
	want := strings.Split(ou, "/")
	for i := 0; i+len(want) <= len(parts); i++ {
		if slices.Equal(parts[i:i+len(want)], want) {
			return true
		}
	}
	return false
}

func (f filter) account(id, ouPath string) bool {
	return (len(f.Accounts) == 0 || slices.Contains(f.Accounts, id)) && inOU(ouPath, f.OU)
}

func (f filter) match(x store.SnapshotFinding) bool {
	if !f.account(x.AccountID, x.OUPath) {
		return false
	}
	if len(f.Rules) > 0 && !slices.Contains(f.Rules, x.Rule) ||
		len(f.Severities) > 0 && !slices.Contains(f.Severities, x.Severity) ||
		len(f.Stages) > 0 && !slices.Contains(f.Stages, x.Stage) ||
		f.Exempt != nil && *f.Exempt != x.Exempt ||
		f.Key != "" && f.Key != x.AccessKeyID ||
		f.Status != "" && f.Status != x.KeyStatus {
		return false
	}
	if f.User != "" {
		if ok, _ := path.Match(f.User, x.UserName); !ok {
			return false
		}
	}
	return true
}

// page is the paging of a list: limit (default 100, at most 1000) items
// from offset.
type page struct{ Limit, Offset int }

const (
	defaultLimit = 100
	maxLimit     = 1000
)

func parsePage(q url.Values) (page, error) {
	p := page{Limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, &badParam{"limit", fmt.Sprintf("%q: want a number from 1 to %d", v, maxLimit)}
		}
		p.Limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, &badParam{"offset", fmt.Sprintf("%q: want a number from 0", v)}
		}
		p.Offset = n
	}
	return p, nil
}

func paged[T any](xs []T, p page) []T {
	if p.Offset >= len(xs) {
		return []T{}
	}
	return xs[p.Offset:min(len(xs), p.Offset+p.Limit)]
}

func severityRank(s string) int { return slices.Index(knownSeverities, s) }
func stageRank(s string) int    { return slices.Index(knownStages, s) }

// findingSorts are the orders of the findings table, by name.
var findingSorts = map[string]func(a, b store.SnapshotFinding) int{
	"severity": func(a, b store.SnapshotFinding) int {
		return cmp.Compare(severityRank(a.Severity), severityRank(b.Severity))
	},
	"account": func(a, b store.SnapshotFinding) int { return cmp.Compare(a.AccountID, b.AccountID) },
	"user":    func(a, b store.SnapshotFinding) int { return cmp.Compare(a.UserName, b.UserName) },
	"rule":    func(a, b store.SnapshotFinding) int { return cmp.Compare(a.Rule, b.Rule) },
	"stage":   func(a, b store.SnapshotFinding) int { return cmp.Compare(stageRank(a.Stage), stageRank(b.Stage)) },
	"key":     func(a, b store.SnapshotFinding) int { return cmp.Compare(a.AccessKeyID, b.AccessKeyID) },
	"created": func(a, b store.SnapshotFinding) int { return a.KeyCreatedAt.Compare(b.KeyCreatedAt) },
	"last_used": func(a, b store.SnapshotFinding) int {
		return a.KeyLastUsedAt.Compare(b.KeyLastUsedAt)
	},
	"next_stage_at": func(a, b store.SnapshotFinding) int { return compareDue(a.NextStageAt, b.NextStageAt) },
}

// compareDue orders times with the zero time (never) last.
func compareDue(a, b time.Time) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return 1
	case b.IsZero():
		return -1
	}
	return a.Compare(b)
}

// sortFindings orders findings by sort ("severity", "-created", …; empty:
// the most severe first), then by account, user and key.
func sortFindings(fs []store.SnapshotFinding, sort string) error {
	desc := strings.HasPrefix(sort, "-")
	name := strings.TrimPrefix(sort, "-")
	if name == "" {
		name, desc = "severity", true
	}
	by, ok := findingSorts[name]
	if !ok {
		names := make([]string, 0, len(findingSorts))
		for n := range findingSorts {
			names = append(names, n)
		}
		slices.Sort(names)
		return &badParam{"sort", fmt.Sprintf("%q: want one of %s, with - before it for descending", sort, strings.Join(names, ", "))}
	}
	slices.SortStableFunc(fs, func(a, b store.SnapshotFinding) int {
		c := by(a, b)
		if desc {
			c = -c
		}
		return cmp.Or(c, cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.UserName, b.UserName),
			cmp.Compare(a.AccessKeyID, b.AccessKeyID), cmp.Compare(a.Rule, b.Rule))
	})
	return nil
}
