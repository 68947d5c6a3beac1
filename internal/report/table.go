package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// footnoteMark follows the dash shown for a key ID that was not read; the
// footnote under the summary explains it.
const (
	footnoteMark = "*"
	notRead      = "—" + footnoteMark
)

// renderTable writes doc for people: a section per account (in the order
// of doc.Accounts, which is by ID), a summary, the key ID footnote when
// needed and the failed and partial accounts again with their reason. No
// colour, no trailing spaces.
func renderTable(w io.Writer, doc *Document) error {
	buf := newTrimWriter(w)
	keys := keysByAccount(doc.Keys)
	byKey := make(map[string][]*Finding)
	for i := range doc.Findings {
		ref := findingRef(doc.Findings[i])
		byKey[ref] = append(byKey[ref], &doc.Findings[i])
	}
	withFindings := len(doc.Findings) > 0

	unread := false
	if len(doc.Accounts) == 0 {
		buf.WriteString("no accounts scanned\n\n")
	}
	for _, a := range doc.Accounts {
		buf.WriteString(heading(a))
		buf.WriteByte('\n')
		if a.failed() {
			buf.WriteByte('\n')
			continue
		}
		ks := keys[a.ID]
		if len(ks) == 0 {
			buf.WriteString("  no access keys\n")
		} else {
			tw := tabwriter.NewWriter(buf, 0, 8, 2, ' ', 0)
			header := "  USER\tKEY ID\tSTATUS\tAGE\tLAST USED\tSERVICE"
			if withFindings {
				header += "\tFINDINGS"
			}
			fmt.Fprintln(tw, header)
			for _, k := range ks {
				id := "—" // root key IDs can never be read
				switch {
				case k.AccessKeyID != nil:
					id = clean(*k.AccessKeyID)
				case !k.Root():
					id = notRead
					unread = true
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%dd\t%s\t%s",
					clean(k.UserName), id, clean(k.Status), k.AgeDays,
					lastUsed(k.DaysSinceLastUse), clean(deref(k.LastUsedService)))
				// One finding a line, so that a key with several stays narrow.
				var more []string
				if withFindings {
					cell := findingsCell(byKey[keyRef(k)])
					fmt.Fprint(tw, "\t")
					if len(cell) > 0 {
						fmt.Fprint(tw, cell[0])
						more = cell[1:]
					}
				}
				fmt.Fprintln(tw)
				for _, f := range more {
					fmt.Fprintf(tw, "  \t\t\t\t\t\t%s\n", f)
				}
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		if deref(a.RootKeysPresent) && !hasRootKey(ks) {
			buf.WriteString("  the root user has access keys (details are in the credential report only)\n")
		}
		buf.WriteByte('\n')
	}

	s := doc.Summary
	tw := tabwriter.NewWriter(buf, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "accounts\t%d: %s\n", s.Accounts, accountCounts(s))
	fmt.Fprintf(tw, "users\t%d\n", s.Users)
	fmt.Fprintf(tw, "access keys\t%d: %d active, %d inactive\n", s.Keys, s.ActiveKeys, s.InactiveKeys)
	fmt.Fprintf(tw, "accounts with root keys\t%d\n", s.RootKeys)
	if s.Findings > 0 {
		fmt.Fprintf(tw, "findings\t%s\n", findingsSummary(doc.Findings))
	}
	if !doc.AsOf.Equal(doc.GeneratedAt) {
		fmt.Fprintf(tw, "ages as of\t%s (generated %s)\n", doc.AsOf.Format(time.RFC3339), doc.GeneratedAt.Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if unread {
		fmt.Fprintf(buf, "\n%s key ID not read: by default, key IDs are read only for keys that need attention;\n  --key-ids all reads every one\n", footnoteMark)
	}

	for _, list := range []struct {
		title    string
		accounts []Account
	}{
		{"could not read %s:", failedAccounts(doc)},
		{"could not read all of %s (nothing is acted on in them):", partialAccounts(doc)},
	} {
		if len(list.accounts) == 0 {
			continue
		}
		fmt.Fprintf(buf, "\n"+list.title+"\n", plural(len(list.accounts), "account"))
		tw := tabwriter.NewWriter(buf, 0, 8, 2, ' ', 0)
		for _, a := range list.accounts {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", clean(a.ID), clean(a.Name), failure(a))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	return buf.Flush()
}

// keysByAccount returns each account's keys, in order: parts of keys,
// which Build sorts by account, rather than copies of them.
func keysByAccount(keys []Key) map[string][]Key {
	out := make(map[string][]Key)
	if !slices.IsSortedFunc(keys, func(a, b Key) int { return strings.Compare(a.AccountID, b.AccountID) }) {
		for _, k := range keys {
			out[k.AccountID] = append(out[k.AccountID], k)
		}
		return out
	}
	for i := 0; i < len(keys); {
		j := i + 1
		for j < len(keys) && keys[j].AccountID == keys[i].AccountID {
			j++
		}
		out[keys[i].AccountID] = keys[i:j:j]
		i = j
	}
	return out
}

// heading is the first line of an account's section:
//
//	123456789012  prod-payments  Root/Workloads/Prod  (credential report, 2.1h old)
//
// A partial account's heading ends with PARTIAL and why.
func heading(a Account) string {
	parts := []string{clean(a.ID)}
	for _, s := range []string{a.Name, a.OUPath} {
		if s != "" {
			parts = append(parts, clean(s))
		}
	}
	var detail string
	switch {
	case a.failed():
		detail = "FAILED: " + failure(a)
	case deref(a.Source) == "report":
		detail = "(credential report"
		if a.ReportAgeHours != nil {
			detail += ", " + strconv.FormatFloat(*a.ReportAgeHours, 'f', 1, 64) + "h old"
		}
		detail += ")"
	case deref(a.Source) == "api":
		detail = "(API"
		if a.Fallback != nil {
			detail += ", fallback: " + clean(*a.Fallback)
		}
		detail += ")"
	}
	if detail != "" {
		parts = append(parts, detail)
	}
	if a.Status == statusPartial {
		parts = append(parts, "PARTIAL: "+failure(a))
	}
	return strings.Join(parts, "  ")
}

// failure is why an account failed, or what of it could not be read and
// why: "AccessDenied: <reason>", without the code when the reason already
// names it.
func failure(a Account) string {
	msg := clean(deref(a.Error))
	if code := clean(deref(a.ErrorCode)); code != "" && !strings.HasPrefix(msg, code) && !strings.Contains(msg, code+": ") {
		msg = code + ": " + msg
	}
	return msg
}

// accountCounts is "2 read, 1 failed", with "1 partial" between them when
// an account was read in part.
func accountCounts(s Summary) string {
	if s.AccountsPartial > 0 {
		return fmt.Sprintf("%d read, %d partial, %d failed", s.AccountsOK, s.AccountsPartial, s.AccountsFailed)
	}
	return fmt.Sprintf("%d read, %d failed", s.AccountsOK, s.AccountsFailed)
}

// lastUsed is the LAST USED cell: never, today, or 3d ago.
func lastUsed(days *int) string {
	switch {
	case days == nil:
		return "never"
	case *days == 0:
		return "today"
	}
	return strconv.Itoa(*days) + "d ago"
}

func hasRootKey(ks []Key) bool {
	for _, k := range ks {
		if k.Root() {
			return true
		}
	}
	return false
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// clean makes s safe for one table cell: control characters (tabs,
// newlines, terminal escapes) become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// keyRef and findingRef identify a key, so that findings land on its row:
// by ID when it was read, else by report slot and creation time.
func keyRef(k Key) string {
	if k.AccessKeyID != nil {
		return k.AccountID + "/" + k.UserName + "/" + *k.AccessKeyID
	}
	slot := 0
	if k.KeySlot != nil {
		slot = *k.KeySlot
	}
	return fmt.Sprintf("%s/%s/#%d/%d", k.AccountID, k.UserName, slot, k.CreatedAt.Unix())
}

func findingRef(f Finding) string {
	if f.AccessKeyID != "" {
		return f.AccountID + "/" + f.UserName + "/" + f.AccessKeyID
	}
	return fmt.Sprintf("%s/%s/#%d/%d", f.AccountID, f.UserName, f.KeySlot, stamp(f.KeyCreatedAt).Unix())
}

// findingsCell says, for one key, each rule that fired and its stage, and
// the next stage with its date: "max_age: rotate, deactivate on 2027-01-05",
// one finding an entry.
func findingsCell(fs []*Finding) []string {
	var parts []string
	for _, f := range fs {
		p := f.Rule + ": " + f.Stage
		if f.NextStage != "" && !f.NextStageAt.IsZero() {
			p += ", " + f.NextStage + " on " + f.NextStageAt.Format("2006-01-02")
		}
		if f.Exempt {
			p += " (exempt)"
		}
		parts = append(parts, clean(p))
	}
	return parts
}

// findingsSummary counts findings by rule: "7 (2 exempt): max_age 3, unused 4".
func findingsSummary(fs []Finding) string {
	exempt := 0
	counts := map[string]int{}
	var order []string
	for _, f := range fs {
		if f.Exempt {
			exempt++
		}
		if counts[f.Rule] == 0 {
			order = append(order, f.Rule)
		}
		counts[f.Rule]++
	}
	var parts []string
	for _, r := range order {
		parts = append(parts, fmt.Sprintf("%s %d", r, counts[r]))
	}
	head := strconv.Itoa(len(fs))
	if exempt > 0 {
		head += fmt.Sprintf(" (%d exempt)", exempt)
	}
	return head + ": " + strings.Join(parts, ", ")
}
