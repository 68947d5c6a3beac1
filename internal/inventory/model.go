// Package inventory finds the accounts of an AWS Organization and every IAM
// access key in them: from the credential report (a handful of calls per
// account) or from the IAM API (fresh, one call per user and key). One
// account failing is recorded with its reason; the others go on.
//
// It only reads. The types here are plain values that the policy, report
// and remediation packages consume.
package inventory

import "time"

// Source says where an account's keys were read from.
type Source string

const (
	SourceReport Source = "report" // the IAM credential report
	SourceAPI    Source = "api"    // ListUsers, ListAccessKeys, GetAccessKeyLastUsed
)

// Account is an AWS account to read.
type Account struct {
	ID    string
	Name  string // "" when not known (no Organizations access)
	Email string
	// OUPath names the OUs from the root down to the account's parent,
	// "Root/Workloads/Prod"; "" when not known.
	OUPath string
	// OUIDs are the IDs along OUPath: the root's first, the parent last.
	OUIDs []string
	// State is the Organizations state (ACTIVE, SUSPENDED, …); "" when not known.
	State string
}

// AccountStatus is the outcome of reading one account.
type AccountStatus string

const (
	// AccountOK: every read succeeded; the account was read completely.
	AccountOK AccountStatus = "ok"
	// AccountPartial: the account was read, but a read that completes it
	// failed (GetAccountSummary on the API path: whether the root user has
	// access keys is not known). What was read is kept and reported, and
	// judged, but nothing is ever acted on from it.
	AccountPartial AccountStatus = "partial"
	// AccountFailed: the account could not be read; nothing of it is kept.
	AccountFailed AccountStatus = "failed"
)

// Complete reports whether the account was read completely: only then may
// anything be acted on in it.
func (s AccountStatus) Complete() bool { return s == AccountOK }

// AccountInventory is what was read from one account. When Status is
// AccountFailed, Error says why and Users is empty. When it is
// AccountPartial, Users and Root hold what was read and Error says what
// could not be: nothing is ever acted on from a partial view of an account.
type AccountInventory struct {
	Account Account
	Status  AccountStatus
	// Error says, for people, why the account failed, or for a partial
	// account what could not be read and why ("root access keys not
	// checked: GetAccountSummary: AccessDenied: …"); "" when ok.
	Error string
	// ErrorCode is the AWS error code behind a failure or a partial read
	// (AccessDenied, Throttling, …), or "timeout", "" when there is none.
	ErrorCode string
	// NotRead names, for a partial account, what could not be read ("root
	// access keys"), for people; "" otherwise.
	NotRead string

	Source Source
	// Fallback says why the API path was used instead of the report, "" if
	// it was not a fallback.
	Fallback string
	// ReportGeneratedAt is when the credential report was generated (it can
	// be up to four hours old); zero on the API path.
	ReportGeneratedAt time.Time
	// ReadAt is when reading the account finished.
	ReadAt time.Time

	Users []User
	Root  Root

	// Warnings are things worth knowing that did not stop the account
	// being read (a user deleted since the report, no root summary).
	Warnings []string

	Calls    int // AWS API calls made for this account, AssumeRole and retries included
	Duration time.Duration
}

// User is an IAM user and its access keys: what the policy, the
// notifications and the reports use of it. A scan holds one for every user
// of every account (a million in a large organization), so it is kept
// small: nothing that no one reads (the user's ID and creation date are
// not kept), tags as a slice, what is rarely set behind a pointer, the
// strings that many users share (paths, tag keys, group names, lists of
// groups) once per account, Name as the end of ARN rather than a copy, and
// no string that keeps alive the API response or the report row it was
// read from.
type User struct {
	Name string
	ARN  string
	Path string
	Tags Tags
	// Groups are the names of the user's groups. Users with the same
	// groups may share one slice: never change its elements.
	Groups []string
	// Console is the user's console sign-in, nil when it has neither a
	// password nor MFA (or, on the API path, when its password was never
	// used: ListUsers tells only the last use).
	Console *Console

	// Keys are at most two, oldest first. Users of one account may share
	// one array for their keys: replace Keys rather than append to it (its
	// capacity is its length, so an append copies it anyway).
	Keys []Key
}

// Console is a user's console sign-in, from the credential report.
type Console struct {
	PasswordEnabled  bool
	MFAActive        bool
	PasswordLastUsed time.Time // zero: never or unknown
}

// Tag is one tag of an IAM user.
type Tag struct {
	Key   string
	Value string
}

// Tags are a user's tags, in the order IAM lists them; a key appears at
// most once.
type Tags []Tag

// Get returns the value of the tag key (matched exactly), and whether the
// user has it.
func (ts Tags) Get(key string) (string, bool) {
	for _, t := range ts {
		if t.Key == key {
			return t.Value, true
		}
	}
	return "", false
}

// Key is one access key. Its secret is never known to keywarden.
type Key struct {
	// ID is the access key ID. On the report path it is read (with
	// ListAccessKeys) only for users whose keys need it; "" otherwise.
	ID string
	// Slot is the key's column pair in the credential report (1 or 2), 0
	// when it was read from the API.
	Slot      int
	Status    string // Active or Inactive
	CreatedAt time.Time

	LastUsedAt      time.Time // zero: never used (or not since IAM began tracking)
	LastUsedService string    // "" when never used
	LastUsedRegion  string    // "" when never used or for a global service
}

// Key statuses as IAM spells them.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

// Active reports whether the key can be used.
func (k Key) Active() bool { return k.Status == StatusActive }

// Root is what is known of the account's root user.
type Root struct {
	// KeysPresent is true when the root user has at least one access key
	// (GetAccountSummary's AccountAccessKeysPresent, or the report's root row).
	KeysPresent bool
	// KeysUnknown is true when neither could be read (the account is then
	// partial): KeysPresent false means "not known", not "none".
	KeysUnknown bool
	// Keys are the root's keys from the report's <root_account> row; IDs
	// are never known, since an assumed role cannot list them.
	Keys      []Key
	MFAActive bool
}

// Inventory is the result of one scan.
type Inventory struct {
	StartedAt  time.Time
	FinishedAt time.Time
	// Caller is the ARN keywarden ran as.
	Caller   string
	Accounts []AccountInventory
}

// Failed returns the accounts that could not be read at all.
func (inv *Inventory) Failed() []AccountInventory {
	return inv.withStatus(func(s AccountStatus) bool { return s == AccountFailed })
}

// Incomplete returns the accounts that were not read completely: failed
// or partial. Nothing is acted on in them, and a command that met one
// says so (exit code 3).
func (inv *Inventory) Incomplete() []AccountInventory {
	return inv.withStatus(func(s AccountStatus) bool { return !s.Complete() })
}

func (inv *Inventory) withStatus(match func(AccountStatus) bool) []AccountInventory {
	var out []AccountInventory
	for _, a := range inv.Accounts {
		if match(a.Status) {
			out = append(out, a)
		}
	}
	return out
}
