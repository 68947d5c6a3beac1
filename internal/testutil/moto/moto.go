// Package moto runs moto's standalone server (`python3 -m moto.server`) for
// tests that talk to an AWS look-alike over real HTTP.
//
// A test either starts its own server with Start, or shares one server per
// test binary with Shared (and calls Reset to begin from an empty state).
// The server runs with moto's default settings: no authentication, no
// signature checks (INITIAL_NO_AUTH_ACTION_COUNT is removed from its
// environment).
//
// When python3 or moto is missing the test is skipped with the reason,
// unless KEYWARDEN_REQUIRE_MOTO=1 (CI sets it), which makes it fail instead.
// moto's own output is kept in memory and shown only when a test fails.
package moto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment variables that turn a missing tool from a skip into a failure.
const (
	RequireEnv       = "KEYWARDEN_REQUIRE_MOTO"
	RequireAWSCLIEnv = "KEYWARDEN_REQUIRE_AWSCLI"
)

// StartTimeout bounds how long Start waits for moto to answer.
var StartTimeout = 30 * time.Second

// ErrUnavailable means python3 or the moto package is not installed.
var ErrUnavailable = errors.New("moto is not available")

// Server is a running moto server.
type Server struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234, suitable
	// for config.WithBaseEndpoint and AWS_ENDPOINT_URL.
	URL string

	cmd    *exec.Cmd
	out    *logBuffer
	done   chan struct{} // closed when the process has exited
	waitMu sync.Mutex
	err    error // from cmd.Wait, valid once done is closed
	stop   sync.Once
}

// Start starts a moto server for t and stops it when t ends. It skips t
// (or fails it when KEYWARDEN_REQUIRE_MOTO=1) if moto is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Launch()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("moto output (tail):\n%s", s.out.tail(0))
		}
		s.Close()
	})
	return s
}

var shared struct {
	mu  sync.Mutex
	s   *Server
	err error
}

// Shared returns the server shared by every test of the binary, starting it
// on first use, and resets it so that t begins from an empty moto. It skips
// or fails t like Start. Call StopShared from TestMain after m.Run; the
// server also dies with the test binary on Linux.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	if shared.s == nil && shared.err == nil {
		shared.s, shared.err = Launch()
	}
	s, err := shared.s, shared.err
	shared.mu.Unlock()
	if err != nil {
		unavailable(t, err)
	}
	if s.exited() {
		t.Fatalf("moto: shared server has exited: %v\n%s", s.waitErr(), s.out.tail(0))
	}
	mark := s.out.len()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("moto output during this test (tail):\n%s", s.out.tail(mark))
		}
	})
	s.Reset(t)
	return s
}

// StopShared stops the shared server, if one was started.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.s != nil {
		shared.s.Close()
	}
	shared.s, shared.err = nil, nil
}

// Launch starts a moto server and waits until it answers. The caller must
// Close it. The error wraps ErrUnavailable when python3 or moto is missing.
func Launch() (*Server, error) {
	python, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("%w: python3 not found on PATH", ErrUnavailable)
	}
	// A port picked from a closed listener may be taken again before moto
	// binds it; try a few times.
	var lastErr error
	for range 3 {
		s, err := launch(python)
		if err == nil {
			return s, nil
		}
		if errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "already in use") {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}

func launch(python string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("moto: pick a port: %w", err)
	}
	out := &logBuffer{}
	cmd := exec.Command(python, "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = serverEnv()
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("moto: start %s: %w", python, err)
	}
	s := &Server{
		URL:  "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:  cmd,
		out:  out,
		done: make(chan struct{}),
	}
	go func() {
		err := cmd.Wait()
		s.waitMu.Lock()
		s.err = err
		s.waitMu.Unlock()
		close(s.done)
	}()
	if err := s.waitReady(StartTimeout); err != nil {
		s.Close()
		text := out.tail(0)
		if strings.Contains(text, "No module named") {
			return nil, fmt.Errorf("%w: %s", ErrUnavailable, lastLine(text))
		}
		return nil, fmt.Errorf("moto: %w\n%s", err, text)
	}
	return s, nil
}

// serverEnv is the test's environment without the settings that would turn
// on moto's authentication, with unbuffered Python output.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "INITIAL_NO_AUTH_ACTION_COUNT=") || strings.HasPrefix(kv, "PYTHONUNBUFFERED=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PYTHONUNBUFFERED=1")
}

func (s *Server) waitReady(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/moto-api/", nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("server exited before it answered: %v", s.waitErr())
		case <-ctx.Done():
			return fmt.Errorf("no answer from %s within %v", s.URL, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Reset empties every moto backend (POST /moto-api/reset).
func (s *Server) Reset(t testing.TB) {
	t.Helper()
	if err := s.ResetErr(); err != nil {
		t.Fatalf("moto: %v", err)
	}
}

// ResetErr is Reset for callers without a testing.TB.
func (s *Server) ResetErr() error {
	resp, err := http.Post(s.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Output returns what moto has written to stdout and stderr so far (the
// most recent part when it is long).
func (s *Server) Output() string { return s.out.tail(0) }

// Close stops the server (it kills moto's process group) and waits for it.
func (s *Server) Close() {
	s.stop.Do(func() {
		if s.cmd.Process != nil {
			kill(s.cmd.Process)
		}
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
		}
	})
}

func (s *Server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *Server) waitErr() error {
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	return s.err
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrUnavailable) && os.Getenv(RequireEnv) != "1" {
		t.Skipf("moto: %v (set %s=1 to make this a failure)", err, RequireEnv)
	}
	t.Fatalf("moto: %v", err)
}

// RequireAWSCLI returns the path of the AWS CLI (`aws` on PATH). It skips t
// when there is none, or fails it when KEYWARDEN_REQUIRE_AWSCLI=1.
func RequireAWSCLI(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv(RequireAWSCLIEnv) == "1" {
			t.Fatalf("aws CLI not found on PATH: %v", err)
		}
		t.Skipf("aws CLI not found on PATH (set %s=1 to make this a failure)", RequireAWSCLIEnv)
	}
	return path
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// logBuffer keeps the server's output, dropping the oldest bytes beyond a
// limit so that a long test run does not grow without bound.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	dropped int // bytes dropped from the front
}

const logLimit = 1 << 20

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - logLimit; over > 0 {
		b.buf.Next(over)
		b.dropped += over
	}
	return len(p), nil
}

// len is the total number of bytes ever written.
func (b *logBuffer) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped + b.buf.Len()
}

// tail returns what was written since mark (a value from len), at most the
// last 16 KiB of it.
func (b *logBuffer) tail(mark int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	data := b.buf.Bytes()
	if skip := mark - b.dropped; skip > 0 {
		data = data[min(skip, len(data)):]
	}
	const show = 16 << 10
	if len(data) > show {
		return "…" + string(data[len(data)-show:])
	}
	return string(data)
}
