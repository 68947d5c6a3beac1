package report

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"
)

// drawnChart is what an SVG chart shows, read back from its markup.
type drawnChart struct {
	Height string   // of the viewBox
	Desc   string   // for screen readers
	Legend []string // "class name"
	Axis   bool
	Rows   []drawnRow
	Empty  string // the text drawn when there are no rows
}

type drawnRow struct {
	Label string   // as drawn, perhaps shortened
	Full  string   // the label's tooltip, when shortened
	Bars  []string // "class x+width: tooltip", left to right
	Total string
}

// readChart parses the SVG of the chart id into a drawnChart, and checks
// what every chart must have: role=img, labelled by its title and desc.
func readChart(t *testing.T, id, svg string) drawnChart {
	t.Helper()
	root, err := html.Parse(strings.NewReader(svg))
	if err != nil {
		t.Fatal(err)
	}
	var el *html.Node
	for n := range root.Descendants() {
		if n.Type == html.ElementNode && n.Data == "svg" {
			el = n
			break
		}
	}
	if el == nil {
		t.Fatalf("no <svg> in %s", svg)
	}
	if got := attr(el, "role"); got != "img" {
		t.Errorf("role=%q, want img", got)
	}
	if got, want := attr(el, "aria-labelledby"), id+"-title "+id+"-desc"; got != want {
		t.Errorf("aria-labelledby=%q, want %q", got, want)
	}
	if title := firstElement(el); title == nil || title.Data != "title" || attr(title, "id") != id+"-title" {
		t.Errorf("the <svg> does not start with <title id=%q>", id+"-title")
	}

	var d drawnChart
	if vb := strings.Fields(attr(el, "viewBox")); len(vb) == 4 {
		d.Height = vb[3]
	}
	tip := func(n *html.Node) string {
		if c := firstElement(n); c != nil && c.Data == "title" {
			return text(c)
		}
		return ""
	}
	for c := range el.ChildNodes() {
		if c.Type != html.ElementNode {
			continue
		}
		switch c.Data {
		case "desc":
			d.Desc = text(c)
		case "rect": // a legend's colour, then its name
			d.Legend = append(d.Legend, attr(c, "class")+" "+text(nextElement(c)))
		case "line":
			d.Axis = true
		case "g":
			var r drawnRow
			for e := range c.ChildNodes() {
				if e.Type != html.ElementNode {
					continue
				}
				switch {
				case e.Data == "text" && attr(e, "class") == "label":
					r.Full = tip(e)
					r.Label = strings.TrimPrefix(text(e), r.Full)
				case e.Data == "text":
					r.Total = text(e)
				case e.Data == "rect":
					r.Bars = append(r.Bars, fmt.Sprintf("%s %s+%s: %s", attr(e, "class"), attr(e, "x"), attr(e, "width"), tip(e)))
				}
			}
			d.Rows = append(d.Rows, r)
		case "text": // a legend's name (read above), or what is said of no rows
			if prev := prevElement(c); prev == nil || prev.Data != "rect" {
				d.Empty = text(c)
			}
		}
	}
	return d
}

func nextElement(n *html.Node) *html.Node {
	for s := n.NextSibling; s != nil; s = s.NextSibling {
		if s.Type == html.ElementNode {
			return s
		}
	}
	return &html.Node{}
}

func prevElement(n *html.Node) *html.Node {
	for s := n.PrevSibling; s != nil; s = s.PrevSibling {
		if s.Type == html.ElementNode {
			return s
		}
	}
	return nil
}

func TestBarChartSVG(t *testing.T) {
	one := []chartSeries{{"keys", "c-active"}}
	severities := []chartSeries{{"high", "c-high"}, {"medium", "c-medium"}, {"low", "c-low"}, {"info", "c-info"}}
	tests := []struct {
		name  string
		chart barChart
		want  drawnChart
	}{
		{
			name:  "no rows",
			chart: barChart{Empty: "No access keys.", Series: one},
			want:  drawnChart{Height: "40", Desc: "No access keys.", Empty: "No access keys."},
		},
		{
			name: "zero values",
			chart: barChart{Empty: "No findings.", Series: severities, Rows: []barRow{
				{"max_age", []int{0, 0, 0, 0}},
				{"unused", []int{0, 0, 0, 0}},
			}},
			// Rows without bars, and no legend: no series is in use.
			want: drawnChart{Height: "64", Desc: "max_age: 0; unused: 0.", Axis: true, Rows: []drawnRow{
				{Label: "max_age", Total: "0"},
				{Label: "unused", Total: "0"},
			}},
		},
		{
			name:  "one value",
			chart: barChart{Series: one, Rows: []barRow{{"0–30 days", []int{3}}}},
			// The longest bar is chartBarMax long; one series needs no legend.
			want: drawnChart{Height: "40", Desc: "0–30 days: 3.", Axis: true, Rows: []drawnRow{
				{Label: "0–30 days", Bars: []string{"c-active 200+380: 0–30 days: 3"}, Total: "3"},
			}},
		},
		{
			name: "many values",
			chart: barChart{Series: severities, Rows: []barRow{
				{"a", []int{1, 0, 0, 0}},
				{"b", []int{2, 2, 0, 0}},
				{"c", []int{0, 0, 8, 0}},
			}},
			// Bars stacked, in proportion to the largest total; the legend
			// only for series in use.
			want: drawnChart{
				Height: "112", Desc: "a: 1 (high 1); b: 4 (high 2, medium 2); c: 8 (low 8).", Axis: true,
				Legend: []string{"c-high high", "c-medium medium", "c-low low"},
				Rows: []drawnRow{
					{Label: "a", Bars: []string{"c-high 200+48: a, high: 1"}, Total: "1"},
					{Label: "b", Bars: []string{"c-high 200+95: b, high: 2", "c-medium 295+95: b, medium: 2"}, Total: "4"},
					{Label: "c", Bars: []string{"c-low 200+380: c, low: 8"}, Total: "8"},
				},
			},
		},
		{
			name:  "a value too small to draw",
			chart: barChart{Series: one, Rows: []barRow{{"big", []int{1000}}, {"small", []int{1}}}},
			want: drawnChart{Height: "64", Desc: "big: 1000; small: 1.", Axis: true, Rows: []drawnRow{
				{Label: "big", Bars: []string{"c-active 200+380: big: 1000"}, Total: "1000"},
				{Label: "small", Bars: []string{"c-active 200+1: small: 1"}, Total: "1"},
			}},
		},
		{
			name:  "a long label",
			chart: barChart{Series: one, Rows: []barRow{{"a-rather-long-account-name (111111111111)", []int{2}}}},
			want: drawnChart{Height: "40", Desc: "a-rather-long-account-name (111111111111): 2.", Axis: true, Rows: []drawnRow{{
				Label: "a-rather-long-account-name …", Full: "a-rather-long-account-name (111111111111)",
				Bars: []string{"c-active 200+380: a-rather-long-account-name (111111111111): 2"}, Total: "2",
			}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.chart
			c.ID, c.Title = "chart-test", "A test chart"
			svg, err := c.SVG()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, readChart(t, c.ID, string(svg))); diff != "" {
				t.Errorf("chart (-want +got):\n%s\nfrom %s", diff, svg)
			}
		})
	}
}

// TestBarChartSVGEscapes: labels and series names are text, never markup.
func TestBarChartSVGEscapes(t *testing.T) {
	const evil = `<script>alert(1)</script> "q"`
	c := barChart{
		ID: "chart-evil", Title: evil, Empty: evil,
		Series: []chartSeries{{evil, "c-other"}, {"low", "c-low"}},
		Rows:   []barRow{{evil, []int{1, 1}}},
	}
	svg, err := c.SVG()
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"<script", `"q"`} {
		if strings.Contains(string(svg), raw) {
			t.Errorf("SVG contains %q unescaped:\n%s", raw, svg)
		}
	}
	d := readChart(t, c.ID, string(svg))
	if want := []string{"c-other " + evil, "c-low low"}; !cmp.Equal(d.Legend, want) {
		t.Errorf("legend %q, want %q", d.Legend, want)
	}
	if len(d.Rows) != 1 || d.Rows[0].Full != evil {
		t.Errorf("rows %+v, want one labelled %q", d.Rows, evil)
	}
}
