package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keywarden/keywarden/internal/store"
)

func runPK(id string) string             { return "RUN#" + keyPart(id) }
func planPK(id string) string            { return "PLAN#" + keyPart(id) }
func entrySK(id int64) string            { return "ENTRY#" + seq(id) }
func entryRefPK(id int64) string         { return "ENTRY#" + seq(id) }
func keyPK(account, keyID string) string { return "KEY#" + compound(account, keyID) }

const runSK = "RUN"

// ---- runs ----

// CreateRun records a new run. Its ID must be new.
func (s *Store) CreateRun(ctx context.Context, r store.Run) error {
	return s.createRun(ctx, nil, r)
}

func (s *Store) createRun(ctx context.Context, l *lease, r store.Run) (err error) {
	if r.ID == "" {
		return errors.New("create run: no run ID")
	}
	what := "create run " + r.ID
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// The order of runs that started at the same time: the order of creation.
	n, err := s.next(ctx, "run")
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	order := formatTime(r.StartedAt) + "#" + seq(n)
	run := newItem(runPK(r.ID), runSK, "run").
		s("id", r.ID).s("command", r.Command).s("plan_id", r.PlanID).s("undo_of", r.UndoOf).
		s("policy_hash", r.PolicyHash).s("caller", r.Caller).s("status", r.Status).
		t("started_at", r.StartedAt).t("finished_at", r.FinishedAt).n("seq", n).it
	ops := []types.TransactWriteItem{
		s.putNew(run),
		s.put(newItem("RUNS", order, "run-ref").s("run_id", r.ID).it, "", nil),
		s.put(newItem(planPK(r.PlanID), "RUN#"+order, "plan-run-ref").s("run_id", r.ID).s("plan_id", r.PlanID).it, "", nil),
	}
	ref, err := s.writeMaybeFenced(ctx, l, what, ops...)
	if err != nil {
		return err
	}
	if ref.op(0) {
		return fmt.Errorf("%s: a run with this ID exists already", what)
	}
	return nil
}

// writeMaybeFenced is l.fenced, or s.write when l is nil, with errors
// prefixed by what.
func (s *Store) writeMaybeFenced(ctx context.Context, l *lease, what string, ops ...types.TransactWriteItem) (*refused, error) {
	if l != nil {
		return l.fenced(ctx, what, ops...)
	}
	ref, err := s.write(ctx, nil, ops...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ref, nil
}

// FinishRun sets a run's final status and when it finished.
func (s *Store) FinishRun(ctx context.Context, id, status string, at time.Time) error {
	return s.finishRun(ctx, nil, id, status, at)
}

func (s *Store) finishRun(ctx context.Context, l *lease, id, status string, at time.Time) error {
	u := (&update{}).setS("status", status).setT("finished_at", at)
	return s.updateRun(ctx, l, "finish run "+id, id, u)
}

// ReopenRun marks a run as running again, with no finish time.
func (s *Store) ReopenRun(ctx context.Context, id string) error {
	return s.reopenRun(ctx, nil, id)
}

func (s *Store) reopenRun(ctx context.Context, l *lease, id string) error {
	u := (&update{}).setS("status", store.RunRunning).setT("finished_at", time.Time{})
	return s.updateRun(ctx, l, "reopen run "+id, id, u)
}

func (s *Store) updateRun(ctx context.Context, l *lease, what, id string, u *update) error {
	if id == "" {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	cond := "attribute_exists(" + u.name("pk") + ")"
	ref, err := s.writeMaybeFenced(ctx, l, what, s.updateOp(key(runPK(id), runSK), u, cond))
	if err != nil {
		return err
	}
	if ref.op(0) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

// GetRun returns the run with the given ID, or ErrNotFound.
func (s *Store) GetRun(ctx context.Context, id string) (store.Run, error) {
	if id == "" {
		return store.Run{}, fmt.Errorf("run %q: %w", id, store.ErrNotFound)
	}
	it, err := s.get(ctx, runPK(id), runSK)
	if err != nil {
		return store.Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	if it == nil {
		return store.Run{}, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	r, err := decodeRun(it)
	if err != nil {
		return store.Run{}, fmt.Errorf("get run %s: %w", id, err)
	}
	if r.ID != id { // a long ID's hash met another's
		return store.Run{}, fmt.Errorf("run %s: %w", id, store.ErrNotFound)
	}
	return r, nil
}

func decodeRun(it item) (store.Run, error) {
	d := decoder{it: it}
	r := store.Run{
		ID:         d.s("id"),
		Command:    d.s("command"),
		PlanID:     d.s("plan_id"),
		UndoOf:     d.s("undo_of"),
		PolicyHash: d.s("policy_hash"),
		Caller:     d.s("caller"),
		Status:     d.s("status"),
		StartedAt:  d.t("started_at"),
		FinishedAt: d.t("finished_at"),
	}
	return r, d.err
}

// Runs lists runs, newest first, at most limit (0 or less: all). Runs that
// started at the same time are listed last-created first.
func (s *Store) Runs(ctx context.Context, limit int) ([]store.Run, error) {
	var ids []string
	err := s.query(ctx, "RUNS", "", true, "", nil, limit, func(it item) (bool, error) {
		d := decoder{it: it}
		ids = append(ids, d.s("run_id"))
		return limit <= 0 || len(ids) < limit, d.err
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	rs, err := s.runs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return rs, nil
}

// RunsForPlan lists the runs that applied a plan, oldest first.
func (s *Store) RunsForPlan(ctx context.Context, planID string) ([]store.Run, error) {
	var ids []string
	err := s.query(ctx, planPK(planID), "RUN#", false, "", nil, 0, func(it item) (bool, error) {
		d := decoder{it: it}
		if d.s("plan_id") == planID {
			ids = append(ids, d.s("run_id"))
		}
		return true, d.err
	})
	if err != nil {
		return nil, fmt.Errorf("list runs of plan %s: %w", planID, err)
	}
	rs, err := s.runs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list runs of plan %s: %w", planID, err)
	}
	return rs, nil
}

// runs reads the runs with ids, in that order.
func (s *Store) runs(ctx context.Context, ids []string) ([]store.Run, error) {
	ks := make([][2]string, len(ids))
	for i, id := range ids {
		ks[i] = [2]string{runPK(id), runSK}
	}
	got, err := s.batchGet(ctx, ks)
	if err != nil {
		return nil, err
	}
	var rs []store.Run
	for i, id := range ids {
		it, ok := got[ks[i][0]+"\x00"+ks[i][1]]
		if !ok {
			continue // cannot be: a run and its references are written together
		}
		r, err := decodeRun(it)
		if err != nil {
			return nil, err
		}
		if r.ID == id {
			rs = append(rs, r)
		}
	}
	return rs, nil
}

// ---- entries ----

// RecordIntent writes an action before it is attempted and returns its ID.
// The entry is stored when RecordIntent returns. e.ID is ignored; e must
// carry no result (Outcome, Detail, RequestID, ResultAt), and its run must
// exist.
func (s *Store) RecordIntent(ctx context.Context, e store.Entry) (int64, error) {
	return s.recordIntent(ctx, nil, e)
}

func (s *Store) recordIntent(ctx context.Context, l *lease, e store.Entry) (int64, error) {
	if e.RunID == "" || e.Action == "" {
		return 0, errors.New("record intent: an entry needs a run ID and an action")
	}
	what := fmt.Sprintf("record intent to %s %s", e.Action, e.AccessKeyID)
	if e.Outcome != store.OutcomePending || e.Detail != "" || e.RequestID != "" || !e.ResultAt.IsZero() {
		return 0, fmt.Errorf("%s: the entry already has a result", what)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	id, err := s.next(ctx, "entry")
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	entry := newItem(runPK(e.RunID), entrySK(id), "entry").n("id", id).
		s("run_id", e.RunID).s("plan_id", e.PlanID).s("action_id", e.ActionID).s("action", e.Action).
		s("account_id", e.AccountID).s("user_name", e.UserName).s("access_key_id", e.AccessKeyID).
		s("rule", e.Rule).s("stage", e.Stage).s("reason", e.Reason).s("key_status", e.KeyStatus).
		t("key_created_at", e.KeyCreatedAt).t("key_last_used_at", e.KeyLastUsedAt).
		s("caller", e.Caller).t("intent_at", e.IntentAt).it
	var c expr
	ops := []types.TransactWriteItem{
		// Its run must exist.
		s.checkOp(key(runPK(e.RunID), runSK), "attribute_exists("+c.name("pk")+")", &c),
		s.putNew(entry),
		s.put(newItem(entryRefPK(id), "ENTRY", "entry-ref").s("run_id", e.RunID).it, "", nil),
		s.put(newItem(planPK(e.PlanID), entrySK(id), "plan-entry-ref").s("run_id", e.RunID).s("plan_id", e.PlanID).it, "", nil),
	}
	// A key's deactivations, reactivations and rotations are read by key.
	if e.Action == store.ActionDeactivate || e.Action == store.ActionReactivate || e.Action == store.ActionRotate {
		ops = append(ops, s.put(newItem(keyPK(e.AccountID, e.AccessKeyID), entrySK(id), "key-entry-ref").
			s("run_id", e.RunID).s("account_id", e.AccountID).s("access_key_id", e.AccessKeyID).it, "", nil))
	}
	ref, err := s.writeMaybeFenced(ctx, l, what, ops...)
	switch {
	case err != nil:
		return 0, err
	case ref.op(0):
		return 0, fmt.Errorf("%s: run %s: %w", what, e.RunID, store.ErrNotFound)
	case ref != nil:
		return 0, fmt.Errorf("%s: entry %d exists already", what, id)
	}
	return id, nil
}

// RecordResult writes what happened to an action. The result is stored
// when RecordResult returns. An entry gets one result: recording a second
// one is an error, as is a result without an outcome.
func (s *Store) RecordResult(ctx context.Context, id int64, r store.Result) error {
	return s.recordResult(ctx, nil, id, r)
}

func (s *Store) recordResult(ctx context.Context, l *lease, id int64, r store.Result) error {
	what := fmt.Sprintf("record result of entry %d", id)
	if r.Outcome == store.OutcomePending {
		return fmt.Errorf("%s: no outcome", what)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	runID, err := s.entryRun(ctx, id)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if runID == "" {
		if l != nil {
			if err := l.stillHeld(ctx); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
		}
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	u := (&update{}).setS("outcome", r.Outcome).setS("detail", r.Detail).setS("request_id", r.RequestID).setT("result_at", r.At)
	cond := "attribute_exists(" + u.name("pk") + ") AND attribute_not_exists(" + u.name("outcome") + ")"
	k := key(runPK(runID), entrySK(id))
	ref, err := s.writeMaybeFenced(ctx, l, what, s.updateOp(k, u, cond))
	if err != nil {
		return err
	}
	if !ref.op(0) {
		return nil
	}
	it, err := s.get(ctx, runPK(runID), entrySK(id))
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", what, err)
	case it == nil:
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	default:
		d := decoder{it: it}
		return fmt.Errorf("%s: it already has one (%s)", what, d.s("outcome"))
	}
}

// entryRun is the run of entry id, or "" if there is no such entry.
func (s *Store) entryRun(ctx context.Context, id int64) (string, error) {
	if id <= 0 {
		return "", nil
	}
	it, err := s.get(ctx, entryRefPK(id), "ENTRY")
	if err != nil || it == nil {
		return "", err
	}
	d := decoder{it: it}
	runID := d.s("run_id")
	return runID, d.err
}

func decodeEntry(it item) (store.Entry, error) {
	d := decoder{it: it}
	e := store.Entry{
		ID:            d.num("id"),
		RunID:         d.s("run_id"),
		PlanID:        d.s("plan_id"),
		ActionID:      d.s("action_id"),
		Action:        d.s("action"),
		AccountID:     d.s("account_id"),
		UserName:      d.s("user_name"),
		AccessKeyID:   d.s("access_key_id"),
		Rule:          d.s("rule"),
		Stage:         d.s("stage"),
		Reason:        d.s("reason"),
		KeyStatus:     d.s("key_status"),
		KeyCreatedAt:  d.t("key_created_at"),
		KeyLastUsedAt: d.t("key_last_used_at"),
		Caller:        d.s("caller"),
		IntentAt:      d.t("intent_at"),
		Outcome:       d.s("outcome"),
		Detail:        d.s("detail"),
		RequestID:     d.s("request_id"),
		ResultAt:      d.t("result_at"),
	}
	return e, d.err
}

// Entries lists a run's actions in the order they were written.
func (s *Store) Entries(ctx context.Context, runID string) ([]store.Entry, error) {
	var es []store.Entry
	if runID == "" {
		return nil, nil
	}
	err := s.query(ctx, runPK(runID), "ENTRY#", false, "", nil, 0, func(it item) (bool, error) {
		e, err := decodeEntry(it)
		if err == nil && e.RunID == runID {
			es = append(es, e)
		}
		return true, err
	})
	if err != nil {
		return nil, fmt.Errorf("list actions of run %s: %w", runID, err)
	}
	return es, nil
}

// entryRefs reads the entries that references in partition pk point to
// (items with run_id, sorted by ENTRY#<id>), in ID order, keeping those
// keep accepts.
func (s *Store) entryRefs(ctx context.Context, pk string, keep func(store.Entry) bool) ([]store.Entry, error) {
	var ks [][2]string
	err := s.query(ctx, pk, "ENTRY#", false, "", nil, 0, func(it item) (bool, error) {
		d := decoder{it: it}
		ks = append(ks, [2]string{runPK(d.s("run_id")), d.s("sk")})
		return true, d.err
	})
	if err != nil {
		return nil, err
	}
	got, err := s.batchGet(ctx, ks)
	if err != nil {
		return nil, err
	}
	var es []store.Entry
	for _, k := range ks {
		it, ok := got[k[0]+"\x00"+k[1]]
		if !ok {
			continue // cannot be: an entry and its references are written together
		}
		e, err := decodeEntry(it)
		if err != nil {
			return nil, err
		}
		if keep(e) {
			es = append(es, e)
		}
	}
	return es, nil
}

// PlanEntries lists the actions of every run of a plan, in the order they
// were written.
func (s *Store) PlanEntries(ctx context.Context, planID string) ([]store.Entry, error) {
	es, err := s.entryRefs(ctx, planPK(planID), func(e store.Entry) bool { return e.PlanID == planID })
	if err != nil {
		return nil, fmt.Errorf("list actions of plan %s: %w", planID, err)
	}
	return es, nil
}

// DeactivatedAt says since when keywarden has kept a key deactivated, if it
// still does. It reads the key's deactivate and reactivate actions that took
// effect (done or already-done), in journal order:
//   - a reactivate ends a deactivation;
//   - a deactivate done starts one (the key was active until then), at its
//     result time (its intent time if it has none);
//   - a deactivate already-done starts one only if none is running: finding
//     the key already inactive again does not move the start later.
//
// A key whose last such action is a reactivate, or that has none, gives
// false.
func (s *Store) DeactivatedAt(ctx context.Context, accountID, keyID string) (since time.Time, ok bool, err error) {
	es, err := s.entryRefs(ctx, keyPK(accountID, keyID), func(e store.Entry) bool {
		return e.AccountID == accountID && e.AccessKeyID == keyID &&
			(e.Action == store.ActionDeactivate || e.Action == store.ActionReactivate) &&
			(e.Outcome == store.OutcomeDone || e.Outcome == store.OutcomeAlreadyDone)
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("when was %s in %s deactivated: %w", keyID, accountID, err)
	}
	for _, e := range es {
		switch {
		case e.Action == store.ActionReactivate:
			since, ok = time.Time{}, false
		case e.Outcome == store.OutcomeDone || !ok:
			since, ok = e.ResultAt, true
			if since.IsZero() {
				since = e.IntentAt
			}
		}
	}
	return since, ok, nil
}

// LastRotation is the latest rotation of a key (the rotate action whose old
// key it is) that was done; false when it never was.
func (s *Store) LastRotation(ctx context.Context, accountID, keyID string) (store.Entry, bool, error) {
	es, err := s.entryRefs(ctx, keyPK(accountID, keyID), func(e store.Entry) bool {
		return e.AccountID == accountID && e.AccessKeyID == keyID && e.Action == store.ActionRotate && e.Outcome == store.OutcomeDone
	})
	if err != nil {
		return store.Entry{}, false, fmt.Errorf("last rotation of %s in %s: %w", keyID, accountID, err)
	}
	if len(es) == 0 {
		return store.Entry{}, false, nil
	}
	return es[len(es)-1], true, nil
}
