package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPages: every page of the dashboard renders from real runs, links
// nothing outside the service, and loads nothing from elsewhere.
func TestPages(t *testing.T) {
	w := newWorld(t, reportPolicy)
	resp, body := w.do("GET", "/", "", "Accept", "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "No scan yet") {
		t.Errorf("overview before any scan: %s\n%s", resp.Status, body)
	}
	run := w.runNow()
	key := w.firstKey("limit=1000&exempt=false&status=Active")
	for _, tc := range []struct{ path, want string }{
		{"/", "Compliance by account"},
		{"/accounts", key.AccountID},
		{"/accounts/" + key.AccountID, key.UserName},
		{"/accounts/" + key.AccountID + "/users/" + url.PathEscape(key.UserName), key.AccessKeyID},
		{"/accounts/" + key.AccountID + "/keys/" + key.AccessKeyID, "created"},
		{"/runs", run.ID},
		{"/runs/" + run.ID, "warning recorded"},
		{"/findings", "Export CSV"},
		{"/findings?severity=high&sort=-created&limit=5", "findings"},
	} {
		resp, body := w.do("GET", tc.path, "", "Accept", "text/html")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %s, want a page with %q\n%s", tc.path, resp.Status, tc.want, body)
			continue
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		for _, bad := range []string{"http://", "https://", "<script"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s: the page holds %q", tc.path, bad)
			}
		}
	}
	for _, path := range []string{"/accounts/999999999999", "/accounts/" + key.AccountID + "/keys/AKIANOTAKEY", "/runs/nope"} {
		if resp, _ := w.do("GET", path, "", "Accept", "text/html"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, resp.Status)
		}
	}
	resp, _ = w.do("GET", "/static/report.css", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
		t.Errorf("report.css: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	// The Run now form: a change, behind the token and the cross-site check.
	if resp, _ := w.do("POST", "/runs", "", "Origin", "https://evil.example", "Authorization", "Bearer "+token); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site form post: %s, want 403", resp.Status)
	}
	if resp, _ := w.do("POST", "/runs", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("form post without the token: %s, want 401", resp.Status)
	}
}
