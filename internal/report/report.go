// Package report turns the result of a scan into what people and programs
// read: a Document (the JSON view, whose schema is documented in
// docs/scripting.md) rendered once: a table for a terminal, JSON, CSV, a
// self-contained HTML page, Markdown, ASFF for Security Hub, or OCSF.
//
// Build is the only place where the inventory is interpreted: ages, nulls,
// order and counts are decided there, so that every format says the same
// thing. The renderers only lay the Document out. Nothing here talks to AWS,
// and nothing here invents findings: they come from the policy, through
// BuildOptions.Findings.
//
// Only what is documented is output. In particular user tags, which can
// hold anything, never are.
package report

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
)

// SchemaVersion is the schema_version of the Document. Fields may be added
// without changing it; a field removed, renamed or changing meaning bumps it.
const SchemaVersion = 1

// RootUserName is the user name under which root keys are listed, as in the
// IAM credential report.
const RootUserName = "<root_account>"

// Document is the JSON view of one scan. Times are UTC, to the second;
// pointer fields are null in JSON when the value does not exist (see
// docs/scripting.md for when).
type Document struct {
	SchemaVersion int `json:"schema_version"`
	// GeneratedAt is when the document was made.
	GeneratedAt time.Time `json:"generated_at"`
	// AsOf is the moment ages are computed at: GeneratedAt unless the scan
	// was asked to evaluate as of another date.
	AsOf   time.Time `json:"as_of"`
	Caller string    `json:"caller"`

	Summary  Summary   `json:"summary"`
	Accounts []Account `json:"accounts"` // by ID
	Keys     []Key     `json:"keys"`     // by account ID, user name, creation
	Findings []Finding `json:"findings"` // never nil
	// Rotations are keywarden's rotations whose old key is still there,
	// and where each one is; only when the scan read the state store.
	Rotations []Rotation `json:"rotations,omitempty"`
}

// Rotation is where one rotation is: the old key, its successor and the
// secret holding it, and what decides the cutover (docs/rotation.md).
type Rotation struct {
	AccountID    string     `json:"account_id"`
	UserName     string     `json:"user_name"`
	OldKeyID     string     `json:"old_key_id"`
	NewKeyID     string     `json:"new_key_id"`
	SecretARN    string     `json:"secret_arn"`
	CreatedAt    time.Time  `json:"created_at"`
	StoredAt     time.Time  `json:"stored_at"`
	NewKeyUsedAt *time.Time `json:"new_key_used_at"`
	// OldKeyQuietSince: the old key has not been used since, as IAM shows.
	OldKeyQuietSince time.Time `json:"old_key_quiet_since"`
	// CutoverAt: when the old key may be deactivated; null until the new
	// key is in use.
	CutoverAt *time.Time `json:"cutover_at"`
	// Deadline: the old key's deactivate stage; null when none.
	Deadline *time.Time `json:"deadline"`
	Phase    string     `json:"phase"`
	// Summary says the same for people.
	Summary string `json:"summary"`
}

// Summary counts what the Document holds.
type Summary struct {
	Accounts   int `json:"accounts"` // AccountsOK + AccountsPartial + AccountsFailed
	AccountsOK int `json:"accounts_ok"`
	// AccountsPartial are the accounts read in part: their keys are in
	// Keys, but something could not be read (their Error says what).
	AccountsPartial int `json:"accounts_partial"`
	AccountsFailed  int `json:"accounts_failed"`
	Users           int `json:"users"`         // IAM users in the accounts read; root not counted
	Keys            int `json:"keys"`          // len(Keys), root keys included
	ActiveKeys      int `json:"active_keys"`   // of Keys
	InactiveKeys    int `json:"inactive_keys"` // of Keys
	RootKeys        int `json:"root_keys"`     // accounts whose root user has access keys
	Findings        int `json:"findings"`
}

// Account is one account of the scan and the outcome of reading it.
type Account struct {
	ID     string `json:"id"`
	Name   string `json:"name"`    // "" when not known
	Email  string `json:"email"`   // "" when not known
	OUPath string `json:"ou_path"` // "" when not known
	State  string `json:"state"`   // "" when not known
	Status string `json:"status"`  // ok, partial or failed

	Error     *string `json:"error"`      // why it failed, or what of it could not be read and why; null when ok
	ErrorCode *string `json:"error_code"` // AWS error code or "timeout"; null when none

	// The fields below are null for a failed account; RootKeysPresent is
	// null too when the root keys could not be checked (partial).
	Source            *string    `json:"source"`   // report or api
	Fallback          *string    `json:"fallback"` // why the API was used instead of the report
	ReportGeneratedAt *time.Time `json:"report_generated_at"`
	ReportAgeHours    *float64   `json:"report_age_hours"` // GeneratedAt − ReportGeneratedAt, one decimal
	RootKeysPresent   *bool      `json:"root_keys_present"`

	Users      int   `json:"users"`
	Keys       int   `json:"keys"` // root keys included
	Calls      int   `json:"calls"`
	DurationMS int64 `json:"duration_ms"`
}

// Account statuses, as in JSON: inventory.AccountStatus.
const (
	statusOK      = string(inventory.AccountOK)
	statusPartial = string(inventory.AccountPartial)
)

// failed reports whether nothing of the account could be read. Build
// makes any status it does not know failed.
func (a Account) failed() bool { return a.Status != statusOK && a.Status != statusPartial }

// Key is one access key, of an IAM user or of the root user.
type Key struct {
	AccountID   string  `json:"account_id"`
	AccountName string  `json:"account_name"`
	OUPath      string  `json:"ou_path"`
	UserName    string  `json:"user_name"` // RootUserName for root keys
	UserARN     string  `json:"user_arn"`
	AccessKeyID *string `json:"access_key_id"` // null when not read
	KeySlot     *int    `json:"key_slot"`      // 1 or 2 from the credential report; null from the API
	Status      string  `json:"status"`        // Active or Inactive

	CreatedAt        time.Time  `json:"created_at"`
	AgeDays          int        `json:"age_days"`
	LastUsedAt       *time.Time `json:"last_used_at"` // null: never used
	DaysSinceLastUse *int       `json:"days_since_last_use"`
	LastUsedService  *string    `json:"last_used_service"`
	LastUsedRegion   *string    `json:"last_used_region"`
}

// Root reports whether the key belongs to the root user.
func (k Key) Root() bool { return k.UserName == RootUserName }

// BuildOptions are the inputs of Build besides the inventory.
type BuildOptions struct {
	// GeneratedAt is when the document is made; zero means the inventory's
	// FinishedAt, or now if that is zero too.
	GeneratedAt time.Time
	// AsOf is the moment ages are computed at; zero means GeneratedAt.
	AsOf time.Time
	// Findings are the policy's findings, output as given (in that order).
	Findings []Finding
	// Rotations are the rotations under way, output as given.
	Rotations []Rotation
}

// Build makes the Document of an inventory. inv may be nil (an empty scan).
// The inventory is not modified.
func Build(inv *inventory.Inventory, opts BuildOptions) *Document {
	if inv == nil {
		inv = &inventory.Inventory{}
	}
	gen := opts.GeneratedAt
	if gen.IsZero() {
		gen = inv.FinishedAt
	}
	if gen.IsZero() {
		gen = time.Now()
	}
	gen = stamp(gen)
	asOf := gen
	if !opts.AsOf.IsZero() {
		asOf = stamp(opts.AsOf)
	}

	doc := &Document{
		SchemaVersion: SchemaVersion,
		GeneratedAt:   gen,
		AsOf:          asOf,
		Caller:        inv.Caller,
		Accounts:      []Account{},
		Keys:          []Key{},
		Findings:      slices.Clone(opts.Findings),
		Rotations:     slices.Clone(opts.Rotations),
	}
	if doc.Findings == nil {
		doc.Findings = []Finding{}
	}

	partition := arnPartition(inv.Caller)
	for _, ai := range inv.Accounts {
		acct, keys := buildAccount(ai, gen, asOf, partition)
		doc.Accounts = append(doc.Accounts, acct)
		doc.Keys = append(doc.Keys, keys...)
	}
	slices.SortStableFunc(doc.Accounts, func(a, b Account) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortStableFunc(doc.Keys, func(a, b Key) int {
		return cmp.Or(
			cmp.Compare(a.AccountID, b.AccountID),
			cmp.Compare(a.UserName, b.UserName),
			a.CreatedAt.Compare(b.CreatedAt),
			cmp.Compare(deref(a.KeySlot), deref(b.KeySlot)),
			cmp.Compare(deref(a.AccessKeyID), deref(b.AccessKeyID)),
		)
	})

	s := &doc.Summary
	s.Accounts = len(doc.Accounts)
	for _, a := range doc.Accounts {
		switch inventory.AccountStatus(a.Status) {
		case inventory.AccountOK:
			s.AccountsOK++
		case inventory.AccountPartial:
			s.AccountsPartial++
		default:
			s.AccountsFailed++
		}
		s.Users += a.Users
		if a.RootKeysPresent != nil && *a.RootKeysPresent {
			s.RootKeys++
		}
	}
	s.Keys = len(doc.Keys)
	for _, k := range doc.Keys {
		switch k.Status {
		case inventory.StatusActive:
			s.ActiveKeys++
		case inventory.StatusInactive:
			s.InactiveKeys++
		}
	}
	s.Findings = len(doc.Findings)
	return doc
}

func buildAccount(ai inventory.AccountInventory, gen, asOf time.Time, partition string) (Account, []Key) {
	a := Account{
		ID:         ai.Account.ID,
		Name:       ai.Account.Name,
		Email:      ai.Account.Email,
		OUPath:     ai.Account.OUPath,
		State:      ai.Account.State,
		Status:     string(ai.Status),
		Error:      nonEmpty(ai.Error),
		ErrorCode:  nonEmpty(ai.ErrorCode),
		Calls:      ai.Calls,
		DurationMS: ai.Duration.Milliseconds(),
	}
	switch ai.Status {
	case inventory.AccountOK:
	case inventory.AccountPartial:
		// What was read is reported, with what was not and why: the
		// account is never taken for complete.
		if a.Error == nil {
			a.Error = nonEmpty("not read completely")
		}
	default:
		// Anything else is failed: nothing from it is reported.
		a.Status = string(inventory.AccountFailed)
		if a.Error == nil {
			a.Error = nonEmpty("unknown error")
		}
		return a, nil
	}

	a.Source = nonEmpty(string(ai.Source))
	a.Fallback = nonEmpty(ai.Fallback)
	if !ai.ReportGeneratedAt.IsZero() {
		t := stamp(ai.ReportGeneratedAt)
		a.ReportGeneratedAt = &t
		h := hoursBetween(t, gen)
		a.ReportAgeHours = &h
	}
	if !ai.Root.KeysUnknown {
		rootPresent := ai.Root.KeysPresent || len(ai.Root.Keys) > 0
		a.RootKeysPresent = &rootPresent
	}
	a.Users = len(ai.Users)

	var keys []Key
	add := func(name, arn string, k inventory.Key) {
		key := Key{
			AccountID:       a.ID,
			AccountName:     a.Name,
			OUPath:          a.OUPath,
			UserName:        name,
			UserARN:         arn,
			AccessKeyID:     nonEmpty(k.ID),
			Status:          k.Status,
			CreatedAt:       stamp(k.CreatedAt),
			LastUsedService: nonEmpty(k.LastUsedService),
			LastUsedRegion:  nonEmpty(k.LastUsedRegion),
		}
		if k.Slot != 0 {
			slot := k.Slot
			key.KeySlot = &slot
		}
		key.AgeDays = wholeDays(key.CreatedAt, asOf)
		if !k.LastUsedAt.IsZero() {
			t := stamp(k.LastUsedAt)
			d := wholeDays(t, asOf)
			key.LastUsedAt, key.DaysSinceLastUse = &t, &d
		}
		keys = append(keys, key)
	}
	for _, u := range ai.Users {
		for _, k := range u.Keys {
			add(u.Name, u.ARN, k)
		}
	}
	for _, k := range ai.Root.Keys {
		k.ID = "" // never known; never output even if it were
		add(RootUserName, "arn:"+partition+":iam::"+a.ID+":root", k)
	}
	a.Keys = len(keys)
	return a, keys
}

// wholeDays is the number of whole days (24 hours) from from to to, 0 when
// from is not before to.
func wholeDays(from, to time.Time) int {
	if !from.Before(to) {
		return 0
	}
	return int(to.Sub(from) / (24 * time.Hour))
}

// hoursBetween is the hours from from to to, rounded to one decimal, 0 when
// from is not before to.
func hoursBetween(from, to time.Time) float64 {
	if !from.Before(to) {
		return 0
	}
	return math.Round(to.Sub(from).Hours()*10) / 10
}

// stamp is how every time is output: UTC, to the second.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// arnPartition returns the partition of an ARN ("aws", "aws-us-gov", …),
// "aws" when arn is not one.
func arnPartition(arn string) string {
	parts := strings.SplitN(arn, ":", 3)
	if len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		return parts[1]
	}
	return "aws"
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
