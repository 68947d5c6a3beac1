package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The controls of three rules, as the policy maps them (a subset).
var (
	rootKeyControls = []Control{
		{Framework: "CIS AWS Foundations Benchmark", Versions: "v1.4.0–v4.0.1", ID: "1.4", Title: "Ensure no 'root' user account access key exists"},
		{Framework: "CIS AWS Foundations Benchmark", Versions: "v5.0.0", ID: "1.3", Title: "Ensure no 'root' user account access key exists"},
		{Framework: "AWS Security Hub", ID: "IAM.4", Title: "IAM root user access key should not exist"},
	}
	maxAgeControls = []Control{
		{Framework: "CIS AWS Foundations Benchmark", Versions: "v1.4.0–v4.0.1", ID: "1.14", Title: "Ensure access keys are rotated every 90 days or less"},
		{Framework: "AWS Security Hub", ID: "IAM.3", Title: "IAM users' access keys should be rotated every 90 days or less"},
	}
	unusedInitialControls = []Control{
		{Framework: "CIS AWS Foundations Benchmark", Versions: "v1.4.0–v4.0.1", ID: "1.11", Title: "Do not setup access keys during initial user setup for all IAM users that have a console password"},
	}
)

// fixtureFindings are findings on the fixture's keys, as of fixtureAsOf:
// one per severity in use, an exempt one, keys whose ID was not read, and
// next stages inside and outside the 30 days from as_of.
func fixtureFindings() []Finding {
	return []Finding{
		{
			Rule: "max_age", Severity: "medium", Stage: "rotate", DueAt: day(2025, 4, 20),
			NextStage: "deactivate", NextStageAt: time.Date(2026, 3, 22, 9, 30, 0, 0, time.UTC),
			AccountID: "111111111111", AccountName: "prod-payments",
			UserName: "svc-payments", UserARN: "arn:aws:iam::111111111111:user/services/svc-payments",
			AccessKeyID: "AKIAEXAMPLEPAYMENTS2", KeySlot: 2, KeyCreatedAt: day(2025, 1, 20),
			Message:  "key is 419 days old (rotate after 90)",
			Controls: maxAgeControls,
		},
		{
			Rule: "root_key", Severity: "critical", Stage: "report",
			AccountID: "111111111111", AccountName: "prod-payments", UserName: RootUserName,
			UserARN: "arn:aws:iam::111111111111:root", KeySlot: 1, KeyCreatedAt: day(2021, 11, 3),
			Message:  "the root user has an access key",
			Controls: rootKeyControls,
		},
		{
			Rule: "unused_initial", Severity: "low", Stage: "warn", DueAt: day(2026, 2, 17),
			NextStage: "deactivate", NextStageAt: time.Date(2026, 3, 17, 9, 30, 0, 0, time.UTC),
			AccountID: "111111111111", AccountName: "prod-payments",
			UserName: "alice", UserARN: "arn:aws:iam::111111111111:user/alice",
			KeySlot: 1, KeyCreatedAt: day(2026, 2, 10),
			Message:  "key never used since it was created 33 days ago",
			Controls: unusedInitialControls,
		},
		{
			Rule: "inactive_cleanup", Severity: "low", Stage: "warn", DueAt: day(2025, 12, 1),
			NextStage: "delete", NextStageAt: time.Date(2026, 4, 10, 9, 30, 0, 0, time.UTC),
			AccountID: "111111111111", AccountName: "prod-payments",
			UserName: "svc-payments", UserARN: "arn:aws:iam::111111111111:user/services/svc-payments",
			KeySlot: 1, KeyCreatedAt: day(2024, 6, 1),
			Message: "inactive key not used for 468 days (delete after 500)", Estimated: true,
		},
		{
			Rule: "max_age", Severity: "medium", Stage: "warn", DueAt: day(2025, 5, 30),
			NextStage: "rotate", NextStageAt: time.Date(2026, 3, 20, 9, 30, 0, 0, time.UTC),
			AccountID: "222222222222", AccountName: "dev-sandbox",
			UserName: "dave", UserARN: "arn:aws:iam::222222222222:user/dave",
			AccessKeyID: "AKIAEXAMPLEDAVE00001", KeyCreatedAt: day(2025, 3, 1),
			Message: "key is 379 days old (rotate after 90)",
			Exempt:  true, ExemptionReason: "vendor integration | no rotation API",
			ExemptionSource: "keywarden.yaml:14", ExemptionExpires: "2026-06-30",
			Controls: maxAgeControls,
		},
	}
}

// fixtureFindingsDoc is the fixture's document with fixtureFindings.
func fixtureFindingsDoc() *Document {
	return Build(fixture(), BuildOptions{GeneratedAt: fixtureGenerated, AsOf: fixtureAsOf, Findings: fixtureFindings()})
}

// hostileDoc has names chosen to break out of HTML and Markdown.
func hostileDoc() *Document {
	doc := fixtureFindingsDoc()
	const evil = `<script>alert(1)</script> "q" | x` + "\nnext line"
	for i := range doc.Accounts {
		doc.Accounts[i].Name = evil
		if doc.Accounts[i].Error != nil {
			e := evil + ` &amp; <img src=x onerror=alert(2)>`
			doc.Accounts[i].Error = &e
		}
	}
	for i := range doc.Keys {
		doc.Keys[i].AccountName = evil
		doc.Keys[i].UserName = evil
		doc.Keys[i].UserARN = `arn:aws:iam::111111111111:user/"><script>alert(3)</script>`
	}
	for i := range doc.Findings {
		doc.Findings[i].AccountName = evil
		doc.Findings[i].UserName = evil
		doc.Findings[i].Message = evil
		doc.Findings[i].ExemptionReason = evil
	}
	return doc
}

// goldenTest renders doc in format f and compares it with testdata/name
// (go test -update rewrites it).
func goldenTest(t *testing.T, doc *Document, f Format, name string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, doc, f); err != nil {
		t.Fatalf("Render: %v", err)
	}
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", golden, diff)
	}
	return buf.Bytes()
}

func TestHTMLGolden(t *testing.T) {
	out := goldenTest(t, fixtureFindingsDoc(), FormatHTML, "scan.html")
	checkHTML(t, out)
}

// TestHTMLWellFormed checks documents of every shape: each must be
// well-formed and fetch nothing.
func TestHTMLWellFormed(t *testing.T) {
	docs := []struct {
		name string
		doc  *Document
	}{
		{"fixture", fixtureDoc()},
		{"with findings", fixtureFindingsDoc()},
		{"hostile names", hostileDoc()},
		{"empty scan", Build(nil, BuildOptions{GeneratedAt: fixtureGenerated})},
		{"many accounts", manyFindingsDoc(40, 250)},
		{"unknown values", unknownValuesDoc()},
	}
	for _, tt := range docs {
		doc := tt.doc
		t.Run(tt.name, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := Render(&a, doc, FormatHTML); err != nil {
				t.Fatal(err)
			}
			if err := Render(&b, doc, FormatHTML); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytes(), b.Bytes()) {
				t.Error("two renderings of the same document differ")
			}
			checkHTML(t, a.Bytes())
		})
	}
}

// voidElements have no end tag.
var voidElements = []string{"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

// fetchingElements would fetch, or could be made to.
var fetchingElements = []string{"base", "link", "img", "iframe", "frame", "object", "embed", "source", "audio", "video", "track", "image", "use", "form", "input", "picture", "portal"}

// urlAttributes hold URLs; only a fragment (#id) is allowed in them.
var urlAttributes = []string{"src", "href", "xlink:href", "srcset", "action", "formaction", "poster", "data", "background", "manifest", "ping", "cite", "longdesc", "codebase"}

// externalURL finds what would fetch: an http(s) URL, or a protocol-relative
// one ("//host", at the start or after a quote, parenthesis, space, = or ,).
var externalURL = regexp.MustCompile(`(?i)https?:|(^|[\s"'(=,])//[a-z0-9\[]|\burl\s*\(|@import`)

// checkHTML fails t with the problems of page (see htmlProblems).
func checkHTML(t *testing.T, page []byte) {
	t.Helper()
	for _, p := range htmlProblems(page) {
		t.Error(p)
	}
}

// htmlProblems checks that page is a well-formed HTML5 document with no
// external URL: every element closed in order (tokenizer), the document
// structure and accessible charts (parser).
func htmlProblems(page []byte) (problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if !bytes.HasPrefix(page, []byte("<!DOCTYPE html>\n")) {
		bad("page does not start with <!DOCTYPE html>")
	}

	z := html.NewTokenizer(bytes.NewReader(page))
	var stack []string
	started := map[string]int{}
	scripts := 0
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			if err := z.Err(); !errors.Is(err, io.EOF) {
				bad("tokenizer stopped before the end: %v", err)
				return problems
			}
			break
		}
		tok := z.Token()
		where := func() string { return strings.Join(stack, " > ") }
		switch tt {
		case html.StartTagToken, html.SelfClosingTagToken:
			started[tok.Data]++
			if slices.Contains(fetchingElements, tok.Data) {
				bad("<%s> in %s: it could fetch", tok.Data, where())
			}
			if tok.Data == "script" {
				scripts++
				if len(tok.Attr) > 0 {
					bad("<script> with attributes %v", tok.Attr)
				}
			}
			for _, a := range tok.Attr {
				name := a.Key
				if a.Namespace != "" {
					name = a.Namespace + ":" + a.Key
				}
				if slices.Contains(urlAttributes, name) && !strings.HasPrefix(a.Val, "#") {
					bad("<%s %s=%q>: not a fragment", tok.Data, name, a.Val)
				}
				if strings.HasPrefix(name, "on") {
					bad("<%s %s=%q>: an event handler attribute", tok.Data, name, a.Val)
				}
				if name == "style" {
					bad("<%s style=%q>: style attributes are not allowed by the page's CSP", tok.Data, a.Val)
				}
				if name == "xmlns" {
					bad("<%s xmlns=%q>: not needed in HTML", tok.Data, a.Val)
				}
				if externalURL.MatchString(a.Val) {
					bad("<%s %s=%q>: an external URL", tok.Data, name, a.Val)
				}
			}
			if tt == html.StartTagToken && !slices.Contains(voidElements, tok.Data) {
				stack = append(stack, tok.Data)
			}
		case html.EndTagToken:
			if len(stack) == 0 || stack[len(stack)-1] != tok.Data {
				bad("</%s> closes nothing open: open are %s", tok.Data, where())
				return problems
			}
			stack = stack[:len(stack)-1]
		case html.TextToken:
			if externalURL.MatchString(tok.Data) {
				bad("text in %s has an external URL: %q", where(), externalURL.FindString(tok.Data))
			}
		case html.CommentToken:
			bad("comment <!--%s-->", tok.Data)
		}
	}
	if scripts != 1 {
		bad("%d <script> elements, want the page's one", scripts)
	}
	if len(stack) > 0 {
		bad("not closed at the end: %s", strings.Join(stack, " > "))
	}
	for _, e := range []string{"html", "head", "body", "main", "title", "style", "script"} {
		if started[e] == 0 {
			bad("no <%s> start tag", e)
		}
	}
	for _, e := range []string{"html", "head", "body", "main", "style", "script"} {
		if started[e] > 1 {
			bad("%d <%s> elements, want 1", started[e], e)
		}
	}

	root, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		bad("html.Parse: %v", err)
		return problems
	}
	htmlEl := child(root, atom.Html)
	if htmlEl == nil || child(htmlEl, atom.Head) == nil || child(htmlEl, atom.Body) == nil {
		bad("the tree has no html > head, body")
		return problems
	}
	if lang := attr(htmlEl, "lang"); lang == "" {
		bad("<html> has no lang")
	}
	svgs := 0
	for n := range root.Descendants() {
		if n.Type != html.ElementNode || n.Data != "svg" {
			continue
		}
		svgs++
		title := firstElement(n)
		if title == nil || title.Data != "title" || strings.TrimSpace(text(title)) == "" {
			bad("an <svg> does not start with a non-empty <title>")
			continue
		}
		if attr(n, "role") != "img" {
			bad("<svg> %q has no role=img", text(title))
		}
		if id := attr(title, "id"); id == "" || !strings.Contains(attr(n, "aria-labelledby"), id) {
			bad("<svg> %q is not labelled by its title", text(title))
		}
	}
	if svgs != 4 {
		bad("%d charts, want 4", svgs)
	}
	for n := range root.Descendants() {
		if n.Type == html.ElementNode && n.Data == "table" && attr(n, "class") == "sortable" {
			for th := range n.Descendants() {
				if th.Type == html.ElementNode && th.Data == "th" && attr(th, "scope") != "col" {
					bad("a column heading without scope=col")
				}
			}
		}
	}
	return problems
}

func child(n *html.Node, a atom.Atom) *html.Node {
	for c := range n.ChildNodes() {
		if c.Type == html.ElementNode && c.DataAtom == a {
			return c
		}
	}
	return nil
}

func firstElement(n *html.Node) *html.Node {
	for c := range n.ChildNodes() {
		if c.Type == html.ElementNode {
			return c
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// TestHTMLEscapes: names chosen by others stay text, in elements and in
// attributes.
func TestHTMLEscapes(t *testing.T) {
	doc := hostileDoc()
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatHTML); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, raw := range []string{"<script>alert", "<img", `"><script>`, `"q"`} {
		if strings.Contains(out, raw) {
			t.Errorf("output contains %q unescaped", raw)
		}
	}
	root, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var scripts, userCells, arnTitles int
	for n := range root.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "script", "img":
			scripts++
		case "td":
			if text(n) == clean(doc.Keys[0].UserName) { // a user, or a finding's message
				userCells++
			}
			if attr(n, "title") == clean(doc.Keys[0].UserARN) {
				arnTitles++
			}
		}
	}
	if scripts != 1 {
		t.Errorf("%d <script> or <img> elements, want only the page's script", scripts)
	}
	if want := len(doc.Keys) + 2*len(doc.Findings); userCells != want {
		t.Errorf("%d cells hold the user name as text, want %d", userCells, want)
	}
	if arnTitles != len(doc.Keys) {
		t.Errorf("%d title attributes hold the user ARN, want %d", arnTitles, len(doc.Keys))
	}
}

// TestHTMLContent checks what the page says of the fixture.
func TestHTMLContent(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, fixtureFindingsDoc(), FormatHTML); err != nil {
		t.Fatal(err)
	}
	root, err := html.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	cards := map[string]string{}
	descs := map[string]string{}
	var findingRows, keyRows int
	for n := range root.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch {
		case n.Data == "div" && strings.HasPrefix(attr(n, "class"), "card"):
			dt, dd := firstElement(n), firstElement(n).NextSibling
			cards[text(dt)] = text(dd)
		case n.Data == "desc":
			descs[attr(n, "id")] = text(n)
		case n.Data == "section":
			for tr := range n.Descendants() {
				if tr.Type == html.ElementNode && tr.Data == "tr" && tr.Parent.Data == "tbody" {
					switch attr(n, "id") {
					case "findings":
						findingRows++
					case "keys":
						keyRows++
					}
				}
			}
		}
	}
	wantCards := map[string]string{
		"Accounts":                "3 2 read, 1 failed",
		"IAM users":               "4",
		"Access keys":             "5 4 active, 1 inactive",
		"Accounts with root keys": "1",
		"Findings":                "5 critical 1 · medium 2 · low 2",
		"Exempt findings":         "1 reported, never acted on",
		"Due in the next 30 days": "3 next stages by 2026-04-14",
	}
	if diff := cmp.Diff(wantCards, cards); diff != "" {
		t.Errorf("cards (-want +got):\n%s", diff)
	}
	wantDescs := map[string]string{
		"chart-age-desc":     "0–30 days: 0; 31–90 days: 1 (active 1); 91–180 days: 0; 181–365 days: 0; over a year: 4 (active 3, inactive 1).",
		"chart-rule-desc":    "max_age: 2 (medium 2); inactive_cleanup: 1 (low 1); root_key: 1 (critical 1); unused_initial: 1 (low 1).",
		"chart-account-desc": "prod-payments (111111111111): 4 (critical 1, medium 1, low 2); dev-sandbox (222222222222): 1 (medium 1).",
		"chart-due-desc":     "Mar 15 – Mar 21: 1 (deactivate 1); Mar 22 – Mar 28: 1 (deactivate 1); Mar 29 – Apr 4: 0; Apr 5 – Apr 11: 1 (delete 1); Apr 12 – Apr 13: 0.",
	}
	if diff := cmp.Diff(wantDescs, descs); diff != "" {
		t.Errorf("chart descriptions (-want +got):\n%s", diff)
	}
	if findingRows != 5 || keyRows != 5 {
		t.Errorf("%d finding rows and %d key rows, want 5 and 5", findingRows, keyRows)
	}
}

func TestDueDay(t *testing.T) {
	asOf := fixtureAsOf
	tests := []struct {
		name   string
		f      Finding
		want   int
		wantOK bool
	}{
		{"tomorrow", Finding{NextStage: "rotate", NextStageAt: asOf.Add(25 * time.Hour)}, 1, true},
		{"at as_of", Finding{NextStage: "rotate", NextStageAt: asOf}, 0, true},
		{"already past", Finding{NextStage: "rotate", NextStageAt: asOf.Add(-48 * time.Hour)}, 0, true},
		{"last second of the window", Finding{NextStage: "delete", NextStageAt: asOf.AddDate(0, 0, 30).Add(-time.Second)}, 29, true},
		{"30 days on", Finding{NextStage: "delete", NextStageAt: asOf.AddDate(0, 0, 30)}, 0, false},
		{"exempt", Finding{NextStage: "rotate", NextStageAt: asOf.Add(time.Hour), Exempt: true}, 0, false},
		{"no next stage", Finding{}, 0, false},
		{"next stage without a date", Finding{NextStage: "rotate"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := dueDay(tt.f, asOf)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("dueDay = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// manyFindingsDoc has n findings spread over accounts accounts.
func manyFindingsDoc(accounts, n int) *Document {
	rules := []string{"max_age", "unused", "unused_initial", "multiple_active", "inactive_cleanup"}
	sevs := []string{"info", "low", "medium", "high", "critical"}
	var fs []Finding
	for i := range n {
		id := strings.Repeat(string(rune('0'+i%10)), 10) + string(rune('0'+(i%accounts)/10)) + string(rune('0'+(i%accounts)%10))
		fs = append(fs, Finding{
			Rule: rules[i%len(rules)], Severity: sevs[(i/3)%len(sevs)], Stage: "warn",
			NextStage: "rotate", NextStageAt: fixtureAsOf.Add(time.Duration(i) * 7 * time.Hour),
			AccountID: id, UserName: "user" + string(rune('a'+i%26)), AccessKeyID: "AKIAEXAMPLE",
			Message: "finding",
		})
	}
	return Build(fixture(), BuildOptions{GeneratedAt: fixtureGenerated, AsOf: fixtureAsOf, Findings: fs})
}

// unknownValuesDoc has a severity, stage and status the renderers do not
// know.
func unknownValuesDoc() *Document {
	doc := Build(fixture(), BuildOptions{GeneratedAt: fixtureGenerated, AsOf: fixtureAsOf, Findings: []Finding{
		{Rule: "custom", Severity: "urgent", Stage: "escalate", NextStage: "page", NextStageAt: fixtureAsOf.Add(time.Hour), AccountID: "111111111111"},
	}})
	doc.Keys[0].Status = "Expired"
	return doc
}

// TestHTMLCSP: the page's Content Security Policy fetches nothing and
// allows its own style and script, by hash, as a browser computes them.
func TestHTMLCSP(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, fixtureFindingsDoc(), FormatHTML); err != nil {
		t.Fatal(err)
	}
	root, err := html.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var csp string
	inline := map[string]string{}
	for n := range root.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.Data {
		case "meta":
			if strings.EqualFold(attr(n, "http-equiv"), "Content-Security-Policy") {
				csp = attr(n, "content")
			}
		case "style", "script":
			inline[n.Data] = text(n)
		}
	}
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	want := map[string]string{
		"default-src": "'none'",
		"style-src":   cspHash(inline["style"]),
		"script-src":  cspHash(inline["script"]),
		"base-uri":    "'none'",
		"form-action": "'none'",
	}
	if diff := cmp.Diff(want, directives); diff != "" {
		t.Errorf("CSP %q (-want +got):\n%s", csp, diff)
	}
}

// TestHTMLChecker: htmlProblems finds what it is there to find, so that the
// tests above passing means something.
func TestHTMLChecker(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, fixtureFindingsDoc(), FormatHTML); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if p := htmlProblems(buf.Bytes()); len(p) > 0 {
		t.Fatalf("the fixture's page has problems: %q", p)
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"image", "<main>", `<main><img src="https://cdn.example.com/x.png" alt="">`, "could fetch"},
		{"http in an attribute", `<main>`, `<main data-x="http://example.com">`, "external URL"},
		{"protocol-relative link", "</head>", `<a href="//cdn.example.com/a.css"></a></head>`, "not a fragment"},
		{"stylesheet", "</head>", `<link rel="stylesheet" href="#x"></head>`, "could fetch"},
		{"url() in the style", "*{box-sizing:border-box}", "*{background:url(x.png)}", "external URL"},
		{"import in the style", "*{box-sizing:border-box}", "@import 'x.css';", "external URL"},
		{"URL in the script", `"use strict";`, `"use strict"; fetch("//api.example.com");`, "external URL"},
		{"URL in text", "<h1>keywarden scan</h1>", "<h1>see https://example.com</h1>", "external URL"},
		{"event handler", "<main>", `<main onclick="x()">`, "event handler"},
		{"unclosed element", "</section>", "", "closes nothing open"},
		{"misnested element", "<h1>keywarden scan</h1>", "<h1><em>keywarden scan</h1></em>", "closes nothing open"},
		{"chart without a title", `<title id="chart-age-title">Access keys by age</title>`, "", "<title>"},
		{"svg namespace", `<svg role="img" aria-labelledby="chart-age-title`, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-age-title`, "xmlns"},
		{"second script", "</body>", "<script></script></body>", "<script> elements"},
		{"no doctype", "<!DOCTYPE html>\n", "", "DOCTYPE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(page, tt.old) {
				t.Fatalf("page lacks %q", tt.old)
			}
			bad := strings.Replace(page, tt.old, tt.new, 1)
			problems := htmlProblems([]byte(bad))
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("no problem mentioning %q among %q", tt.want, problems)
			}
		})
	}
}

// TestHTMLRotations: the rotations under way get a table of their own,
// one row each, saying where each one is; names are escaped.
func TestHTMLRotations(t *testing.T) {
	doc := fixtureFindingsDoc()
	used := fixtureAsOf.Add(-2 * time.Hour)
	cut := fixtureAsOf.Add(22 * time.Hour)
	doc.Rotations = []Rotation{
		{AccountID: "111111111111", UserName: "alice", OldKeyID: "AKIAOLDKEY0000000001", NewKeyID: "AKIANEWKEY0000000001",
			SecretARN: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:keywarden/iam-user/alice-AbCdEf",
			CreatedAt: fixtureAsOf.Add(-5 * time.Hour), StoredAt: fixtureAsOf.Add(-5 * time.Hour), NewKeyUsedAt: &used,
			OldKeyQuietSince: fixtureAsOf.Add(-2 * time.Hour), CutoverAt: &cut, Phase: "waiting-for-quiet", Summary: "in use"},
		{AccountID: "111111111111", UserName: `<script>alert(1)</script>`, OldKeyID: "AKIAOLDKEY0000000002", NewKeyID: "AKIANEWKEY0000000002",
			SecretARN: "arn:aws:secretsmanager:eu-west-1:111111111111:secret:x", StoredAt: fixtureAsOf.Add(-time.Hour),
			OldKeyQuietSince: fixtureAsOf.Add(-time.Hour), Phase: "waiting-for-use", Summary: "not used yet"},
	}
	var buf bytes.Buffer
	if err := Render(&buf, doc, FormatHTML); err != nil {
		t.Fatal(err)
	}
	checkHTML(t, buf.Bytes())
	root, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for n := range root.Descendants() {
		if n.Type == html.ElementNode && n.Data == "section" && attr(n, "id") == "rotations" {
			for tr := range n.Descendants() {
				if tr.Type == html.ElementNode && tr.Data == "tr" && tr.Parent.Data == "tbody" {
					rows = append(rows, text(tr))
				}
			}
		}
	}
	if len(rows) != 2 {
		t.Fatalf("rotation rows %q, want 2", rows)
	}
	for _, want := range []string{"alice", "AKIAOLDKEY0000000001", "AKIANEWKEY0000000001", "keywarden/iam-user/alice-AbCdEf", "waiting-for-quiet", cut.Format("2006-01-02 15:04")} {
		if !strings.Contains(rows[0], want) {
			t.Errorf("row %q lacks %q", rows[0], want)
		}
	}
	if !strings.Contains(rows[1], "not yet") || !strings.Contains(rows[1], "once the new key is used") {
		t.Errorf("row %q: want the new key not used yet and no cutover date", rows[1])
	}
	if strings.Contains(buf.String(), "<script>alert(1)") {
		t.Error("a user name was not escaped")
	}
	// Without rotations the section is not there.
	buf.Reset()
	if err := Render(&buf, fixtureFindingsDoc(), FormatHTML); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `id="rotations"`) {
		t.Error("a report without rotations has a Rotations section")
	}
}
