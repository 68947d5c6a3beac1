package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/server"
	"github.com/keywarden/keywarden/internal/store"
	"github.com/keywarden/keywarden/internal/store/sqlite"
	"github.com/keywarden/keywarden/internal/testutil/awstest"
)

const token = "s3cret-token-for-tests"

// reportPolicy scans the organization and only warns; service users
// are exempt, so that there are exempt findings to filter.
const reportPolicy = `version: 1
accounts: {organization: true, role_name: KeywardenSpoke}
exemptions:
  - users: ["svc-*"]
    reason: "service users: rotated by the platform team"
automation:
  mode: report
  schedule: rate(1 hour)
`

// enforcePolicy deactivates keys unused for 10 days, within generous limits.
const enforcePolicy = `version: 1
accounts: {organization: true, role_name: KeywardenSpoke}
rules:
  max_age: {enabled: false}
  unused: {warn: 5d, deactivate: 10d, delete: 3650d}
  unused_initial: {enabled: false}
  multiple_active: {enabled: false}
safety:
  max_actions: 10000
  max_account_fraction: 1
  protected_users: ["break-glass-*"]
automation:
  mode: enforce
`

type world struct {
	t     *testing.T
	sb    *awsemu.Sandbox
	org   *orggen.Org
	st    store.Store
	srv   *server.Server
	clock *fakeClock
	http  *httptest.Server
	cfg   aws.Config // the hub's
}

type option func(*server.Options)

func newWorld(t *testing.T, policyYAML string, opts ...option) *world {
	t.Helper()
	w := &world{t: t, clock: newFakeClock(time.Date(2026, 12, 4, 6, 0, 0, 0, time.UTC))}
	sandbox := awstest.NewOrgSandbox(t, awsemu.Options{Seed: 7}, orggen.Options{Seed: 7, Accounts: 3, UsersPerAccount: 6, RoleName: "KeywardenSpoke"})
	w.sb, w.org, w.cfg = sandbox.Sandbox, sandbox.Org, sandbox.Hub
	pol, err := policy.Parse("keywarden.yaml", []byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	logs := &syncBuffer{}
	t.Cleanup(func() {
		// No secret reaches the log: not the token, not a key's secret.
		if l := logs.String(); strings.Contains(l, token) || strings.Contains(l, w.org.AdminKey.SecretAccessKey) {
			t.Errorf("the service's log holds a secret:\n%s", l)
		}
	})
	o := server.Options{Policy: pol, Store: st, Token: token, Clock: w.clock, Grace: 30 * time.Second,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		NewHub: func(ctx context.Context) (*awsx.Hub, error) {
			return awsx.NewHub(ctx, w.cfg, awsx.HubOptions{Command: "serve", RoleName: "KeywardenSpoke"})
		}}
	for _, opt := range opts {
		opt(&o)
	}
	if w.srv, err = server.New(o); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.srv.Stop()
		w.srv.Wait()
	})
	w.http = httptest.NewServer(w.srv.Handler())
	t.Cleanup(w.http.Close)
	return w
}

// runNow starts a run and waits for it to finish.
func (w *world) runNow() server.LiveRun {
	w.t.Helper()
	id, err := w.srv.StartRun(w.t.Context(), "api", "")
	if err != nil {
		w.t.Fatal(err)
	}
	return w.waitRun(id)
}

func (w *world) waitRun(id string) server.LiveRun {
	w.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range w.srv.Live() {
			if r.ID == id && r.Status != server.StatusRunning {
				if r.Error != "" {
					w.t.Fatalf("run %s failed: %s", id, r.Error)
				}
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.t.Fatalf("run %s did not finish", id)
	return server.LiveRun{}
}

// get fetches path with the headers given as name, value pairs.
func (w *world) do(method, path, body string, headers ...string) (*http.Response, string) {
	w.t.Helper()
	req, err := http.NewRequestWithContext(w.t.Context(), method, w.http.URL+path, strings.NewReader(body))
	if err != nil {
		w.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	// No secret ever leaves the service.
	if strings.Contains(string(b), w.org.AdminKey.SecretAccessKey) || strings.Contains(string(b), token) {
		w.t.Errorf("%s %s: the answer holds a secret", method, path)
	}
	return resp, string(b)
}

// firstKey is the first key with an ID that /api/v1/keys lists for query.
func (w *world) firstKey(query string) server.KeyView {
	w.t.Helper()
	var keys struct{ Items []server.KeyView }
	w.getJSON("/api/v1/keys?"+query, &keys)
	for _, k := range keys.Items {
		if k.AccessKeyID != "" {
			return k
		}
	}
	w.t.Fatalf("no key with an ID in /api/v1/keys?%s", query)
	return server.KeyView{}
}

func (w *world) getJSON(path string, v any, headers ...string) {
	w.t.Helper()
	resp, body := w.do("GET", path, "", headers...)
	if resp.StatusCode != http.StatusOK {
		w.t.Fatalf("GET %s: %s\n%s", path, resp.Status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		w.t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

type findingsPage struct {
	Total int                     `json:"total"`
	RunID string                  `json:"run_id"`
	Items []store.SnapshotFinding `json:"items"`
}

// TestAPI: the API answers from the snapshots of real runs on the sandbox.
func TestAPI(t *testing.T) {
	w := newWorld(t, reportPolicy)
	first := w.runNow()
	second := w.runNow()
	if first.Summary == nil || first.Summary.Findings == 0 || second.Status != "ok" {
		t.Fatalf("runs: %+v, %+v; want findings, ok", first, second)
	}
	snap, err := w.st.GetSnapshot(t.Context(), second.ID)
	if err != nil {
		t.Fatal(err)
	}

	// Runs: both, newest first; one by ID.
	var runs struct {
		Total int              `json:"total"`
		Items []server.RunView `json:"items"`
	}
	w.getJSON("/api/v1/runs", &runs)
	if runs.Total != 2 || runs.Items[0].ID != second.ID || runs.Items[1].ID != first.ID || runs.Items[0].Kind != "scan" ||
		runs.Items[0].Trigger != "api" || runs.Items[0].Findings == nil || *runs.Items[0].Findings != second.Summary.Findings {
		t.Errorf("runs: %+v", runs)
	}
	var detail server.RunDetail
	w.getJSON("/api/v1/runs/"+first.ID, &detail)
	if detail.ID != first.ID || detail.Summary == nil || len(detail.Counts) == 0 {
		t.Errorf("run %s: %+v", first.ID, detail)
	}
	if resp, _ := w.do("GET", "/api/v1/runs/nope", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown run: %s, want 404", resp.Status)
	}

	// Findings: the latest snapshot, filtered, paged.
	var all findingsPage
	w.getJSON("/api/v1/findings?limit=1000", &all)
	if all.RunID != second.ID || all.Total != len(snap.Findings) || len(all.Items) != all.Total {
		t.Fatalf("findings: run %s, %d of %d; want run %s, %d", all.RunID, len(all.Items), all.Total, second.ID, len(snap.Findings))
	}
	count := func(keep func(store.SnapshotFinding) bool) int {
		n := 0
		for _, f := range snap.Findings {
			if keep(f) {
				n++
			}
		}
		return n
	}
	acct := snap.Findings[0].AccountID
	user := snap.Findings[0].UserName
	for _, tc := range []struct {
		query string
		keep  func(store.SnapshotFinding) bool
	}{
		{"severity=high,critical", func(f store.SnapshotFinding) bool { return f.Severity == "high" || f.Severity == "critical" }},
		{"exempt=true", func(f store.SnapshotFinding) bool { return f.Exempt }},
		{"exempt=false", func(f store.SnapshotFinding) bool { return !f.Exempt }},
		{"account=" + acct, func(f store.SnapshotFinding) bool { return f.AccountID == acct }},
		{"rule=max_age&stage=warn", func(f store.SnapshotFinding) bool { return f.Rule == "max_age" && f.Stage == "warn" }},
		{"user=" + user[:2] + "*", func(f store.SnapshotFinding) bool { return strings.HasPrefix(f.UserName, user[:2]) }},
		{"ou=Workloads", func(f store.SnapshotFinding) bool { return strings.Contains(f.OUPath+"/", "/Workloads/") }},
	} {
		var got findingsPage
		w.getJSON("/api/v1/findings?limit=1000&"+tc.query, &got)
		if want := count(tc.keep); got.Total != want || len(got.Items) != want {
			t.Errorf("findings?%s: %d (%d items), want %d", tc.query, got.Total, len(got.Items), want)
		}
		for _, f := range got.Items {
			if !tc.keep(f) {
				t.Errorf("findings?%s: %+v does not match", tc.query, f)
				break
			}
		}
	}
	if count(func(f store.SnapshotFinding) bool { return f.Exempt }) == 0 {
		t.Error("no exempt finding: the exemption filter is not tested")
	}
	var pg findingsPage
	w.getJSON("/api/v1/findings?limit=2&offset=1&sort=user", &pg)
	if pg.Total != all.Total || len(pg.Items) != 2 || pg.Items[0].UserName > pg.Items[1].UserName {
		t.Errorf("page 2 of 2 by user: %+v", pg)
	}

	// CSV: a header and one row per finding.
	resp, body := w.do("GET", "/api/v1/findings?format=csv", "")
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != all.Total+1 || rows[0][0] != "account_id" {
		t.Errorf("CSV: %v, %s, %d rows, want %d", err, resp.Header.Get("Content-Type"), len(rows), all.Total+1)
	}

	// Keys, accounts, trends.
	var keys struct {
		Total int              `json:"total"`
		Items []server.KeyView `json:"items"`
	}
	w.getJSON("/api/v1/keys?limit=1000", &keys)
	if keys.Total == 0 || keys.Total > all.Total {
		t.Errorf("keys: %d for %d findings", keys.Total, all.Total)
	}
	// A key the policy warns about (its warning is journaled each run).
	i := slices.IndexFunc(keys.Items, func(k server.KeyView) bool {
		return k.AccessKeyID != "" && !k.Exempt && (k.Stage == "warn" || k.Stage == "rotate")
	})
	if i < 0 {
		t.Fatalf("no key to warn about among %+v", keys.Items)
	}
	k := keys.Items[i]
	var kd server.KeyDetail
	w.getJSON("/api/v1/keys/"+k.AccountID+"/"+k.AccessKeyID, &kd)
	if kd.AccessKeyID != k.AccessKeyID || len(kd.Findings) != len(k.Rules) || len(kd.Timeline) == 0 || kd.Timeline[0].Event != "created" {
		t.Errorf("key %s: %+v", k.AccessKeyID, kd)
	}
	warned := 0
	for _, ev := range kd.Timeline {
		if ev.Event == "warned" {
			warned++
		}
	}
	if warned != 2 { // one per run: report mode journals each warning
		t.Errorf("key %s: warned %d times in its timeline, want 2 (one per run): %+v", k.AccessKeyID, warned, kd.Timeline)
	}
	var accounts struct {
		Total int                  `json:"total"`
		Items []server.AccountView `json:"items"`
	}
	w.getJSON("/api/v1/accounts", &accounts)
	if accounts.Total != len(w.org.Accounts) {
		t.Errorf("accounts: %d, want %d", accounts.Total, len(w.org.Accounts))
	}
	findings := 0
	for _, a := range accounts.Items {
		findings += a.Findings
		if a.Compliance < 0 || a.Compliance > 100 {
			t.Errorf("account %s: compliance %v", a.ID, a.Compliance)
		}
	}
	if findings != second.Summary.Findings {
		t.Errorf("accounts count %d findings, the run %d", findings, second.Summary.Findings)
	}
	var trends server.Trends
	w.getJSON("/api/v1/trends?days=7", &trends)
	if len(trends.Points) != 1 || trends.Points[0].RunID != second.ID || trends.Points[0].Findings != second.Summary.Findings {
		t.Errorf("trends: %+v, want one day: the last run's %d findings", trends, second.Summary.Findings)
	}

	// Bad parameters: 400, naming the parameter.
	for _, q := range []string{"/api/v1/findings?severity=urgent", "/api/v1/findings?limit=0", "/api/v1/findings?exempt=maybe",
		"/api/v1/findings?sort=color", "/api/v1/trends?days=-1", "/api/v1/keys?user=[", "/api/v1/runs?offset=x",
		// A format, or a filter, that the endpoint would otherwise ignore.
		"/api/v1/findings?format=xml", "/api/v1/trends?user=svc-*", "/api/v1/trends?stage=warn", "/api/v1/accounts?severity=high"} {
		resp, body := w.do("GET", q, "")
		param := q[strings.Index(q, "?")+1 : strings.Index(q, "=")]
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "parameter "+param) {
			t.Errorf("GET %s: %s %s, want 400 naming %s", q, resp.Status, body, param)
		}
	}
}

// TestNoScanYet: before the first run, the lists say how to get one.
func TestNoScanYet(t *testing.T) {
	w := newWorld(t, reportPolicy)
	resp, body := w.do("GET", "/api/v1/findings", "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no scan yet") {
		t.Errorf("findings before any scan: %s %s", resp.Status, body)
	}
	var runs struct{ Total int }
	w.getJSON("/api/v1/runs", &runs)
	if runs.Total != 0 {
		t.Errorf("runs before any: %d", runs.Total)
	}
}

// TestStartRunProtected: starting a run needs the token and a request
// that is not cross-site; with both, it answers the run's ID, whose
// status the API then shows.
func TestStartRunProtected(t *testing.T) {
	w := newWorld(t, reportPolicy)
	for _, tc := range []struct {
		name    string
		headers []string
		want    int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong token", []string{"Authorization", "Bearer nope"}, http.StatusUnauthorized},
		{"cross-site", []string{"Authorization", "Bearer " + token, "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"other origin", []string{"Authorization", "Bearer " + token, "Origin", "https://evil.example"}, http.StatusForbidden},
	} {
		resp, body := w.do("POST", "/api/v1/runs", "", tc.headers...)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s %s, want %d", tc.name, resp.Status, body, tc.want)
		}
		if tc.want == http.StatusUnauthorized && !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), " "), "Bearer") {
			t.Errorf("%s: no WWW-Authenticate challenge", tc.name)
		}
	}
	if live := w.srv.Live(); len(live) != 0 {
		t.Fatalf("refused requests started runs: %+v", live)
	}
	resp, body := w.do("POST", "/api/v1/runs", `{"mode":"enforce"}`, "Authorization", "Bearer "+token)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "enforcing is set in the policy") {
		t.Errorf("asking to enforce under a report policy: %s %s", resp.Status, body)
	}
	for _, bad := range []string{`{"mode":"report"} {"mode":"enforce"}`, `{"mode":"report"}` + strings.Repeat(" ", 4096) + `x`} {
		if resp, body := w.do("POST", "/api/v1/runs", bad, "Authorization", "Bearer "+token); resp.StatusCode/100 != 4 ||
			!strings.Contains(body, "the request body") {
			t.Errorf("a body with more than one request in it: %s %s, want it refused", resp.Status, body)
		}
	}
	resp, body = w.do("POST", "/api/v1/runs", `{"mode":"reprot"}`, "Authorization", "Bearer "+token)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `mode \"reprot\": want \"report\"`) {
		t.Errorf("a misspelt mode: %s %s, want 400 naming it", resp.Status, body)
	}
	if live := w.srv.Live(); len(live) != 0 {
		t.Fatalf("refused requests started runs: %+v", live)
	}

	resp, body = w.do("POST", "/api/v1/runs", "", "Authorization", "Bearer "+token, "Sec-Fetch-Site", "same-origin")
	var started server.Started
	if err := json.Unmarshal([]byte(body), &started); err != nil || resp.StatusCode != http.StatusAccepted || started.RunID == "" ||
		resp.Header.Get("Location") != "/api/v1/runs/"+started.RunID {
		t.Fatalf("start a run: %s %s", resp.Status, body)
	}
	w.waitRun(started.RunID)
	var detail server.RunDetail
	w.getJSON("/api/v1/runs/"+started.RunID, &detail)
	if detail.Status != "ok" || detail.Trigger != "api" || detail.Summary == nil || detail.Summary.RunID != started.RunID {
		t.Errorf("the run started: %+v", detail)
	}
}

// TestBusyWhileStarting: a request while another run's session is still
// starting is refused with 409, without pointing at a run that is not one.
func TestBusyWhileStarting(t *testing.T) {
	entered, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w := newWorld(t, reportPolicy, func(o *server.Options) {
		newHub := o.NewHub
		o.NewHub = func(ctx context.Context) (*awsx.Hub, error) {
			once.Do(func() { close(entered) })
			<-gate
			return newHub(ctx)
		}
	})
	started := make(chan string, 1)
	go func() {
		id, _ := w.srv.StartRun(t.Context(), "api", "")
		started <- id
	}()
	<-entered
	resp, body := w.do("POST", "/api/v1/runs", "", "Authorization", "Bearer "+token)
	close(gate)
	if resp.StatusCode != http.StatusConflict || resp.Header.Get("Location") != "" || strings.Contains(body, "starting is in progress") {
		t.Errorf("POST while a run starts: %s, Location %q, %s; want 409 without a run to point at", resp.Status, resp.Header.Get("Location"), body)
	}
	w.waitRun(<-started)
}

// TestNoTokenNoChanges: without a configured token every change is refused.
func TestNoTokenNoChanges(t *testing.T) {
	w := newWorld(t, reportPolicy, func(o *server.Options) { o.Token = "" })
	resp, body := w.do("POST", "/api/v1/runs", "", "Authorization", "Bearer ")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "KEYWARDEN_API_TOKEN") {
		t.Errorf("POST without a configured token: %s %s", resp.Status, body)
	}
}

// TestProtectReads: reads need the token when so configured, as a bearer
// token or a browser's Basic password; /healthz says only the status.
func TestProtectReads(t *testing.T) {
	w := newWorld(t, reportPolicy, func(o *server.Options) { o.ProtectReads = true })
	for _, path := range []string{"/api/v1/runs", "/api/v1/findings", "/metrics", "/", "/findings"} {
		resp, _ := w.do("GET", path, "")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(strings.Join(resp.Header.Values("WWW-Authenticate"), " "), "Basic") {
			t.Errorf("GET %s without the token: %s, want 401 with a Basic challenge", path, resp.Status)
		}
	}
	if resp, _ := w.do("GET", "/api/v1/runs", "", "Authorization", "Bearer "+token); resp.StatusCode != http.StatusOK {
		t.Errorf("GET with the bearer token: %s", resp.Status)
	}
	req, _ := http.NewRequest("GET", w.http.URL+"/api/v1/runs", nil)
	req.SetBasicAuth("anyone", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET with the token as Basic password: %s", resp.Status)
	}
	var h server.Health
	w.getJSON("/healthz", &h)
	if h.Status != "ok" || h.Schedule != "" {
		t.Errorf("healthz without the token: %+v, want the status only", h)
	}
}

// TestScheduledRun: the policy's schedule starts a run when the clock
// says so, and the service stops cleanly.
func TestScheduledRun(t *testing.T) {
	w := newWorld(t, reportPolicy)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.srv.Serve(ctx, ln) }()

	w.clock.waitForWaiters(t, 1)
	next, ok := w.srv.NextRun()
	if !ok || !next.Equal(w.clock.Now().Add(time.Hour)) {
		t.Errorf("next run %v, want in an hour", next)
	}
	if live := w.srv.Live(); len(live) != 0 {
		t.Fatalf("a run before its time: %+v", live)
	}
	w.clock.Advance(59 * time.Minute)
	time.Sleep(50 * time.Millisecond)
	if live := w.srv.Live(); len(live) != 0 {
		t.Fatalf("a run a minute early: %+v", live)
	}
	w.clock.Advance(time.Minute)
	var run server.LiveRun
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if live := w.srv.Live(); len(live) == 1 {
			run = w.waitRun(live[0].ID)
			break
		}
	}
	if run.Trigger != "schedule" || run.Status != "ok" {
		t.Fatalf("scheduled run: %+v", run)
	}
	snap, err := w.st.GetSnapshot(t.Context(), run.ID)
	if err != nil || snap.Trigger != "schedule" {
		t.Errorf("the scheduled run's snapshot: %+v, %v", snap.Trigger, err)
	}
	// The service is reachable on its listener, and says when the next run is.
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h server.Health
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h.Status != "ok" || h.Schedule != "rate(1 hour)" || h.LastRun == nil || h.LastRun.ID != run.ID || !h.NextRun.After(w.clock.Now()) {
		t.Errorf("healthz: %+v", h)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

// TestShutdownFinishesAction: a shutdown during an enforce run lets the
// action in progress finish and journals it; nothing else starts.
func TestShutdownFinishesAction(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	hold := make(chan struct{})
	w.sb.AddFault(awsemu.Fault{Operation: "UpdateAccessKey", Hold: hold})
	id, err := w.srv.StartRun(t.Context(), "api", "")
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the first deactivation's intent: its AWS call is held.
	// Others are planned after it.
	var pending store.Entry
	for deadline := time.Now().Add(30 * time.Second); pending.ID == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no deactivation started")
		}
		entries, _ := w.st.Entries(t.Context(), id)
		for _, e := range entries {
			if e.Action == store.ActionDeactivate && e.Outcome == store.OutcomePending {
				pending = e
			}
		}
	}
	w.srv.Stop() // as SIGTERM does
	close(hold)
	w.srv.Wait()
	run := w.waitRun(id)
	if run.Status != "stopped" {
		t.Errorf("run status %q, want stopped: %+v", run.Status, run.Summary)
	}
	entries, err := w.st.Entries(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	deactivated := 0
	for _, e := range entries {
		if e.Outcome == store.OutcomePending {
			t.Errorf("entry %d (%s %s) left pending", e.ID, e.Action, e.AccessKeyID)
		}
		if e.Action == store.ActionDeactivate {
			deactivated++
		}
	}
	if deactivated != 1 || entries[len(entries)-1].ID != pending.ID || entries[len(entries)-1].Outcome != store.OutcomeDone {
		t.Errorf("journal after the shutdown: %d deactivations, last %+v; want the held one, done", deactivated, entries[len(entries)-1])
	}
	if ks, _ := w.sb.AccessKey(pending.AccessKeyID); ks.Status != awsemu.StatusInactive {
		t.Errorf("the key whose deactivation was in progress is %s", ks.Status)
	}
	r, err := w.st.GetRun(t.Context(), id)
	if err != nil || r.Status != store.RunInterrupted {
		t.Errorf("stored run: %+v, %v; want interrupted", r, err)
	}
	if _, err := w.srv.StartRun(t.Context(), "api", ""); err == nil {
		t.Error("a run started after the shutdown")
	}
}

// TestShutdownDuringScan: a shutdown while the scan reads the accounts
// ends the run as stopped, as one during an apply does, not as an error.
func TestShutdownDuringScan(t *testing.T) {
	w := newWorld(t, reportPolicy)
	hold := make(chan struct{})
	defer close(hold)
	for _, op := range []string{"ListAccounts", "ListUsers", "GenerateCredentialReport", "GetCredentialReport"} {
		w.sb.AddFault(awsemu.Fault{Operation: op, Hold: hold})
	}
	id, err := w.srv.StartRun(t.Context(), "api", "")
	if err != nil {
		t.Fatal(err)
	}
	w.srv.Stop() // as SIGTERM does: the held reads are cancelled
	w.srv.Wait()
	runs := w.srv.Live()
	if len(runs) != 1 || runs[0].ID != id || runs[0].Status != "stopped" {
		t.Errorf("runs after a shutdown during the scan: %+v; want %s stopped", runs, id)
	}
}

// TestUndo: an enforce run's deactivations are undone through the API,
// behind the token; only an apply can be undone.
func TestUndo(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	run := w.runNow()
	if run.Summary.Actions["done"] == 0 || run.Summary.Planned["deactivate"] == 0 {
		t.Fatalf("the enforce run deactivated nothing: %+v", run.Summary)
	}
	var deactivated []store.Entry
	entries, err := w.st.Entries(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == store.ActionDeactivate && e.Outcome == store.OutcomeDone {
			deactivated = append(deactivated, e)
		}
	}
	if _, page := w.do("GET", "/runs/"+run.ID, "", "Accept", "text/html"); !strings.Contains(page, `action="/runs/`+run.ID+`/undo"`) {
		t.Error("the apply's run page has no Undo button")
	}
	if resp, _ := w.do("POST", "/api/v1/runs/"+run.ID+"/undo", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("undo without the token: %s, want 401", resp.Status)
	}
	if resp, _ := w.do("POST", "/api/v1/runs/"+run.ID+"/undo", "", "Authorization", "Bearer "+token, "Sec-Fetch-Site", "cross-site"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site undo: %s, want 403", resp.Status)
	}
	if resp, _ := w.do("POST", "/api/v1/runs/nope/undo", "", "Authorization", "Bearer "+token); resp.StatusCode != http.StatusNotFound {
		t.Errorf("undo of an unknown run: %s, want 404", resp.Status)
	}
	for _, e := range deactivated {
		if ks, _ := w.sb.AccessKey(e.AccessKeyID); ks.Status != awsemu.StatusInactive {
			t.Fatalf("a refused undo changed key %s", e.AccessKeyID)
		}
	}
	resp, body := w.do("POST", "/api/v1/runs/"+run.ID+"/undo", "", "Authorization", "Bearer "+token)
	var started server.Started
	if err := json.Unmarshal([]byte(body), &started); err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("undo: %s %s", resp.Status, body)
	}
	undo := w.waitRun(started.RunID)
	if undo.Kind != "undo" || undo.UndoOf != run.ID || undo.Status != store.RunDone || undo.Actions["done"] != len(deactivated) {
		t.Errorf("undo run: %+v, want %d reactivations done", undo, len(deactivated))
	}
	for _, e := range deactivated {
		if ks, _ := w.sb.AccessKey(e.AccessKeyID); ks.Status != awsemu.StatusActive {
			t.Errorf("key %s is %s after the undo, want Active", e.AccessKeyID, ks.Status)
		}
	}
	var detail server.RunDetail
	w.getJSON("/api/v1/runs/"+undo.ID, &detail)
	if detail.Kind != "undo" || detail.UndoOf != run.ID || len(detail.Actions) != len(deactivated) {
		t.Errorf("the undo's run: %+v", detail)
	}
	// A successful undo is a successful last run: no alert fires for it.
	if _, m := w.do("GET", "/metrics", ""); !strings.Contains(m, "\nkeywarden_last_run_success 1\n") {
		t.Errorf("after a successful undo, /metrics does not say the last run succeeded:\n%s", m)
	}
	// An undo is not undone.
	resp, body = w.do("POST", "/api/v1/runs/"+undo.ID+"/undo", "", "Authorization", "Bearer "+token)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "only an apply can be undone") {
		t.Errorf("undo of an undo: %s %s", resp.Status, body)
	}
}

// TestGoneKeyTimeline: a key that is no longer in the scan (someone
// deleted it after keywarden deactivated it) has no finding any more, and
// its page still tells its story from the journal.
func TestGoneKeyTimeline(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	first := w.runNow()
	entries, err := w.st.Entries(t.Context(), first.ID)
	if err != nil {
		t.Fatal(err)
	}
	var gone store.Entry
	for _, e := range entries {
		if e.Action == store.ActionDeactivate && e.Outcome == store.OutcomeDone {
			gone = e
			break
		}
	}
	if gone.ID == 0 {
		t.Fatalf("the enforce run deactivated nothing: %+v", first.Summary)
	}
	// An operator deletes the key, through the spoke role.
	member := awsx.NewAssumer(w.cfg, awsx.AssumerOptions{RoleName: "KeywardenSpoke", SessionName: "operator"}).Config(gone.AccountID, nil)
	if _, err := iam.NewFromConfig(member).DeleteAccessKey(t.Context(), &iam.DeleteAccessKeyInput{
		UserName: aws.String(gone.UserName), AccessKeyId: aws.String(gone.AccessKeyID)}); err != nil {
		t.Fatal(err)
	}
	w.runNow()
	var kd server.KeyDetail
	w.getJSON("/api/v1/keys/"+gone.AccountID+"/"+gone.AccessKeyID, &kd)
	if kd.KeyStatus != server.KeyGone || kd.UserName != gone.UserName || len(kd.Findings) != 0 {
		t.Errorf("the deleted key: %+v", kd)
	}
	if n := len(kd.Timeline); n == 0 || kd.Timeline[n-1].Event != "deactivated" || kd.Timeline[n-1].RunID != first.ID {
		t.Errorf("the deleted key's timeline: %+v, want it to end with its deactivation in run %s", kd.Timeline, first.ID)
	}
	resp, page := w.do("GET", "/accounts/"+gone.AccountID+"/keys/"+gone.AccessKeyID, "", "Accept", "text/html")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, server.KeyGone) || !strings.Contains(page, "deactivated") {
		t.Errorf("the deleted key's page: %s\n%s", resp.Status, page)
	}
}

func TestParseSchedule(t *testing.T) {
	at := time.Date(2026, 12, 4, 6, 30, 0, 0, time.UTC) // a Friday
	for _, tc := range []struct {
		spec string
		want time.Time
		err  string
	}{
		{"rate(1 day)", at.Add(24 * time.Hour), ""},
		{"rate(6 hours)", at.Add(6 * time.Hour), ""},
		{"rate(30 minutes)", at.Add(30 * time.Minute), ""},
		{"cron(0 6 * * ? *)", time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC), ""},
		{"cron(15 7 ? * 2 *)", time.Date(2026, 12, 7, 7, 15, 0, 0, time.UTC), ""}, // 2 = Monday
		{"cron(0 8 ? * MON-FRI *)", time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC), ""},
		{"cron(0 8 ? * 7 *)", time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC), ""}, // 7 = Saturday
		{"cron(0 0 1 * ? *)", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), ""},
		{"cron(0 */4 * * ? *)", time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC), ""},
		{"rate(0 days)", time.Time{}, "N > 0"},
		{"rate(1 fortnight)", time.Time{}, "unknown unit"},
		{"rate(9999999999999 days)", time.Time{}, "at most a year"},
		{"cron(0 6 * * ? 2027)", time.Time{}, "only * as the year"},
		{"cron(0 6 L * ? *)", time.Time{}, "does not support L, W or #"},
		{"cron(0 6 * * 9 *)", time.Time{}, "1 (Sunday) to 7 (Saturday)"},
		{"cron(0 6 * *)", time.Time{}, "six fields"},
		{"cron(0 0 30 2 ? *)", time.Time{}, "never falls due"},
		{"daily", time.Time{}, "want rate(1 day)"},
	} {
		s, err := server.ParseSchedule(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseSchedule(%q) = %v, want an error saying %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", tc.spec, err)
			continue
		}
		if got := s.Next(at); !got.Equal(tc.want) {
			t.Errorf("%s: next after %v = %v, want %v", tc.spec, at, got, tc.want)
		}
	}
}

// syncBuffer is a log written by several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{now: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waiters = slices.DeleteFunc(c.waiters, func(w waiter) bool {
		if !w.at.After(c.now) {
			w.ch <- c.now
			return true
		}
		return false
	})
}

func (c *fakeClock) waitForWaiters(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c.mu.Lock()
		got := len(c.waiters)
		c.mu.Unlock()
		if got >= n {
			return
		}
	}
	t.Fatalf("the scheduler is not waiting on the clock")
}
