package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/remediate"
)

// RotateRequest is a rotation asked for by hand, for one user: an
// incident, a leaked key.
type RotateRequest struct {
	AccountID string
	UserName  string
	// AccessKeyID is the key to replace; "": the user's one active key.
	AccessKeyID string
	// DeactivateNow deactivates the old key as soon as the new one is
	// stored (a leaked key), instead of waiting for the cutover.
	DeactivateNow bool
	// Read says how to read the account (source, timeout); its selection
	// is ignored: the account is read.
	Read Read
	// Planned, if set, is told the plan before anything changes.
	Planned func(*remediate.Plan)
	// Confirm, Progress and Started are as for Apply.
	Confirm  func(*remediate.Prepared) error
	Progress func(remediate.ActionResult)
	Started  func(runID string, resumed bool)
}

// RotateResult is what a rotation asked for by hand did.
type RotateResult struct {
	// Recovered are the rotations that dead runs left unfinished, finished
	// before the user's keys were read (remediate.Recovery).
	Recovered []remediate.ActionResult
	Scan      *ScanResult
	Plan      *remediate.Plan
	ApplyResult
}

// ErrNotRotated is returned when the key asked for cannot be rotated (the
// message says why); nothing was changed.
var ErrNotRotated = errors.New("not rotated")

// Rotate rotates one user's key on demand, as apply would: it reads the
// account, makes the plan of that user (the rotation, and the deletion of
// an inactive key due for it that makes room), has it confirmed, and
// applies it with the same journal, lease, guards and notifications. The
// rotation's settings (secret name, readers, region) are the policy's,
// whether or not the policy rotates by itself.
func (e *Engine) Rotate(ctx context.Context, req RotateRequest) (*RotateResult, error) {
	if e.Store == nil {
		return nil, errors.New("rotate needs a state store for its journal")
	}
	if req.AccountID == "" || req.UserName == "" {
		return nil, errors.New("rotate needs an account and a user")
	}
	if err := e.checkClock("rotate"); err != nil {
		return nil, err
	}
	// An earlier rotation that died between creating its key and storing
	// it left an orphan: the user would hold two keys, and this one be
	// refused by the key quota.
	rec, err := e.recoverRotations(ctx)
	if err != nil {
		return nil, err
	}
	r := req.Read
	r.Selection = inventory.Selection{Accounts: []string{req.AccountID}}
	r.needKeyIDs = func(u inventory.User, _ time.Time) bool { return u.Name == req.UserName }
	sc, err := e.Scan(ctx, r)
	if err != nil {
		return &RotateResult{Recovered: rec.Results}, err
	}
	key, err := pickKey(sc.Inventory, req)
	if err != nil {
		return &RotateResult{Recovered: rec.Results, Scan: sc}, err
	}
	d := &remediate.Demand{AccountID: req.AccountID, UserName: req.UserName, AccessKeyID: key, DeactivateNow: req.DeactivateNow}
	plan, err := e.makePlanFor(ctx, sc, d)
	if err != nil {
		return nil, err
	}
	res := &RotateResult{Recovered: rec.Results, Scan: sc, Plan: plan}
	rotates := false
	for _, a := range plan.Actions {
		rotates = rotates || (a.Type == remediate.Rotate && a.AccessKeyID == key)
	}
	if !rotates {
		var why []string
		for _, w := range plan.Withheld {
			if w.AccessKeyID == key {
				why = append(why, w.Reason+" ("+w.Guard+" guard)")
			}
		}
		if len(why) == 0 {
			why = append(why, "no guard allows it")
		}
		why = append(why, rec.Left...)
		return res, fmt.Errorf("%w: key %s of %s in %s: %s", ErrNotRotated, key, req.UserName, req.AccountID, strings.Join(why, "; "))
	}
	if req.Planned != nil {
		req.Planned(plan)
	}
	ar, err := e.Apply(ctx, ApplyRequest{Plan: plan, Scan: sc, Read: r, Confirm: req.Confirm, Progress: req.Progress,
		Started: req.Started, demand: d})
	if ar != nil {
		res.ApplyResult = *ar
	}
	return res, err
}

// pickKey is the key a rotation asked for replaces: the one named, or the
// user's one active key.
func pickKey(inv *inventory.Inventory, req RotateRequest) (string, error) {
	for _, a := range inv.Accounts {
		if a.Account.ID != req.AccountID {
			continue
		}
		if a.Status != inventory.AccountOK {
			return "", fmt.Errorf("account %s could not be read completely (%s); nothing is done from a partial view", req.AccountID, a.Error)
		}
		for _, u := range a.Users {
			if u.Name != req.UserName {
				continue
			}
			var active []string
			for _, k := range u.Keys {
				if req.AccessKeyID != "" && k.ID == req.AccessKeyID {
					if !k.Active() {
						return "", fmt.Errorf("%w: key %s of %s is inactive: it needs no successor", ErrNotRotated, k.ID, u.Name)
					}
					return k.ID, nil
				}
				if k.Active() {
					active = append(active, k.ID)
				}
			}
			switch {
			case req.AccessKeyID != "":
				return "", fmt.Errorf("user %s in %s has no key %s", u.Name, req.AccountID, req.AccessKeyID)
			case len(active) == 0:
				return "", fmt.Errorf("%w: user %s in %s has no active key", ErrNotRotated, u.Name, req.AccountID)
			case len(active) > 1:
				return "", fmt.Errorf("user %s in %s has two active keys (%s): name the one to replace with --key", u.Name, req.AccountID, strings.Join(active, ", "))
			}
			return active[0], nil
		}
		return "", fmt.Errorf("no user %s in account %s", req.UserName, req.AccountID)
	}
	return "", fmt.Errorf("account %s was not read: is it an ACTIVE account of the organization?", req.AccountID)
}

// recoverRotations finishes the rotations that dead runs of other plans
// left unfinished (remediate.Applier.RecoverRotations), holding the state
// store's lock for that only, before the keys are read: the plan then sees
// the users' keys as they are after it.
func (e *Engine) recoverRotations(ctx context.Context) (*remediate.Recovery, error) {
	// Recovery deletes orphan keys and deactivates leaked ones, telling an
	// attempt's key by the journal's times against AWS's: not with this
	// clock off.
	if err := e.checkClock("finishing the rotations interrupted runs left"); err != nil {
		return nil, err
	}
	rec, err := e.applier(nil, "").RecoverRotations(ctx, e.Hub.RunID, e.userPath)
	if err != nil {
		return nil, fmt.Errorf("finish the rotations interrupted runs left: %w", err)
	}
	return rec, nil
}

// userPath reads a user's path through the read role, as a scan does
// (ListUsers): a secret's resource policy names the user by its ARN.
func (e *Engine) userPath(ctx context.Context, accountID, userName string) (string, error) {
	p := iam.NewListUsersPaginator(iam.NewFromConfig(e.Hub.Config(accountID, nil)), &iam.ListUsersInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list the users of %s: %w", accountID, err)
		}
		for _, u := range page.Users {
			if aws.ToString(u.UserName) == userName {
				return aws.ToString(u.Path), nil
			}
		}
	}
	return "", fmt.Errorf("no user %s in account %s", userName, accountID)
}
