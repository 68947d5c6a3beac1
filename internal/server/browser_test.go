package server_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromium = "/usr/bin/chromium"

// browser starts a headless Chromium for one test. Without one the test
// is skipped, unless KEYWARDEN_REQUIRE_CHROMIUM=1 (CI) makes it fail.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("KEYWARDEN_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("KEYWARDEN_REQUIRE_CHROMIUM=1 and no Chromium at %s: %v", chromium, err)
		}
		t.Skipf("no Chromium at %s (set KEYWARDEN_REQUIRE_CHROMIUM=1 to fail instead)", chromium)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1024),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 45*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	return ctx
}

// artifacts is where screenshots go: $KEYWARDEN_ARTIFACTS, kept by CI, or
// the test's own directory.
func artifacts(t *testing.T) string {
	if dir := os.Getenv("KEYWARDEN_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// TestDashboardInBrowser: in a real browser, from the overview, click an
// account, a user and a key, and read the key's timeline.
func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	w := newWorld(t, reportPolicy)
	w.runNow()
	w.runNow()
	key := w.firstKey("limit=1000&exempt=false&stage=warn,rotate")

	accountLink := `#accounts a[href="/accounts/` + key.AccountID + `"]`
	userLink := `#users a[href="/accounts/` + key.AccountID + `/users/` + key.UserName + `"]`
	keyLink := `#keys a[href="/accounts/` + key.AccountID + `/keys/` + key.AccessKeyID + `"]`
	step := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		step("read "+sel, err)
		return s
	}
	step("open the overview", chromedp.Do(ctx, chromedp.Navigate(w.http.URL+"/"), chromedp.WaitVisible(`#total-findings`),
		chromedp.WaitVisible(`svg[aria-labelledby="trend-title trend-desc"]`)))
	total := text(`#total-findings`)
	overview, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	step("take a screenshot of the overview", err)
	step("click the account", chromedp.Do(ctx, chromedp.Click(accountLink), chromedp.WaitVisible(`#users`)))
	step("click the user", chromedp.Do(ctx, chromedp.Click(userLink), chromedp.WaitVisible(`#keys`)))
	step("click the key", chromedp.Do(ctx, chromedp.Click(keyLink), chromedp.WaitVisible(`#timeline`)))
	location, err := chromedp.Run(ctx, chromedp.Location())
	step("read the location", err)
	timeline, status := text(`#timeline`), text(`#key-status`)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	step("take a screenshot", err)
	if total == "" || total == "0" {
		t.Errorf("overview: %q findings", total)
	}
	if want := w.http.URL + "/accounts/" + key.AccountID + "/keys/" + key.AccessKeyID; location != want {
		t.Errorf("after three clicks the browser is at %s, want %s", location, want)
	}
	if !strings.Contains(timeline, "created") || strings.Count(timeline, "warned") != 2 {
		t.Errorf("the key's timeline: %q, want created and two warnings (one per run)", timeline)
	}
	if status != key.KeyStatus {
		t.Errorf("key status %q, want %q", status, key.KeyStatus)
	}
	// The findings table, sorted by a click on a column heading: a link,
	// no script.
	step("open the findings", chromedp.Do(ctx, chromedp.Navigate(w.http.URL+"/findings?severity=medium,high,critical"), chromedp.WaitVisible(`#findings`),
		chromedp.Click(`#findings th a[href*="sort=user"]`), chromedp.WaitVisible(`#findings th[aria-sort="ascending"]`)))
	sorted := text(`#findings th[aria-sort="ascending"]`)
	findingsShot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	step("take a screenshot of the findings", err)
	if sorted != "User" {
		t.Errorf("after a click on User the table is sorted by %q", sorted)
	}
	dir := artifacts(t)
	for name, png := range map[string][]byte{"dashboard-overview.png": overview, "dashboard-key.png": shot, "dashboard-findings.png": findingsShot} {
		if !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("%s: not a PNG", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
}
