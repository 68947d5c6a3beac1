package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
)

// TestServeCommand: keywarden serve, as the command line starts it, on
// the sandbox: a run started through the API deactivates what the policy
// says, and cancelling (SIGTERM) ends the command cleanly.
func TestServeCommand(t *testing.T) {
	s := newRemSandbox(t, 2, nil)
	key := s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive)
	s.writePolicy(stagedPolicyYAML + "accounts: {organization: true}\nautomation: {mode: enforce}\n")
	sv := startServe(t, s)
	run := sv.runNow(t)
	if run.Status != "ok" || run.Summary.Actions["done"] == 0 {
		t.Errorf("run: %+v", run)
	}
	if st := s.statuses()[key.AccessKeyID]; st != awsemu.StatusInactive {
		t.Errorf("alice's 105-day-old key is %s, want Inactive", st)
	}
	sv.stop(t)
}

// TestServeActRole: the service reads through the read role and acts only
// through the act role, as apply does: where the act role is missing, its
// enforce run changes nothing. The accounts come from --org here.
func TestServeActRole(t *testing.T) {
	s := newRemSandbox(t, 1, nil)
	a := s.members[0]
	key := s.addKey(a, "alice", 105*day, 20*day, awsemu.StatusActive)
	s.writePolicy(stagedPolicyYAML + "automation: {mode: enforce}\n")
	if err := s.sb.DeleteRole(a, orggen.DefaultActRoleName); err != nil {
		t.Fatal(err)
	}
	sv := startServe(t, s, "--org")
	run := sv.runNow(t)
	if run.Status != "refused" || run.Summary.Actions["done"] != 0 || len(run.Summary.Problems) == 0 ||
		!strings.Contains(run.Summary.Problems[0], "role/"+orggen.DefaultActRoleName) {
		t.Errorf("run without the act role: %+v, want it refused naming the act role", run)
	}
	if st := s.statuses()[key.AccessKeyID]; st != awsemu.StatusActive {
		t.Errorf("alice's key is %s after a run without the act role, want Active", st)
	}
	if run.Summary.Accounts < 2 {
		t.Errorf("the run read %d accounts, want the organization's (--org)", run.Summary.Accounts)
	}
	sv.stop(t)
}

const serveToken = "0123456789abcdef0123456789abcdef"

// servedRun is what /api/v1/runs/{id} says of a run.
type servedRun struct {
	Status  string `json:"status"`
	Kind    string `json:"kind"`
	Summary struct {
		Accounts int            `json:"accounts"`
		Actions  map[string]int `json:"actions"`
		Problems []string       `json:"problems"`
	} `json:"summary"`
}

type servedCommand struct {
	s       *remSandbox
	base    string
	cancel  context.CancelFunc
	done    chan error
	scanned chan struct{}
	logs    *strings.Builder
}

// startServe runs keywarden serve on the sandbox until stop.
func startServe(t *testing.T, s *remSandbox, args ...string) *servedCommand {
	t.Helper()
	t.Setenv(EnvAPIToken, serveToken)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pr, pw := io.Pipe()
	sv := &servedCommand{s: s, cancel: cancel, done: make(chan error, 1), scanned: make(chan struct{}), logs: &strings.Builder{}}
	go func() {
		sv.done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--config", s.config, "--state", s.state, "--log-level", "info"}, args...), io.Discard, pw)
		pw.Close()
	}()
	addr := make(chan string, 1)
	go func() {
		defer close(sv.scanned)
		sc := bufio.NewScanner(pr)
		serving := regexp.MustCompile(`^keywarden: serving on (http://127\.0\.0\.1:\d+) \(schedule: none; runs start through the API\)$`)
		for sc.Scan() {
			sv.logs.WriteString(sc.Text() + "\n")
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case sv.base = <-addr:
	case err := <-sv.done:
		t.Fatalf("serve ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not say where it listens")
	}
	return sv
}

// runNow starts a run through the API and waits for it to end.
func (sv *servedCommand) runNow(t *testing.T) servedRun {
	t.Helper()
	req, _ := http.NewRequest("POST", sv.base+"/api/v1/runs", nil)
	req.Header.Set("Authorization", "Bearer "+serveToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		RunID string `json:"run_id"`
	}
	json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || started.RunID == "" {
		t.Fatalf("POST /api/v1/runs: %s", resp.Status)
	}
	var run servedRun
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the run did not finish: %+v", run)
		}
		resp, err := http.Get(sv.base + "/api/v1/runs/" + started.RunID)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&run)
		resp.Body.Close()
		if run.Status != "" && run.Status != "running" {
			return run
		}
	}
}

// stop cancels the command, as SIGTERM does, and checks its output holds
// no secret.
func (sv *servedCommand) stop(t *testing.T) {
	t.Helper()
	sv.cancel()
	select {
	case err := <-sv.done:
		if err != nil {
			t.Errorf("serve after its context ended: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	<-sv.scanned
	if strings.Contains(sv.logs.String(), serveToken) || strings.Contains(sv.logs.String(), sv.s.admin.SecretAccessKey) {
		t.Errorf("a secret in serve's output:\n%s", sv.logs.String())
	}
}

// TestServeRefusesBadSetup: serve says what is wrong with its flags or
// its token before it listens or reads anything.
func TestServeRefusesBadSetup(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, env string
		args      []string
		want      string
	}{
		{"negative keep", serveToken, []string{"--keep-snapshots", "-1"}, "--keep-snapshots -1"},
		{"as-of", serveToken, []string{"--as-of", "2026-12-01"}, "--as-of"},
		{"short token", "short-token", nil, "the API token is 11 characters long"},
		{"empty token file", serveToken, []string{"--token-file", empty}, empty + " is empty"},
		{"missing token file", serveToken, []string{"--token-file", empty + ".missing"}, "read the API token"},
		{"protect reads without a token", "", []string{"--protect-reads"}, "--protect-reads needs an API token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvAPIToken, tc.env)
			var stderr strings.Builder
			err := run(t.Context(), append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...), io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("serve %v: %v, want an error with %q", tc.args, err, tc.want)
			}
			if strings.Contains(stderr.String(), "serving on") {
				t.Errorf("serve %v listened: %s", tc.args, stderr.String())
			}
		})
	}
}
