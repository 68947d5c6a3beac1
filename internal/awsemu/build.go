package awsemu

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// The seeding API: how tests, the generator and `keywarden sandbox` put
// state into the sandbox directly, with timestamps in the past, without going
// through the wire.

// AccountSpec describes an account to add.
type AccountSpec struct {
	ID        string    // 12 digits; generated when empty
	Name      string    // Organizations account name
	Email     string    // Organizations account e-mail
	Alias     string    // IAM account alias, optional
	CreatedAt time.Time // zero: now
	State     string    // ACTIVE (default), SUSPENDED, …
}

// UserSpec describes an IAM user to add.
type UserSpec struct {
	Account   string
	Name      string
	Path      string // "/" when empty
	CreatedAt time.Time
	Tags      []Tag
	Groups    []string // must exist in the account

	Password         bool      // has a console password
	PasswordChanged  time.Time // zero: CreatedAt
	PasswordLastUsed time.Time // zero: never
	MFA              bool
}

// KeySpec describes an access key to add. User "" means the account's root user.
type KeySpec struct {
	Account   string
	User      string
	ID        string // generated when empty
	Secret    string // generated when empty
	Status    string // Active (default) or Inactive
	CreatedAt time.Time

	LastUsed        time.Time // zero: never used
	LastUsedService string    // e.g. "s3"; "" with a LastUsed means "iam"
	LastUsedRegion  string    // e.g. "eu-west-1"; "N/A" for global services
}

// Key is an access key as created: its ID and secret.
type Key struct {
	AccessKeyID     string
	SecretAccessKey string
}

// RoleSpec describes an IAM role that principals of other accounts may assume.
type RoleSpec struct {
	Account         string
	Name            string
	Path            string // "/" when empty
	CreatedAt       time.Time
	TrustedAccounts []string // accounts whose principals may assume it
	ExternalID      string   // required sts:ExternalId, "" for none
	MaxSession      time.Duration
}

// isIAMName is iamNamePattern without a regexp: the generator adds a
// million users, and the regexp was a third of the time.
func isIAMName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			return false
		}
	}
	return true
}

// isIAMPath is iamPathPattern without a regexp.
func isIAMPath(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 3 || p[0] != '/' || p[len(p)-1] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] > 0x7e {
			return false
		}
	}
	return true
}

// ErrNotFound is returned by the seeding API for an unknown account, user or parent.
var ErrNotFound = errors.New("not found")

var (
	accountIDPattern = regexp.MustCompile(`^\d{12}$`)
	iamNamePattern   = regexp.MustCompile(`^[\w+=,.@-]+$`)
	iamPathPattern   = regexp.MustCompile(`^(/|/[\x21-\x7E]*/)$`)
)

func (s *Sandbox) now(t time.Time) time.Time {
	if t.IsZero() {
		return s.clock.Now().Truncate(time.Second)
	}
	return t.UTC().Truncate(time.Second)
}

// AddAccount adds an account with an empty IAM and returns its ID.
func (s *Sandbox) AddAccount(spec AccountSpec) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := spec.ID
	if id == "" {
		for id == "" || s.accounts[id] != nil {
			id = s.ids.accountID()
		}
	}
	if !accountIDPattern.MatchString(id) {
		return "", fmt.Errorf("account ID %q: must be 12 digits", id)
	}
	if s.accounts[id] != nil {
		return "", fmt.Errorf("account %s already exists", id)
	}
	state := spec.State
	if state == "" {
		state = AccountActive
	}
	name := spec.Name
	if name == "" {
		name = "account-" + id
	}
	s.accounts[id] = &account{
		id: id, name: name, email: spec.Email, alias: spec.Alias,
		created: s.now(spec.CreatedAt), state: state,
		users:  make(map[string]*user),
		groups: make(map[string]*group),
		roles:  make(map[string]*role),
	}
	return id, nil
}

// AddGroup adds an IAM group.
func (s *Sandbox) AddGroup(accountID, name, path string, createdAt time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[accountID]
	if a == nil {
		return fmt.Errorf("account %s: %w", accountID, ErrNotFound)
	}
	if path == "" {
		path = "/"
	}
	if !iamNamePattern.MatchString(name) || !iamPathPattern.MatchString(path) {
		return fmt.Errorf("group %q path %q: invalid name or path", name, path)
	}
	if a.groups[name] != nil {
		return fmt.Errorf("group %s already exists in %s", name, accountID)
	}
	a.groups[name] = &group{name: name, path: path, id: s.ids.groupID(), created: s.now(createdAt)}
	return nil
}

// AddUser adds an IAM user.
func (s *Sandbox) AddUser(spec UserSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[spec.Account]
	if a == nil {
		return fmt.Errorf("account %s: %w", spec.Account, ErrNotFound)
	}
	path := spec.Path
	if path == "" {
		path = "/"
	}
	if len(spec.Name) > 64 || !isIAMName(spec.Name) || !isIAMPath(path) {
		return fmt.Errorf("user %q path %q: invalid name or path", spec.Name, path)
	}
	if a.users[spec.Name] != nil {
		return fmt.Errorf("user %s already exists in %s", spec.Name, spec.Account)
	}
	for _, g := range spec.Groups {
		if a.groups[g] == nil {
			return fmt.Errorf("group %s in %s: %w", g, spec.Account, ErrNotFound)
		}
	}
	created := s.now(spec.CreatedAt)
	u := &user{
		name: spec.Name, path: path, id: s.ids.userID(), created: created,
		groups:   append([]string(nil), spec.Groups...),
		password: spec.Password, mfa: spec.MFA,
	}
	if spec.Password {
		u.passwordChanged = created
		if !spec.PasswordChanged.IsZero() {
			u.passwordChanged = spec.PasswordChanged.UTC().Truncate(time.Second)
		}
		if !spec.PasswordLastUsed.IsZero() {
			u.passwordLastUsed = spec.PasswordLastUsed.UTC().Truncate(time.Second)
		}
	}
	u.setTags(spec.Tags)
	a.users[u.name] = u
	a.userNames = append(a.userNames, u.name)
	a.usersDirty = true
	return nil
}

// AddAccessKey adds an access key to a user (or to the root user when
// spec.User is empty), honouring the two-key quota.
func (s *Sandbox) AddAccessKey(spec KeySpec) (Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[spec.Account]
	if a == nil {
		return Key{}, fmt.Errorf("account %s: %w", spec.Account, ErrNotFound)
	}
	var u *user
	existing := a.root.keys
	if spec.User != "" {
		if u = a.users[spec.User]; u == nil {
			return Key{}, fmt.Errorf("user %s in %s: %w", spec.User, spec.Account, ErrNotFound)
		}
		existing = u.keys
	}
	if len(existing) >= 2 {
		return Key{}, fmt.Errorf("user %q in %s already has two access keys", spec.User, spec.Account)
	}
	status := spec.Status
	if status == "" {
		status = StatusActive
	}
	if status != StatusActive && status != StatusInactive {
		return Key{}, fmt.Errorf("key status %q: must be Active or Inactive", status)
	}
	id := spec.ID
	if id == "" {
		id = s.newAccessKeyID()
	} else if s.keys[id] != nil || s.sessions[id] != nil {
		return Key{}, fmt.Errorf("access key %s already exists", id)
	}
	secret := spec.Secret
	if secret == "" {
		secret = s.ids.secret()
	}
	k := &accessKey{
		id: id, secret: secret, account: a, user: u, status: status,
		created: s.now(spec.CreatedAt),
	}
	if !spec.LastUsed.IsZero() {
		k.used = keyUse{at: spec.LastUsed.UTC().Truncate(time.Second), service: spec.LastUsedService, region: spec.LastUsedRegion}
		if k.used.service == "" {
			k.used.service = "iam"
		}
		if k.used.region == "" {
			k.used.region = DefaultRegion
		}
	}
	if u != nil {
		u.keys = append(u.keys, k)
	} else {
		a.root.keys = append(a.root.keys, k)
	}
	s.keys[id] = k
	return Key{AccessKeyID: id, SecretAccessKey: secret}, nil
}

// SetRootMFA records whether the account's root user has MFA.
func (s *Sandbox) SetRootMFA(accountID string, mfa bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[accountID]
	if a == nil {
		return fmt.Errorf("account %s: %w", accountID, ErrNotFound)
	}
	a.root.mfa = mfa
	return nil
}

// AddRole adds an IAM role with a trust policy naming whole accounts.
func (s *Sandbox) AddRole(spec RoleSpec) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[spec.Account]
	if a == nil {
		return fmt.Errorf("account %s: %w", spec.Account, ErrNotFound)
	}
	path := spec.Path
	if path == "" {
		path = "/"
	}
	if !iamNamePattern.MatchString(spec.Name) || !iamPathPattern.MatchString(path) {
		return fmt.Errorf("role %q path %q: invalid name or path", spec.Name, path)
	}
	maxSession := spec.MaxSession
	if maxSession == 0 {
		maxSession = time.Hour
	}
	a.roles[spec.Name] = &role{
		name: spec.Name, path: path, id: s.ids.roleID(), created: s.now(spec.CreatedAt),
		trustedAccounts:    append([]string(nil), spec.TrustedAccounts...),
		externalID:         spec.ExternalID,
		maxSessionDuration: maxSession,
	}
	return nil
}

// DeleteRole removes a role, so that assuming it fails as it would in AWS.
func (s *Sandbox) DeleteRole(accountID, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[accountID]
	if a == nil || a.roles[name] == nil {
		return fmt.Errorf("role %s in %s: %w", name, accountID, ErrNotFound)
	}
	delete(a.roles, name)
	return nil
}

func (s *Sandbox) newAccessKeyID() string {
	for {
		id := s.ids.accessKeyID()
		if s.keys[id] == nil {
			return id
		}
	}
}

// KeyState is what the sandbox knows about an access key, for tests. Its
// last use is the one GetAccessKeyLastUsed shows now (zero LastUsed: never
// used): a use that Options.LastUsedDelay still hides is not in it.
type KeyState struct {
	AccessKeyID     string
	Account         string
	User            string // "" for root
	Status          string
	CreatedAt       time.Time
	LastUsed        time.Time
	LastUsedService string
	LastUsedRegion  string
}

// AccessKey returns the state of a long-term access key.
func (s *Sandbox) AccessKey(id string) (KeyState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	if k == nil {
		return KeyState{}, false
	}
	k.settle(s.clock.Now(), s.lastUsedDelay)
	st := KeyState{
		AccessKeyID: k.id, Account: k.account.id, Status: k.status, CreatedAt: k.created,
		LastUsed: k.used.at, LastUsedService: k.used.service, LastUsedRegion: k.used.region,
	}
	if k.user != nil {
		st.User = k.user.name
	}
	return st, true
}

// Accounts returns the IDs of all accounts, in no particular order.
func (s *Sandbox) Accounts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.accounts))
	for id := range s.accounts {
		ids = append(ids, id)
	}
	return ids
}
