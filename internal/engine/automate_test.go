package engine_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
)

// automateYAML reads the organization, warns and keeps snapshots 30 days.
const automateYAML = `version: 1
accounts: {organization: true, role_name: KeywardenSpoke}
rules:
  max_age: {severity: high, warn: 80d, deactivate: 100d, delete: 110d}
  unused: {enabled: false}
  unused_initial: {enabled: false}
  multiple_active: {enabled: false}
exemptions:
  - users: ["legacy-*"]
    reason: "vendor appliance"
automation:
  mode: report
  snapshot_retention: 30d
`

// TestAutomateKeepsSnapshot: a report run keeps what it found in the
// state store, never a secret, and prunes the snapshots past retention.
func TestAutomateKeepsSnapshot(t *testing.T) {
	o := newOrg(t, 2)
	other := o.members[0]
	if other == o.prod {
		other = o.members[1]
	}
	old := o.addKey(o.prod, "alice", 120*day, 2*day, awsemu.StatusActive)
	o.addKey(other, "bob", 85*day, 0, awsemu.StatusActive)
	o.addKey(other, "legacy-printer", 300*day, 0, awsemu.StatusActive)
	o.addKey(other, "carol", 10*day, day, awsemu.StatusInactive)
	stale := store.Snapshot{RunID: "stale", At: time.Now().Add(-40 * day), Trigger: "schedule"}
	recent := store.Snapshot{RunID: "recent", At: time.Now().Add(-20 * day), Trigger: "schedule"}
	for _, sn := range []store.Snapshot{stale, recent} {
		if err := o.st.SaveSnapshot(t.Context(), sn); err != nil {
			t.Fatal(err)
		}
	}

	eng := o.engine(mustPolicy(t, automateYAML), "serve")
	sum, err := eng.Automate(t.Context(), engine.AutomationRequest{Trigger: engine.TriggerSchedule})
	if err != nil {
		t.Fatal(err)
	}
	// Findings: alice, bob and the hub's own 200-day-old key; in report
	// mode only the warnings are done.
	if sum.Status != engine.StatusOK || sum.Mode != "report" || sum.Findings != 3 || sum.Actions["done"] != sum.Planned[remediate.Notify] {
		t.Errorf("summary: %+v; want ok, report, 3 findings, only the warnings done", sum)
	}
	if o.status(old.AccessKeyID) != awsemu.StatusActive {
		t.Error("a report run deactivated a key")
	}
	snap, err := o.st.GetSnapshot(t.Context(), sum.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Trigger != "schedule" || snap.Mode != "report" || snap.PolicyHash != eng.Policy.Hash || len(snap.Accounts) != 3 {
		t.Errorf("snapshot: %+v", snap)
	}
	users := map[string]store.SnapshotFinding{}
	for _, f := range snap.Findings {
		users[f.UserName] = f
	}
	if f := users["alice"]; f.Rule != "max_age" || f.Severity != "high" || f.Stage != "delete" || f.AccessKeyID != old.AccessKeyID ||
		f.KeyStatus != "Active" || f.OUPath != "Root/Prod" || f.Exempt {
		t.Errorf("alice's finding: %+v", f)
	}
	if f := users["legacy-printer"]; !f.Exempt || f.ExemptReason != "vendor appliance" {
		t.Errorf("the exempt finding: %+v", f)
	}
	keys := 0
	for _, a := range snap.Accounts {
		keys += a.KeysActive + a.KeysInactive
		if a.ID == other && (a.KeysActive != 2 || a.KeysInactive != 1 || a.Findings != 1) {
			t.Errorf("account %s: %+v; want 2 active keys, 1 inactive, 1 finding not exempt", a.ID, a)
		}
	}
	if keys != sum.Keys {
		t.Errorf("snapshot counts %d keys, the summary %d", keys, sum.Keys)
	}
	raw, _ := json.Marshal(snap)
	for _, secret := range append(o.secrets, o.admin.SecretAccessKey) {
		if strings.Contains(string(raw), secret) {
			t.Fatal("the snapshot holds a secret access key")
		}
	}

	// Retention: the 40-day-old snapshot is gone, the 20-day-old one kept.
	if _, err := o.st.GetSnapshot(t.Context(), "stale"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the snapshot past retention: %v, want it pruned", err)
	}
	if _, err := o.st.GetSnapshot(t.Context(), "recent"); err != nil {
		t.Errorf("the snapshot within retention: %v", err)
	}
}

// TestAutomateStopAndMode: a stopped run does not scan on, and a run may
// not ask for more than the policy allows.
func TestAutomateStopAndMode(t *testing.T) {
	o := newOrg(t, 1)
	o.addKey(o.prod, "alice", 120*day, 2*day, awsemu.StatusActive)
	eng := o.engine(mustPolicy(t, automateYAML), "serve")
	if _, err := eng.Automate(t.Context(), engine.AutomationRequest{Mode: "enforce"}); !errors.Is(err, engine.ErrEnforceNotAllowed) {
		t.Errorf("enforce under a report policy: %v, want ErrEnforceNotAllowed", err)
	}
	stop := make(chan struct{})
	close(stop)
	_, err := eng.Automate(t.Context(), engine.AutomationRequest{Stop: stop})
	if !errors.Is(err, remediate.ErrStopped) {
		t.Errorf("a stopped run: %v, want ErrStopped", err)
	}
	snaps, err := o.st.Snapshots(t.Context(), store.SnapshotQuery{})
	if err != nil || len(snaps) != 0 {
		t.Errorf("snapshots after a stopped run: %d, %v; want none", len(snaps), err)
	}
}
