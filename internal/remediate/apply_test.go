package remediate_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// The executor against the sandbox over HTTP, with a SQLite journal: every
// outcome an action can have, the journal it leaves, resuming, refusing,
// and undo.

const oneDay = 24 * time.Hour

// applyEnv is one account in the sandbox, an operator's key that signs
// every call, and a state store.
type applyEnv struct {
	t       *testing.T
	sb      *awsemu.Sandbox
	account string
	caller  awsemu.Key
	client  *iam.Client
	st      *sqlite.Store
	pol     *policy.Policy
}

func newApplyEnv(t *testing.T) *applyEnv {
	t.Helper()
	e := &applyEnv{t: t, sb: awsemu.New(awsemu.Options{Seed: 9}), pol: policy.Default()}
	var err error
	if e.account, err = e.sb.AddAccount(awsemu.AccountSpec{Name: "workloads"}); err != nil {
		t.Fatal(err)
	}
	e.caller = e.addKey("operator", 300*oneDay, 0, awsemu.StatusActive)
	srv := httptest.NewServer(e.sb)
	t.Cleanup(srv.Close)
	cfg, err := awsx.Load(context.Background(), awsx.Options{Region: awsemu.DefaultRegion, Endpoint: srv.URL, MaxBackoff: 50 * time.Millisecond,
		Credentials: credentials.NewStaticCredentialsProvider(e.caller.AccessKeyID, e.caller.SecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	e.client = iam.NewFromConfig(cfg)
	if e.st, err = sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.st.Close() })
	return e
}

// addKey adds a user with one key of age age, last used usedAgo ago (0:
// never).
func (e *applyEnv) addKey(user string, age, usedAgo time.Duration, status string) awsemu.Key {
	e.t.Helper()
	now := e.sb.Clock().Now()
	if err := e.sb.AddUser(awsemu.UserSpec{Account: e.account, Name: user, CreatedAt: now.Add(-age - oneDay)}); err != nil {
		e.t.Fatal(err)
	}
	spec := awsemu.KeySpec{Account: e.account, User: user, Status: status, CreatedAt: now.Add(-age)}
	if usedAgo > 0 {
		spec.LastUsed = now.Add(-usedAgo)
	}
	k, err := e.sb.AddAccessKey(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	return k
}

// action is an action on a key as the plan saw it: its current state in
// the sandbox.
func (e *applyEnv) action(typ, keyID string) remediate.Action {
	e.t.Helper()
	ks, ok := e.sb.AccessKey(keyID)
	if !ok {
		e.t.Fatalf("no key %s", keyID)
	}
	a := remediate.Action{ID: "act-" + typ + "-" + keyID, Type: typ, AccountID: e.account, UserName: ks.User, AccessKeyID: keyID,
		Rules: []string{"max_age"}, Stage: "deactivate", Reason: "test", Key: remediate.KeyState{Status: ks.Status, CreatedAt: ks.CreatedAt}}
	if !ks.LastUsed.IsZero() {
		t := ks.LastUsed
		a.Key.LastUsedAt = &t
	}
	return a
}

func (e *applyEnv) plan(id string, actions ...remediate.Action) *remediate.Plan {
	return &remediate.Plan{SchemaVersion: remediate.SchemaVersion, ID: id, CreatedAt: time.Now().UTC(), AsOf: time.Now().UTC(),
		PolicyHash: e.pol.Hash, Caller: "arn:aws:iam::" + e.account + ":user/operator", Actions: actions}
}

func (e *applyEnv) applier(progress func(remediate.ActionResult)) *remediate.Applier {
	return &remediate.Applier{
		Store: e.st, Policy: e.pol, Caller: "arn:aws:iam::" + e.account + ":user/operator", CallerKeyID: e.caller.AccessKeyID,
		ClientFor: func(account string) remediate.KeyAPI {
			if account != e.account {
				e.t.Errorf("client asked for account %s", account)
			}
			return e.client
		},
		Progress: progress,
	}
}

func (e *applyEnv) status(keyID string) string {
	ks, ok := e.sb.AccessKey(keyID)
	if !ok {
		return "deleted"
	}
	return ks.Status
}

// resultOutline is "user outcome: detail" for each result.
func resultOutline(rs []remediate.ActionResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Action.UserName+" "+r.Outcome+": "+r.Detail)
	}
	return out
}

// TestApplyCheck: the refusals of Check, each with what to run instead.
func TestApplyCheck(t *testing.T) {
	e := newApplyEnv(t)
	ctx := t.Context()
	k := e.addKey("alice", 120*oneDay, 30*oneDay, awsemu.StatusActive).AccessKeyID
	base := func() *remediate.Plan { return e.plan("plan-check", e.action(remediate.Deactivate, k)) }
	other := policy.Default()
	other.Safety.MaxActions = 7
	other.Hash = "another-hash"
	other.Source = "/etc/keywarden.yaml"
	tests := []struct {
		name   string
		change func(*remediate.Plan, *remediate.Applier)
		err    error
		says   []string
	}{
		{"ok", func(*remediate.Plan, *remediate.Applier) {}, nil, nil},
		{"version", func(p *remediate.Plan, _ *remediate.Applier) { p.SchemaVersion = 2 }, remediate.ErrPlanVersion, []string{"keywarden plan"}},
		{"stale", func(_ *remediate.Plan, ap *remediate.Applier) {
			ap.Now = func() time.Time { return time.Now().Add(25 * time.Hour) }
		}, remediate.ErrStalePlan, []string{"safety.max_plan_age is 1d", "keywarden plan"}},
		{"other policy", func(_ *remediate.Plan, ap *remediate.Applier) { ap.Policy = other }, remediate.ErrPolicyChanged, []string{"/etc/keywarden.yaml", "keywarden plan"}},
		// The plan's own word on the limits is not read: Prepare computes them.
		{"limits flag in the file", func(p *remediate.Plan, _ *remediate.Applier) {
			p.Limits = remediate.Limits{Exceeded: true, Reasons: []string{"too many"}}
		}, nil, nil},
		{"forecast", func(p *remediate.Plan, _ *remediate.Applier) { p.AsOf = p.CreatedAt.Add(30 * oneDay) },
			remediate.ErrForecast, []string{"without --as-of", "--unsafe-allow-forecast"}},
		{"forecast, allowed", func(p *remediate.Plan, ap *remediate.Applier) {
			p.AsOf = p.CreatedAt.Add(30 * oneDay)
			ap.UnsafeAllowForecast = true
		}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ap := base(), e.applier(nil)
			tt.change(p, ap)
			err := ap.Check(ctx, p)
			if (tt.err == nil) != (err == nil) || (tt.err != nil && !errors.Is(err, tt.err)) {
				t.Fatalf("Check: %v, want %v", err, tt.err)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("Check: %q, want it to say %q", err, s)
				}
			}
			if tt.err != nil {
				if _, err := ap.Apply(ctx, p, &remediate.LiveView{}, "run-"+strings.ReplaceAll(tt.name, " ", "-")); !errors.Is(err, tt.err) {
					t.Errorf("Apply: %v, want %v", err, tt.err)
				}
				if e.status(k) != awsemu.StatusActive {
					t.Fatalf("the key was changed by a refused plan")
				}
			}
		})
	}
}
