package inventory

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CredentialReport is a parsed IAM credential report.
type CredentialReport struct {
	Root  *ReportEntry  // the <root_account> row; nil when absent (moto omits it)
	Users []ReportEntry // in file order
}

// ReportEntry is one row of the credential report: an IAM user, or the root
// user of the account.
type ReportEntry struct {
	User                string
	ARN                 string
	CreatedAt           time.Time
	PasswordEnabled     bool      // false for root's not_supported
	PasswordLastUsed    time.Time // zero for N/A, no_information, not_supported
	PasswordLastChanged time.Time // zero for N/A / not_supported
	MFAActive           bool
	Keys                [2]ReportKey // slot 1 and 2
	Line                int          // 1-based line number in the CSV, for messages
}

// ReportKey is one access key slot of a report row. When Present is false
// the slot holds no key and every other field is zero, whatever the report
// says in the slot's other columns (they are still checked for syntax).
type ReportKey struct {
	Present         bool      // false when last_rotated is N/A (no key in that slot)
	Active          bool      // Present and the key's status is Active
	LastRotated     time.Time // creation (or last change) of the key
	LastUsed        time.Time // zero: never used / N/A
	LastUsedRegion  string    // "" for N/A or not_supported
	LastUsedService string    // "" for N/A or not_supported
}

// reportRootUser is the user name of the root row of the credential report.
const reportRootUser = "<root_account>"

// ReportError is a problem found in a credential report. Empty fields do
// not apply: a header problem has no Value, an empty report has no Line.
type ReportError struct {
	Line   int    // 1-based line in the CSV; 0 when not tied to a line
	Column string // column name, as in the header
	Value  string // the offending value, cut to at most 80 bytes
	Msg    string // what is wrong with it, e.g. "not a timestamp"
}

// Error returns e.g. `credential report line 5, column
// access_key_1_last_rotated: value "xyz": not a timestamp`.
func (e *ReportError) Error() string {
	var b strings.Builder
	b.WriteString("credential report")
	located := false
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
		located = true
	}
	if e.Column != "" {
		if located {
			b.WriteByte(',')
		}
		b.WriteString(" column ")
		b.WriteString(e.Column)
		located = true
	}
	if e.Value != "" {
		if located {
			b.WriteByte(':')
		}
		b.WriteString(" value ")
		b.WriteString(strconv.Quote(clipValue(e.Value)))
		located = true
	}
	if e.Msg != "" {
		if located {
			b.WriteByte(':')
		}
		b.WriteByte(' ')
		b.WriteString(e.Msg)
	}
	return b.String()
}

// maxValueLen bounds the bytes of a value kept in a ReportError.
const maxValueLen = 80

// clipValue cuts v to at most maxValueLen bytes, on a rune boundary, marking
// the cut with "...".
func clipValue(v string) string {
	if len(v) <= maxValueLen {
		return v
	}
	n := maxValueLen - len("...")
	for n > 0 && !utf8.RuneStart(v[n]) {
		n--
	}
	return v[:n] + "..."
}

// The columns of the credential report, in the order AWS writes them.
const (
	colUser = iota
	colARN
	colUserCreationTime
	colPasswordEnabled
	colPasswordLastUsed
	colPasswordLastChanged
	colPasswordNextRotation
	colMFAActive
	colKey1Active // then last_rotated, last_used_date, last_used_region, last_used_service
	colKey1LastRotated
	colKey1LastUsedDate
	colKey1LastUsedRegion
	colKey1LastUsedService
	colKey2Active
	colKey2LastRotated
	colKey2LastUsedDate
	colKey2LastUsedRegion
	colKey2LastUsedService
	colCert1Active
	colCert1LastRotated
	colCert2Active
	colCert2LastRotated
	numColumns
)

// keyColumns is the distance between the columns of key slot 1 and 2.
const keyColumns = colKey2Active - colKey1Active

var columnNames = [numColumns]string{
	colUser:                 "user",
	colARN:                  "arn",
	colUserCreationTime:     "user_creation_time",
	colPasswordEnabled:      "password_enabled",
	colPasswordLastUsed:     "password_last_used",
	colPasswordLastChanged:  "password_last_changed",
	colPasswordNextRotation: "password_next_rotation",
	colMFAActive:            "mfa_active",
	colKey1Active:           "access_key_1_active",
	colKey1LastRotated:      "access_key_1_last_rotated",
	colKey1LastUsedDate:     "access_key_1_last_used_date",
	colKey1LastUsedRegion:   "access_key_1_last_used_region",
	colKey1LastUsedService:  "access_key_1_last_used_service",
	colKey2Active:           "access_key_2_active",
	colKey2LastRotated:      "access_key_2_last_rotated",
	colKey2LastUsedDate:     "access_key_2_last_used_date",
	colKey2LastUsedRegion:   "access_key_2_last_used_region",
	colKey2LastUsedService:  "access_key_2_last_used_service",
	colCert1Active:          "cert_1_active",
	colCert1LastRotated:     "cert_1_last_rotated",
	colCert2Active:          "cert_2_active",
	colCert2LastRotated:     "cert_2_last_rotated",
}

// ParseCredentialReport parses content, the CSV that GetCredentialReport
// returns (already base64-decoded by the SDK). Errors are *ReportError.
//
// Columns are found by name: all 22 documented columns must be there, once
// each; other columns are ignored. Every row has as many fields as the
// header. Booleans are true or false in any case; timestamps are RFC 3339,
// kept in UTC; N/A, not_supported and no_information stand for "no value"
// in any timestamp column. A key slot holds a key iff its last_rotated is a
// timestamp. The <root_account> row, if any, goes to Root; there is at most
// one, and no user appears twice.
//
// The strings of the result are copies: none of them keeps content, or a
// row of it, in memory. The regions and services of last use, which repeat
// from row to row, are kept once each.
func ParseCredentialReport(content []byte) (*CredentialReport, error) {
	content = bytes.TrimPrefix(content, []byte("\ufeff"))
	r := csv.NewReader(bytes.NewReader(content))
	r.FieldsPerRecord = -1 // checked here, to say how many fields there are
	r.ReuseRecord = true

	header, err := r.Read()
	if err == io.EOF {
		return nil, &ReportError{Msg: "is empty"}
	}
	if err != nil {
		return nil, csvError(err)
	}
	headerLine, _ := r.FieldPos(0)
	idx, err := headerIndex(header, headerLine)
	if err != nil {
		return nil, err
	}
	width := len(header)

	rep := &CredentialReport{}
	seen := make(map[string]int) // user name → line
	var in interner
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := r.FieldPos(0)
		if len(rec) != width {
			return nil, &ReportError{Line: line,
				Msg: fmt.Sprintf("row has %d fields, header has %d", len(rec), width)}
		}
		row := reportRow{fields: rec, idx: &idx, line: line, in: &in}
		e, err := row.entry()
		if err != nil {
			return nil, err
		}
		if first, ok := seen[e.User]; ok {
			msg := fmt.Sprintf("user appears twice (first on line %d)", first)
			if e.User == reportRootUser {
				msg = fmt.Sprintf("second %s row (first on line %d)", reportRootUser, first)
			}
			return nil, row.errorf(colUser, "%s", msg)
		}
		seen[e.User] = line
		if e.User == reportRootUser {
			rep.Root = &e
			continue
		}
		rep.Users = append(rep.Users, e)
	}
	return rep, nil
}

// csvError turns an encoding/csv error into a *ReportError.
func csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &ReportError{Line: pe.Line, Msg: fmt.Sprintf("malformed CSV: %v (byte %d of the line)", pe.Err, pe.Column)}
	}
	return &ReportError{Msg: "malformed CSV: " + err.Error()}
}

// headerIndex finds the position of every documented column in header.
func headerIndex(header []string, line int) ([numColumns]int, error) {
	var idx [numColumns]int
	pos := make(map[string]int, len(header))
	for i, name := range header {
		if _, dup := pos[name]; dup {
			return idx, &ReportError{Line: line, Column: name, Msg: "duplicate column"}
		}
		pos[name] = i
	}
	var missing []string
	for c, name := range columnNames {
		i, ok := pos[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		idx[c] = i
	}
	switch len(missing) {
	case 0:
		return idx, nil
	case 1:
		return idx, &ReportError{Line: line, Msg: "missing column " + missing[0]}
	default:
		return idx, &ReportError{Line: line, Msg: "missing columns " + strings.Join(missing, ", ")}
	}
}

// reportRow is one data row being parsed. Its fields are substrings of
// one string that holds the whole row: what is kept of them is copied.
type reportRow struct {
	fields []string
	idx    *[numColumns]int
	line   int
	in     *interner // for the values that repeat from row to row
}

func (r *reportRow) value(c int) string { return r.fields[r.idx[c]] }

func (r *reportRow) errorf(c int, format string, args ...any) *ReportError {
	return &ReportError{
		Line:   r.line,
		Column: columnNames[c],
		Value:  clipValue(r.value(c)),
		Msg:    fmt.Sprintf(format, args...),
	}
}

func (r *reportRow) entry() (ReportEntry, error) {
	// Copies, kept in one string when the ARN ends with the name.
	arn := strings.Clone(r.value(colARN))
	user, ok := endOf(arn, r.value(colUser))
	if !ok {
		user = strings.Clone(user)
	}
	e := ReportEntry{User: user, ARN: arn, Line: r.line}
	root := e.User == reportRootUser
	if e.User == "" {
		return e, r.errorf(colUser, "empty user name")
	}
	if msg := checkARN(e.ARN, root); msg != "" {
		return e, r.errorf(colARN, "%s", msg)
	}

	var err error
	if e.CreatedAt, err = r.timestamp(colUserCreationTime); err != nil {
		return e, err
	}
	if root && isSpecial(r.value(colPasswordEnabled)) == "not_supported" {
		e.PasswordEnabled = false
	} else if e.PasswordEnabled, err = r.boolean(colPasswordEnabled); err != nil {
		return e, err
	}
	if e.PasswordLastUsed, err = r.timestamp(colPasswordLastUsed); err != nil {
		return e, err
	}
	if e.PasswordLastChanged, err = r.timestamp(colPasswordLastChanged); err != nil {
		return e, err
	}
	if _, err = r.timestamp(colPasswordNextRotation); err != nil {
		return e, err
	}
	if e.MFAActive, err = r.boolean(colMFAActive); err != nil {
		return e, err
	}
	for slot := range e.Keys {
		if e.Keys[slot], err = r.key(slot); err != nil {
			return e, err
		}
	}
	// Signing certificates are not kept, but a garbled value is still a
	// sign of a garbled report.
	for _, c := range [...]int{colCert1Active, colCert2Active} {
		if _, err = r.boolean(c); err != nil {
			return e, err
		}
	}
	for _, c := range [...]int{colCert1LastRotated, colCert2LastRotated} {
		if _, err = r.timestamp(c); err != nil {
			return e, err
		}
	}
	return e, nil
}

// key parses access key slot (0 or 1).
func (r *reportRow) key(slot int) (ReportKey, error) {
	base := colKey1Active + slot*keyColumns
	cActive, cRotated, cUsed, cRegion, cService := base, base+1, base+2, base+3, base+4

	active, err := r.boolean(cActive)
	if err != nil {
		return ReportKey{}, err
	}
	rotated, err := r.timestamp(cRotated)
	if err != nil {
		return ReportKey{}, err
	}
	used, err := r.timestamp(cUsed)
	if err != nil {
		return ReportKey{}, err
	}
	if rotated.IsZero() {
		if active {
			return ReportKey{}, r.errorf(cActive, "key is active but %s is %s",
				columnNames[cRotated], clipValue(r.value(cRotated)))
		}
		return ReportKey{}, nil
	}
	return ReportKey{
		Present:         true,
		Active:          active,
		LastRotated:     rotated,
		LastUsed:        used,
		LastUsedRegion:  r.text(cRegion),
		LastUsedService: r.text(cService),
	}, nil
}

// boolean parses true or false, in any case.
func (r *reportRow) boolean(c int) (bool, error) {
	v := r.value(c)
	switch {
	case strings.EqualFold(v, "true"):
		return true, nil
	case strings.EqualFold(v, "false"):
		return false, nil
	case v == "":
		return false, r.errorf(c, "empty, want true or false")
	default:
		return false, r.errorf(c, "not a boolean (want true or false)")
	}
}

// timestamp parses an RFC 3339 time, returned in UTC, or one of the
// special values, returned as the zero time.
func (r *reportRow) timestamp(c int) (time.Time, error) {
	v := r.value(c)
	if isSpecial(v) != "" {
		return time.Time{}, nil
	}
	if v == "" {
		return time.Time{}, r.errorf(c, "empty, want a timestamp or N/A")
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, r.errorf(c, "not a timestamp")
	}
	t = t.UTC()
	if t.IsZero() {
		// The zero time means "no value" to callers; a report never holds it.
		return time.Time{}, r.errorf(c, "timestamp out of range")
	}
	return t, nil
}

// text returns a free-text value, "" for the special values; one copy of
// each value is kept for the whole report.
func (r *reportRow) text(c int) string {
	v := r.value(c)
	if isSpecial(v) != "" {
		return ""
	}
	return r.in.clone(v)
}

// isSpecial returns the canonical spelling of v if it is one of the report's
// "no value" markers (in any case), "" otherwise.
func isSpecial(v string) string {
	for _, s := range [...]string{"N/A", "not_supported", "no_information"} {
		if strings.EqualFold(v, s) {
			return s
		}
	}
	return ""
}

// checkARN checks that arn names an IAM user (or, for root, the root user)
// in any partition: arn:<partition>:iam::<12 digits>:user/<path><name> or
// arn:<partition>:iam::<12 digits>:root. It returns what is wrong, "" if
// nothing is.
func checkARN(arn string, root bool) string {
	want := "arn:<partition>:iam::<account>:user/<name>"
	if root {
		want = "arn:<partition>:iam::<account>:root"
	}
	bad := "not an IAM user ARN (want " + want + ")"
	if root {
		bad = "not an IAM root user ARN (want " + want + ")"
	}
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !isPartition(parts[1]) ||
		parts[2] != "iam" || parts[3] != "" || !isAccountID(parts[4]) {
		return bad
	}
	resource := parts[5]
	if root {
		if resource != "root" {
			return bad
		}
		return ""
	}
	name, ok := strings.CutPrefix(resource, "user/")
	if !ok || name == "" || strings.HasSuffix(name, "/") {
		return bad
	}
	return ""
}

// isPartition reports whether s looks like an AWS partition (aws, aws-cn,
// aws-us-gov, …).
func isPartition(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// isAccountID reports whether s is an AWS account ID, 12 digits.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
