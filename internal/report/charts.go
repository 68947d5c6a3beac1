package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The charts of the HTML report: a horizontal bar chart drawn as inline SVG,
// and the four charts of a Document made with it.

// barChart is a horizontal bar chart: one row per label, each bar stacked
// from one value per series. ID names its elements, so it must be unique in
// a page; Empty is said when there are no rows; Note is for a line under
// the chart, outside its SVG.
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
	ID, Title, Desc, Empty string
	Width, Height          int
	AxisX, AxisY1, AxisY2  int
	EmptyY                 int
	Legend                 []svgLegend
	Rows                   []svgRow
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

// SVG renders c as an <svg> element to put in an HTML page (it has no
// xmlns), styled by the page's stylesheet: the c-* classes of its series,
// label and axis. Its <title> and <desc> say what it shows, for screen
// readers. A method, so that the page's template can call it as {{.SVG}}.
func (c barChart) SVG() (template.HTML, error) {
	var b bytes.Buffer
	if err := chartSVG.ExecuteTemplate(&b, "chart", layout(c)); err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}

// chartSVG draws an svgChart as the template "chart". It is html/template,
// as the page is, so that names in labels are escaped the same way.
var chartSVG = template.Must(template.New("chart.svg.tmpl").Parse(chartSVGTemplate))

//go:embed assets/chart.svg.tmpl
var chartSVGTemplate string

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

// layout places c's legend, bars and labels, the longest bar chartBarMax
// long, and says in Desc what the bars show.
func layout(c barChart) svgChart {
	out := svgChart{ID: c.ID, Title: c.Title, Empty: c.Empty, Width: chartWidth}
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

// shorten cuts s to at most n runes, marking the cut with an ellipsis.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// The report's charts.

// topAccounts is how many accounts the findings-by-account chart shows.
const topAccounts = 15

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
func ageChart(doc *Document) barChart {
	buckets := []ageBucket{
		{"0–30 days", 30}, {"31–90 days", 90}, {"91–180 days", 180}, {"181–365 days", 365}, {"over a year", math.MaxInt},
	}
	c := barChart{
		ID: "chart-age", Title: "Access keys by age",
		Empty:  "No access keys.",
		Series: []chartSeries{{"active", "c-active"}, {"inactive", "c-inactive"}},
	}
	if len(doc.Keys) == 0 {
		return c
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
	return c
}

// ruleChart: findings by rule, by severity.
func ruleChart(doc *Document) barChart {
	return findingsChart(doc, "chart-rule", "Findings by rule", func(f Finding) (string, string) { return f.Rule, f.Rule }, 0)
}

// accountChart: findings by account, the topAccounts with the most.
func accountChart(doc *Document) barChart {
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
func findingsChart(doc *Document, id, title string, group func(Finding) (string, string), limit int) barChart {
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
	return c
}

// dueChart: the next stages falling due in the dueWindowDays from as_of,
// by week and by stage.
func dueChart(doc *Document) barChart {
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
		return c
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
	return c
}
