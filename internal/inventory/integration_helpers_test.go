package inventory_test

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsemu/orggen"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/testutil/awstest"
)

// Helpers shared by the integration tests of this package: a sandbox served
// over real HTTP, an organization generated in it with its ground truth, the
// hub's AWS configuration, and views of an inventory that can be compared
// with that ground truth.

const testRole = orggen.DefaultRoleName

// env is a sandbox serving a generated organization, seen from the hub.
type env struct {
	sb    *awsemu.Sandbox
	url   string
	org   *orggen.Org
	truth *truth
	hub   aws.Config // the hub admin in the management account
}

// envOptions configure newEnv.
type envOptions struct {
	sandbox awsemu.Options
	gen     orggen.Options
}

// newEnv starts a sandbox with a generated organization, serves it until t
// ends, and returns the hub's configuration (awsx.Load with the endpoint,
// the admin key and a region: nothing comes from the environment but what
// LoadDefaultConfig cannot be told to ignore).
func newEnv(t *testing.T, opts envOptions) *env {
	t.Helper()
	if opts.sandbox.Seed == 0 {
		opts.sandbox.Seed = 1
	}
	tr := newTruth()
	g := opts.gen
	g.OnUser, g.OnKey = tr.addUser, tr.addKey
	o := awstest.NewOrgSandbox(t, opts.sandbox, g)
	return &env{sb: o.Sandbox, url: o.URL, org: o.Org, truth: tr, hub: o.Hub}
}

// config is a configuration that signs with a long-term key, built the way
// keywarden builds its own: awsx.Load, with keywarden's retryer, its
// backoff capped at 100 ms to keep the tests fast.
func (e *env) config(t *testing.T, id, secret string) aws.Config {
	t.Helper()
	return awstest.Config(t, e.url, id, secret)
}

func (e *env) orgs() *organizations.Client { return organizations.NewFromConfig(e.hub) }

// assumer returns a fresh Assumer (its credentials cache counts AssumeRole
// against the counters of the first scan that uses it).
func (e *env) assumer() *awsx.Assumer {
	return awsx.NewAssumer(e.hub, awsx.AssumerOptions{RoleName: testRole, SessionName: awsx.SessionName("test", "1")})
}

// configFor reads the management account with the hub's own credentials
// (orggen puts no spoke role there) and member accounts through the role,
// as keywarden scan does.
func (e *env) configFor() inventory.ConfigFor {
	return configFor(e.hub, e.org.ManagementAccount, e.assumer())
}

func configFor(hub aws.Config, hubAccount string, assumer *awsx.Assumer) inventory.ConfigFor {
	return func(id string, counter *awsx.CallCounter) aws.Config {
		if id == hubAccount {
			cfg := hub.Copy()
			cfg.APIOptions = append(cfg.APIOptions, counter.APIOption)
			return cfg
		}
		return assumer.Config(id, counter)
	}
}

// discover selects the whole organization.
func (e *env) discover(t *testing.T) *inventory.Selected {
	t.Helper()
	sel, err := inventory.Discover(t.Context(), e.orgs(), e.org.ManagementAccount, inventory.Selection{Organization: true})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return sel
}

// scan reads accounts with a fresh assumer.
func (e *env) scan(t *testing.T, accounts []inventory.Account, opts inventory.Options) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Scan(t.Context(), accounts, e.configFor(), opts)
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	if len(inv.Accounts) != len(accounts) {
		t.Fatalf("Scan returned %d accounts, want %d", len(inv.Accounts), len(accounts))
	}
	return inv
}

// activeAccounts are the accounts of the manifest that are not suspended.
func (e *env) activeAccounts() []orggen.Account {
	var out []orggen.Account
	for _, a := range e.org.Accounts {
		if a.State == awsemu.AccountActive {
			out = append(out, a)
		}
	}
	return out
}

// refreshLive replaces what the truth says of a key's last use with the
// sandbox's current state: the hub admin's key is used by the test itself.
func (e *env) refreshLive(keyID string) {
	st, ok := e.sb.AccessKey(keyID)
	if !ok {
		return
	}
	e.truth.mu.Lock()
	defer e.truth.mu.Unlock()
	for _, a := range e.truth.accounts {
		for _, u := range a.users {
			for i := range u.Keys {
				if u.Keys[i].ID == keyID {
					u.Keys[i] = keyFromSpec(awsemu.KeySpec{ID: keyID, Status: st.Status, CreatedAt: st.CreatedAt,
						LastUsed: st.LastUsed, LastUsedService: st.LastUsedService, LastUsedRegion: st.LastUsedRegion})
				}
			}
		}
	}
}

// truth is what the generator created, from its OnUser and OnKey hooks.
type truth struct {
	mu       sync.Mutex
	accounts map[string]*truthAccount
}

type truthAccount struct {
	users map[string]*userView
	root  []keyView
}

func newTruth() *truth { return &truth{accounts: map[string]*truthAccount{}} }

func (tr *truth) account(id string) *truthAccount {
	a := tr.accounts[id]
	if a == nil {
		a = &truthAccount{users: map[string]*userView{}}
		tr.accounts[id] = a
	}
	return a
}

func (tr *truth) addUser(s awsemu.UserSpec) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	path := s.Path
	if path == "" {
		path = "/"
	}
	u := &userView{
		Name: s.Name, Path: path, ARN: "arn:aws:iam::" + s.Account + ":user" + path + s.Name,
		Groups:   slices.Sorted(slices.Values(s.Groups)),
		Password: s.Password, MFA: s.MFA,
	}
	if s.Password && !s.PasswordLastUsed.IsZero() {
		u.PasswordLastUsed = s.PasswordLastUsed.UTC().Truncate(time.Second)
	}
	if len(s.Tags) > 0 {
		u.Tags = map[string]string{}
		for _, tag := range s.Tags {
			u.Tags[tag.Key] = tag.Value
		}
	}
	tr.account(s.Account).users[s.Name] = u
}

func (tr *truth) addKey(s awsemu.KeySpec) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	a := tr.account(s.Account)
	k := keyFromSpec(s)
	if s.User == "" {
		k.ID = "" // root key IDs are never known
		a.root = append(a.root, k)
		sortKeys(a.root)
		return
	}
	u := a.users[s.User]
	u.Keys = append(u.Keys, k)
	sortKeys(u.Keys)
}

// keyFromSpec is the key as IAM reports it: whole seconds, the sandbox's
// defaults for a use without service or region, N/A as nothing.
func keyFromSpec(s awsemu.KeySpec) keyView {
	k := keyView{ID: s.ID, Status: s.Status, Created: s.CreatedAt.UTC().Truncate(time.Second)}
	if k.Status == "" {
		k.Status = awsemu.StatusActive
	}
	if !s.LastUsed.IsZero() {
		k.LastUsed = s.LastUsed.UTC().Truncate(time.Second)
		k.Service, k.Region = s.LastUsedService, s.LastUsedRegion
		if k.Service == "" {
			k.Service = "iam"
		}
		switch k.Region {
		case "":
			k.Region = awsemu.DefaultRegion
		case "N/A":
			k.Region = ""
		}
	}
	return k
}

// users returns the account's users in the form accountView compares, by name.
func (tr *truth) users(accountID string, v viewOpts) []userView {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	a := tr.accounts[accountID]
	if a == nil {
		return nil
	}
	var out []userView
	for _, u := range a.users {
		out = append(out, v.user(*u))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (tr *truth) rootKeys(accountID string) []keyView {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if a := tr.accounts[accountID]; a != nil {
		return slices.Clone(a.root)
	}
	return nil
}

// reportUser returns the user as the credential report shows it, for NeedKeyIDs.
func (tr *truth) reportUser(accountID, name string) inventory.User {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	u := tr.accounts[accountID].users[name]
	iu := inventory.User{Name: u.Name}
	for i, k := range u.Keys {
		iu.Keys = append(iu.Keys, inventory.Key{Slot: i + 1, Status: k.Status, CreatedAt: k.Created,
			LastUsedAt: k.LastUsed, LastUsedService: k.Service, LastUsedRegion: k.Region})
	}
	return iu
}

// userView and keyView are what the tests compare of a user and a key.
type userView struct {
	Name, Path, ARN  string
	Tags             map[string]string
	Groups           []string
	Password, MFA    bool
	PasswordLastUsed time.Time
	Keys             []keyView
}

type keyView struct {
	ID, Status      string
	Created         time.Time
	LastUsed        time.Time
	Service, Region string
}

// viewOpts say which fields a comparison can rely on.
type viewOpts struct {
	ids      bool // key IDs were read
	password bool // password and MFA columns are known (the report path)
	details  bool // path, ARN, tags and groups
	lastUse  bool // last-use date, service and region
	lastDate bool // the last-use date only
}

var (
	reportView = viewOpts{ids: true, password: true, details: true, lastUse: true}
	apiView    = viewOpts{ids: true, details: true, lastUse: true}
)

// user keeps what v compares.
func (v viewOpts) user(u userView) userView {
	out := userView{Name: u.Name}
	if v.details {
		out.Path, out.ARN, out.Tags, out.Groups = u.Path, u.ARN, u.Tags, u.Groups
	}
	if v.password {
		out.Password, out.MFA, out.PasswordLastUsed = u.Password, u.MFA, u.PasswordLastUsed
	}
	for _, k := range u.Keys {
		out.Keys = append(out.Keys, v.key(k))
	}
	return out
}

func (v viewOpts) key(k keyView) keyView {
	out := keyView{Status: k.Status, Created: k.Created}
	if v.ids {
		out.ID = k.ID
	}
	if v.lastUse || v.lastDate {
		out.LastUsed = k.LastUsed
	}
	if v.lastUse {
		out.Service, out.Region = k.Service, k.Region
	}
	return out
}

// viewUsers turns an account's inventory into views, by name.
func viewUsers(ai inventory.AccountInventory, v viewOpts) []userView {
	var out []userView
	for _, u := range ai.Users {
		uv := userView{
			Name: u.Name, Path: u.Path, ARN: u.ARN, Tags: tagMap(u.Tags),
			Groups: slices.Sorted(slices.Values(u.Groups)),
		}
		if c := u.Console; c != nil {
			uv.Password, uv.MFA = c.PasswordEnabled, c.MFAActive
			if !c.PasswordLastUsed.IsZero() {
				uv.PasswordLastUsed = c.PasswordLastUsed.UTC().Truncate(time.Second)
			}
		}
		for _, k := range u.Keys {
			uv.Keys = append(uv.Keys, viewKey(k))
		}
		out = append(out, v.user(uv))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// tagMap is tags as a map, nil for none.
func tagMap(tags inventory.Tags) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

func viewKey(k inventory.Key) keyView {
	kv := keyView{ID: k.ID, Status: k.Status, Created: k.CreatedAt.UTC().Truncate(time.Second),
		Service: k.LastUsedService, Region: k.LastUsedRegion}
	if !k.LastUsedAt.IsZero() {
		kv.LastUsed = k.LastUsedAt.UTC().Truncate(time.Second)
	}
	return kv
}

func viewRoot(r inventory.Root) []keyView {
	var out []keyView
	for _, k := range r.Keys {
		out = append(out, reportView.key(viewKey(k)))
	}
	return out
}

func sortKeys(keys []keyView) {
	sort.SliceStable(keys, func(i, j int) bool { return keys[i].Created.Before(keys[j].Created) })
}

// cmpViews compares views; empty and nil maps and slices are the same.
var cmpViews = []cmp.Option{cmpopts.EquateEmpty()}

// byID indexes an inventory's accounts.
func byID(inv *inventory.Inventory) map[string]inventory.AccountInventory {
	m := make(map[string]inventory.AccountInventory, len(inv.Accounts))
	for _, a := range inv.Accounts {
		m[a.Account.ID] = a
	}
	return m
}

// hasWarning reports whether a warning contains every one of parts.
func hasWarning(ai inventory.AccountInventory, parts ...string) bool {
	for _, w := range ai.Warnings {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(w, p)
		}
		if ok {
			return true
		}
	}
	return false
}
