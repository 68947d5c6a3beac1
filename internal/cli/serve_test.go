package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// TestServeCommand: keywarden serve, as the command line starts it, on
// the sandbox: a run started through the API deactivates what the policy
// says, and cancelling (SIGTERM) ends the command cleanly.
func TestServeCommand(t *testing.T) {
	s := newRemSandbox(t, 2, nil)
	key := s.addKey(s.members[0], "alice", 105*day, 20*day, awsemu.StatusActive)
	s.writePolicy(stagedPolicyYAML + "accounts: {organization: true}\nautomation: {mode: enforce}\n")
	const tok = "0123456789abcdef0123456789abcdef"
	t.Setenv(EnvAPIToken, tok)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--config", s.config, "--state", s.state, "--log-level", "info"}, io.Discard, pw)
		pw.Close()
	}()
	var logs strings.Builder
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		serving := regexp.MustCompile(`^keywarden: serving on (http://127\.0\.0\.1:\d+) \(schedule: none; runs start through the API\)$`)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var base string
	select {
	case base = <-addr:
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not say where it listens")
	}

	req, _ := http.NewRequest("POST", base+"/api/v1/runs", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
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
	var run struct {
		Status  string `json:"status"`
		Kind    string `json:"kind"`
		Summary struct {
			Actions map[string]int `json:"actions"`
		} `json:"summary"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the run did not finish: %+v", run)
		}
		resp, err := http.Get(base + "/api/v1/runs/" + started.RunID)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&run)
		resp.Body.Close()
		if run.Status != "" && run.Status != "running" {
			break
		}
	}
	if run.Status != "ok" || run.Summary.Actions["done"] == 0 {
		t.Errorf("run: %+v", run)
	}
	if st := s.statuses()[key.AccessKeyID]; st != awsemu.StatusInactive {
		t.Errorf("alice's 105-day-old key is %s, want Inactive", st)
	}

	cancel() // as SIGTERM does
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve after its context ended: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	<-scanned
	if strings.Contains(logs.String(), tok) || strings.Contains(logs.String(), s.admin.SecretAccessKey) {
		t.Errorf("a secret in serve's output:\n%s", logs.String())
	}
}
