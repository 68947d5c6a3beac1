package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMarkdownGolden(t *testing.T) {
	goldenTest(t, fixtureFindingsDoc(), FormatMarkdown, "scan.md")
}

// mdRows returns the table rows (header and separator excluded) under each
// "#### severity" heading of the findings section, split into cells.
func mdRows(t *testing.T, out string) map[string][][]string {
	t.Helper()
	rows := map[string][][]string{}
	sev := ""
	inFindings := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "### "):
			inFindings = strings.HasPrefix(line, "### Findings")
			sev = ""
		case strings.HasPrefix(line, "#### "):
			sev = strings.Fields(line)[1]
		case inFindings && sev != "" && strings.HasPrefix(line, "|"):
			cells := splitRow(line)
			if cells[0] == "Account" || strings.HasPrefix(cells[0], "---") {
				continue
			}
			rows[sev] = append(rows[sev], cells)
		}
	}
	return rows
}

// splitRow splits a GFM table row on the pipes not escaped by a backslash.
func splitRow(line string) []string {
	var cells []string
	var cur strings.Builder
	escaped := false
	for _, r := range strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|") {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case r == '|':
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

func TestMarkdownRows(t *testing.T) {
	doc := fixtureFindingsDoc()
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	rows := mdRows(t, buf.String())
	got := map[string]int{}
	for sev, rs := range rows {
		got[sev] = len(rs)
		for _, r := range rs {
			if len(r) != 8 {
				t.Errorf("row with %d cells, want 8: %q", len(r), r)
			}
		}
	}
	if diff := cmp.Diff(map[string]int{"critical": 1, "medium": 2, "low": 2}, got); diff != "" {
		t.Errorf("rows by severity (-want +got):\n%s", diff)
	}
	// Highest severity first.
	out := buf.String()
	if c, m, l := strings.Index(out, "#### critical"), strings.Index(out, "#### medium"), strings.Index(out, "#### low"); !(c < m && m < l) {
		t.Errorf("severities out of order: critical at %d, medium at %d, low at %d", c, m, l)
	}
	// The exemption reason holds a pipe: escaped, it stays in its cell.
	if want := `yes: vendor integration \| no rotation API (until 2026-06-30, keywarden.yaml:14)`; !strings.Contains(out, want) {
		t.Errorf("no exempt cell %q in:\n%s", want, out)
	}
	if !strings.Contains(out, "- 2 key IDs not read") {
		t.Errorf("no note on the key IDs not read:\n%s", out)
	}
}

func TestMarkdownEscapes(t *testing.T) {
	doc := hostileDoc()
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, raw := range []string{"<script", "</script>", "<img", `"q"`} {
		if strings.Contains(out, raw) {
			t.Errorf("output contains %q unescaped:\n%s", raw, out)
		}
	}
	for _, want := range []string{
		`&lt;script&gt;alert(1)&lt;/script&gt; &quot;q&quot; \| x next line`,
		`&amp;amp; &lt;img src=x onerror=alert(2)&gt;`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	n := 0
	for _, rs := range mdRows(t, out) {
		for _, r := range rs {
			n++
			if len(r) != 8 {
				t.Errorf("row with %d cells, want 8: %q", len(r), r)
			}
		}
	}
	if n != len(doc.Findings) {
		t.Errorf("%d finding rows, want one per finding (%d)", n, len(doc.Findings))
	}
	for i, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "|") && !strings.HasSuffix(line, "|") {
			t.Errorf("line %d is a broken table row: %q", i+1, line)
		}
	}
}

func TestMarkdownCap(t *testing.T) {
	doc := manyFindingsDoc(40, 250)
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	n := 0
	for _, rs := range mdRows(t, out) {
		n += len(rs)
	}
	if n != markdownMaxFindings {
		t.Errorf("%d finding rows, want %d", n, markdownMaxFindings)
	}
	more := 0
	for _, line := range strings.Split(out, "\n") {
		var k int
		var sev string
		if _, err := fmt.Sscanf(line, "… and %d more %s findings", &k, &sev); err == nil {
			more += k
		}
	}
	if more != 250-markdownMaxFindings {
		t.Errorf("the … and N more lines add up to %d, want %d", more, 250-markdownMaxFindings)
	}
	if !strings.Contains(out, "### Findings (250)") {
		t.Error("the findings heading does not count them all")
	}
}

func TestMarkdownEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, Build(nil, BuildOptions{GeneratedAt: fixtureGenerated}), FormatMarkdown); err != nil {
		t.Fatal(err)
	}
	want := "## keywarden scan\n\n" +
		"Generated 2026-03-01T12:00:00Z.\n\n" +
		"| Summary | |\n|---|---|\n" +
		"| Accounts | 0: 0 read, 0 failed |\n" +
		"| IAM users | 0 |\n" +
		"| Access keys | 0: 0 active, 0 inactive |\n" +
		"| Accounts with root keys | 0 |\n" +
		"| Findings | 0 |\n" +
		"| Next stages due in 30 days | 0 (by 2026-03-31) |\n" +
		"\n### Findings (0)\n\nNo findings.\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestMarkdownText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a|b", `a\|b`},
		{`a\|b`, `a\\\|b`},
		{"two\nlines\r\tend", "two lines  end"},
		{`<b>&"x"`, "&lt;b&gt;&amp;&quot;x&quot;"},
		{"*em* _em_ `code` [link](x) ~s~", "\\*em\\* \\_em\\_ \\`code\\` \\[link\\](x) \\~s\\~"},
	}
	for _, tt := range tests {
		if got := mdText(tt.in); got != tt.want {
			t.Errorf("mdText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for in, want := range map[string]string{
		"AKIAEXAMPLE": "`AKIAEXAMPLE`",
		"a`b":         "a\\`b",
		"a|b":         `a\|b`,
		"":            "",
	} {
		if got := mdCode(in); got != want {
			t.Errorf("mdCode(%q) = %q, want %q", in, got, want)
		}
	}
}
