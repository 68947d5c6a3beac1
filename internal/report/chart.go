package report

import "html/template"

// Chart is a horizontal stacked bar chart drawn as inline SVG: the one the
// HTML report draws, for other pages (keywarden serve's dashboard) to draw
// their own. Style it with Stylesheet, whose c-* classes color the series
// (c-critical … c-info, c-active, c-inactive, c-warn … c-delete, c-other).
type Chart struct {
	// ID names the chart's elements: unique in a page.
	ID, Title string
	// Empty is said when there are no rows.
	Empty  string
	Series []ChartSeries
	Rows   []ChartRow
}

// ChartSeries is one stacked part of every bar.
type ChartSeries struct{ Name, Class string }

// ChartRow is one bar: its label and one value per series.
type ChartRow struct {
	Label  string
	Values []int
}

// SVG renders the chart as an <svg> element, with a title and a
// description of its numbers for screen readers.
func (c Chart) SVG() (template.HTML, error) {
	b := barChart{ID: c.ID, Title: c.Title, Empty: c.Empty}
	for _, s := range c.Series {
		b.Series = append(b.Series, chartSeries(s))
	}
	for _, r := range c.Rows {
		b.Rows = append(b.Rows, barRow(r))
	}
	return b.SVG()
}

// SeveritySeries are the series of findings by severity, most severe first.
func SeveritySeries() []ChartSeries {
	out := make([]ChartSeries, 0, len(severitySeries))
	for _, s := range severitySeries {
		out = append(out, ChartSeries(s))
	}
	return out
}

// Stylesheet is the HTML report's stylesheet: its layout, tables, cards
// and the charts' classes.
func Stylesheet() string { return reportCSS }
