package cli

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// TestScanCommandRootSummaryDenied: on the API path, GetAccountSummary is
// the only way to learn of root access keys. With it denied, the account
// is partial: the scan exits 3 as for a failed account (not 0, as if the
// root user had no keys, whatever --fail-on says), says why on stderr, and
// still lists the keys it read.
func TestScanCommandRootSummaryDenied(t *testing.T) {
	s := newScanSandbox(t)
	target := s.member(2)
	if target.RootKeys == 0 {
		if _, err := s.sb.AddAccessKey(awsemu.KeySpec{Account: target.ID, CreatedAt: s.org.Now.Add(-300 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"scan", "--accounts", target.ID, "--source", "api", "--fail-on", "critical", "--format", "json"}

	// Read completely, the root key is a critical finding.
	if r := runKeywarden(t, args...); r.code != ExitFindings {
		t.Fatalf("summary allowed: exit code %d (%v), want %d for the root key; stderr:\n%s", r.code, r.err, ExitFindings, r.stderr)
	}

	s.sb.SetFaults(awsemu.Fault{Account: target.ID, Operation: "GetAccountSummary", Deny: true})
	r := runKeywarden(t, args...)
	if r.code != ExitPartial || !errors.Is(r.err, ErrPartial) {
		t.Fatalf("summary denied: exit code %d (%v), want %d", r.code, r.err, ExitPartial)
	}
	wantErr := "1 of 1 accounts were read in part (" + target.ID + ": root access keys not checked (AccessDenied))"
	if !strings.Contains(r.err.Error(), wantErr) {
		t.Errorf("error %q does not say %q", r.err, wantErr)
	}
	doc := decodeScanJSON(t, r.stdout)
	if doc.Summary.Accounts != 1 || doc.Summary.AccountsPartial != 1 || doc.Summary.AccountsOK != 0 || doc.Summary.AccountsFailed != 0 {
		t.Errorf("summary %+v, want 1 account, partial", doc.Summary)
	}
	a := doc.Accounts[0]
	if a.Status != "partial" || ptrValue(a.ErrorCode) != "AccessDenied" || a.RootKeysPresent != nil ||
		!strings.Contains(ptrValue(a.Error), "root access keys not checked: GetAccountSummary: AccessDenied") {
		t.Errorf("account: status %s, error_code %v, error %q, root_keys_present %v; want partial, AccessDenied, saying root keys were not checked, null",
			a.Status, ptrValue(a.ErrorCode), ptrValue(a.Error), a.RootKeysPresent)
	}
	if want := len(s.keyIDs[target.ID]); a.Keys != want || len(doc.Keys) != want {
		t.Errorf("%d keys listed (account says %d), want the %d IAM user keys read", len(doc.Keys), a.Keys, want)
	}

	// The program itself, as a user runs it: the reason is on stderr.
	exe, err := exec.LookPath("keywarden") // set up by TestMain
	if err != nil {
		t.Fatalf("the keywarden command of the test binary: %v", err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(exe, append(args[:len(args)-2], "--format", "table")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != ExitPartial {
		t.Errorf("keywarden exited %d, want %d; stderr:\n%s", code, ExitPartial, stderr.String())
	}
	if want := "keywarden: some accounts could not be read: " + wantErr + "\n"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
	}
	for _, want := range []string{
		"PARTIAL: root access keys not checked: GetAccountSummary: AccessDenied",
		"accounts                 1: 0 read, 1 partial, 0 failed",
		"could not read all of 1 account (nothing is acted on in them):\n  " + target.ID,
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("table does not say %q:\n%s", want, stdout.String())
		}
	}
}
