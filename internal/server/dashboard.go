package server

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/engine"
	"github.com/keywarden/keywarden/internal/report"
	"github.com/keywarden/keywarden/internal/store"
)

// The dashboard: pages rendered on the server, readable without
// JavaScript (sorting and filtering are links and forms), their
// stylesheets embedded and served from /static/: nothing comes from
// another site.

//go:embed assets/*.html.tmpl assets/dashboard.css
var assets embed.FS

var funcs = template.FuncMap{
	"fmtTime": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"fmtDate": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.DateOnly)
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"add":     func(a, b int) int { return a + b },
	"join":    strings.Join,
	"keyLink": func(account, key string) template.HTML {
		if key == "" {
			return `<span class="muted">not read</span>`
		}
		return template.HTML(fmt.Sprintf(`<a href="/accounts/%s/keys/%s">%s</a>`,
			template.HTMLEscapeString(url.PathEscape(account)), template.HTMLEscapeString(url.PathEscape(key)), template.HTMLEscapeString(key)))
	},
}

// pages are the dashboard's templates, each with the layout and parts.
var pages = func() map[string]*template.Template {
	base := template.Must(template.New("").Funcs(funcs).ParseFS(assets, "assets/layout.html.tmpl", "assets/parts.html.tmpl"))
	out := map[string]*template.Template{}
	for _, name := range []string{"overview", "accounts", "account", "user", "key", "runs", "run", "findings"} {
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(assets, "assets/"+name+".html.tmpl"))
	}
	return out
}()

var dashboardCSS = func() []byte {
	b, err := assets.ReadFile("assets/dashboard.css")
	if err != nil {
		panic(err) // embedded: present at build
	}
	return b
}()

type crumb struct{ Name, URL string }

// view is what the layout shows around a page's content.
type view struct {
	Title, Section string
	Crumbs         []crumb
	Snapshot       *store.Snapshot
	Data           any

	Version, Schedule, Mode string
	NextRun                 time.Time
}

func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /static/report.css", staticCSS([]byte(report.Stylesheet())))
	mux.HandleFunc("GET /static/dashboard.css", staticCSS(dashboardCSS))
	mux.Handle("GET /{$}", s.read(s.pageOverview))
	mux.Handle("GET /accounts", s.read(s.pageAccounts))
	mux.Handle("GET /accounts/{account}", s.read(s.pageAccount))
	mux.Handle("GET /accounts/{account}/users/{user}", s.read(s.pageUser))
	mux.Handle("GET /accounts/{account}/keys/{key}", s.read(s.pageKey))
	mux.Handle("GET /runs", s.read(s.pageRuns))
	mux.Handle("GET /runs/{id}", s.read(s.pageRun))
	mux.Handle("POST /runs", s.write(s.formStartRun))
	mux.Handle("POST /runs/{id}/undo", s.write(s.formUndo))
	mux.Handle("GET /findings", s.read(s.pageFindings))
}

func staticCSS(b []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Write(b)
	}
}

// render writes a page, or a plain error when it cannot be made.
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, p view) {
	p.Version, p.Schedule, p.Mode = s.o.ProductVersion, s.scheduleText(), s.o.Policy.Automation.Mode
	if p.Mode == "" {
		p.Mode = "report"
	}
	p.NextRun, _ = s.NextRun()
	var buf bytes.Buffer
	if err := pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.fail(w, r, fmt.Errorf("render the %s page: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}

// pageFail answers a page's error; no scan yet is a page of its own.
func (s *Server) pageFail(w http.ResponseWriter, r *http.Request, title string, err error) {
	if errors.Is(err, errNoSnapshot) {
		s.render(w, r, "overview", view{Title: title, Section: "overview", Data: overviewData{}})
		return
	}
	r.Header.Set("Accept", "text/html")
	s.fail(w, r, err)
}

type overviewData struct {
	Snapshot                                   *store.Snapshot
	Findings, Exempt, Keys, Flagged, Compliant int
	Incomplete                                 int
	Compliance                                 float64
	Accounts                                   []AccountView
	Trend                                      template.HTML
	Days                                       int
	Due                                        []store.SnapshotFinding
}

// overviewDays is how far back the overview's trend goes.
const overviewDays = 30

// maxDue is how many of the next stages due the overview lists.
const maxDue = 20

func (s *Server) pageOverview(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r.Context(), "")
	if err != nil {
		s.pageFail(w, r, "Overview", err)
		return
	}
	d := overviewData{Snapshot: snap, Accounts: accountsOf(snap), Days: overviewDays}
	for _, a := range d.Accounts {
		d.Keys += a.KeysActive + a.KeysInactive
		d.Flagged += a.FlaggedKeys
		if a.Findings == 0 && a.Status == "ok" {
			d.Compliant++
		}
		if a.Status != "ok" {
			d.Incomplete++
		}
	}
	if d.Keys > 0 {
		d.Compliance = float64(d.Keys-d.Flagged) * 100 / float64(d.Keys)
	}
	for _, f := range snap.Findings {
		if f.Exempt {
			d.Exempt++
			continue
		}
		d.Findings++
		if !f.NextStageAt.IsZero() {
			d.Due = append(d.Due, f)
		}
	}
	slices.SortStableFunc(d.Due, func(a, b store.SnapshotFinding) int { return a.NextStageAt.Compare(b.NextStageAt) })
	d.Due = d.Due[:min(len(d.Due), maxDue)]

	points, err := s.trends(r.Context(), s.o.Clock.Now(), overviewDays, filter{})
	if err != nil {
		s.pageFail(w, r, "Overview", err)
		return
	}
	chart := report.Chart{ID: "trend", Title: "Findings per day, by severity", Empty: "No scan in the last 30 days.", Series: report.SeveritySeries()}
	for _, p := range points {
		row := report.ChartRow{Label: p.Date}
		for _, sr := range chart.Series {
			row.Values = append(row.Values, p.BySeverity[sr.Name])
		}
		chart.Rows = append(chart.Rows, row)
	}
	if d.Trend, err = chart.SVG(); err != nil {
		s.pageFail(w, r, "Overview", err)
		return
	}
	s.render(w, r, "overview", view{Title: "Overview", Section: "overview", Data: d})
}

func (s *Server) pageAccounts(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r.Context(), "")
	if err != nil {
		s.pageFail(w, r, "Accounts", err)
		return
	}
	s.render(w, r, "accounts", view{Title: "Accounts", Section: "accounts", Snapshot: snap, Data: accountsOf(snap)})
}

type userRow struct {
	Name           string
	Keys, Findings int
	Severity       string
	Rules          []string
}

type accountData struct {
	Account AccountView
	Users   []userRow
}

func (s *Server) pageAccount(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r.Context(), "")
	if err != nil {
		s.pageFail(w, r, "Account", err)
		return
	}
	id := r.PathValue("account")
	accounts := accountsOf(snap)
	i := slices.IndexFunc(accounts, func(a AccountView) bool { return a.ID == id })
	if i < 0 {
		s.pageFail(w, r, "Account", fmt.Errorf("account %s is not in the scan of %s: %w", id, snap.At.Format(time.DateOnly), store.ErrNotFound))
		return
	}
	d := accountData{Account: accounts[i]}
	var mine []store.SnapshotFinding
	for _, f := range snap.Findings {
		if f.AccountID == id {
			mine = append(mine, f)
		}
	}
	byUser := map[string]*userRow{}
	var order []string
	for _, k := range keysOf(mine) {
		u, ok := byUser[k.UserName]
		if !ok {
			u = &userRow{Name: k.UserName, Severity: k.Severity}
			byUser[k.UserName] = u
			order = append(order, k.UserName)
		}
		u.Keys++
		if severityRank(k.Severity) > severityRank(u.Severity) {
			u.Severity = k.Severity
		}
		for _, rule := range k.Rules {
			if !slices.Contains(u.Rules, rule) {
				u.Rules = append(u.Rules, rule)
			}
		}
	}
	for _, f := range mine {
		byUser[f.UserName].Findings++
	}
	for _, name := range order {
		d.Users = append(d.Users, *byUser[name])
	}
	slices.SortStableFunc(d.Users, func(a, b userRow) int {
		if c := severityRank(b.Severity) - severityRank(a.Severity); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	title := accounts[i].Name
	if title == "" {
		title = id
	}
	s.render(w, r, "account", view{Title: title, Section: "accounts", Snapshot: snap, Data: d,
		Crumbs: []crumb{{"Accounts", "/accounts"}, {title, ""}}})
}

type userData struct {
	Keys     []KeyView
	Findings []store.SnapshotFinding
}

func (s *Server) pageUser(w http.ResponseWriter, r *http.Request) {
	snap, err := s.snapshot(r.Context(), "")
	if err != nil {
		s.pageFail(w, r, "User", err)
		return
	}
	account, user := r.PathValue("account"), r.PathValue("user")
	var d userData
	for _, f := range snap.Findings {
		if f.AccountID == account && f.UserName == user {
			d.Findings = append(d.Findings, f)
		}
	}
	if len(d.Findings) == 0 {
		s.pageFail(w, r, "User", fmt.Errorf("user %s of account %s has no finding in the latest scan: %w", user, account, store.ErrNotFound))
		return
	}
	d.Keys = keysOf(d.Findings)
	s.render(w, r, "user", view{Title: user, Section: "accounts", Snapshot: snap, Data: d,
		Crumbs: []crumb{{"Accounts", "/accounts"}, {account, "/accounts/" + url.PathEscape(account)}, {user, ""}}})
}

func (s *Server) pageKey(w http.ResponseWriter, r *http.Request) {
	account, key := r.PathValue("account"), r.PathValue("key")
	d, err := s.key(r, account, key)
	if err != nil {
		s.pageFail(w, r, "Key", err)
		return
	}
	snap, _ := s.snapshot(r.Context(), d.RunID)
	s.render(w, r, "key", view{Title: key, Section: "accounts", Snapshot: snap, Data: d,
		Crumbs: []crumb{{"Accounts", "/accounts"}, {account, "/accounts/" + url.PathEscape(account)},
			{d.UserName, "/accounts/" + url.PathEscape(account) + "/users/" + url.PathEscape(d.UserName)}, {key, ""}}})
}

func (s *Server) pageRuns(w http.ResponseWriter, r *http.Request) {
	runs, err := s.runs(r.Context())
	if err != nil {
		s.pageFail(w, r, "Runs", err)
		return
	}
	s.render(w, r, "runs", view{Title: "Runs", Section: "runs", Data: runs})
}

func (s *Server) pageRun(w http.ResponseWriter, r *http.Request) {
	d, err := s.run(r.Context(), r.PathValue("id"))
	if err != nil {
		s.pageFail(w, r, "Run", err)
		return
	}
	s.render(w, r, "run", view{Title: "Run " + d.ID, Section: "runs", Data: d, Crumbs: []crumb{{"Runs", "/runs"}, {d.ID, ""}}})
}

// runPage is the page of run id, or the runs list when the run in
// progress has no ID yet.
func runPage(id string) string {
	if id == "" {
		return "/runs"
	}
	return "/runs/" + url.PathEscape(id)
}

// formStartRun is the overview's Run now button.
func (s *Server) formStartRun(w http.ResponseWriter, r *http.Request) {
	id, err := s.StartRun(r.Context(), engine.TriggerAPI, "")
	if err != nil && !errors.Is(err, ErrBusy) {
		r.Header.Set("Accept", "text/html")
		writeError(w, r, http.StatusServiceUnavailable, "the run could not start: "+err.Error())
		return
	}
	http.Redirect(w, r, runPage(id), http.StatusSeeOther)
}

// formUndo is a run page's Undo button.
func (s *Server) formUndo(w http.ResponseWriter, r *http.Request) {
	id, err := s.StartUndo(r.Context(), engine.TriggerAPI, r.PathValue("id"))
	if err != nil && !errors.Is(err, ErrBusy) {
		r.Header.Set("Accept", "text/html")
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, runPage(id), http.StatusSeeOther)
}

type column struct{ Name, URL, Sort string }

type findingsData struct {
	Q                         map[string]string
	Total, Offset             int
	Items                     []store.SnapshotFinding
	Columns                   []column
	CSV, Prev, Next           string
	Rules, Severities, Stages []string
}

var findingsColumns = []struct{ name, sort string }{
	{"Severity", "severity"}, {"Account", "account"}, {"User", "user"}, {"Key", "key"}, {"Rule", "rule"}, {"Stage", "stage"},
	{"Next", "next_stage_at"}, {"Key status", ""}, {"Created", "created"}, {"Last used", "last_used"}, {"Message", ""},
}

func (s *Server) pageFindings(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := parsePage(q)
	if err != nil {
		s.pageFail(w, r, "Findings", err)
		return
	}
	snap, fs, err := s.findings(r)
	if err != nil {
		s.pageFail(w, r, "Findings", err)
		return
	}
	d := findingsData{Q: map[string]string{}, Total: len(fs), Offset: p.Offset, Items: paged(fs, p),
		Severities: knownSeverities, Stages: knownStages}
	for k := range q {
		d.Q[k] = q.Get(k)
	}
	seen := map[string]bool{}
	for _, f := range snap.Findings {
		if !seen[f.Rule] {
			seen[f.Rule] = true
			d.Rules = append(d.Rules, f.Rule)
		}
	}
	slices.Sort(d.Rules)
	with := func(changes ...string) string {
		v := url.Values{}
		for k, vs := range q {
			if vs[0] != "" {
				v.Set(k, vs[0])
			}
		}
		for i := 0; i+1 < len(changes); i += 2 {
			if changes[i+1] == "" {
				v.Del(changes[i])
			} else {
				v.Set(changes[i], changes[i+1])
			}
		}
		return "?" + v.Encode()
	}
	current := q.Get("sort")
	for _, c := range findingsColumns {
		col := column{Name: c.name}
		if c.sort != "" {
			next := c.sort
			switch current {
			case c.sort:
				col.Sort, next = "ascending", "-"+c.sort
			case "-" + c.sort:
				col.Sort = "descending"
			case "":
				if c.sort == "severity" {
					col.Sort, next = "descending", "severity"
				}
			}
			col.URL = with("sort", next, "offset", "")
		}
		d.Columns = append(d.Columns, col)
	}
	d.CSV = "/api/v1/findings" + with("format", "csv", "offset", "", "limit", "")
	if p.Offset > 0 {
		d.Prev = with("offset", strconv.Itoa(max(p.Offset-p.Limit, 0)))
	}
	if p.Offset+p.Limit < len(fs) {
		d.Next = with("offset", strconv.Itoa(p.Offset+p.Limit))
	}
	s.render(w, r, "findings", view{Title: "Findings", Section: "findings", Snapshot: snap, Data: d})
}
