package moto_test

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/keywarden/keywarden/internal/testutil/moto"
)

func TestMain(m *testing.M) {
	code := m.Run()
	moto.StopShared()
	os.Exit(code)
}

// iamCall sends an IAM Query request with a made-up signature (moto checks
// none) and returns the HTTP status and body.
func iamCall(t *testing.T, url, form string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(form+"&Version=2010-05-08"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestStartResetStop(t *testing.T) {
	s := moto.Start(t)
	if !strings.HasPrefix(s.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want http://127.0.0.1:<port>", s.URL)
	}
	if code, body := iamCall(t, s.URL, "Action=CreateUser&UserName=probe"); code != http.StatusOK {
		t.Fatalf("CreateUser: HTTP %d\n%s", code, body)
	}
	if code, body := iamCall(t, s.URL, "Action=GetUser&UserName=probe"); code != http.StatusOK {
		t.Fatalf("GetUser before reset: HTTP %d\n%s", code, body)
	}
	s.Reset(t)
	if code, body := iamCall(t, s.URL, "Action=GetUser&UserName=probe"); code != http.StatusNotFound || !strings.Contains(body, "NoSuchEntity") {
		t.Fatalf("GetUser after reset: HTTP %d, want 404 NoSuchEntity\n%s", code, body)
	}
	if out := s.Output(); !strings.Contains(out, "/moto-api/reset") {
		t.Errorf("output does not show the reset request:\n%s", out)
	}

	s.Close()
	if _, err := http.Get(s.URL + "/moto-api/"); err == nil {
		t.Fatal("server still answers after Close")
	}
	s.Close() // idempotent
}

func TestLaunchClose(t *testing.T) {
	s, err := moto.Launch()
	if err != nil {
		t.Skipf("moto: %v", err) // TestStartResetStop reports unavailability
	}
	url := s.URL
	s.Close()
	if _, err := http.Get(url + "/moto-api/"); err == nil {
		t.Fatal("server still answers after Close")
	}
}

func TestSharedIsResetPerTest(t *testing.T) {
	first := moto.Shared(t)
	if code, body := iamCall(t, first.URL, "Action=CreateUser&UserName=leftover"); code != http.StatusOK {
		t.Fatalf("CreateUser: HTTP %d\n%s", code, body)
	}
	t.Run("next", func(t *testing.T) {
		s := moto.Shared(t)
		if s != first {
			t.Fatal("Shared started a second server")
		}
		if code, _ := iamCall(t, s.URL, "Action=GetUser&UserName=leftover"); code != http.StatusNotFound {
			t.Fatalf("GetUser: HTTP %d, want 404: Shared did not reset", code)
		}
	})
}

func TestRequireAWSCLI(t *testing.T) {
	path := moto.RequireAWSCLI(t)
	if path == "" {
		t.Fatal("empty path")
	}
}

func TestMissingPythonSkips(t *testing.T) {
	if os.Getenv(moto.RequireEnv) == "1" {
		t.Skipf("%s=1 turns the skip under test into a failure", moto.RequireEnv)
	}
	t.Setenv("PATH", t.TempDir())
	var skipped bool
	ft := &fakeTB{TB: t, onSkip: func() { skipped = true }}
	func() {
		defer func() { _ = recover() }()
		moto.Start(ft)
	}()
	if !skipped {
		t.Fatal("Start did not skip without python3 on PATH")
	}
}

// fakeTB records a skip instead of ending the calling test.
type fakeTB struct {
	testing.TB
	onSkip func()
}

type skipSignal struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.onSkip()
	panic(skipSignal{})
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.TB.Errorf("unexpected Fatalf: "+format, args...)
	panic(skipSignal{})
}

func TestMissingModuleIsUnavailable(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho '/usr/bin/python3: No module named moto' >&2\nexit 1\n"
	if err := os.WriteFile(dir+"/python3", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	_, err := moto.Launch()
	if !errors.Is(err, moto.ErrUnavailable) {
		t.Fatalf("Launch() error = %v, want ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "No module named moto") {
		t.Errorf("error %q does not give the reason", err)
	}
}
