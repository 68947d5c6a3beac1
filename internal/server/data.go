package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/store"
)

// errNoSnapshot: nothing has been scanned yet.
var errNoSnapshot = errors.New("no scan yet: the first scheduled run, or POST /api/v1/runs, makes one")

// snapshot returns a run's snapshot with its findings, the latest when
// runID is "". Snapshots never change, so the last one read is kept.
func (s *Server) snapshot(ctx context.Context, runID string) (*store.Snapshot, error) {
	if runID == "" {
		latest, err := s.o.Store.Snapshots(ctx, store.SnapshotQuery{Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(latest) == 0 {
			return nil, errNoSnapshot
		}
		runID = latest[0].RunID
	}
	s.cacheMu.Lock()
	if c := s.cached; c != nil && c.RunID == runID {
		s.cacheMu.Unlock()
		return c, nil
	}
	s.cacheMu.Unlock()
	snap, err := s.o.Store.GetSnapshot(ctx, runID)
	if err != nil {
		return nil, err
	}
	s.cacheMu.Lock()
	s.cached = &snap
	s.cacheMu.Unlock()
	return &snap, nil
}

// KeyView is one access key with findings, as the keys API lists it.
type KeyView struct {
	AccountID     string    `json:"account_id"`
	AccountName   string    `json:"account_name,omitempty"`
	OUPath        string    `json:"ou_path,omitempty"`
	UserName      string    `json:"user_name"`
	AccessKeyID   string    `json:"access_key_id,omitempty"`
	KeyStatus     string    `json:"key_status,omitempty"`
	KeyCreatedAt  time.Time `json:"key_created_at,omitzero"`
	KeyLastUsedAt time.Time `json:"key_last_used_at,omitzero"`
	// Rules are the rules that flag it; Severity the worst of them, Stage
	// the furthest reached, and NextStage the soonest due.
	Rules       []string  `json:"rules"`
	Severity    string    `json:"severity"`
	Stage       string    `json:"stage,omitempty"`
	NextStage   string    `json:"next_stage,omitempty"`
	NextStageAt time.Time `json:"next_stage_at,omitzero"`
	// Exempt: every finding of the key is exempt.
	Exempt bool `json:"exempt"`
}

// keysOf groups findings by key, in the findings' order.
func keysOf(fs []store.SnapshotFinding) []KeyView {
	idx := map[string]int{}
	var out []KeyView
	for _, f := range fs {
		k := f.AccountID + "\x00" + f.UserName + "\x00" + f.AccessKeyID + "\x00" + f.KeyCreatedAt.String()
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, KeyView{AccountID: f.AccountID, AccountName: f.AccountName, OUPath: f.OUPath, UserName: f.UserName,
				AccessKeyID: f.AccessKeyID, KeyStatus: f.KeyStatus, KeyCreatedAt: f.KeyCreatedAt, KeyLastUsedAt: f.KeyLastUsedAt,
				Rules: []string{}, Severity: f.Severity, Exempt: true})
		}
		v := &out[i]
		if !slices.Contains(v.Rules, f.Rule) {
			v.Rules = append(v.Rules, f.Rule)
		}
		if severityRank(f.Severity) > severityRank(v.Severity) {
			v.Severity = f.Severity
		}
		if stageRank(f.Stage) > stageRank(v.Stage) {
			v.Stage = f.Stage
		}
		if !f.NextStageAt.IsZero() && (v.NextStageAt.IsZero() || f.NextStageAt.Before(v.NextStageAt)) {
			v.NextStage, v.NextStageAt = f.NextStage, f.NextStageAt
		}
		v.Exempt = v.Exempt && f.Exempt
	}
	return out
}

// AccountView is one account of a snapshot, with its findings counted.
type AccountView struct {
	store.SnapshotAccount
	// BySeverity counts the findings that are not exempt.
	BySeverity map[string]int `json:"by_severity"`
	// FlaggedKeys are the keys with a finding that is not exempt;
	// Compliance is the share of keys without one, in percent.
	FlaggedKeys int     `json:"flagged_keys"`
	Compliance  float64 `json:"compliance_percent"`
}

func accountsOf(snap *store.Snapshot) []AccountView {
	flagged := map[string]map[string]bool{}
	for _, f := range snap.Findings {
		if f.Exempt {
			continue
		}
		if flagged[f.AccountID] == nil {
			flagged[f.AccountID] = map[string]bool{}
		}
		flagged[f.AccountID][f.UserName+"\x00"+f.AccessKeyID+"\x00"+f.KeyCreatedAt.String()] = true
	}
	out := make([]AccountView, 0, len(snap.Accounts))
	for _, a := range snap.Accounts {
		v := AccountView{SnapshotAccount: a, BySeverity: map[string]int{}, FlaggedKeys: len(flagged[a.ID])}
		for _, c := range snap.Counts {
			if c.AccountID == a.ID && !c.Exempt {
				v.BySeverity[c.Severity] += c.N
			}
		}
		if keys := a.KeysActive + a.KeysInactive; keys > 0 {
			v.Compliance = float64(max(keys-v.FlaggedKeys, 0)) * 100 / float64(keys)
			v.Compliance = float64(int(v.Compliance*10+0.5)) / 10
		} else if a.Status == "ok" {
			v.Compliance = 100
		}
		out = append(out, v)
	}
	return out
}

// TrendPoint is the findings on one day: the day's last scan, counted
// without the exempt ones.
type TrendPoint struct {
	Date       string         `json:"date"` // YYYY-MM-DD, UTC
	RunID      string         `json:"run_id"`
	At         time.Time      `json:"at"`
	Findings   int            `json:"findings"`
	ByRule     map[string]int `json:"by_rule"`
	BySeverity map[string]int `json:"by_severity"`
}

// trends counts findings per day over the days before now, oldest first.
func (s *Server) trends(ctx context.Context, now time.Time, days int, f filter) ([]TrendPoint, error) {
	since := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -(days - 1))
	snaps, err := s.o.Store.Snapshots(ctx, store.SnapshotQuery{Since: since})
	if err != nil {
		return nil, err
	}
	byDay := map[string]TrendPoint{}
	for _, sn := range snaps { // newest first: the first of a day is its last
		day := sn.At.UTC().Format(time.DateOnly)
		if _, ok := byDay[day]; ok {
			continue
		}
		ous := map[string]string{}
		for _, a := range sn.Accounts {
			ous[a.ID] = a.OUPath
		}
		p := TrendPoint{Date: day, RunID: sn.RunID, At: sn.At, ByRule: map[string]int{}, BySeverity: map[string]int{}}
		for _, c := range sn.Counts {
			if c.Exempt || !f.account(c.AccountID, ous[c.AccountID]) ||
				len(f.Rules) > 0 && !slices.Contains(f.Rules, c.Rule) ||
				len(f.Severities) > 0 && !slices.Contains(f.Severities, c.Severity) {
				continue
			}
			p.Findings += c.N
			p.ByRule[c.Rule] += c.N
			p.BySeverity[c.Severity] += c.N
		}
		byDay[day] = p
	}
	out := make([]TrendPoint, 0, len(byDay))
	for _, p := range byDay {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b TrendPoint) int { return cmp.Compare(a.Date, b.Date) })
	return out, nil
}

// RunView is one run, from what the state store and this process know:
// a scan's snapshot, an apply or undo's journal, a run in progress.
type RunView struct {
	ID         string    `json:"run_id"`
	Kind       string    `json:"kind"` // scan, apply, undo
	Trigger    string    `json:"trigger,omitempty"`
	Mode       string    `json:"mode,omitempty"`
	Status     string    `json:"status"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Findings counts the scan's findings that are not exempt; Accounts
	// the accounts it read.
	Findings *int `json:"findings,omitempty"`
	Accounts *int `json:"accounts,omitempty"`
	// ApplyStatus is the status of the run's apply in the journal.
	ApplyStatus string             `json:"apply_status,omitempty"`
	Summary     *engine.RunSummary `json:"summary,omitempty"`
	UndoOf      string             `json:"undo_of,omitempty"`
	Error       string             `json:"error,omitempty"`
}

// runs merges the runs of the state store, its snapshots and this
// process, newest first.
func (s *Server) runs(ctx context.Context) ([]RunView, error) {
	snaps, err := s.o.Store.Snapshots(ctx, store.SnapshotQuery{})
	if err != nil {
		return nil, err
	}
	stored, err := s.o.Store.Runs(ctx, 0)
	if err != nil {
		return nil, err
	}
	return mergeRuns(snaps, stored, s.Live()), nil
}

// mergeRuns makes one view of each run from what each source knows of
// it: a scan's snapshot, the journal's run (apply or undo), this process's
// record. The automation's apply has the ID of its scan.
func mergeRuns(snaps []store.Snapshot, stored []store.Run, live []LiveRun) []RunView {
	byID := map[string]*RunView{}
	get := func(id string) *RunView {
		v, ok := byID[id]
		if !ok {
			v = &RunView{ID: id}
			byID[id] = v
		}
		return v
	}
	for _, sn := range snaps {
		v := get(sn.RunID)
		v.Kind, v.Trigger, v.Mode, v.Status, v.StartedAt = KindScan, sn.Trigger, sn.Mode, "done", sn.At
		n, accounts := 0, len(sn.Accounts)
		for _, c := range sn.Counts {
			if !c.Exempt {
				n += c.N
			}
		}
		v.Findings, v.Accounts = &n, &accounts
	}
	for _, r := range stored {
		v := get(r.ID)
		if v.Kind == "" {
			v.Kind, v.Status, v.StartedAt, v.FinishedAt = r.Command, r.Status, r.StartedAt, r.FinishedAt
		}
		v.ApplyStatus, v.UndoOf = r.Status, r.UndoOf
		if r.StartedAt.Before(v.StartedAt) {
			v.StartedAt = r.StartedAt
		}
		if r.FinishedAt.After(v.FinishedAt) {
			v.FinishedAt = r.FinishedAt
		}
	}
	for _, l := range live {
		v := get(l.ID)
		v.Kind = l.Kind
		v.Trigger, v.Mode, v.Status, v.StartedAt, v.FinishedAt, v.Summary, v.Error = l.Trigger, l.Mode, l.Status, l.StartedAt, l.FinishedAt, l.Summary, l.Error
	}
	out := make([]RunView, 0, len(byID))
	for _, v := range byID {
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b RunView) int { return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID)) })
	return out
}

// ActionView is one action of a run, from the journal.
type ActionView struct {
	Action      string    `json:"action"`
	AccountID   string    `json:"account_id"`
	UserName    string    `json:"user_name"`
	AccessKeyID string    `json:"access_key_id"`
	Rule        string    `json:"rule,omitempty"`
	Stage       string    `json:"stage,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Outcome     string    `json:"outcome"` // "" while pending
	Detail      string    `json:"detail,omitempty"`
	RequestID   string    `json:"request_id,omitempty"`
	IntentAt    time.Time `json:"intent_at"`
	ResultAt    time.Time `json:"result_at,omitzero"`
	RunID       string    `json:"run_id"`
}

func actionOf(e store.Entry) ActionView {
	return ActionView{Action: e.Action, AccountID: e.AccountID, UserName: e.UserName, AccessKeyID: e.AccessKeyID,
		Rule: e.Rule, Stage: e.Stage, Reason: e.Reason, Outcome: e.Outcome, Detail: e.Detail, RequestID: e.RequestID,
		IntentAt: e.IntentAt, ResultAt: e.ResultAt, RunID: e.RunID}
}

// RunDetail is one run with its actions and, for a scan, its counts.
type RunDetail struct {
	RunView
	Actions []ActionView          `json:"actions"`
	Counts  []store.SnapshotCount `json:"counts,omitempty"`
}

func (s *Server) run(ctx context.Context, id string) (*RunDetail, error) {
	var (
		snaps  []store.Snapshot
		stored []store.Run
		live   []LiveRun
	)
	snap, err := s.snapshot(ctx, id)
	switch {
	case err == nil:
		snaps = append(snaps, *snap)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	r, err := s.o.Store.GetRun(ctx, id)
	switch {
	case err == nil:
		stored = append(stored, r)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	live = slices.DeleteFunc(s.Live(), func(l LiveRun) bool { return l.ID != id })
	all := mergeRuns(snaps, stored, live)
	if len(all) == 0 {
		return nil, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	d := &RunDetail{RunView: all[0], Actions: []ActionView{}}
	entries, err := s.o.Store.Entries(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		d.Actions = append(d.Actions, actionOf(e))
	}
	if snap != nil {
		d.Counts = snap.Counts
	}
	return d, nil
}

// TimelineEvent is one thing that happened to a key.
type TimelineEvent struct {
	At      time.Time `json:"at"`
	Event   string    `json:"event"` // created, last used, warned, rotated, deactivated, deleted, reactivated, …
	Detail  string    `json:"detail,omitempty"`
	Outcome string    `json:"outcome,omitempty"`
	RunID   string    `json:"run_id,omitempty"`
}

// maxTimelineRuns bounds how many runs of the journal a key's timeline reads.
const maxTimelineRuns = 500

// timeline is what happened to a key: its creation and last use, then
// what keywarden did to it, from the journal, oldest first.
func (s *Server) timeline(ctx context.Context, k KeyView) ([]TimelineEvent, error) {
	var out []TimelineEvent
	if !k.KeyCreatedAt.IsZero() {
		out = append(out, TimelineEvent{At: k.KeyCreatedAt, Event: "created"})
	}
	if !k.KeyLastUsedAt.IsZero() {
		out = append(out, TimelineEvent{At: k.KeyLastUsedAt, Event: "last used"})
	}
	entries, err := s.keyEntries(ctx, k.AccountID, k.AccessKeyID)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		ev := TimelineEvent{At: e.IntentAt, Event: eventName(e.Action), Detail: e.Reason, Outcome: e.Outcome, RunID: e.RunID}
		if !e.ResultAt.IsZero() {
			ev.At = e.ResultAt
		}
		if e.Detail != "" {
			ev.Detail = e.Detail
		}
		out = append(out, ev)
	}
	slices.SortStableFunc(out, func(a, b TimelineEvent) int { return a.At.Compare(b.At) })
	return out, nil
}

// keyEntries are the journal's entries for a key, from the latest
// maxTimelineRuns runs.
func (s *Server) keyEntries(ctx context.Context, account, keyID string) ([]store.Entry, error) {
	if keyID == "" {
		return nil, nil
	}
	runs, err := s.o.Store.Runs(ctx, maxTimelineRuns)
	if err != nil {
		return nil, err
	}
	var out []store.Entry
	for _, r := range runs {
		entries, err := s.o.Store.Entries(ctx, r.ID)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.AccountID == account && e.AccessKeyID == keyID {
				out = append(out, e)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b store.Entry) int { return a.IntentAt.Compare(b.IntentAt) })
	return out, nil
}

func eventName(action string) string {
	switch action {
	case store.ActionNotify:
		return "warned"
	case store.ActionDeactivate:
		return "deactivated"
	case store.ActionDelete:
		return "deleted"
	case store.ActionReactivate:
		return "reactivated (undone)"
	case "rotate":
		return "rotated"
	}
	return action
}
