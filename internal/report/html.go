package report

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// renderHTML writes doc as one self-contained HTML5 page: a summary, four
// charts drawn as inline SVG, the findings and the keys as tables that sort
// on a click, and the accounts that could not be read. Its style and script
// are inline and it names no URL, so opening it fetches nothing; a Content
// Security Policy in the page says so to the browser too. Every name chosen
// by others (accounts, users, errors) goes through html/template and is
// escaped, its control characters made spaces. The output depends on doc alone: no clock, no map order.
func renderHTML(w io.Writer, doc *Document) error {
	return htmlPage.Execute(w, newHTMLView(doc))
}

// dueWindowDays is the span of the "falls due" chart and count, from as_of.
const dueWindowDays = 30

// topAccounts is how many accounts the findings-by-account chart shows.
const topAccounts = 15

// The orders in which severities and stages are listed; values not listed
// here come after these, by name.
var (
	severityOrder = []string{"critical", "high", "medium", "low", "info"}
	stageOrder    = []string{"warn", "report", "rotate", "deactivate", "delete"}
)

// orderedCompare compares a and b by their place in order, then by name.
func orderedCompare(order []string) func(a, b string) int {
	return func(a, b string) int {
		return cmp.Or(cmp.Compare(rankIn(order, a), rankIn(order, b)), cmp.Compare(a, b))
	}
}

func rankIn(order []string, s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

var (
	compareSeverity = orderedCompare(severityOrder)
	compareStage    = orderedCompare(stageOrder)
)

// tally is a count of one name.
type tally struct {
	Name string
	N    int
}

// countBy counts fs by key, in the order of compare.
func countBy(fs []Finding, key func(Finding) string, compare func(a, b string) int) []tally {
	var out []tally
	for _, f := range fs {
		k := key(f)
		if i := slices.IndexFunc(out, func(t tally) bool { return t.Name == k }); i >= 0 {
			out[i].N++
		} else {
			out = append(out, tally{k, 1})
		}
	}
	slices.SortStableFunc(out, func(a, b tally) int { return compare(a.Name, b.Name) })
	return out
}

// tallyString is "critical 1, high 2".
func tallyString(ts []tally, sep string) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("%s %d", t.Name, t.N)
	}
	return strings.Join(parts, sep)
}

// dueDay reports whether f's next stage falls due within dueWindowDays of
// asOf, and on which day of that window (0 for the first; a date already
// past counts as day 0). Exempt findings are never acted on, so nothing of
// theirs falls due.
func dueDay(f Finding, asOf time.Time) (int, bool) {
	if f.Exempt || f.NextStage == "" || f.NextStageAt.IsZero() {
		return 0, false
	}
	if !f.NextStageAt.Before(asOf.AddDate(0, 0, dueWindowDays)) {
		return 0, false
	}
	return wholeDays(asOf, f.NextStageAt), true
}

func countExempt(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.Exempt {
			n++
		}
	}
	return n
}

func countDue(doc *Document) int {
	n := 0
	for _, f := range doc.Findings {
		if _, ok := dueDay(f, doc.AsOf); ok {
			n++
		}
	}
	return n
}

// unreadKeyIDs counts the keys of IAM users whose ID was not read (root key
// IDs can never be read, so they are not counted).
func unreadKeyIDs(keys []Key) int {
	n := 0
	for _, k := range keys {
		if k.AccessKeyID == nil && !k.Root() {
			n++
		}
	}
	return n
}

// rootKeysUnlisted are the accounts read whose root user has keys that are
// not in Keys: known from the account summary only.
func rootKeysUnlisted(doc *Document) []Account {
	listed := map[string]bool{}
	for _, k := range doc.Keys {
		if k.Root() {
			listed[k.AccountID] = true
		}
	}
	var out []Account
	for _, a := range doc.Accounts {
		if deref(a.RootKeysPresent) && !listed[a.ID] {
			out = append(out, a)
		}
	}
	return out
}

func failedAccounts(doc *Document) []Account {
	var out []Account
	for _, a := range doc.Accounts {
		if a.Status != "ok" {
			out = append(out, a)
		}
	}
	return out
}

// findingKey names the key of a finding: its ID, else its slot and
// creation date, else "" (a finding about the account's root user).
func findingKey(f Finding) string {
	switch {
	case f.AccessKeyID != "":
		return f.AccessKeyID
	case f.KeySlot > 0 && !f.KeyCreatedAt.IsZero():
		return fmt.Sprintf("key %d, created %s", f.KeySlot, f.KeyCreatedAt.UTC().Format(time.DateOnly))
	case f.KeySlot > 0:
		return fmt.Sprintf("key %d", f.KeySlot)
	case !f.KeyCreatedAt.IsZero():
		return "created " + f.KeyCreatedAt.UTC().Format(time.DateOnly)
	}
	return ""
}

// exemptText is "vendor integration (until 2026-06-30, keywarden.yaml:14)".
func exemptText(f Finding) string {
	if !f.Exempt {
		return ""
	}
	s := f.ExemptionReason
	var more []string
	if f.ExemptionExpires != "" {
		more = append(more, "until "+f.ExemptionExpires)
	}
	if f.ExemptionSource != "" {
		more = append(more, f.ExemptionSource)
	}
	if len(more) > 0 {
		if s != "" {
			s += " "
		}
		s += "(" + strings.Join(more, ", ") + ")"
	}
	return s
}

// controlLabel is the short name of a control: "CIS v1.4.0–v4.0.1 1.14",
// "Security Hub IAM.3".
func controlLabel(c Control) string {
	fw := c.Framework
	switch fw {
	case "CIS AWS Foundations Benchmark":
		fw = "CIS"
	case "AWS Security Hub":
		fw = "Security Hub"
	}
	parts := []string{fw}
	if c.Versions != "" {
		parts = append(parts, c.Versions)
	}
	return strings.Join(append(parts, c.ID), " ")
}

// controlTitle is the full name of a control, for a tooltip.
func controlTitle(c Control) string {
	parts := []string{c.Framework}
	if c.Versions != "" {
		parts = append(parts, c.Versions)
	}
	s := strings.Join(append(parts, c.ID), " ")
	if c.Title != "" {
		s += ": " + c.Title
	}
	return s
}

func accountLabel(id, name string) string {
	if name == "" {
		return id
	}
	return name + " (" + id + ")"
}

// shorten cuts s to at most n runes, marking the cut with an ellipsis.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// The page's view of the Document: everything computed, the template only
// lays it out.
type htmlView struct {
	CSP       string
	Style     template.CSS
	Script    template.JS
	Generated string
	AsOf      string
	ShowAsOf  bool
	Caller    string

	Cards    []htmlCard
	Charts   []svgChart
	Findings []htmlFinding
	Keys     []htmlKey
	Failed   []htmlFailed
	Notes    []string
}

type htmlCard struct {
	Label  string
	Value  int
	Detail string
	Alert  bool
}

type htmlFinding struct {
	AccountID, AccountName string
	User, Key              string
	Rule, Message          string
	Severity, SevClass     string
	SevRank                int
	Stage                  string
	NextStage              string
	NextAt, NextAtSort     string
	Exempt                 bool
	ExemptText             string
	Controls               []htmlControl
}

type htmlControl struct{ Label, Title string }

type htmlKey struct {
	AccountID, AccountName string
	User, UserARN          string
	KeyID                  string // "" when not read or root
	KeyNote                string // why there is no ID
	Status                 string
	Inactive               bool
	AgeDays                int
	Created                string
	LastUsed, LastUsedSort string
	Service                string
}

type htmlFailed struct {
	ID, Name, Code, Error string
}

func newHTMLView(doc *Document) htmlView {
	v := htmlView{
		CSP:       htmlCSP,
		Style:     template.CSS(htmlStyle),
		Script:    template.JS(htmlScript),
		Generated: doc.GeneratedAt.Format(time.RFC3339),
		AsOf:      doc.AsOf.Format(time.RFC3339),
		ShowAsOf:  !doc.AsOf.Equal(doc.GeneratedAt),
		Caller:    clean(doc.Caller),
	}
	v.Cards = htmlCards(doc)
	v.Charts = []svgChart{ageChart(doc), ruleChart(doc), accountChart(doc), dueChart(doc)}

	for _, f := range doc.Findings {
		hf := htmlFinding{
			AccountID: f.AccountID, AccountName: clean(f.AccountName),
			User: clean(f.UserName), Key: clean(findingKey(f)),
			Rule: f.Rule, Message: clean(f.Message),
			Severity: f.Severity, SevClass: seriesClass(severityOrder, f.Severity), SevRank: len(severityOrder) - rankIn(severityOrder, f.Severity),
			Stage: f.Stage, NextStage: f.NextStage,
			Exempt: f.Exempt, ExemptText: clean(exemptText(f)),
		}
		if !f.NextStageAt.IsZero() {
			t := stamp(f.NextStageAt)
			hf.NextAt, hf.NextAtSort = t.Format(time.DateOnly), t.Format(time.RFC3339)
		}
		for _, c := range f.Controls {
			hf.Controls = append(hf.Controls, htmlControl{controlLabel(c), controlTitle(c)})
		}
		v.Findings = append(v.Findings, hf)
	}

	for _, k := range doc.Keys {
		hk := htmlKey{
			AccountID: k.AccountID, AccountName: clean(k.AccountName),
			User: clean(k.UserName), UserARN: clean(k.UserARN),
			KeyID:    deref(k.AccessKeyID),
			Status:   k.Status,
			Inactive: k.Status != "Active",
			AgeDays:  k.AgeDays,
			Created:  k.CreatedAt.Format(time.DateOnly),
			LastUsed: "never",
		}
		switch {
		case k.AccessKeyID != nil:
		case k.Root():
			hk.KeyNote = "root key (ID never readable)"
		default:
			hk.KeyNote = "not read"
		}
		if k.KeySlot != nil && hk.KeyID == "" {
			hk.KeyNote += ", slot " + strconv.Itoa(*k.KeySlot)
		}
		if k.LastUsedAt != nil {
			hk.LastUsed = k.LastUsedAt.Format(time.DateOnly) + " (" + lastUsed(k.DaysSinceLastUse) + ")"
			hk.LastUsedSort = k.LastUsedAt.Format(time.RFC3339)
		}
		svc := deref(k.LastUsedService)
		if r := deref(k.LastUsedRegion); r != "" {
			svc += " (" + r + ")"
		}
		hk.Service = clean(svc)
		v.Keys = append(v.Keys, hk)
	}

	for _, a := range failedAccounts(doc) {
		v.Failed = append(v.Failed, htmlFailed{ID: a.ID, Name: clean(a.Name), Code: clean(deref(a.ErrorCode)), Error: clean(deref(a.Error))})
	}

	if n := unreadKeyIDs(doc.Keys); n > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("%s not read: by default, key IDs are read only for keys that need attention; --key-ids all reads every one.", plural(n, "key ID")))
	}
	for _, a := range rootKeysUnlisted(doc) {
		v.Notes = append(v.Notes, fmt.Sprintf("The root user of %s has access keys (details are in the credential report only).", clean(accountLabel(a.ID, a.Name))))
	}
	return v
}

func htmlCards(doc *Document) []htmlCard {
	s := doc.Summary
	sev := countBy(doc.Findings, func(f Finding) string { return f.Severity }, compareSeverity)
	sevDetail := tallyString(sev, " · ")
	if len(sev) == 0 {
		sevDetail = "none"
	}
	return []htmlCard{
		{Label: "Accounts", Value: s.Accounts, Detail: fmt.Sprintf("%d read, %d failed", s.AccountsOK, s.AccountsFailed), Alert: s.AccountsFailed > 0},
		{Label: "IAM users", Value: s.Users},
		{Label: "Access keys", Value: s.Keys, Detail: fmt.Sprintf("%d active, %d inactive", s.ActiveKeys, s.InactiveKeys)},
		{Label: "Accounts with root keys", Value: s.RootKeys, Alert: s.RootKeys > 0},
		{Label: "Findings", Value: s.Findings, Detail: sevDetail},
		{Label: "Exempt findings", Value: countExempt(doc.Findings), Detail: "reported, never acted on"},
		{Label: fmt.Sprintf("Due in the next %d days", dueWindowDays), Value: countDue(doc), Detail: "next stages by " + doc.AsOf.AddDate(0, 0, dueWindowDays).Format(time.DateOnly)},
	}
}

// seriesClass is the CSS class of a value of a series: c-<value> for the
// values the style knows (those of order), c-other for any other. Class
// names never carry outside text.
func seriesClass(order []string, s string) string {
	if slices.Contains(order, s) {
		return "c-" + s
	}
	return "c-other"
}

// Charts.

// barChart is a horizontal bar chart to lay out: one row per label, each
// bar stacked from one value per series.
type barChart struct {
	ID, Title, Empty, Note string
	Series                 []chartSeries
	Rows                   []barRow
}

type chartSeries struct{ Name, Class string }

type barRow struct {
	Label  string // full text
	Values []int  // one per series
}

// svgChart is a barChart laid out, in SVG user units.
type svgChart struct {
	ID, Title, Desc, Empty, Note string
	Width, Height                int
	AxisX, AxisY1, AxisY2        int
	EmptyY                       int
	Legend                       []svgLegend
	Rows                         []svgRow
}

type svgLegend struct {
	X, TextX int
	Class    string
	Name     string
}

type svgRow struct {
	Label, Full   string
	LabelX, TextY int
	BarY, BarH    int
	Segments      []svgSegment
	Total, TotalX int
}

type svgSegment struct {
	X, W  int
	Class string
	Title string
}

// Chart geometry.
const (
	chartWidth    = 640
	chartLabelW   = 200
	chartBarMax   = 380
	chartRowH     = 24
	chartBarH     = 16
	chartPad      = 8
	chartLegendH  = 24
	chartLabelMax = 28 // runes
)

func layout(c barChart) svgChart {
	out := svgChart{ID: c.ID, Title: c.Title, Empty: c.Empty, Note: c.Note, Width: chartWidth}
	most := 0
	for _, r := range c.Rows {
		t := 0
		for _, v := range r.Values {
			t += v
		}
		most = max(most, t)
	}

	top := chartPad
	// A legend only when it says something: more than one series in use.
	used := make([]bool, len(c.Series))
	nUsed := 0
	for _, r := range c.Rows {
		for i, v := range r.Values {
			if v > 0 && !used[i] {
				used[i] = true
				nUsed++
			}
		}
	}
	if len(c.Series) > 1 && nUsed > 0 {
		x := chartLabelW
		for i, s := range c.Series {
			if !used[i] {
				continue
			}
			out.Legend = append(out.Legend, svgLegend{X: x, TextX: x + 16, Class: s.Class, Name: s.Name})
			x += 16 + 7*utf8.RuneCountInString(s.Name) + 16
		}
		top += chartLegendH
	}

	var desc []string
	for i, r := range c.Rows {
		y := top + i*chartRowH
		row := svgRow{
			Label: shorten(r.Label, chartLabelMax), Full: r.Label,
			LabelX: chartLabelW - 8, TextY: y + chartRowH/2 + 4,
			BarY: y + (chartRowH-chartBarH)/2, BarH: chartBarH,
		}
		cum := 0
		var parts []string
		for j, v := range r.Values {
			if v == 0 {
				continue
			}
			x0 := chartLabelW + scale(cum, most)
			cum += v
			x1 := chartLabelW + scale(cum, most)
			if x1 == x0 {
				x1 = x0 + 1 // a value too small to draw is still seen
			}
			s := c.Series[j]
			title := fmt.Sprintf("%s: %d", r.Label, v)
			if len(c.Series) > 1 {
				title = fmt.Sprintf("%s, %s: %d", r.Label, s.Name, v)
				parts = append(parts, fmt.Sprintf("%s %d", s.Name, v))
			}
			row.Segments = append(row.Segments, svgSegment{X: x0, W: x1 - x0, Class: s.Class, Title: title})
		}
		row.Total = cum
		row.TotalX = chartLabelW + scale(cum, most) + 6
		if cum > 0 && row.TotalX < chartLabelW+6+1 {
			row.TotalX = chartLabelW + 6 + 1
		}
		d := fmt.Sprintf("%s: %d", r.Label, cum)
		if len(parts) > 0 {
			d += " (" + strings.Join(parts, ", ") + ")"
		}
		desc = append(desc, d)
		out.Rows = append(out.Rows, row)
	}
	if len(c.Rows) == 0 {
		out.Height = top + chartRowH + chartPad
		out.EmptyY = top + chartRowH/2 + 4
		out.Desc = c.Empty
	} else {
		out.Height = top + len(c.Rows)*chartRowH + chartPad
		out.Desc = strings.Join(desc, "; ") + "."
	}
	out.AxisX, out.AxisY1, out.AxisY2 = chartLabelW, top, out.Height-chartPad
	return out
}

// scale is v of most as a bar length, rounded.
func scale(v, most int) int {
	if most == 0 {
		return 0
	}
	return (v*chartBarMax + most/2) / most
}

var severitySeries = func() []chartSeries {
	var out []chartSeries
	for _, s := range severityOrder {
		out = append(out, chartSeries{s, "c-" + s})
	}
	return out
}()

// withOthers returns base followed by a series for each of values that
// order lacks (by name), and a function giving a value's series index.
func withOthers(base []chartSeries, order []string, values []string) ([]chartSeries, func(string) int) {
	series := slices.Clone(base)
	var others []string
	for _, v := range values {
		if !slices.Contains(order, v) && !slices.Contains(others, v) {
			others = append(others, v)
		}
	}
	slices.Sort(others)
	for _, o := range others {
		series = append(series, chartSeries{o, "c-other"})
	}
	return series, func(v string) int {
		return slices.IndexFunc(series, func(s chartSeries) bool { return s.Name == v })
	}
}

type ageBucket struct {
	label string
	upTo  int // days, inclusive
}

// ageChart: keys by age bucket, active and inactive.
func ageChart(doc *Document) svgChart {
	buckets := []ageBucket{
		{"0–30 days", 30}, {"31–90 days", 90}, {"91–180 days", 180}, {"181–365 days", 365}, {"over a year", math.MaxInt},
	}
	c := barChart{
		ID: "chart-age", Title: "Access keys by age",
		Empty:  "No access keys.",
		Series: []chartSeries{{"active", "c-active"}, {"inactive", "c-inactive"}},
	}
	if len(doc.Keys) == 0 {
		return layout(c)
	}
	for _, b := range buckets {
		c.Rows = append(c.Rows, barRow{Label: b.label, Values: make([]int, 2)})
	}
	for _, k := range doc.Keys {
		i := slices.IndexFunc(buckets, func(b ageBucket) bool { return k.AgeDays <= b.upTo })
		s := 1
		if k.Status == "Active" {
			s = 0
		}
		c.Rows[i].Values[s]++
	}
	return layout(c)
}

// ruleChart: findings by rule, by severity.
func ruleChart(doc *Document) svgChart {
	return findingsChart(doc, "chart-rule", "Findings by rule", func(f Finding) (string, string) { return f.Rule, f.Rule }, 0)
}

// accountChart: findings by account, the topAccounts with the most.
func accountChart(doc *Document) svgChart {
	names := map[string]string{}
	for _, a := range doc.Accounts {
		names[a.ID] = a.Name
	}
	return findingsChart(doc, "chart-account", "Findings by account", func(f Finding) (string, string) {
		name := f.AccountName
		if name == "" {
			name = names[f.AccountID]
		}
		return f.AccountID, clean(accountLabel(f.AccountID, name))
	}, topAccounts)
}

// findingsChart counts findings by group (an ID and its label), stacked by
// severity, the largest groups first; limit > 0 keeps that many.
func findingsChart(doc *Document, id, title string, group func(Finding) (string, string), limit int) svgChart {
	var sevs []string
	for _, f := range doc.Findings {
		sevs = append(sevs, f.Severity)
	}
	series, index := withOthers(severitySeries, severityOrder, sevs)
	c := barChart{ID: id, Title: title, Empty: "No findings.", Series: series}

	type groupCount struct {
		id, label string
		values    []int
		total     int
	}
	var groups []*groupCount
	byID := map[string]*groupCount{} // for lookup only; the order is groups'
	for _, f := range doc.Findings {
		gid, label := group(f)
		g := byID[gid]
		if g == nil {
			g = &groupCount{id: gid, label: label, values: make([]int, len(series))}
			byID[gid] = g
			groups = append(groups, g)
		}
		g.values[index(f.Severity)]++
		g.total++
	}
	slices.SortStableFunc(groups, func(a, b *groupCount) int {
		return cmp.Or(cmp.Compare(b.total, a.total), cmp.Compare(a.id, b.id))
	})
	if limit > 0 && len(groups) > limit {
		c.Note = fmt.Sprintf("The %d accounts with the most findings, of %d.", limit, len(groups))
		groups = groups[:limit]
	}
	for _, g := range groups {
		c.Rows = append(c.Rows, barRow{Label: clean(g.label), Values: g.values})
	}
	return layout(c)
}

// dueChart: the next stages falling due in the dueWindowDays from as_of,
// by week and by stage.
func dueChart(doc *Document) svgChart {
	type due struct {
		day   int
		stage string
	}
	var dues []due
	var stages []string
	for _, f := range doc.Findings {
		if d, ok := dueDay(f, doc.AsOf); ok {
			dues = append(dues, due{d, f.NextStage})
			stages = append(stages, f.NextStage)
		}
	}
	var base []chartSeries
	for _, s := range stageOrder {
		base = append(base, chartSeries{s, "c-" + s})
	}
	series, index := withOthers(base, stageOrder, stages)
	c := barChart{
		ID:     "chart-due",
		Title:  fmt.Sprintf("Next stages falling due in the %d days from %s", dueWindowDays, doc.AsOf.Format(time.DateOnly)),
		Empty:  fmt.Sprintf("Nothing falls due in the %d days from %s.", dueWindowDays, doc.AsOf.Format(time.DateOnly)),
		Note:   "Exempt findings never fall due.",
		Series: series,
	}
	if len(dues) == 0 {
		return layout(c)
	}
	for start := 0; start < dueWindowDays; start += 7 {
		end := min(start+6, dueWindowDays-1)
		from, to := doc.AsOf.AddDate(0, 0, start), doc.AsOf.AddDate(0, 0, end)
		label := from.Format("Jan 2") + " – " + to.Format("Jan 2")
		if start == end {
			label = from.Format("Jan 2")
		}
		row := barRow{Label: label, Values: make([]int, len(series))}
		for _, d := range dues {
			if d.day >= start && d.day <= end {
				row.Values[index(d.stage)]++
			}
		}
		c.Rows = append(c.Rows, row)
	}
	return layout(c)
}

// The page's inline style and script, and the Content Security Policy that
// allows them (by hash) and nothing else: no fetch of any kind.
var (
	htmlCSP = "default-src 'none'; style-src " + cspHash(htmlStyle) + "; script-src " + cspHash(htmlScript) +
		"; base-uri 'none'; form-action 'none'"
)

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

const htmlStyle = `
:root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--alt:#f6f8fa;--alert:#cf222e}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1280px;padding:1rem 1.5rem 3rem;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:1.6rem;margin:.5rem 0}
h2{font-size:1.25rem;margin:2rem 0 .75rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
code,.id{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.id,.muted,.note,.hint{color:var(--muted)}
.id{display:block}
dl.meta{display:flex;flex-wrap:wrap;gap:.25rem 2rem;margin:0}
dl.meta div{display:flex;gap:.5rem}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0}
nav ul{list-style:none;display:flex;flex-wrap:wrap;gap:1rem;padding:0;margin:.75rem 0 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.75rem;margin:0}
.card{border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;background:var(--alt)}
.card dt{color:var(--muted);font-size:.85rem}
.card dd{margin:.2rem 0 0}
.card .num{display:block;font-size:1.6rem;font-weight:600}
.card .detail{font-size:.85rem}
.card.alert{border-color:var(--alert)}
.card.alert .num{color:var(--alert)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:1rem}
figure{margin:0;border:1px solid var(--line);border-radius:6px;padding:.75rem}
figcaption{font-weight:600;margin-bottom:.5rem}
figure .note{margin:.5rem 0 0;font-size:.85rem}
svg{display:block;max-width:100%;height:auto}
svg text{font-size:12px;fill:var(--fg)}
svg text.label{text-anchor:end}
svg .axis{stroke:var(--line)}
svg rect{fill:var(--c)}
.c-critical{--c:#82071e}.c-high{--c:#d1242f}.c-medium{--c:#bf8700}.c-low{--c:#0969da}.c-info{--c:#6e7781}
.c-active{--c:#0969da}.c-inactive{--c:#afb8c1}
.c-warn{--c:#bf8700}.c-report{--c:#6e7781}.c-rotate{--c:#0969da}.c-deactivate{--c:#d1242f}.c-delete{--c:#82071e}
.c-other{--c:#8250df}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
caption{text-align:left;color:var(--muted);padding-bottom:.4rem}
th,td{padding:.35rem .5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:var(--bg);white-space:nowrap}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;cursor:pointer}
th[aria-sort=ascending] button::after{content:" \25B2"}
th[aria-sort=descending] button::after{content:" \25BC"}
td.num{text-align:right}
tbody tr:nth-child(even){background:var(--alt)}
tr.inactive{color:var(--muted)}
.sev::before{content:"";display:inline-block;width:.65em;height:.65em;border-radius:50%;background:var(--c);margin-right:.35em}
ul.controls{list-style:none;margin:0;padding:0;font-size:.85em}
abbr[title]{text-decoration:none;border-bottom:1px dotted var(--muted)}
footer{margin-top:3rem;color:var(--muted);font-size:.85rem}
@media print{nav,.hint{display:none}thead th{position:static}}
`

// htmlScript sorts a table.sortable by the column whose heading button is
// clicked, by each cell's data-sort attribute when it has one, else by its
// text; numerically when the heading has data-type="number". Without it the
// tables are still there, in the document's order.
const htmlScript = `
(function () {
  "use strict";
  function value(row, col) {
    var cell = row.cells[col];
    if (!cell) return "";
    var v = cell.getAttribute("data-sort");
    return v === null ? cell.textContent.trim() : v;
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      var button = th.querySelector("button");
      if (!button) return;
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        var numeric = th.getAttribute("data-type") === "number";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = value(a, col), y = value(b, col), c;
          if (numeric) {
            c = (parseFloat(x) || 0) - (parseFloat(y) || 0);
          } else {
            c = x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
          }
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
`

var htmlPage = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{{.CSP}}">
<meta name="generator" content="keywarden">
<title>keywarden scan, {{.Generated}}</title>
<style>{{.Style}}</style>
</head>
<body>
<header>
<h1>keywarden scan</h1>
<dl class="meta">
<div><dt>Generated</dt><dd><time datetime="{{.Generated}}">{{.Generated}}</time></dd></div>
<div><dt>Ages as of</dt><dd><time datetime="{{.AsOf}}">{{.AsOf}}</time>{{if .ShowAsOf}} <span class="muted">(set with --as-of)</span>{{end}}</dd></div>
<div><dt>Caller</dt><dd><code>{{.Caller}}</code></dd></div>
</dl>
<nav aria-label="Sections">
<ul>
<li><a href="#summary">Summary</a></li>
<li><a href="#charts">Charts</a></li>
<li><a href="#findings">Findings</a></li>
<li><a href="#keys">Access keys</a></li>
{{- if .Failed}}
<li><a href="#failed">Accounts not read</a></li>
{{- end}}
</ul>
</nav>
</header>
<main>
<section id="summary" aria-labelledby="summary-h">
<h2 id="summary-h">Summary</h2>
<dl class="cards">
{{- range .Cards}}
<div class="card{{if .Alert}} alert{{end}}"><dt>{{.Label}}</dt><dd><span class="num">{{.Value}}</span>{{with .Detail}} <span class="detail">{{.}}</span>{{end}}</dd></div>
{{- end}}
</dl>
{{- if .Notes}}
<ul class="notes">
{{- range .Notes}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
</section>
<section id="charts" aria-labelledby="charts-h">
<h2 id="charts-h">Charts</h2>
<div class="charts">
{{- range .Charts}}
<figure id="{{.ID}}">
<figcaption>{{.Title}}</figcaption>
<svg role="img" aria-labelledby="{{.ID}}-title {{.ID}}-desc" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}">
<title id="{{.ID}}-title">{{.Title}}</title>
<desc id="{{.ID}}-desc">{{.Desc}}</desc>
{{- range .Legend}}
<rect class="{{.Class}}" x="{{.X}}" y="6" width="12" height="12"></rect>
<text x="{{.TextX}}" y="16">{{.Name}}</text>
{{- end}}
{{- if .Rows}}
<line class="axis" x1="{{.AxisX}}" y1="{{.AxisY1}}" x2="{{.AxisX}}" y2="{{.AxisY2}}"></line>
{{- range .Rows}}
<g>
<text class="label" x="{{.LabelX}}" y="{{.TextY}}">{{if ne .Label .Full}}<title>{{.Full}}</title>{{end}}{{.Label}}</text>
{{- $row := .}}
{{- range .Segments}}
<rect class="{{.Class}}" x="{{.X}}" y="{{$row.BarY}}" width="{{.W}}" height="{{$row.BarH}}"><title>{{.Title}}</title></rect>
{{- end}}
<text x="{{.TotalX}}" y="{{.TextY}}">{{.Total}}</text>
</g>
{{- end}}
{{- else}}
<text x="10" y="{{.EmptyY}}">{{.Empty}}</text>
{{- end}}
</svg>
{{- with .Note}}
<p class="note">{{.}}</p>
{{- end}}
</figure>
{{- end}}
</div>
</section>
<section id="findings" aria-labelledby="findings-h">
<h2 id="findings-h">Findings</h2>
{{- if .Findings}}
<p class="hint">Select a column heading to sort by it; select it again to reverse.</p>
<div class="scroll">
<table class="sortable">
<caption>{{len .Findings}} findings, in the order the policy reported them.</caption>
<thead>
<tr>
<th scope="col"><button type="button">Account</button></th>
<th scope="col"><button type="button">User</button></th>
<th scope="col"><button type="button">Key</button></th>
<th scope="col"><button type="button">Rule</button></th>
<th scope="col" data-type="number"><button type="button">Severity</button></th>
<th scope="col"><button type="button">Stage</button></th>
<th scope="col"><button type="button">Next stage</button></th>
<th scope="col"><button type="button">Next stage on</button></th>
<th scope="col"><button type="button">Exempt</button></th>
<th scope="col"><button type="button">Controls</button></th>
<th scope="col"><button type="button">Detail</button></th>
</tr>
</thead>
<tbody>
{{- range .Findings}}
<tr>
<td>{{.AccountName}}<span class="id">{{.AccountID}}</span></td>
<td>{{.User}}</td>
<td>{{if .Key}}<code>{{.Key}}</code>{{else}}<span class="muted">—</span>{{end}}</td>
<td><code>{{.Rule}}</code></td>
<td data-sort="{{.SevRank}}"><span class="sev {{.SevClass}}">{{.Severity}}</span></td>
<td>{{.Stage}}</td>
<td>{{if .NextStage}}{{.NextStage}}{{else}}<span class="muted">—</span>{{end}}</td>
<td data-sort="{{.NextAtSort}}">{{if .NextAt}}<time datetime="{{.NextAtSort}}">{{.NextAt}}</time>{{else}}<span class="muted">—</span>{{end}}</td>
<td data-sort="{{if .Exempt}}1{{else}}0{{end}}">{{if .Exempt}}yes{{with .ExemptText}}: {{.}}{{end}}{{else}}no{{end}}</td>
<td>{{if .Controls}}<ul class="controls">{{range .Controls}}<li><abbr title="{{.Title}}">{{.Label}}</abbr></li>{{end}}</ul>{{else}}<span class="muted">—</span>{{end}}</td>
<td>{{.Message}}</td>
</tr>
{{- end}}
</tbody>
</table>
</div>
{{- else}}
<p>No findings.</p>
{{- end}}
</section>
<section id="keys" aria-labelledby="keys-h">
<h2 id="keys-h">Access keys</h2>
{{- if .Keys}}
<div class="scroll">
<table class="sortable">
<caption>{{len .Keys}} access keys, by account, user and creation.</caption>
<thead>
<tr>
<th scope="col"><button type="button">Account</button></th>
<th scope="col"><button type="button">User</button></th>
<th scope="col"><button type="button">Key</button></th>
<th scope="col"><button type="button">Status</button></th>
<th scope="col" data-type="number"><button type="button">Age (days)</button></th>
<th scope="col"><button type="button">Created</button></th>
<th scope="col"><button type="button">Last used</button></th>
<th scope="col"><button type="button">Service</button></th>
</tr>
</thead>
<tbody>
{{- range .Keys}}
<tr{{if .Inactive}} class="inactive"{{end}}>
<td>{{.AccountName}}<span class="id">{{.AccountID}}</span></td>
<td{{with .UserARN}} title="{{.}}"{{end}}>{{.User}}</td>
<td>{{if .KeyID}}<code>{{.KeyID}}</code>{{else}}<span class="muted">{{.KeyNote}}</span>{{end}}</td>
<td>{{.Status}}</td>
<td class="num">{{.AgeDays}}</td>
<td>{{.Created}}</td>
<td data-sort="{{.LastUsedSort}}">{{.LastUsed}}</td>
<td>{{.Service}}</td>
</tr>
{{- end}}
</tbody>
</table>
</div>
{{- else}}
<p>No access keys.</p>
{{- end}}
</section>
{{- if .Failed}}
<section id="failed" aria-labelledby="failed-h">
<h2 id="failed-h">Accounts not read</h2>
<p>Nothing from these accounts is in this report.</p>
<div class="scroll">
<table>
<thead>
<tr><th scope="col">Account</th><th scope="col">Error code</th><th scope="col">Error</th></tr>
</thead>
<tbody>
{{- range .Failed}}
<tr><td>{{.Name}}<span class="id">{{.ID}}</span></td><td>{{.Code}}</td><td>{{.Error}}</td></tr>
{{- end}}
</tbody>
</table>
</div>
</section>
{{- end}}
</main>
<footer>
<p>Made by keywarden. This file is self-contained: opening it loads nothing from the network.</p>
</footer>
<script>{{.Script}}</script>
</body>
</html>
`))
