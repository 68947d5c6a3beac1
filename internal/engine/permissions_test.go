package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/permissions"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/store"
)

// recordingEngine is o.engine with every call recorded by role.
func (o *org) recordingEngine(pol *policy.Policy, command string, rec *permissions.Recorder) *engine.Engine {
	o.t.Helper()
	cfg, err := awsx.Load(context.Background(), awsx.Options{Region: awsemu.DefaultRegion, Endpoint: o.url, MaxBackoff: 50 * time.Millisecond,
		Credentials: credentials.NewStaticCredentialsProvider(o.admin.AccessKeyID, o.admin.SecretAccessKey, "")})
	if err != nil {
		o.t.Fatal(err)
	}
	cfg.APIOptions = append(cfg.APIOptions, rec.Option(awsx.RoleHub))
	hub, err := awsx.NewHub(o.t.Context(), cfg, awsx.HubOptions{Command: command, RoleName: roleName, ActRoleName: actRoleName,
		HubViaRole: true, Instrument: rec.Instrument})
	if err != nil {
		o.t.Fatal(err)
	}
	return &engine.Engine{Hub: hub, Policy: pol, Store: o.st}
}

// TestOperationsArePermissionsList runs scan (both sources), plan, apply
// (rotate, deactivate, delete) and undo against the sandbox, recording
// every AWS operation by the identity that calls it, and compares that
// with the permissions list: a call the list does not have, or a listed
// call no job makes any more, fails. (The state store, the Lambda and
// Security Hub are recorded beside their own tests, against moto.)
func TestOperationsArePermissionsList(t *testing.T) {
	o := newOrg(t, 2)
	acct := o.prod
	rotated := o.addKey(acct, "alice", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	deactivated := o.addKey(acct, "carol", 125*day, 30*day, awsemu.StatusActive).AccessKeyID
	// bob's secret exists already: his rotation puts a new version in it.
	rotatedAgain := o.addKey(acct, "bob", 95*day, time.Hour, awsemu.StatusActive).AccessKeyID
	if _, err := o.sb.AddSecret(awsemu.SecretSpec{Account: acct, Region: awsemu.DefaultRegion, Name: "keywarden/iam-user/bob",
		SecretString: `{"AccessKeyId":"AKIAPREVIOUS","SecretAccessKey":"previous"}`, Tags: []awsemu.Tag{{Key: "keywarden:user", Value: "bob"}}}); err != nil {
		t.Fatal(err)
	}
	pol := mustPolicy(t, strings.Replace(rotationYAML, "multiple_active: {enabled: false}",
		"multiple_active: {enabled: false}\n  inactive_cleanup: {delete: 1d}", 1))
	rec := &permissions.Recorder{}
	ctx := t.Context()

	if _, err := o.recordingEngine(pol, "scan", rec).Scan(ctx, engine.Read{Selection: inventory.Selection{Organization: true},
		Source: inventory.SourceAPI, Parallel: 4, AccountTimeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	// The first apply rotates alice's key and deactivates carol's; the
	// second, two days on, deletes carol's (keywarden deactivated it).
	var firstRun string
	for i, asOf := range []time.Time{{}, time.Now().Add(2 * day)} {
		read := orgRead
		read.AsOf = asOf
		planned, err := o.recordingEngine(pol, "plan", rec).Plan(ctx, read)
		if err != nil {
			t.Fatal(err)
		}
		res, err := o.recordingEngine(pol, "apply", rec).Apply(ctx, engine.ApplyRequest{Plan: roundTrip(t, planned.Plan), Read: read,
			UnsafeAllowForecast: i > 0})
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		for _, r := range res.Outcome.Results {
			if r.Outcome == store.OutcomeDone {
				done[r.Action.Type+" "+r.Action.AccessKeyID] = true
			}
		}
		if i == 0 {
			firstRun = res.Outcome.RunID
		}
	}
	for _, want := range []string{"rotate " + rotated, "rotate " + rotatedAgain, "deactivate " + deactivated, "delete " + deactivated} {
		if !done[want] {
			t.Fatalf("actions done %v: want %s, so that its calls are recorded", done, want)
		}
	}
	if _, err := o.recordingEngine(pol, "undo", rec).Undo(ctx, engine.UndoRequest{RunID: firstRun}); err != nil {
		t.Fatalf("Undo: %v", err)
	}

	for _, tt := range []struct {
		role   awsx.Role
		groups []string
	}{
		{awsx.RoleHub, []string{permissions.Identity, permissions.Organization}},
		{awsx.RoleRead, []string{permissions.Scan}},
		{awsx.RoleAct, []string{permissions.Act, permissions.Rotate}},
	} {
		var gs []permissions.Group
		for _, name := range tt.groups {
			g, ok := permissions.Find(name)
			if !ok || g.Role != tt.role {
				t.Fatalf("group %s: found %v, role %s; want role %s", name, ok, g.Role, tt.role)
			}
			gs = append(gs, g)
		}
		if diff := cmp.Diff(permissions.Operations(gs...), rec.Calls(tt.role)); diff != "" {
			t.Errorf("%s role: the list (-) and the calls made (+) differ; change internal/permissions and the deploy templates together:\n%s", tt.role, diff)
		}
	}
}
