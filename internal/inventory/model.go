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
	AccountOK     AccountStatus = "ok"
	AccountFailed AccountStatus = "failed"
)

// AccountInventory is what was read from one account. When Status is
// AccountFailed, Error says why and Users is empty: nothing is ever judged
// from a partial view of an account.
type AccountInventory struct {
	Account Account
	Status  AccountStatus
	Error   string // why it failed, for people
	// ErrorCode is the AWS error code behind a failure (AccessDenied,
	// Throttling, …), or "timeout", "" when there is none.
	ErrorCode string

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

// User is an IAM user and its access keys.
type User struct {
	Name      string
	ARN       string
	UserID    string
	Path      string
	CreatedAt time.Time
	Tags      map[string]string
	Groups    []string

	PasswordEnabled  bool
	PasswordLastUsed time.Time // zero: never or unknown
	MFAActive        bool

	Keys []Key // at most two, oldest first
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

// Failed returns the accounts that could not be read.
func (inv *Inventory) Failed() []AccountInventory {
	var out []AccountInventory
	for _, a := range inv.Accounts {
		if a.Status == AccountFailed {
			out = append(out, a)
		}
	}
	return out
}
