package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Format is an output format of a scan.
type Format string

const (
	FormatTable    Format = "table"    // for people on a terminal
	FormatJSON     Format = "json"     // the Document
	FormatCSV      Format = "csv"      // one row per key
	FormatHTML     Format = "html"     // one self-contained page, with charts
	FormatMarkdown Format = "markdown" // for CI step summaries and tickets
	FormatASFF     Format = "asff"     // AWS Security Finding Format, for Security Hub
	FormatOCSF     Format = "ocsf"     // OCSF Compliance Finding events, one per line
)

// Formats returns the output formats, the default (table) first.
func Formats() []Format {
	return []Format{FormatTable, FormatJSON, FormatCSV, FormatHTML, FormatMarkdown, FormatASFF, FormatOCSF}
}

// ParseFormat returns the format named s (any case, surrounding spaces
// ignored). Its error lists the valid names.
func ParseFormat(s string) (Format, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	for _, f := range Formats() {
		if string(f) == name {
			return f, nil
		}
	}
	return "", fmt.Errorf("unknown output format %q: valid formats are %s", s, formatList())
}

func formatList() string {
	names := make([]string, 0, len(Formats()))
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return strings.Join(names, ", ")
}

// Render writes doc to w in format f. For asff and ocsf it uses the default
// options (region us-east-1, no version); RenderASFF and RenderOCSF take
// them.
func Render(w io.Writer, doc *Document, f Format) error {
	switch f {
	case FormatTable:
		return renderTable(w, doc)
	case FormatJSON:
		return renderJSON(w, doc)
	case FormatCSV:
		return renderCSV(w, doc)
	case FormatHTML:
		return renderHTML(w, doc)
	case FormatMarkdown:
		return renderMarkdown(w, doc)
	case FormatASFF:
		return RenderASFF(w, doc, ASFFOptions{})
	case FormatOCSF:
		return RenderOCSF(w, doc, OCSFOptions{})
	}
	return fmt.Errorf("unknown output format %q: valid formats are %s", string(f), formatList())
}

// renderJSON writes doc indented by two spaces, fields in the order of the
// struct declarations, with a trailing newline. <, > and & are written as
// they are (<root_account>, not \u003croot_account\u003e). It writes the
// bytes json.Encoder would write for the whole Document, but one account,
// key and finding at a time (TestJSONStreamed).
func renderJSON(w io.Writer, doc *Document) error {
	s := newJSONStream(w)
	s.raw("{")
	s.field("schema_version", doc.SchemaVersion, 1, true)
	s.field("generated_at", doc.GeneratedAt, 1, false)
	s.field("as_of", doc.AsOf, 1, false)
	s.field("caller", doc.Caller, 1, false)
	s.field("summary", &doc.Summary, 1, false)
	s.key("accounts", 1, false)
	streamArray(s, doc.Accounts, 1)
	s.key("keys", 1, false)
	streamArray(s, doc.Keys, 1)
	s.key("findings", 1, false)
	if doc.Findings == nil {
		s.raw("null")
	} else {
		// What Finding.MarshalJSON writes, without compacting what it wrote.
		streamSeq(s, func(yield func(*findingJSON) bool) {
			for i := range doc.Findings {
				if !yield(doc.Findings[i].json()) {
					return
				}
			}
		}, 1)
	}
	s.newline(0)
	s.raw("}")
	return s.flush()
}

// CSVHeader is the header row of the CSV output: the fields of Key, as
// named in JSON, then account_status, the status of the key's account
// (Account.Status): a row of a partial account says so on its own.
var CSVHeader = []string{
	"account_id", "account_name", "ou_path", "user_name", "user_arn",
	"access_key_id", "key_slot", "status", "created_at", "age_days",
	"last_used_at", "days_since_last_use", "last_used_service", "last_used_region",
	"account_status",
}

// renderCSV writes the header and one row per key; a null is an empty cell
// and times are RFC 3339 as in JSON.
func renderCSV(w io.Writer, doc *Document) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	status := make(map[string]string, len(doc.Accounts))
	for _, a := range doc.Accounts {
		status[a.ID] = a.Status
	}
	for _, k := range doc.Keys {
		row := []string{
			k.AccountID,
			CSVCell(k.AccountName),
			CSVCell(k.OUPath),
			CSVCell(k.UserName),
			k.UserARN,
			deref(k.AccessKeyID),
			optInt(k.KeySlot),
			k.Status,
			k.CreatedAt.Format(time.RFC3339),
			strconv.Itoa(k.AgeDays),
			optTime(k.LastUsedAt),
			optInt(k.DaysSinceLastUse),
			deref(k.LastUsedService),
			deref(k.LastUsedRegion),
			status[k.AccountID],
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVCell keeps a spreadsheet from reading a cell as a formula (CSV
// injection): names chosen by others — IAM user and account names — may
// start with = + - or @, and such a cell is written with a leading '.
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func optInt(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}

func optTime(p *time.Time) string {
	if p == nil {
		return ""
	}
	return p.Format(time.RFC3339)
}
