package server

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/store"
)

// Handler is the service's HTTP handler: the API, the metrics and the
// dashboard.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.read(s.metrics.handler().ServeHTTP))
	mux.Handle("GET /api/v1/runs", s.read(s.apiRuns))
	mux.Handle("POST /api/v1/runs", s.write(s.apiStartRun))
	mux.Handle("GET /api/v1/runs/{id}", s.read(s.apiRun))
	mux.Handle("POST /api/v1/runs/{id}/undo", s.write(s.apiUndo))
	mux.Handle("GET /api/v1/findings", s.read(s.apiFindings))
	mux.Handle("GET /api/v1/keys", s.read(s.apiKeys))
	mux.Handle("GET /api/v1/keys/{account}/{key}", s.read(s.apiKey))
	mux.Handle("GET /api/v1/accounts", s.read(s.apiAccounts))
	mux.Handle("GET /api/v1/trends", s.read(s.apiTrends))
	s.dashboardRoutes(mux)
	return securityHeaders(mux)
}

// securityHeaders keeps pages from being framed or sniffed, and from
// loading anything from elsewhere.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'")
		w.Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// apiError is the body of every error answer.
type apiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

// writeError answers an error: JSON to the API, a plain page to browsers.
func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		writeJSON(w, status, apiError{Error: msg, Status: status})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "keywarden: %s\n", msg)
}

// fail answers err: 400 for a bad parameter, 404 for what is not there,
// 500 (logged, its text kept from the client) otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var bp *badParam
	switch {
	case errors.As(err, &bp):
		writeError(w, r, http.StatusBadRequest, bp.Error())
	case errors.Is(err, ErrNotUndoable), errors.Is(err, engine.ErrEnforceNotAllowed):
		writeError(w, r, http.StatusBadRequest, err.Error())
	case errors.Is(err, errNoSnapshot):
		writeError(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, r, http.StatusNotFound, err.Error())
	default:
		s.log.Error("request failed", "path", r.URL.Path, "error", err)
		writeError(w, r, http.StatusInternalServerError, "internal error: see the service's log")
	}
}

// Health is what /healthz answers.
type Health struct {
	Status   string    `json:"status"`
	Schedule string    `json:"schedule"`
	NextRun  time.Time `json:"next_run,omitzero"`
	Running  string    `json:"running,omitempty"` // the run in progress
	LastRun  *LiveRun  `json:"last_run,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	h := Health{Status: "ok", Schedule: s.scheduleText()}
	if s.stopping() {
		h.Status = "stopping"
	}
	h.NextRun, _ = s.NextRun()
	for _, l := range s.Live() {
		if l.Status == StatusRunning {
			h.Running = l.ID
		} else if h.LastRun == nil {
			h.LastRun = &l
		}
	}
	// Only the status for anyone when reads are protected.
	if s.o.ProtectReads && !s.authorized(r) {
		h = Health{Status: h.Status}
	}
	code := http.StatusOK
	if h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

// List is a page of a list.
type List[T any] struct {
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	// RunID and At say which scan the list is from.
	RunID string    `json:"run_id,omitempty"`
	At    time.Time `json:"at,omitzero"`
	Items []T       `json:"items"`
}

// csvTable is how a list is written as CSV: the file's name, the header,
// and a row per item.
type csvTable[T any] struct {
	name    string
	columns []string
	row     func(T) []string
}

// serveList answers a list endpoint with what load returns (and the scan
// it is from, if any): every item as CSV, or one page as JSON.
func serveList[T any](s *Server, w http.ResponseWriter, r *http.Request, t csvTable[T], load func() (*store.Snapshot, []T, error)) {
	p, err := parsePage(r.URL.Query())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	asCSV, err := wantCSV(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	snap, items, err := load()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if asCSV {
		writeCSV(w, t.name, t.columns, len(items), func(i int) []string { return t.row(items[i]) })
		return
	}
	l := List[T]{Total: len(items), Offset: p.Offset, Limit: p.Limit, Items: paged(items, p)}
	if snap != nil {
		l.RunID, l.At = snap.RunID, snap.At
	}
	writeJSON(w, http.StatusOK, l)
}

var runTable = csvTable[RunView]{"runs", []string{"run_id", "kind", "trigger", "mode", "status", "started_at", "finished_at", "findings"},
	func(v RunView) []string {
		return []string{v.ID, v.Kind, v.Trigger, v.Mode, v.Status, csvTime(v.StartedAt), csvTime(v.FinishedAt), intp(v.Findings)}
	}}

func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) {
	serveList(s, w, r, runTable, func() (*store.Snapshot, []RunView, error) {
		runs, err := s.runs(r.Context())
		return nil, runs, err
	})
}

func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	d, err := s.run(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// StartRequest is the optional body of POST /api/v1/runs.
type StartRequest struct {
	// Mode may ask for a report-only run; enforcing is the policy's.
	Mode string `json:"mode"`
}

// Started is the answer to POST /api/v1/runs.
type Started struct {
	RunID  string `json:"run_id"`
	Status string `json:"status"`
	URL    string `json:"url"`
}

func (s *Server) apiStartRun(w http.ResponseWriter, r *http.Request) {
	var req StartRequest
	const maxBody = 4096
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "read the request: "+err.Error())
		return
	}
	if len(body) > maxBody {
		// Cut short, it would be read as something it is not.
		writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body: more than %d bytes", maxBody))
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		err := dec.Decode(&req)
		if err == nil && dec.More() {
			err = errors.New("more than one JSON value")
		}
		if err != nil {
			writeError(w, r, http.StatusBadRequest, "the request body: want {\"mode\": \"report\"} or nothing: "+err.Error())
			return
		}
	}
	if req.Mode != "" && req.Mode != policy.ModeReport && req.Mode != policy.ModeEnforce {
		// A misspelt mode is named as such, not taken for a request to enforce.
		writeError(w, r, http.StatusBadRequest, fmt.Sprintf("the request body: mode %q: want %q or nothing", req.Mode, policy.ModeReport))
		return
	}
	id, err := s.StartRun(r.Context(), engine.TriggerAPI, req.Mode)
	switch {
	case errors.Is(err, ErrBusy):
		writeBusy(w, id)
		return
	case errors.Is(err, engine.ErrEnforceNotAllowed):
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.log.Error("run not started", "error", err)
		writeError(w, r, http.StatusServiceUnavailable, "the run could not start: "+err.Error())
		return
	}
	writeStarted(w, id)
}

// writeStarted answers that run id has started.
func writeStarted(w http.ResponseWriter, id string) {
	w.Header().Set("Location", "/api/v1/runs/"+id)
	writeJSON(w, http.StatusAccepted, Started{RunID: id, Status: StatusRunning, URL: "/api/v1/runs/" + id})
}

// writeBusy answers that nothing started because run id is in progress.
func writeBusy(w http.ResponseWriter, id string) {
	if id == "" {
		writeJSON(w, http.StatusConflict, apiError{Error: "another run is starting; try again when it has finished", Status: http.StatusConflict})
		return
	}
	w.Header().Set("Location", "/api/v1/runs/"+id)
	writeJSON(w, http.StatusConflict, apiError{Error: "run " + id + " is in progress; try again when it has finished", Status: http.StatusConflict})
}

func (s *Server) apiUndo(w http.ResponseWriter, r *http.Request) {
	id, err := s.StartUndo(r.Context(), engine.TriggerAPI, r.PathValue("id"))
	switch {
	case errors.Is(err, ErrBusy):
		writeBusy(w, id)
		return
	case errors.Is(err, ErrNotUndoable):
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, err)
		return
	case err != nil:
		s.log.Error("undo not started", "error", err)
		writeError(w, r, http.StatusServiceUnavailable, "the undo could not start: "+err.Error())
		return
	}
	writeStarted(w, id)
}

// findings reads the snapshot the request names (run=, default the
// latest) and the findings its filters select, sorted.
func (s *Server) findings(r *http.Request) (*store.Snapshot, []store.SnapshotFinding, error) {
	q := r.URL.Query()
	f, err := parseFilter(q)
	if err != nil {
		return nil, nil, err
	}
	snap, err := s.snapshot(r.Context(), q.Get("run"))
	if err != nil {
		return nil, nil, err
	}
	var out []store.SnapshotFinding
	for _, x := range snap.Findings {
		if f.match(x) {
			out = append(out, x)
		}
	}
	if err := sortFindings(out, q.Get("sort")); err != nil {
		return nil, nil, err
	}
	return snap, out, nil
}

var findingTable = csvTable[store.SnapshotFinding]{"findings", []string{"account_id", "account_name", "ou_path", "user_name", "access_key_id",
	"rule", "severity", "stage", "due_at", "next_stage", "next_stage_at", "exempt", "exempt_reason", "key_status", "key_created_at",
	"key_last_used_at", "message"},
	func(f store.SnapshotFinding) []string {
		return []string{f.AccountID, f.AccountName, f.OUPath, f.UserName, f.AccessKeyID, f.Rule, f.Severity, f.Stage,
			csvTime(f.DueAt), f.NextStage, csvTime(f.NextStageAt), strconv.FormatBool(f.Exempt), f.ExemptReason, f.KeyStatus,
			csvTime(f.KeyCreatedAt), csvTime(f.KeyLastUsedAt), f.Message}
	}}

func (s *Server) apiFindings(w http.ResponseWriter, r *http.Request) {
	serveList(s, w, r, findingTable, func() (*store.Snapshot, []store.SnapshotFinding, error) { return s.findings(r) })
}

var keyTable = csvTable[KeyView]{"keys", []string{"account_id", "account_name", "ou_path", "user_name", "access_key_id", "key_status",
	"key_created_at", "key_last_used_at", "rules", "severity", "stage", "next_stage", "next_stage_at", "exempt"},
	func(k KeyView) []string {
		return []string{k.AccountID, k.AccountName, k.OUPath, k.UserName, k.AccessKeyID, k.KeyStatus, csvTime(k.KeyCreatedAt),
			csvTime(k.KeyLastUsedAt), strings.Join(k.Rules, " "), k.Severity, k.Stage, k.NextStage, csvTime(k.NextStageAt), strconv.FormatBool(k.Exempt)}
	}}

func (s *Server) apiKeys(w http.ResponseWriter, r *http.Request) {
	serveList(s, w, r, keyTable, func() (*store.Snapshot, []KeyView, error) {
		snap, fs, err := s.findings(r)
		if err != nil {
			return nil, nil, err
		}
		return snap, keysOf(fs), nil
	})
}

// KeyGone is the status of a key with no finding in the scan, known only
// from the journal: deleted (by keywarden, or by someone else), or no
// longer flagged.
const KeyGone = "no finding in the scan"

// KeyDetail is one key with its findings and its timeline.
type KeyDetail struct {
	KeyView
	RunID    string                  `json:"run_id"`
	Findings []store.SnapshotFinding `json:"findings"`
	Timeline []TimelineEvent         `json:"timeline"`
}

// key finds a key of the latest snapshot by account and access key ID.
func (s *Server) key(r *http.Request, account, keyID string) (*KeyDetail, error) {
	snap, err := s.snapshot(r.Context(), r.URL.Query().Get("run"))
	if err != nil {
		return nil, err
	}
	d := &KeyDetail{RunID: snap.RunID}
	for _, f := range snap.Findings {
		if f.AccountID == account && f.AccessKeyID == keyID && keyID != "" {
			d.Findings = append(d.Findings, f)
		}
	}
	if len(d.Findings) > 0 {
		d.KeyView = keysOf(d.Findings)[0]
	} else {
		// No finding now (deleted, or fixed): what the journal says of it.
		entries, err := s.keyEntries(r.Context(), account, keyID)
		if err != nil {
			return nil, err
		}
		if len(entries) == 0 {
			return nil, fmt.Errorf("key %s of account %s: no finding in scan %s and nothing in the journal: %w", keyID, account, snap.RunID, store.ErrNotFound)
		}
		last := entries[len(entries)-1]
		d.KeyView = KeyView{AccountID: account, UserName: last.UserName, AccessKeyID: keyID, KeyStatus: KeyGone,
			KeyCreatedAt: last.KeyCreatedAt, KeyLastUsedAt: last.KeyLastUsedAt, Rules: []string{}}
		d.Findings = []store.SnapshotFinding{}
	}
	if d.Timeline, err = s.timeline(r.Context(), d.KeyView); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) apiKey(w http.ResponseWriter, r *http.Request) {
	d, err := s.key(r, r.PathValue("account"), r.PathValue("key"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

var accountTable = csvTable[AccountView]{"accounts", []string{"account_id", "name", "ou_path", "status", "error", "users", "keys_active",
	"keys_inactive", "findings", "flagged_keys", "compliance_percent"},
	func(a AccountView) []string {
		return []string{a.ID, a.Name, a.OUPath, a.Status, a.Error, strconv.Itoa(a.Users), strconv.Itoa(a.KeysActive), strconv.Itoa(a.KeysInactive),
			strconv.Itoa(a.Findings), strconv.Itoa(a.FlaggedKeys), strconv.FormatFloat(a.Compliance, 'f', 1, 64)}
	}}

func (s *Server) apiAccounts(w http.ResponseWriter, r *http.Request) {
	serveList(s, w, r, accountTable, func() (*store.Snapshot, []AccountView, error) {
		q := r.URL.Query()
		f, err := parseFilter(q)
		if err == nil {
			// Accounts are selected by account and OU, not by finding.
			err = refuseParams(q, "/api/v1/accounts", "rule", "severity", "stage", "exempt", "user", "key", "status", "sort")
		}
		if err != nil {
			return nil, nil, err
		}
		snap, err := s.snapshot(r.Context(), q.Get("run"))
		if err != nil {
			return nil, nil, err
		}
		var accounts []AccountView
		for _, a := range accountsOf(snap) {
			if f.account(a.ID, a.OUPath) {
				accounts = append(accounts, a)
			}
		}
		return snap, accounts, nil
	})
}

// Trends is what /api/v1/trends answers.
type Trends struct {
	Days   int          `json:"days"`
	Points []TrendPoint `json:"points"`
}

func parseDays(v string) (int, error) {
	if v == "" {
		return 30, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 3660 {
		return 0, &badParam{"days", fmt.Sprintf("%q: want a number of days from 1 to 3660", v)}
	}
	return n, nil
}

func (s *Server) apiTrends(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	days, err := parseDays(q.Get("days"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := parseFilter(q)
	if err == nil {
		// Trends count findings by account, rule and severity only.
		err = refuseParams(q, "/api/v1/trends", "run", "stage", "exempt", "user", "key", "status")
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	asCSV, err := wantCSV(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	points, err := s.trends(r.Context(), s.o.Clock.Now(), days, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if asCSV {
		cols := append([]string{"date", "run_id", "findings"}, knownSeverities...)
		writeCSV(w, "trends", cols, len(points), func(i int) []string {
			p := points[i]
			row := []string{p.Date, p.RunID, strconv.Itoa(p.Findings)}
			for _, sev := range knownSeverities {
				row = append(row, strconv.Itoa(p.BySeverity[sev]))
			}
			return row
		})
		return
	}
	writeJSON(w, http.StatusOK, Trends{Days: days, Points: points})
}

// wantCSV: ?format=csv, or a client that accepts text/csv and not JSON.
// Another format is refused rather than answered as JSON.
func wantCSV(r *http.Request) (bool, error) {
	switch f := r.URL.Query().Get("format"); f {
	case "csv":
		return true, nil
	case "json":
		return false, nil
	case "":
		a := r.Header.Get("Accept")
		return strings.Contains(a, "text/csv") && !strings.Contains(a, "json"), nil
	default:
		return false, &badParam{"format", fmt.Sprintf("%q: want csv or json", f)}
	}
}

// refuseParams refuses the parameters of names that endpoint would
// otherwise ignore, so that no answer looks filtered when it is not.
func refuseParams(q url.Values, endpoint string, names ...string) error {
	for _, n := range names {
		if q.Get(n) != "" {
			return &badParam{n, endpoint + " does not take it"}
		}
	}
	return nil
}

func writeCSV(w http.ResponseWriter, name string, header []string, n int, row func(i int) []string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="keywarden-`+name+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(header)
	for i := range n {
		cells := row(i)
		for j, c := range cells {
			cells[j] = csvCell(c)
		}
		cw.Write(cells)
	}
	cw.Flush()
}

// csvCell keeps a spreadsheet from reading a cell as a formula.
var csvCell = report.CSVCell

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func intp(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}
