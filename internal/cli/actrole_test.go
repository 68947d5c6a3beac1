package cli

import (
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
)

// TestApplyWithoutActRole: where the act role is missing (a report-only
// installation), plan works and apply is refused whole, before any key
// changes, with a message naming the role and how to fix it; naming the
// read role as the act role (one role for both, as older installations
// had) works.
func TestApplyWithoutActRole(t *testing.T) {
	s := newRemSandbox(t, 2, nil)
	a, b := s.members[0], s.members[1]
	s.addKey(a, "alice", 200*day, 30*day, awsemu.StatusActive)
	s.addKey(b, "carol", 200*day, 30*day, awsemu.StatusActive)
	s.writePolicy(stagedPolicyYAML + "  max_account_fraction: 1\n")
	if err := s.sb.DeleteRole(b, orggen.DefaultActRoleName); err != nil {
		t.Fatal(err)
	}
	planFile := s.path("plan.json")
	wantExit(t, "plan", s.plan(planFile), ExitOK)
	before := s.statuses()

	r := s.apply(planFile)
	wantExit(t, "apply", r, ExitError)
	if r.err == nil {
		t.Fatal("apply returned no error")
	}
	for _, want := range []string{"apply refused", "arn:aws:iam::" + b + ":role/KeywardenSpokeAct", "--act-role-name", "docs/deploy.md"} {
		if !strings.Contains(r.err.Error(), want) {
			t.Errorf("apply's error does not say %q: %v", want, r.err)
		}
	}
	if strings.Contains(r.stdout, ": done") {
		t.Errorf("the refused apply did something:\n%s", r.stdout)
	}
	s.checkStatuses("after the refused apply", before, nil)

	r = s.apply(planFile, "--act-role-name", orggenRole)
	wantExit(t, "apply --act-role-name "+orggenRole, r, ExitOK)
	run := runIDOf(t, r.stdout)
	after := s.statuses()
	for id, st := range after {
		if before[id] == awsemu.StatusActive && st != awsemu.StatusInactive && id != s.admin.AccessKeyID {
			t.Errorf("key %s is %s after the apply through the read role, want Inactive", id, st)
		}
	}

	// Undo needs the act role as well.
	r = s.kw("undo", run, "--auto-approve", "--config", s.config, "--state", s.state)
	wantExit(t, "undo", r, ExitError)
	if r.err == nil || !strings.Contains(r.err.Error(), "undo refused") || !strings.Contains(r.err.Error(), ":role/KeywardenSpokeAct") {
		t.Errorf("undo without the act role: %v, want it refused naming the role", r.err)
	}
	s.checkStatuses("after the refused undo", after, nil)
	r = s.kw("undo", run, "--auto-approve", "--config", s.config, "--state", s.state, "--act-role-name", orggenRole)
	wantExit(t, "undo --act-role-name "+orggenRole, r, ExitOK)
	s.checkStatuses("after undo", before, nil)
}
