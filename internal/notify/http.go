package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RetryAfter marks err as transient, with how long the receiver asked to
// wait before the next attempt (HTTP 429 Retry-After).
func RetryAfter(err error, d time.Duration) error { return &retryAfterError{err: err, after: d} }

type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// retryAfter returns how long err asks to wait, 0 for no preference.
func retryAfter(err error) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after
	}
	return 0
}

// post sends body to target. Its errors never hold the URL, which may be a
// secret (Slack's is): a failed request says what failed, an answer says
// its status and the start of its body. 4xx answers other than 408 and
// 429 are permanent; a 429 carries its Retry-After.
func post(ctx context.Context, client *http.Client, target string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Permanent(errors.New("the URL is not valid"))
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "keywarden")
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = fmt.Errorf("POST: %w", err)
		var cert *tls.CertificateVerificationError
		if errors.As(err, &cert) {
			return Permanent(err)
		}
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("HTTP %d%s", resp.StatusCode, answer(snippet))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return RetryAfter(err, parseRetryAfter(resp.Header.Get("Retry-After")))
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return err
	}
	return Permanent(err)
}

// answer quotes the start of a response body on one line.
func answer(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return ": " + s
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
