package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/remediate"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
)

// An apply killed in the middle resumes when run again: what it finished is
// not repeated, what it left pending is re-read live and finished.

// crashSetup is an organization of three member accounts with one key to
// deactivate in each, a saved plan for them (actions in account order), and
// UpdateAccessKey held in the second account.
type crashSetup struct {
	s       *remSandbox
	keys    []string // in the plan's order
	plan    *remediate.Plan
	file    string
	release func()
}

func newCrashSetup(t *testing.T) *crashSetup {
	t.Helper()
	s := newRemSandbox(t, 3, nil)
	c := &crashSetup{s: s, file: s.path("plan.json")}
	for i, a := range s.members {
		c.keys = append(c.keys, s.addKey(a, fmt.Sprintf("user%d", i+1), 105*day, 20*day, awsemu.StatusActive).AccessKeyID)
	}
	wantExit(t, "plan", s.plan(c.file), ExitOK)
	c.plan = mustReadPlan(t, c.file)
	var got []string
	for _, a := range c.plan.Actions {
		got = append(got, a.Type+" "+a.AccessKeyID)
	}
	if want := []string{"deactivate " + c.keys[0], "deactivate " + c.keys[1], "deactivate " + c.keys[2]}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("plan actions %v, want %v", got, want)
	}
	hold := make(chan struct{})
	var once sync.Once
	c.release = func() { once.Do(func() { close(hold) }) }
	t.Cleanup(c.release) // before the server closes: a held call would keep it open
	s.sb.SetFaults(awsemu.Fault{Account: s.members[1], Operation: "UpdateAccessKey", Hold: hold})
	return c
}

// unhold removes the fault, releases the held call and waits until the
// sandbox has answered it: it runs, or it was dropped with its client.
func (c *crashSetup) unhold(t *testing.T) {
	t.Helper()
	c.s.sb.SetFaults()
	c.release()
	deadline := time.Now().Add(10 * time.Second)
	for c.s.inflight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sandbox is still serving a request 10 s after the hold was released")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// journal reads the plan's runs and entries from the state store.
func (c *crashSetup) journal(t *testing.T) ([]store.Run, map[string][]store.Entry) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), c.s.state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.RunsForPlan(t.Context(), c.plan.ID)
	if err != nil {
		t.Fatal(err)
	}
	entries := map[string][]store.Entry{}
	for _, r := range runs {
		es, err := st.Entries(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		entries[r.ID] = es
	}
	return runs, entries
}

// outcomes is a run's entries as "key outcome".
func outcomes(es []store.Entry) []string {
	var out []string
	for _, e := range es {
		o := e.Outcome
		if o == store.OutcomePending {
			o = "pending"
		}
		out = append(out, e.AccessKeyID+" "+o)
	}
	return out
}

// checkResumed checks the end state after the resumed apply: every planned
// key inactive, one UpdateAccessKey per key that took effect (the held
// call, if it was dropped, is the only one repeated), and a journal where
// each key has exactly one finished entry: the one left pending finished by
// the second run.
func (c *crashSetup) checkResumed(t *testing.T, before map[string]string, heldApplied bool) {
	t.Helper()
	s := c.s
	s.checkStatuses("after the resumed apply", before, c.plan)
	wantCalls := []int{1, 2, 1}
	if heldApplied {
		wantCalls[1] = 1
	}
	for i, a := range s.members {
		if n := countCalls(s.sb, a, "UpdateAccessKey"); n != wantCalls[i] {
			t.Errorf("account %s: %d UpdateAccessKey calls, want %d", a, n, wantCalls[i])
		}
	}
	// One run, resumed under its own ID: one undo restores all it did.
	runs, entries := c.journal(t)
	if len(runs) != 1 || runs[0].Status != store.RunDone {
		t.Fatalf("runs of the plan: %+v, want one, done", runs)
	}
	run := runs[0]
	finished := map[string]int{}
	for _, e := range entries[run.ID] {
		if e.Outcome == store.OutcomeDone {
			finished[e.AccessKeyID]++
		}
		if e.Outcome == store.OutcomePending {
			t.Errorf("entry %s of %s still pending after the resume", e.Action, e.AccessKeyID)
		}
	}
	for _, k := range c.keys {
		if finished[k] != 1 {
			t.Errorf("key %s done %d times in the journal, want once (journal %v)", k, finished[k], outcomes(entries[run.ID]))
		}
	}
	r := s.kw("undo", run.ID, "--auto-approve", "--config", s.config, "--state", s.state)
	wantExit(t, "undo of the resumed run", r, ExitOK)
	for _, k := range c.keys {
		if st, _ := s.sb.AccessKey(k); st.Status != awsemu.StatusActive {
			t.Errorf("key %s is %s after undo of the resumed run, want Active", k, st.Status)
		}
	}
}

// TestApplyCrashResumes kills a keywarden apply (the real program, as a
// process of its own) while its second UpdateAccessKey is held by the
// sandbox, then runs the same apply again.
func TestApplyCrashResumes(t *testing.T) {
	exe, err := exec.LookPath("keywarden") // set up by TestMain
	if err != nil {
		t.Fatalf("the keywarden command of the test binary: %v", err)
	}
	c := newCrashSetup(t)
	s := c.s
	before := s.statuses()
	args := []string{"apply", c.file, "--auto-approve", "--config", s.config, "--state", s.state}
	keywarden := func() (string, int) {
		var out bytes.Buffer
		cmd := exec.Command(exe, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return out.String(), cmd.ProcessState.ExitCode()
	}

	var out1 bytes.Buffer
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = &out1, &out1
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForCalls(t, s.sb, s.members[1], "UpdateAccessKey", 1)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	t.Logf("the killed apply wrote:\n%s", out1.String())

	// The journal as the crash left it: the first action done, the second
	// written as an intent, without a result.
	runs, entries := c.journal(t)
	if len(runs) != 1 || runs[0].Status == store.RunDone {
		t.Fatalf("runs after the crash: %+v, want one, unfinished", runs)
	}
	if got, want := outcomes(entries[runs[0].ID]), []string{c.keys[0] + " done", c.keys[1] + " pending"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("journal after the crash %v, want %v", got, want)
	}
	r := s.kw("history", "--state", s.state, "--run", runs[0].ID)
	matchLines(t, r.stdout, []string{`^run ` + runs[0].ID + `: apply `, ` ` + c.keys[0] + ` .* done `, ` ` + c.keys[1] + ` .* pending`})

	c.unhold(t)
	st, _ := s.sb.AccessKey(c.keys[1])
	heldApplied := st.Status == awsemu.StatusInactive
	t.Logf("the held call, released after its client died, was applied: %v", heldApplied)

	out2, code := keywarden()
	if code != ExitOK && strings.Contains(out2, "another keywarden apply is running") {
		// docs/safety.md: "If an apply is interrupted — Ctrl-C, a crash, a
		// lost connection — running the same apply again resumes". The dead
		// process's lock is only taken over once stale (5 minutes): the
		// resume is refused until then.
		t.Errorf("the apply run again right after the crash was refused by the dead run's lock:\n%s", out2)
		ageLock(t, s.state, 10*time.Minute) // as if the user had waited
		out2, code = keywarden()
	}
	if code != ExitOK {
		t.Fatalf("the apply run again: exit %d\n%s", code, out2)
	}
	matchLines(t, out2, []string{
		`deactivate +\d+ user1 ` + c.keys[0] + `: done \[before the interruption\]$`,
		`deactivate +\d+ user2 ` + c.keys[1] + `: done( \(deactivated by the interrupted run \(found inactive on resume\)\))?$`,
		`deactivate +\d+ user3 ` + c.keys[2] + `: done$`,
	})
	c.checkResumed(t, before, heldApplied)

	// Finished now: a third apply is refused.
	if out3, code := keywarden(); code != ExitError || !strings.Contains(out3, "already been applied") {
		t.Errorf("third apply: exit %d, want it refused as already applied\n%s", code, out3)
	}
}

// ageLock makes the state store's lock look abandoned for age.
func ageLock(t *testing.T, path string, age time.Duration) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old := time.Now().Add(-age).UTC().Format("2006-01-02T15:04:05.000000000Z")
	if _, err := db.Exec(`UPDATE lock SET heartbeat_at = ? WHERE id = 1`, old); err != nil {
		t.Fatal(err)
	}
}

// TestApplyInterruptedResumes: Ctrl-C (the context cancelled) while a call
// is held ends the apply with exit code 130, the run recorded interrupted
// and the lock released; the same apply run again finishes the plan.
func TestApplyInterruptedResumes(t *testing.T) {
	c := newCrashSetup(t)
	s := c.s
	before := s.statuses()
	args := []string{"apply", c.file, "--auto-approve", "--config", s.config, "--state", s.state}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan cmdResult, 1)
	go func() {
		var stdout, stderr bytes.Buffer
		err := run(ctx, args, &stdout, &stderr)
		done <- cmdResult{err: err, code: ExitCode(err), stdout: stdout.String(), stderr: stderr.String()}
	}()
	waitForCalls(t, s.sb, s.members[1], "UpdateAccessKey", 1)
	cancel()
	var r cmdResult
	select {
	case r = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("apply did not stop within 10 s of Ctrl-C")
	}
	wantExit(t, "interrupted apply", r, ExitInterrupted)
	if !strings.Contains(r.stderr, "run the same apply again") {
		t.Errorf("stderr does not say how to resume:\n%s", r.stderr)
	}
	runs, _ := c.journal(t)
	if len(runs) != 1 || runs[0].Status != store.RunInterrupted {
		t.Errorf("runs after Ctrl-C: %+v, want one, interrupted", runs)
	}
	c.unhold(t)
	st, _ := s.sb.AccessKey(c.keys[1])
	heldApplied := st.Status == awsemu.StatusInactive

	r = s.apply(c.file)
	wantExit(t, "apply run again", r, ExitOK) // the lock was released
	c.checkResumed(t, before, heldApplied)
}

// TestApplyPausedPastItsLeaseStops: an apply stopped (SIGSTOP) while a
// call is held, past its lock's lease, whose lock an undo then takes over,
// does nothing more once it runs again: no further AWS change, no journal
// write; it says why.
func TestApplyPausedPastItsLeaseStops(t *testing.T) {
	exe, err := exec.LookPath("keywarden") // set up by TestMain
	if err != nil {
		t.Fatalf("the keywarden command of the test binary: %v", err)
	}
	c := newCrashSetup(t)
	s := c.s
	var out bytes.Buffer
	cmd := exec.Command(exe, "apply", c.file, "--auto-approve", "--config", s.config, "--state", s.state)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitForCalls(t, s.sb, s.members[1], "UpdateAccessKey", 1)
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ageLock(t, s.state, 10*time.Minute) // its heartbeat stopped long ago

	runs, _ := c.journal(t)
	if len(runs) != 1 {
		t.Fatalf("runs %+v, want the paused apply's", runs)
	}
	r := s.kw("undo", runs[0].ID, "--auto-approve", "--config", s.config, "--state", s.state)
	wantExit(t, "undo taking the lock over", r, ExitOK)
	if st, _ := s.sb.AccessKey(c.keys[0]); st.Status != awsemu.StatusActive {
		t.Fatalf("the undo did not reactivate the first key: %s", st.Status)
	}
	_, before := c.journal(t)

	c.unhold(t) // the held call, already sent, is answered
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	t.Logf("the resumed apply wrote:\n%s", out.String())
	if err == nil || cmd.ProcessState.ExitCode() != ExitError {
		t.Errorf("the apply that lost its lock exited %d, want %d", cmd.ProcessState.ExitCode(), ExitError)
	}
	if !strings.Contains(out.String(), "lock") {
		t.Errorf("the apply that lost its lock does not say so:\n%s", out.String())
	}
	if st, _ := s.sb.AccessKey(c.keys[2]); st.Status != awsemu.StatusActive {
		t.Errorf("the third key is %s: the apply went on after losing its lock", st.Status)
	}
	if n := countCalls(s.sb, s.members[2], "UpdateAccessKey"); n != 0 {
		t.Errorf("%d UpdateAccessKey calls in the third account after the lock was lost", n)
	}
	_, after := c.journal(t)
	if fmt.Sprint(outcomes(before[runs[0].ID])) != fmt.Sprint(outcomes(after[runs[0].ID])) {
		t.Errorf("the apply wrote to the journal after losing its lock:\nbefore %v\nafter  %v", outcomes(before[runs[0].ID]), outcomes(after[runs[0].ID]))
	}
}
