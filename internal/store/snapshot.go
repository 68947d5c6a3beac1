package store

import (
	"cmp"
	"slices"
	"time"
)

// Snapshot is what one scan found: the accounts it read, how many keys
// they hold, and every finding, kept so that the service can show trends
// over time and drill down from a count to the keys behind it. It holds
// no secret: keys are named by their access key ID only.
type Snapshot struct {
	// RunID is the run the scan was part of; one snapshot per run.
	RunID string
	// At is the moment the keys were judged (the scan's as-of time).
	At time.Time
	// Trigger says what started the run: schedule, manual, api, lambda.
	Trigger string
	// Mode is report or enforce (the policy's automation modes).
	Mode       string
	PolicyHash string

	Accounts []SnapshotAccount
	// Counts are the findings counted by account, rule, severity, stage
	// and exemption: what trends are drawn from without reading every
	// finding. SnapshotCounts computes them from the findings.
	Counts []SnapshotCount
	// Findings are set by GetSnapshot; Snapshots leaves them out.
	Findings []SnapshotFinding
}

// SnapshotAccount is one account as a scan read it.
type SnapshotAccount struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	OUPath string `json:"ou_path,omitempty"`
	// Status is ok, partial or failed; Error says why, for people.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`

	Users int `json:"users"`
	// KeysActive and KeysInactive count the IAM users' access keys;
	// RootKeys the root user's.
	KeysActive   int `json:"keys_active"`
	KeysInactive int `json:"keys_inactive"`
	RootKeys     int `json:"root_keys,omitempty"`
	// Findings counts the account's findings that are not exempt.
	Findings int `json:"findings"`
}

// SnapshotCount is how many findings of one kind an account had.
type SnapshotCount struct {
	AccountID string `json:"account_id"`
	Rule      string `json:"rule"`
	Severity  string `json:"severity"`
	Stage     string `json:"stage,omitempty"`
	Exempt    bool   `json:"exempt,omitempty"`
	N         int    `json:"n"`
}

// SnapshotFinding is one finding as a scan judged it.
type SnapshotFinding struct {
	AccountID   string `json:"account_id"`
	AccountName string `json:"account_name,omitempty"`
	OUPath      string `json:"ou_path,omitempty"`
	UserName    string `json:"user_name"`
	// AccessKeyID is "" when the scan did not read it, and for root keys.
	AccessKeyID string `json:"access_key_id,omitempty"`
	Rule        string `json:"rule"`
	Severity    string `json:"severity"`
	Stage       string `json:"stage,omitempty"`
	// DueAt is when Stage fell due; NextStage falls due at NextStageAt.
	DueAt       time.Time `json:"due_at,omitzero"`
	NextStage   string    `json:"next_stage,omitempty"`
	NextStageAt time.Time `json:"next_stage_at,omitzero"`
	Exempt      bool      `json:"exempt,omitempty"`
	// ExemptReason says why it is exempt.
	ExemptReason  string    `json:"exempt_reason,omitempty"`
	KeyStatus     string    `json:"key_status,omitempty"`
	KeyCreatedAt  time.Time `json:"key_created_at,omitzero"`
	KeyLastUsedAt time.Time `json:"key_last_used_at,omitzero"`
	Message       string    `json:"message,omitempty"`
}

// SnapshotCounts counts findings by account, rule, severity, stage and
// exemption, in a stable order.
func SnapshotCounts(fs []SnapshotFinding) []SnapshotCount {
	type k struct {
		account, rule, severity, stage string
		exempt                         bool
	}
	n := map[k]int{}
	for _, f := range fs {
		n[k{f.AccountID, f.Rule, f.Severity, f.Stage, f.Exempt}]++
	}
	out := make([]SnapshotCount, 0, len(n))
	for c, v := range n {
		out = append(out, SnapshotCount{AccountID: c.account, Rule: c.rule, Severity: c.severity, Stage: c.stage, Exempt: c.exempt, N: v})
	}
	slices.SortFunc(out, func(a, b SnapshotCount) int {
		return cmp.Or(cmp.Compare(a.AccountID, b.AccountID), cmp.Compare(a.Rule, b.Rule),
			cmp.Compare(a.Severity, b.Severity), cmp.Compare(a.Stage, b.Stage), boolCmp(a.Exempt, b.Exempt))
	})
	return out
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// SnapshotQuery selects snapshots by time; zero fields do not limit.
type SnapshotQuery struct {
	Since time.Time // At >= Since
	Until time.Time // At < Until
	Limit int       // at most, newest first
}

// Retention says which snapshots PruneSnapshots deletes: those taken
// before Before, and all but the newest Keep. Zero fields do not limit;
// the zero Retention deletes nothing.
type Retention struct {
	Before time.Time
	Keep   int
}

// Selects reports whether a snapshot at position i (0 the newest) taken
// at at is one r deletes.
func (r Retention) Selects(i int, at time.Time) bool {
	return (!r.Before.IsZero() && at.Before(r.Before)) || (r.Keep > 0 && i >= r.Keep)
}
