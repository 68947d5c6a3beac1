package report

import (
	"bufio"
	"cmp"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"
)

// renderHTML writes doc as one self-contained HTML5 page: a summary, four
// charts drawn as inline SVG, the findings and the keys as tables that sort
// on a click, and the accounts that could not be read. Its style and script
// are inline and it names no URL, so opening it fetches nothing; a Content
// Security Policy in the page says so to the browser too. Every name chosen
// by others (accounts, users, errors) goes through html/template and is
// escaped, its control characters made spaces. The output depends on doc alone: no clock, no map order.
func renderHTML(w io.Writer, doc *Document) error {
	bw := bufio.NewWriterSize(w, writeBufSize)
	if err := htmlPage.Execute(bw, newHTMLView(doc)); err != nil {
		return err
	}
	return bw.Flush()
}

// dueWindowDays is the span of the "falls due" chart and count, from as_of.
const dueWindowDays = 30

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

// failedAccounts are the accounts that could not be read: nothing of
// them is in the document.
func failedAccounts(doc *Document) []Account {
	var out []Account
	for _, a := range doc.Accounts {
		if a.failed() {
			out = append(out, a)
		}
	}
	return out
}

// partialAccounts are the accounts read in part: their keys are in the
// document, but not everything could be read.
func partialAccounts(doc *Document) []Account {
	var out []Account
	for _, a := range doc.Accounts {
		if a.Status == statusPartial {
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

	Cards  []htmlCard
	Charts []barChart // drawn by the template, with their SVG method
	// Findings and Keys are made one row at a time, as the page is
	// written; FindingCount and KeyCount say how many there are.
	Findings     iter.Seq[htmlFinding]
	FindingCount int
	Keys         iter.Seq[htmlKey]
	KeyCount     int
	Rotations    []htmlRotation
	Failed       []htmlFailed
	Partial      []htmlFailed // accounts read in part
	Notes        []string
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

// htmlRotation is the row of one rotation under way.
type htmlRotation struct {
	AccountID, User    string
	OldKey, NewKey     string
	SecretARN          string
	Stored, StoredSort string
	NewUsed, NewSort   string
	Quiet, QuietSort   string
	Cutover, CutSort   string
	Phase, Summary     string
}

func newHTMLRotation(r Rotation) htmlRotation {
	day := func(t *time.Time) (string, string) {
		if t == nil || t.IsZero() {
			return "", ""
		}
		u := stamp(*t)
		return u.Format("2006-01-02 15:04"), u.Format(time.RFC3339)
	}
	h := htmlRotation{AccountID: r.AccountID, User: clean(r.UserName), OldKey: r.OldKeyID, NewKey: r.NewKeyID,
		SecretARN: clean(r.SecretARN), Phase: r.Phase, Summary: clean(r.Summary)}
	h.Stored, h.StoredSort = day(&r.StoredAt)
	h.NewUsed, h.NewSort = day(r.NewKeyUsedAt)
	h.Quiet, h.QuietSort = day(&r.OldKeyQuietSince)
	h.Cutover, h.CutSort = day(r.CutoverAt)
	return h
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
	v.Charts = []barChart{ageChart(doc), ruleChart(doc), accountChart(doc), dueChart(doc)}

	v.FindingCount, v.Findings = len(doc.Findings), func(yield func(htmlFinding) bool) {
		for _, f := range doc.Findings {
			if !yield(newHTMLFinding(f)) {
				return
			}
		}
	}
	v.KeyCount, v.Keys = len(doc.Keys), func(yield func(htmlKey) bool) {
		for _, k := range doc.Keys {
			if !yield(newHTMLKey(k)) {
				return
			}
		}
	}

	for _, r := range doc.Rotations {
		v.Rotations = append(v.Rotations, newHTMLRotation(r))
	}
	for _, a := range failedAccounts(doc) {
		v.Failed = append(v.Failed, htmlFailed{ID: a.ID, Name: clean(a.Name), Code: clean(deref(a.ErrorCode)), Error: clean(deref(a.Error))})
	}
	for _, a := range partialAccounts(doc) {
		v.Partial = append(v.Partial, htmlFailed{ID: a.ID, Name: clean(a.Name), Code: clean(deref(a.ErrorCode)), Error: clean(deref(a.Error))})
	}

	if n := unreadKeyIDs(doc.Keys); n > 0 {
		v.Notes = append(v.Notes, fmt.Sprintf("%s not read: by default, key IDs are read only for keys that need attention; --key-ids all reads every one.", plural(n, "key ID")))
	}
	for _, a := range rootKeysUnlisted(doc) {
		v.Notes = append(v.Notes, fmt.Sprintf("The root user of %s has access keys (details are in the credential report only).", clean(accountLabel(a.ID, a.Name))))
	}
	return v
}

// newHTMLFinding is the row of one finding.
func newHTMLFinding(f Finding) htmlFinding {
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
	return hf
}

// newHTMLKey is the row of one key.
func newHTMLKey(k Key) htmlKey {
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
	return hk
}

func htmlCards(doc *Document) []htmlCard {
	s := doc.Summary
	sev := countBy(doc.Findings, func(f Finding) string { return f.Severity }, compareSeverity)
	sevDetail := tallyString(sev, " · ")
	if len(sev) == 0 {
		sevDetail = "none"
	}
	return []htmlCard{
		{Label: "Accounts", Value: s.Accounts, Detail: accountCounts(s), Alert: s.AccountsFailed+s.AccountsPartial > 0},
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

// The page's template, style and script are files of their own, to be
// read and edited as HTML, CSS and JavaScript rather than as Go strings.
// report.js sorts a table.sortable by the column whose heading button is
// clicked, by each cell's data-sort attribute when it has one, else by its
// text; numerically when the heading has data-type="number". Without it the
// tables are still there, in the document's order.
var (
	//go:embed assets/page.html.tmpl
	pageTemplate string
	//go:embed assets/report.css
	reportCSS string
	//go:embed assets/report.js
	reportJS string
)

var htmlPage = template.Must(template.New("page").Parse(pageTemplate))

// htmlStyle and htmlScript are the text of the page's <style> and <script>
// elements, the text the Content Security Policy hashes: each file after a
// newline, so that it starts on a line of its own.
var (
	htmlStyle  = "\n" + reportCSS
	htmlScript = "\n" + reportJS
)

// htmlCSP allows the page's inline style and script (by hash) and nothing
// else: no fetch of any kind.
var htmlCSP = "default-src 'none'; style-src " + cspHash(htmlStyle) + "; script-src " + cspHash(htmlScript) +
	"; base-uri 'none'; form-action 'none'"

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}
