package report

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// markdownMaxFindings caps the findings listed in Markdown, so that the
// output of a large organisation still fits a CI step summary (GitHub
// allows 1 MiB) or a ticket. The counts always cover every finding.
const markdownMaxFindings = 200

// renderMarkdown writes doc as GitHub-flavoured Markdown, for a CI step
// summary ($GITHUB_STEP_SUMMARY) or a ticket: a summary table, the
// findings by severity (highest first, each severity in the order the
// policy reported them, markdownMaxFindings at most in all), the controls
// of the rules that fired, the accounts that could not be read (or were
// read in part), and notes.
// Keys are not listed one by one: the other formats do that. Text chosen by
// others is escaped in every cell, so it can neither break a table nor
// inject markup.
func renderMarkdown(w io.Writer, doc *Document) error {
	b := bufio.NewWriterSize(w, writeBufSize)
	b.WriteString("## keywarden scan\n\n")
	fmt.Fprintf(b, "Generated %s", doc.GeneratedAt.Format(time.RFC3339))
	if !doc.AsOf.Equal(doc.GeneratedAt) {
		fmt.Fprintf(b, ", ages as of %s", doc.AsOf.Format(time.RFC3339))
	}
	if doc.Caller != "" {
		fmt.Fprintf(b, ", as %s", mdCode(doc.Caller))
	}
	b.WriteString(".\n\n")

	s := doc.Summary
	findings := "0"
	if s.Findings > 0 {
		findings = fmt.Sprintf("%d: %s", s.Findings, tallyString(countBy(doc.Findings, func(f Finding) string { return f.Severity }, compareSeverity), ", "))
		if n := countExempt(doc.Findings); n > 0 {
			findings += fmt.Sprintf(" (%d exempt)", n)
		}
	}
	var dueStages []Finding
	for _, f := range doc.Findings {
		if _, ok := dueDay(f, doc.AsOf); ok {
			dueStages = append(dueStages, f)
		}
	}
	due := fmt.Sprintf("%d", len(dueStages))
	if len(dueStages) > 0 {
		due += ": " + tallyString(countBy(dueStages, func(f Finding) string { return f.NextStage }, compareStage), ", ")
	}
	due += " (by " + doc.AsOf.AddDate(0, 0, dueWindowDays).Format(time.DateOnly) + ")"
	mdTable(b, []string{"Summary", ""}, [][]string{
		{"Accounts", fmt.Sprintf("%d: %s", s.Accounts, accountCounts(s))},
		{"IAM users", fmt.Sprint(s.Users)},
		{"Access keys", fmt.Sprintf("%d: %d active, %d inactive", s.Keys, s.ActiveKeys, s.InactiveKeys)},
		{"Accounts with root keys", fmt.Sprint(s.RootKeys)},
		{"Findings", mdText(findings)},
		{fmt.Sprintf("Next stages due in %d days", dueWindowDays), mdText(due)},
	})

	fmt.Fprintf(b, "\n### Findings (%d)\n\n", len(doc.Findings))
	if len(doc.Findings) == 0 {
		b.WriteString("No findings.\n")
	}
	left := markdownMaxFindings
	for i, sev := range countBy(doc.Findings, func(f Finding) string { return f.Severity }, compareSeverity) {
		if i > 0 {
			b.WriteByte('\n') // a blank line between severities
		}
		fmt.Fprintf(b, "#### %s (%d)\n\n", mdText(sev.Name), sev.N)
		var rows [][]string
		for _, f := range doc.Findings {
			if f.Severity != sev.Name || len(rows) == left {
				continue
			}
			rows = append(rows, markdownFinding(f))
		}
		left -= len(rows)
		if len(rows) > 0 {
			mdTable(b, []string{"Account", "User", "Key", "Rule", "Stage", "Next stage", "Exempt", "Detail"}, rows)
		}
		if more := sev.N - len(rows); more > 0 {
			if len(rows) > 0 {
				b.WriteByte('\n')
			}
			fmt.Fprintf(b, "… and %d more %s findings (the first %d findings are listed; --format json or html has them all).\n", more, mdText(sev.Name), markdownMaxFindings)
		}
	}

	if rows := markdownControls(doc.Findings); len(rows) > 0 {
		b.WriteString("\n### Controls\n\n")
		mdTable(b, []string{"Rule", "Controls"}, rows)
	}

	if failed := failedAccounts(doc); len(failed) > 0 {
		fmt.Fprintf(b, "\n### Accounts not read (%d)\n\n", len(failed))
		var rows [][]string
		for _, a := range failed {
			rows = append(rows, []string{mdText(accountLabel(a.ID, a.Name)), mdText(failure(a))})
		}
		mdTable(b, []string{"Account", "Error"}, rows)
	}
	if partial := partialAccounts(doc); len(partial) > 0 {
		fmt.Fprintf(b, "\n### Accounts read in part (%d)\n\n", len(partial))
		b.WriteString("Their findings above are real, but nothing is acted on in them until they are read completely.\n\n")
		var rows [][]string
		for _, a := range partial {
			rows = append(rows, []string{mdText(accountLabel(a.ID, a.Name)), mdText(failure(a))})
		}
		mdTable(b, []string{"Account", "Not read"}, rows)
	}

	var notes []string
	if n := unreadKeyIDs(doc.Keys); n > 0 {
		notes = append(notes, fmt.Sprintf("%s not read: by default, key IDs are read only for keys that need attention; `--key-ids all` reads every one.", plural(n, "key ID")))
	}
	for _, a := range rootKeysUnlisted(doc) {
		notes = append(notes, fmt.Sprintf("The root user of %s has access keys (details are in the credential report only).", mdText(accountLabel(a.ID, a.Name))))
	}
	if len(notes) > 0 {
		b.WriteString("\n### Notes\n\n")
		for _, n := range notes {
			fmt.Fprintf(b, "- %s\n", n)
		}
	}
	return b.Flush()
}

// markdownFinding is the row of one finding.
func markdownFinding(f Finding) []string {
	key := "—"
	switch {
	case f.AccessKeyID != "":
		key = mdCode(f.AccessKeyID)
	case findingKey(f) != "":
		key = mdText(findingKey(f))
	}
	next := "—"
	if f.NextStage != "" {
		next = f.NextStage
		if !f.NextStageAt.IsZero() {
			next += " on " + stamp(f.NextStageAt).Format(time.DateOnly)
		}
		next = mdText(next)
	}
	exempt := "—"
	if f.Exempt {
		exempt = "yes"
		if t := exemptText(f); t != "" {
			exempt += ": " + t
		}
		exempt = mdText(exempt)
	}
	user := "—"
	if f.UserName != "" {
		user = mdText(f.UserName)
	}
	return []string{
		mdText(accountLabel(f.AccountID, f.AccountName)),
		user,
		key,
		mdCode(f.Rule),
		mdText(f.Stage),
		next,
		exempt,
		mdText(f.Message),
	}
}

// markdownControls is one row per rule that fired with controls, by rule
// name: the rule and its controls' short names.
func markdownControls(fs []Finding) [][]string {
	var rules []string
	controls := map[string][]Control{}
	for _, f := range fs {
		if len(f.Controls) == 0 {
			continue
		}
		if _, seen := controls[f.Rule]; !seen {
			rules = append(rules, f.Rule)
			controls[f.Rule] = f.Controls
		}
	}
	slices.Sort(rules)
	var rows [][]string
	for _, r := range rules {
		var labels []string
		for _, c := range controls[r] {
			labels = append(labels, controlLabel(c))
		}
		rows = append(rows, []string{mdCode(r), mdText(strings.Join(labels, ", "))})
	}
	return rows
}

// mdTable writes a table whose cells are already escaped.
func mdTable(b *bufio.Writer, header []string, rows [][]string) {
	row := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			if c != "" {
				b.WriteString(" " + c)
			}
			b.WriteString(" |")
		}
		b.WriteByte('\n')
	}
	row(header)
	b.WriteString("|" + strings.Repeat("---|", len(header)) + "\n")
	for _, r := range rows {
		row(r)
	}
}

// mdEscaper escapes text for Markdown: the characters of HTML as entities,
// so that no tag or entity of the text's own survives, and Markdown's own
// punctuation (the table's | included) with a backslash.
var mdEscaper = strings.NewReplacer(
	`&`, "&amp;", `<`, "&lt;", `>`, "&gt;", `"`, "&quot;",
	`\`, `\\`, "`", "\\`", `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, `~`, `\~`, `|`, `\|`,
)

// mdText makes s one line of plain text in Markdown: control characters
// (newlines included) become spaces, markup is escaped.
func mdText(s string) string { return mdEscaper.Replace(clean(s)) }

// mdCode is s as a code span, or as plain text when it holds what a code
// span cannot: a backtick, a pipe, a control character.
func mdCode(s string) string {
	if s == "" || strings.ContainsAny(s, "`|") || clean(s) != s {
		return mdText(s)
	}
	return "`" + s + "`"
}
