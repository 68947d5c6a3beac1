package engine

import (
	"context"
	"time"

	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// PlanResult is a scan and the plan made from it.
type PlanResult struct {
	Scan *ScanResult
	Plan *remediate.Plan
}

// Plan scans, judges and turns the findings into a plan under the guards.
// It changes nothing.
func (e *Engine) Plan(ctx context.Context, r Read) (*PlanResult, error) {
	sc, err := e.Scan(ctx, r)
	if err != nil {
		return nil, err
	}
	plan, err := e.makePlan(ctx, sc)
	if err != nil {
		return nil, err
	}
	return &PlanResult{Scan: sc, Plan: plan}, nil
}

func (e *Engine) makePlan(ctx context.Context, sc *ScanResult) (*remediate.Plan, error) {
	return e.makePlanFor(ctx, sc, nil)
}

// makePlanFor makes the plan of a scan; with a demand, the plan of a
// rotation asked for by hand.
func (e *Engine) makePlanFor(ctx context.Context, sc *ScanResult, d *remediate.Demand) (*remediate.Plan, error) {
	return remediate.Make(ctx, remediate.Inputs{
		Inventory: sc.Inventory, Findings: sc.Findings, Policy: e.Policy, AsOf: sc.AsOf, Now: e.now(),
		Caller: e.Hub.CallerARN, CallerKeyID: e.Hub.KeyID, DeactivatedAt: e.deactivatedAt, LastRotation: e.lastRotation,
		Demand: d, RunID: e.Hub.RunID,
	})
}

// lastRotation is the journal's answer, or "never" without a store.
func (e *Engine) lastRotation(ctx context.Context, account, key string) (store.Entry, bool, error) {
	if e.Store == nil {
		return store.Entry{}, false, nil
	}
	return e.Store.LastRotation(ctx, account, key)
}

// deactivatedAt is the journal's answer, or "never" without a store.
func (e *Engine) deactivatedAt(ctx context.Context, account, key string) (time.Time, bool, error) {
	if e.Store == nil {
		return time.Time{}, false, nil
	}
	return e.Store.DeactivatedAt(ctx, account, key)
}

// ReadRotations reads from the journal where each rotation under way in a
// scan's accounts is (remediate.RotationState), into sc.Rotations: what
// the report and 'policy explain' show. Without a state store there are
// none.
func (e *Engine) ReadRotations(ctx context.Context, sc *ScanResult) error {
	if e.Store == nil {
		return nil
	}
	rs, err := remediate.RotationStates(ctx, remediate.Inputs{Inventory: sc.Inventory, Findings: sc.Findings, Policy: e.Policy,
		AsOf: sc.AsOf, LastRotation: e.lastRotation})
	if err != nil {
		return err
	}
	sc.Rotations = rs
	return nil
}
