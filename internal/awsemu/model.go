package awsemu

import (
	"slices"
	"sort"
	"strings"
	"time"
)

// The in-memory model of the sandbox's AWS. Everything here is guarded by
// Sandbox.mu; handlers copy what they need before encoding a response.

// Key statuses as IAM spells them.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

// Account states as Organizations spells them.
const (
	AccountActive    = "ACTIVE"
	AccountSuspended = "SUSPENDED"
)

// Tag is a tag of an IAM user or of a secret.
type Tag struct {
	Key   string
	Value string
}

type account struct {
	id      string
	name    string
	email   string
	alias   string
	created time.Time
	state   string // ACTIVE, SUSPENDED, …

	users      map[string]*user
	userNames  []string // sorted lazily; see sortedUsers
	usersDirty bool
	groups     map[string]*group
	roles      map[string]*role
	root       rootUser
	report     *credentialReport
	reportJob  *reportJob

	secrets   map[secretKey]*secret // Secrets Manager, by primary region and name
	secretSeq uint64                // secrets created so far, for creation order
}

type rootUser struct {
	keys             []*accessKey
	mfa              bool
	passwordLastUsed time.Time
}

type user struct {
	name    string
	path    string
	id      string
	created time.Time
	tags    []Tag    // sorted by key, as IAM returns them
	groups  []string // group names, in the order joined

	password         bool
	passwordChanged  time.Time
	passwordLastUsed time.Time
	mfa              bool

	keys []*accessKey // at most two
}

type group struct {
	name    string
	path    string
	id      string
	created time.Time
}

type role struct {
	name               string
	path               string
	id                 string
	created            time.Time
	trustedAccounts    []string
	externalID         string
	maxSessionDuration time.Duration
}

type accessKey struct {
	id      string
	secret  string
	account *account
	user    *user // nil for a root key
	status  string
	created time.Time

	used    keyUse   // the last use IAM shows; at is zero: never used
	pending []keyUse // recorded uses not yet shown (Options.LastUsedDelay), oldest first
}

// keyUse is one recorded use of an access key.
type keyUse struct {
	at      time.Time
	service string
	region  string
}

// latestUse is when the key was last recorded as used, shown or not.
func (k *accessKey) latestUse() time.Time {
	if n := len(k.pending); n > 0 {
		return k.pending[n-1].at
	}
	return k.used.at
}

// settle shows the pending uses whose delay has passed by now: like IAM,
// the sandbox reports a use only some time after it happened.
func (k *accessKey) settle(now time.Time, delay time.Duration) {
	n := 0
	for n < len(k.pending) && !now.Before(k.pending[n].at.Add(delay)) {
		k.used = k.pending[n]
		n++
	}
	if n > 0 {
		k.pending = append(k.pending[:0], k.pending[n:]...)
	}
}

// session is a set of temporary credentials from AssumeRole.
type session struct {
	keyID   string
	secret  string
	token   string
	account *account
	role    *role
	name    string
	expires time.Time
	chained bool // obtained with role credentials (role chaining)
}

func (a *account) sortedUsers() []string {
	if a.usersDirty {
		sort.Strings(a.userNames)
		a.usersDirty = false
	}
	return a.userNames
}

func (a *account) arnRoot() string { return "arn:aws:iam::" + a.id + ":root" }

func (a *account) userARN(u *user) string {
	return "arn:aws:iam::" + a.id + ":user" + u.path + u.name
}

func (a *account) groupARN(g *group) string {
	return "arn:aws:iam::" + a.id + ":group" + g.path + g.name
}

func (a *account) roleARN(r *role) string {
	return "arn:aws:iam::" + a.id + ":role" + r.path + r.name
}

// setTags merges tags into u's, replacing values of existing keys, and keeps
// them sorted by key.
func (u *user) setTags(tags []Tag) {
	if u.tags == nil && len(tags) > 0 {
		u.tags = make([]Tag, 0, len(tags))
	}
	for _, t := range tags {
		replaced := false
		for i := range u.tags {
			if u.tags[i].Key == t.Key {
				u.tags[i].Value = t.Value
				replaced = true
				break
			}
		}
		if !replaced {
			u.tags = append(u.tags, t)
		}
	}
	slices.SortFunc(u.tags, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
}

func (u *user) removeTags(keys []string) {
	kept := u.tags[:0]
	for _, t := range u.tags {
		drop := false
		for _, k := range keys {
			if t.Key == k {
				drop = true
				break
			}
		}
		if !drop {
			kept = append(kept, t)
		}
	}
	u.tags = kept
}

// keysByCreation returns the user's keys oldest first, which is how the
// credential report fills its two key slots.
func keysByCreation(keys []*accessKey) []*accessKey {
	out := append([]*accessKey(nil), keys...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].created.Before(out[j].created) })
	return out
}

func removeKey(keys []*accessKey, k *accessKey) []*accessKey {
	out := keys[:0]
	for _, x := range keys {
		if x != k {
			out = append(out, x)
		}
	}
	return out
}

// pathPrefixMatch reports whether an IAM path starts with prefix.
func pathPrefixMatch(path, prefix string) bool { return strings.HasPrefix(path, prefix) }
