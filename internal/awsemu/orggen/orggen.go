// Package orggen generates a realistic AWS Organization inside an
// awsemu.Sandbox, deterministically: Generate with the same Options (Seed,
// sizes, Now) on a sandbox made with the same awsemu.Options.Seed creates the
// same accounts, users, access key IDs and ages, and returns the same
// manifest. Account IDs and access key IDs come from the generator's own
// seeded source; what the sandbox makes itself (organization, root and OU IDs,
// unique IDs of users, secrets) follows the sandbox's seed.
//
// The organization is shaped like a company's, so that every rule of a key
// hygiene tool has something to find:
//
//   - OUs: Root → Security, Infrastructure, Workloads → {Prod, NonProd},
//     Sandbox, Suspended. The management account (acme-management) sits in
//     the Root; the first member accounts go, in order, to Prod, NonProd,
//     Security, Suspended, Infrastructure and Sandbox, the rest are spread by
//     weight (a few directly under Workloads, about 1 in 100 suspended).
//     Names look like prod-payments, dev-data, security-audit,
//     sandbox-alice; e-mails aws+<name>@example.com; aliases acme-<name>.
//     With 4 or more member accounts, at least one is SUSPENDED.
//   - Every member account has the spoke role (Options.RoleName) trusting the
//     management account, with Options.ExternalID, for at most an hour. The
//     management account has the hub identity keywarden-admin with one Active
//     key created ten days before Now and used minutes ago.
//   - Groups admins, developers, readonly and ci-deployers in every account.
//     Users: people (first.last, tagged owner and team, most with a console
//     password, some with MFA), service users under /service/ (svc-<thing>;
//     some tagged only with team, some not tagged at all), CI users under /ci/
//     (ci-<repo>, in ci-deployers), legacy vendor integrations
//     (svc-legacy-<vendor>, with keys three to five years old), one
//     break-glass-admin (tag purpose=break-glass) in every account of at
//     least 5 users, and now and then a user tagged keywarden-exempt=true.
//   - Keys: none, one or two per user, from an hour to five years old, spread
//     across 7, 30, 45, 80, 90, 100, 110 days and one year; last used never,
//     minutes ago or years ago, never before creation nor after Now, with a
//     realistic service and region; some Inactive (most of them old), some
//     users with two Active keys. About 1 in 8 member accounts (at least one
//     from 3 member accounts on) has a root access key; most have root MFA.
//
// When the first member account has at least 10 users (always so from
// UsersPerAccount 13 on), it also holds one specimen of each case a test may
// look for: two active keys with one younger than 7 days and used within the
// hour, an old inactive key, a never-used key, a key older than a year, a
// service user without an owner tag and one with no tags, an exempt user and
// a legacy vendor user.
package orggen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// Names the generator uses that callers may rely on.
const (
	DefaultRoleName = "KeywardenSpoke" // the spoke role when Options.RoleName is empty
	// DefaultActRoleName is the spoke's act role when Options.ActRoleName
	// is empty.
	DefaultActRoleName = "KeywardenSpokeAct"
	AdminUser          = "keywarden-admin"   // the hub identity in the management account
	BreakGlassUser     = "break-glass-admin" // one per account of at least 5 users
	ExemptTag          = "keywarden-exempt"  // tag key, value "true", on the occasional exempt user
	ManagementName     = company + "-management"

	company = "acme"
)

// Group names created in every account.
const (
	GroupAdmins      = "admins"
	GroupDevelopers  = "developers"
	GroupReadOnly    = "readonly"
	GroupCIDeployers = "ci-deployers"
)

var groupNames = []string{GroupAdmins, GroupDevelopers, GroupReadOnly, GroupCIDeployers}

// Options configure Generate. The zero value gives the default organization.
type Options struct {
	// Seed selects the organization: same Seed, same org (IDs, names, ages)
	// given the same Now and sandbox seed.
	Seed uint64
	// Accounts is the number of member accounts besides the management
	// account: 0 means 5, a negative number none.
	Accounts int
	// UsersPerAccount is the mean number of users per member account; each
	// account gets within ±20% of it and the member accounts together exactly
	// Accounts×UsersPerAccount. 0 means 20, a negative number none. The
	// management account gets a quarter of it besides keywarden-admin.
	UsersPerAccount int
	// RoleName is the spoke role in every member account; "" means
	// DefaultRoleName.
	RoleName string
	// ActRoleName is the spoke's second role, which changes keys; ""
	// means DefaultActRoleName. The sandbox checks no permissions: both
	// roles may do everything.
	ActRoleName string
	// ExternalID, when set, is required by the spoke roles' trust.
	ExternalID string
	// Now is the time all ages are counted back from; zero means the sandbox
	// clock's now. It is truncated to the second. A Now ahead of the sandbox
	// clock makes keys that were "used" in the sandbox's future.
	Now time.Time

	// OnUser, when set, is called with every user as it is created. The
	// spec's Tags and Groups are reused afterwards: copy what you keep.
	OnUser func(awsemu.UserSpec)
	// OnKey, when set, is called with every access key as it is created
	// (root keys have User ""). The spec's ID is set; its Secret is not.
	OnKey func(awsemu.KeySpec)
}

func (o Options) withDefaults() Options {
	switch {
	case o.Accounts == 0:
		o.Accounts = 5
	case o.Accounts < 0:
		o.Accounts = 0
	}
	switch {
	case o.UsersPerAccount == 0:
		o.UsersPerAccount = 20
	case o.UsersPerAccount < 0:
		o.UsersPerAccount = 0
	}
	if o.RoleName == "" {
		o.RoleName = DefaultRoleName
	}
	if o.ActRoleName == "" {
		o.ActRoleName = DefaultActRoleName
	}
	return o
}

// Org is the manifest of what Generate created. It holds the admin key's
// secret, which awsemu.Key redacts when printed or logged and JSON leaves out.
type Org struct {
	Seed              uint64
	Now               time.Time // the reference time of every age
	ManagementAccount string
	AdminUser         string     // AdminUser, in the management account
	AdminKeyID        string     // AdminKey.AccessKeyID
	AdminKey          awsemu.Key `json:"-"` // the hub identity's key; never log the secret
	RoleName          string
	ActRoleName       string
	ExternalID        string
	RootID            string    // the organization's root
	OUs               []OU      // in creation order, parents before children
	Accounts          []Account // the management account first, then members as they joined

	// Totals over all accounts. Keys counts every access key, root keys and
	// the admin key included; ActiveKeys the Active ones among them.
	Users, Keys, ActiveKeys, RootKeys int
}

// OU is an organizational unit.
type OU struct {
	ID       string
	Name     string
	Path     string // e.g. "Root/Workloads/Prod"
	ParentID string
}

// Account is one account of the organization.
type Account struct {
	ID         string
	Name       string // e.g. prod-payments
	Email      string // aws+<name>@example.com
	Alias      string // IAM account alias, acme-<name>
	OUPath     string // "Root" for the management account, else e.g. "Root/Workloads/Prod"
	ParentID   string // the root's or OU's ID
	State      string // awsemu.AccountActive or awsemu.AccountSuspended
	Management bool
	CreatedAt  time.Time
	HomeRegion string // where most of its keys were last used
	Users      int
	Keys       int // access keys, the root's included
	ActiveKeys int
	RootKeys   int
	RootMFA    bool
}

// Generate creates an organization in sb, which must not have one yet, and
// returns its manifest. On error sb holds part of an organization.
func Generate(sb *awsemu.Sandbox, opts Options) (*Org, error) {
	if sb == nil {
		return nil, errors.New("orggen: nil sandbox")
	}
	opts = opts.withDefaults()
	now := opts.Now
	if now.IsZero() {
		now = sb.Clock().Now()
	}
	now = now.UTC().Truncate(time.Second)
	g := &gen{
		sb:           sb,
		opts:         opts,
		r:            rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x6a09e667f3bcc909)),
		now:          now,
		t:            nameTables(),
		accountIDs:   make(map[string]bool),
		accountNames: map[string]bool{ManagementName: true},
		userNames:    make(map[string]struct{}),
		org: &Org{
			Seed: opts.Seed, Now: now, AdminUser: AdminUser,
			RoleName: opts.RoleName, ActRoleName: opts.ActRoleName, ExternalID: opts.ExternalID,
		},
	}
	if err := g.run(); err != nil {
		return nil, fmt.Errorf("orggen: %w", err)
	}
	return g.org, nil
}

// OUs, in creation order; parent is an index into ouDefs, -1 for the root.
const (
	ouSecurity = iota
	ouInfra
	ouWorkloads
	ouProd
	ouNonProd
	ouSandbox
	ouSuspended
)

var ouDefs = []struct {
	name   string
	parent int
}{
	ouSecurity:  {"Security", -1},
	ouInfra:     {"Infrastructure", -1},
	ouWorkloads: {"Workloads", -1},
	ouProd:      {"Prod", ouWorkloads},
	ouNonProd:   {"NonProd", ouWorkloads},
	ouSandbox:   {"Sandbox", -1},
	ouSuspended: {"Suspended", -1},
}

// The first member accounts go to these OUs in turn; the rest by ouWeights.
var (
	scriptedOUs = []int{ouProd, ouNonProd, ouSecurity, ouSuspended, ouInfra, ouSandbox}
	ouWeights   = []int{ouSecurity: 6, ouInfra: 8, ouWorkloads: 3, ouProd: 30, ouNonProd: 33, ouSandbox: 15, ouSuspended: 1}
	// account ages by OU
	ouAges = []span{
		ouSecurity: {4 * year, 7 * year}, ouInfra: {4 * year, 7 * year}, ouWorkloads: {2 * year, 6 * year},
		ouProd: {year, 6 * year}, ouNonProd: {180 * day, 6 * year}, ouSandbox: {30 * day, 3 * year},
		ouSuspended: {3 * year, 6 * year},
	}
)

// specimenMinUsers is the size from which the first member account holds the specimens.
const specimenMinUsers = 10

type memberPlan struct {
	ou      int
	name    string
	age     int64
	users   int
	rootKey bool
	rootMFA bool
	region  string
}

type gen struct {
	sb   *awsemu.Sandbox
	opts Options
	r    *rand.Rand
	now  time.Time
	t    *tables
	org  *Org

	accountIDs   map[string]bool
	accountNames map[string]bool

	// per account
	cur       *Account
	cap       int64               // the oldest a user or key of cur may be, in seconds
	userNames map[string]struct{} // taken in cur
	owners    []string            // owner e-mails of cur's people
	tags      []awsemu.Tag
	groups    []string
	trust     []string
}

func (g *gen) at(age int64) time.Time { return g.now.Add(time.Duration(-age) * time.Second) }

func (g *gen) run() error {
	for _, id := range g.sb.Accounts() {
		g.accountIDs[id] = true
	}
	plans := g.plan()

	mgmtAge := between(g.r, 7*year, 8*year)
	mgmt := Account{
		ID: g.accountID(), Name: ManagementName, Email: email(ManagementName), Alias: ManagementName,
		OUPath: "Root", State: awsemu.AccountActive, Management: true,
		CreatedAt: g.at(mgmtAge), HomeRegion: "us-east-1", RootMFA: true,
	}
	if err := g.addAccount(&mgmt); err != nil {
		return err
	}
	rootID, err := g.sb.CreateOrganization(mgmt.ID)
	if err != nil {
		return fmt.Errorf("create organization: %w", err)
	}
	g.org.ManagementAccount, g.org.RootID, mgmt.ParentID = mgmt.ID, rootID, rootID
	g.trust = []string{mgmt.ID}

	ouIDs := make([]string, len(ouDefs))
	ouPaths := make([]string, len(ouDefs))
	for i, d := range ouDefs {
		parentID, parentPath := rootID, "Root"
		if d.parent >= 0 {
			parentID, parentPath = ouIDs[d.parent], ouPaths[d.parent]
		}
		id, err := g.sb.AddOU(parentID, d.name)
		if err != nil {
			return fmt.Errorf("add OU %s: %w", d.name, err)
		}
		ouIDs[i], ouPaths[i] = id, parentPath+"/"+d.name
		g.org.OUs = append(g.org.OUs, OU{ID: id, Name: d.name, Path: ouPaths[i], ParentID: parentID})
	}

	g.begin(&mgmt, mgmtAge)
	if err := g.admin(); err != nil {
		return err
	}
	if err := g.populate(g.opts.UsersPerAccount/4, false); err != nil {
		return err
	}
	g.finish()

	for i, p := range plans {
		a := Account{
			ID: g.accountID(), Name: p.name, Email: email(p.name), Alias: company + "-" + p.name,
			OUPath: ouPaths[p.ou], ParentID: ouIDs[p.ou], State: awsemu.AccountActive,
			CreatedAt: g.at(p.age), HomeRegion: p.region, RootMFA: p.rootMFA,
		}
		if p.ou == ouSuspended {
			a.State = awsemu.AccountSuspended
		}
		if err := g.addAccount(&a); err != nil {
			return err
		}
		if err := g.sb.JoinOrganization(a.ID, a.ParentID, a.CreatedAt); err != nil {
			return fmt.Errorf("join %s to the organization: %w", a.ID, err)
		}
		for _, name := range []string{g.opts.RoleName, g.opts.ActRoleName} {
			err := g.sb.AddRole(awsemu.RoleSpec{
				Account: a.ID, Name: name, CreatedAt: g.at(p.age - day),
				TrustedAccounts: g.trust, ExternalID: g.opts.ExternalID, MaxSession: time.Hour,
			})
			if err != nil {
				return fmt.Errorf("add role %s to %s: %w", name, a.ID, err)
			}
		}
		g.begin(&a, p.age)
		if p.rootKey {
			if err := g.rootKey(); err != nil {
				return err
			}
		}
		if err := g.populate(p.users, i == 0 && p.users >= specimenMinUsers); err != nil {
			return err
		}
		g.finish()
	}
	return nil
}

// plan draws the member accounts: OU, name, age, size, root key and MFA.
func (g *gen) plan() []memberPlan {
	n := g.opts.Accounts
	plans := make([]memberPlan, n)
	for i := range plans {
		p := &plans[i]
		if i < len(scriptedOUs) {
			p.ou = scriptedOUs[i]
		} else {
			p.ou = weighted(g.r, ouWeights)
		}
		p.name = g.accountName(p.ou)
		p.age = between(g.r, ouAges[p.ou].lo, ouAges[p.ou].hi)
		if i == 0 {
			p.age = between(g.r, 5*year, 7*year) // old enough for the specimens
		}
		p.rootKey = g.r.IntN(8) == 0
		p.rootMFA = g.r.IntN(10) != 0
		p.region = regions[g.r.IntN(len(regions))]
	}
	if n >= 3 && !hasRootKey(plans) {
		i := g.r.IntN(n)
		for plans[i].ou == ouSuspended {
			i = (i + 1) % n
		}
		plans[i].rootKey = true
	}

	// Users: each within ±20% of the mean, the sum exactly n×mean.
	u := g.opts.UsersPerAccount
	if u <= 0 || n == 0 {
		return plans
	}
	lo, hi := (u*8+9)/10, u*12/10 // rounded inwards
	sum := 0
	for i := range plans {
		plans[i].users = lo + g.r.IntN(hi-lo+1)
		sum += plans[i].users
	}
	for target := u * n; sum != target; {
		p := &plans[g.r.IntN(n)]
		switch {
		case sum < target && p.users < hi:
			p.users++
			sum++
		case sum > target && p.users > lo:
			p.users--
			sum--
		}
	}
	return plans
}

// hasRootKey reports whether an account that can be scanned (not a
// suspended one) has a root key.
func hasRootKey(plans []memberPlan) bool {
	for _, p := range plans {
		if p.rootKey && p.ou != ouSuspended {
			return true
		}
	}
	return false
}

// weighted returns i with probability weights[i]/sum(weights).
func weighted(r *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	x := r.IntN(total)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	panic("unreachable")
}

func email(name string) string { return "aws+" + name + "@example.com" }

// accountName returns a name not yet taken: security and infrastructure
// accounts from a list in order, the others from workload names, with a
// numeric suffix once the candidates run out.
func (g *gen) accountName(ou int) string {
	var base string
	switch ou {
	case ouSecurity, ouInfra:
		list := securityAccounts
		if ou == ouInfra {
			list = infraAccounts
		}
		for _, s := range list {
			if !g.accountNames[s] {
				g.accountNames[s] = true
				return s
			}
		}
		base = list[g.r.IntN(len(list))]
	default:
		for range 3 {
			base = g.nameCandidate(ou)
			if !g.accountNames[base] {
				g.accountNames[base] = true
				return base
			}
		}
	}
	for k := 2; ; k++ {
		s := base + "-" + strconv.Itoa(k)
		if !g.accountNames[s] {
			g.accountNames[s] = true
			return s
		}
	}
}

func (g *gen) nameCandidate(ou int) string {
	w := workloads[g.r.IntN(len(workloads))]
	switch ou {
	case ouProd:
		return "prod-" + w + prodSuffixes[g.r.IntN(len(prodSuffixes))]
	case ouNonProd:
		return nonProdEnvs[g.r.IntN(len(nonProdEnvs))] + "-" + w
	case ouSandbox:
		return "sandbox-" + firstNames[g.r.IntN(len(firstNames))]
	case ouWorkloads:
		return "shared-" + w
	default: // ouSuspended
		return "legacy-" + w
	}
}

// accountID returns a 12-digit account ID, not starting with 0, not in use.
func (g *gen) accountID() string {
	for {
		var b [12]byte
		b[0] = byte('1' + g.r.IntN(9))
		v := g.r.Uint64N(100_000_000_000)
		for i := 11; i >= 1; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
		if id := string(b[:]); !g.accountIDs[id] {
			g.accountIDs[id] = true
			return id
		}
	}
}

const keyIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// keyID returns an AKIA access key ID: 16 characters of base32 after AKIA.
func (g *gen) keyID() string {
	var b [20]byte
	copy(b[:], "AKIA")
	x, y := g.r.Uint64(), g.r.Uint64()
	for i := 4; i < 16; i++ {
		b[i] = keyIDAlphabet[x&31]
		x >>= 5
	}
	for i := 16; i < 20; i++ {
		b[i] = keyIDAlphabet[y&31]
		y >>= 5
	}
	return string(b[:])
}

// addAccount adds a (not yet joined) account with its root MFA and groups.
func (g *gen) addAccount(a *Account) error {
	_, err := g.sb.AddAccount(awsemu.AccountSpec{
		ID: a.ID, Name: a.Name, Email: a.Email, Alias: a.Alias, CreatedAt: a.CreatedAt, State: a.State,
	})
	if err != nil {
		return fmt.Errorf("add account %s: %w", a.Name, err)
	}
	if err := g.sb.SetRootMFA(a.ID, a.RootMFA); err != nil {
		return err
	}
	for _, name := range groupNames {
		if err := g.sb.AddGroup(a.ID, name, "/", a.CreatedAt.Add(time.Hour)); err != nil {
			return fmt.Errorf("add group %s to %s: %w", name, a.ID, err)
		}
	}
	return nil
}

// begin starts filling account a, created age seconds before now.
func (g *gen) begin(a *Account, age int64) {
	g.cur = a
	g.cap = age - day - hour // users come at least a day after the account
	clear(g.userNames)
	g.owners = g.owners[:0]
}

func (g *gen) finish() {
	a := g.cur
	g.org.Accounts = append(g.org.Accounts, *a)
	g.org.Users += a.Users
	g.org.Keys += a.Keys
	g.org.ActiveKeys += a.ActiveKeys
	g.org.RootKeys += a.RootKeys
	g.cur = nil
}
