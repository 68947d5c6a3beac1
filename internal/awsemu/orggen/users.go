package orggen

import (
	"fmt"
	"strconv"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// A profile is how a kind of user holds keys: how many, how old, how used.
type profile struct {
	counts   []int // weights of 0, 1 and 2 keys
	age, use *dist
	services []string
}

var (
	humanProfile      = &profile{[]int{40, 45, 15}, humanAge, humanUse, humanServices}
	serviceProfile    = &profile{[]int{5, 65, 30}, svcAge, svcUse, svcServices}
	ciProfile         = &profile{[]int{0, 75, 25}, ciAge, ciUse, ciServices}
	legacyProfile     = &profile{[]int{0, 60, 40}, legacyAge, legacyUse, legacyServices}
	breakGlassProfile = &profile{[]int{70, 30, 0}, rootAge, staleUse, humanServices}
	rootProfile       = &profile{[]int{0, 1, 0}, rootAge, rootUse, rootServices}
)

// breakGlassPasswordUse: a break-glass password is rarely used.
var breakGlassPasswordUse = mix([]int{1, 1}, []span{{never, never}, {200 * day, 3 * year}})

// keyPlan is one key to create; ages are seconds before now.
type keyPlan struct {
	age     int64
	lastUse int64 // never: not used
	active  bool
}

// pending is a user about to be created.
type pending struct {
	spec   awsemu.UserSpec
	prof   *profile
	pwUse  *dist // with spec.Password
	keys   [2]keyPlan
	nkeys  int
	preset bool // keys set by the caller (specimens), not drawn
}

// specimen keys, planted in the first member account (see the package doc).
var (
	specimenRotating = [2]keyPlan{{95 * day, 2 * hour, true}, {3 * day, 20 * minute, true}}
	specimenRotated  = [2]keyPlan{{400 * day, 130 * day, false}, {130 * day, 50 * day, true}}
	specimenNever    = keyPlan{2 * year, never, true}
	specimenFresh    = keyPlan{60 * day, 10 * minute, true}
	specimenExempt   = keyPlan{3 * year, 45 * minute, true}
	specimenLegacy   = keyPlan{4*year + 200*day, 2 * day, true}
)

func (p *pending) set(keys ...keyPlan) {
	p.nkeys = copy(p.keys[:], keys)
	p.preset = true
}

// admin adds the hub identity to the management account.
func (g *gen) admin() error {
	g.userNames[AdminUser] = struct{}{}
	g.tags = append(g.tags[:0],
		awsemu.Tag{Key: "owner", Value: "platform@example.com"},
		awsemu.Tag{Key: "team", Value: "platform"},
		awsemu.Tag{Key: "purpose", Value: "keywarden"})
	g.groups = append(g.groups[:0], GroupAdmins)
	spec := awsemu.UserSpec{
		Account: g.cur.ID, Name: AdminUser, Path: "/", CreatedAt: g.at(10*day + hour),
		Tags: g.tags, Groups: g.groups,
	}
	if err := g.addUser(&spec); err != nil {
		return err
	}
	k := keyPlan{age: 10 * day, lastUse: between(g.r, minute, 10*minute), active: true}
	key, err := g.addKey(AdminUser, k, "sts", "us-east-1")
	if err != nil {
		return err
	}
	g.org.AdminKey, g.org.AdminKeyID = key, key.AccessKeyID
	return nil
}

// rootKey gives the current account's root user an access key.
func (g *gen) rootKey() error {
	var ks [2]keyPlan
	g.planKeys(rootProfile, &ks)
	k := ks[0]
	k.active = g.r.IntN(5) != 0
	svc := rootServices[g.r.IntN(len(rootServices))]
	if _, err := g.addKey("", k, svc, g.region(svc)); err != nil {
		return err
	}
	g.cur.RootKeys++
	return nil
}

// populate adds n users to the current account: a break-glass admin from 5
// users on, then people, service, CI and legacy users, about 60/25/10/few %.
func (g *gen) populate(n int, specimens bool) error {
	if n <= 0 {
		return nil
	}
	bg := 0
	if n >= 5 {
		bg = 1
	}
	rest := n - bg
	legacy := 0
	if rest >= 10 {
		legacy = rest / 200
		if g.r.IntN(3) == 0 {
			legacy++
		}
	}
	ci := rest * 10 / 100
	if ci == 0 && rest >= 4 {
		ci = 1
	}
	svc := rest * 25 / 100
	if svc == 0 && rest >= 2 {
		svc = 1
	}
	if specimens {
		svc, legacy = max(svc, 3), max(legacy, 1)
	}
	humans := rest - legacy - ci - svc
	exempt := -1
	if specimens {
		exempt = 2
	} else if svc > 0 && g.r.IntN(3) == 0 {
		exempt = g.r.IntN(svc)
	}

	if bg > 0 {
		if err := g.breakGlass(); err != nil {
			return err
		}
	}
	for i := range humans {
		if err := g.human(i, specimens); err != nil {
			return err
		}
	}
	for i := range svc {
		if err := g.service(i, i == exempt, specimens); err != nil {
			return err
		}
	}
	for range ci {
		if err := g.ci(); err != nil {
			return err
		}
	}
	for i := range legacy {
		if err := g.legacy(i == 0 && specimens); err != nil {
			return err
		}
	}
	return nil
}

func (g *gen) breakGlass() error {
	g.userNames[BreakGlassUser] = struct{}{}
	g.tags = append(g.tags[:0],
		awsemu.Tag{Key: "owner", Value: "cloud-security@example.com"},
		awsemu.Tag{Key: "team", Value: "security"},
		awsemu.Tag{Key: "purpose", Value: "break-glass"})
	g.groups = append(g.groups[:0], GroupAdmins)
	p := pending{
		spec: awsemu.UserSpec{Name: BreakGlassUser, Path: "/", Tags: g.tags, Groups: g.groups, Password: true, MFA: true},
		prof: breakGlassProfile, pwUse: breakGlassPasswordUse,
	}
	return g.commit(&p)
}

func (g *gen) human(i int, specimens bool) error {
	idx, name, suffixed := g.pickName(g.t.humans, "")
	owner := g.t.emails[idx]
	if suffixed {
		owner = name + "@example.com"
	}
	g.owners = append(g.owners, owner)
	g.tags = append(g.tags[:0],
		awsemu.Tag{Key: "owner", Value: owner},
		awsemu.Tag{Key: "team", Value: teams[g.r.IntN(len(teams))]})
	g.groups = g.groups[:0]
	switch x := g.r.IntN(100); {
	case x < 65:
		g.groups = append(g.groups, GroupDevelopers)
		if g.r.IntN(100) < 15 {
			g.groups = append(g.groups, GroupReadOnly)
		}
	case x < 85:
		g.groups = append(g.groups, GroupReadOnly)
	case x < 95:
		g.groups = append(g.groups, GroupAdmins)
	}
	p := pending{
		spec: awsemu.UserSpec{Name: name, Path: "/", Tags: g.tags, Groups: g.groups},
		prof: humanProfile, pwUse: passwordUse,
	}
	if g.r.IntN(10) != 0 {
		p.spec.Password = true
		p.spec.MFA = g.r.IntN(10) < 7
	}
	if specimens {
		switch i {
		case 0:
			p.set(specimenRotating[:]...)
		case 1:
			p.set(specimenRotated[:]...)
		}
	}
	return g.commit(&p)
}

// Tagging of service users: owner and team, team only, or none.
const (
	tagsOwnerTeam = iota
	tagsTeamOnly
	tagsNone
)

var serviceTagging = []int{tagsOwnerTeam: 60, tagsTeamOnly: 25, tagsNone: 15}

func (g *gen) service(i int, exempt, specimens bool) error {
	_, name, _ := g.pickName(g.t.svc, "-")
	mode := weighted(g.r, serviceTagging)
	p := pending{spec: awsemu.UserSpec{Name: name, Path: "/service/"}, prof: serviceProfile}
	if specimens {
		switch i {
		case 0:
			mode = tagsTeamOnly
			p.set(specimenNever)
		case 1:
			mode = tagsNone
			p.set(specimenFresh)
		case 2:
			p.set(specimenExempt)
		}
	}
	if exempt {
		mode = tagsOwnerTeam
	}
	g.tags = g.tags[:0]
	if mode == tagsOwnerTeam {
		g.tags = append(g.tags, awsemu.Tag{Key: "owner", Value: g.anyOwner()})
	}
	if mode != tagsNone {
		g.tags = append(g.tags, awsemu.Tag{Key: "team", Value: teams[g.r.IntN(len(teams))]})
	}
	if exempt {
		g.tags = append(g.tags, awsemu.Tag{Key: ExemptTag, Value: "true"})
	}
	p.spec.Tags = g.tags
	return g.commit(&p)
}

func (g *gen) ci() error {
	idx, name, _ := g.pickName(g.t.ci, "-")
	g.tags = append(g.tags[:0],
		awsemu.Tag{Key: "team", Value: teams[g.r.IntN(len(teams))]},
		awsemu.Tag{Key: "repo", Value: g.t.repoTag[idx]})
	if g.r.IntN(10) < 4 {
		g.tags = append(g.tags, awsemu.Tag{Key: "owner", Value: g.anyOwner()})
	}
	g.groups = append(g.groups[:0], GroupCIDeployers)
	p := pending{
		spec: awsemu.UserSpec{Name: name, Path: "/ci/", Tags: g.tags, Groups: g.groups},
		prof: ciProfile,
	}
	return g.commit(&p)
}

func (g *gen) legacy(specimen bool) error {
	idx, name, _ := g.pickName(g.t.legacy, "-")
	g.tags = append(g.tags[:0], awsemu.Tag{Key: "vendor", Value: vendors[idx]})
	if g.r.IntN(10) < 4 {
		g.tags = append(g.tags, awsemu.Tag{Key: "team", Value: teams[g.r.IntN(len(teams))]})
	}
	if g.r.IntN(10) < 2 {
		g.tags = append(g.tags, awsemu.Tag{Key: "owner", Value: g.anyOwner()})
	}
	p := pending{spec: awsemu.UserSpec{Name: name, Path: "/service/", Tags: g.tags}, prof: legacyProfile}
	if specimen {
		p.set(specimenLegacy)
	}
	return g.commit(&p)
}

// anyOwner returns the e-mail of a person of the current account, or of
// anyone when it has none.
func (g *gen) anyOwner() string {
	if len(g.owners) > 0 {
		return g.owners[g.r.IntN(len(g.owners))]
	}
	return g.t.emails[g.r.IntN(len(g.t.emails))]
}

// pickName picks a name from table not taken in the current account; when a
// few tries fail, it adds a numeric suffix after sep. It returns the table
// index the name came from and whether it has a suffix.
func (g *gen) pickName(table []string, sep string) (idx int, name string, suffixed bool) {
	for range 8 {
		idx = g.r.IntN(len(table))
		if _, taken := g.userNames[table[idx]]; !taken {
			g.userNames[table[idx]] = struct{}{}
			return idx, table[idx], false
		}
	}
	for k := 2; ; k++ {
		name = table[idx] + sep + strconv.Itoa(k)
		if _, taken := g.userNames[name]; !taken {
			g.userNames[name] = struct{}{}
			return idx, name, true
		}
	}
}

// commit draws the user's keys (unless preset), its creation (at or before
// its oldest key) and password use, and creates user and keys.
func (g *gen) commit(p *pending) error {
	if !p.preset {
		p.nkeys = g.planKeys(p.prof, &p.keys)
	}
	oldest := int64(0)
	for _, k := range p.keys[:p.nkeys] {
		oldest = max(oldest, k.age)
	}
	u := g.r.Float64()
	age := oldest + int64(float64(max(g.cap-oldest, 0))*u*u)
	p.spec.Account = g.cur.ID
	p.spec.CreatedAt = g.at(age)
	if p.spec.Password {
		changed := between(g.r, 0, age+1)
		p.spec.PasswordChanged = g.at(changed)
		if lu := p.pwUse.draw(g.r); lu != never {
			if lu > changed {
				lu = between(g.r, 0, changed+1)
			}
			p.spec.PasswordLastUsed = g.at(lu)
		}
	}
	if err := g.addUser(&p.spec); err != nil {
		return err
	}
	for _, k := range p.keys[:p.nkeys] {
		svc := p.prof.services[g.r.IntN(len(p.prof.services))]
		if _, err := g.addKey(p.spec.Name, k, svc, g.region(svc)); err != nil {
			return err
		}
	}
	return nil
}

// planKeys draws a user's keys into ks, oldest first, and returns how many.
func (g *gen) planKeys(p *profile, ks *[2]keyPlan) int {
	n := weighted(g.r, p.counts)
	switch n {
	case 1:
		k := keyPlan{age: g.keyAge(p.age), active: g.r.IntN(100) >= 7}
		use := p.use
		if !k.active {
			use = staleUse
		}
		k.lastUse = g.lastUse(use, k.age)
		ks[0] = k
	case 2:
		a1, a2 := g.keyAge(p.age), g.keyAge(p.age)
		if a2 > a1 {
			a1, a2 = a2, a1
		}
		switch x := g.r.IntN(100); {
		case x < 35: // rotation under way: a new key beside the old, both active
			a2 = between(g.r, hour, min(30*day, a1))
			lu2 := int64(never)
			if g.r.IntN(10) < 6 {
				lu2 = between(g.r, 0, min(day, a2))
			}
			ks[0] = keyPlan{a1, g.lastUse(p.use, a1), true}
			ks[1] = keyPlan{a2, lu2, true}
		case x < 70: // rotated: the old key deactivated and kept
			if a2 >= a1 {
				a2 = a1 / 2
			}
			lu1 := int64(never)
			if g.r.IntN(10) != 0 {
				lu1 = a2 - between(g.r, 0, min(a2, 14*day))
			}
			ks[0] = keyPlan{a1, lu1, false}
			ks[1] = keyPlan{a2, g.lastUse(p.use, a2), true}
		default: // two keys in use side by side
			ks[0] = keyPlan{a1, g.lastUse(p.use, a1), true}
			ks[1] = keyPlan{a2, g.lastUse(p.use, a2), true}
		}
	}
	return n
}

// keyAge draws a key age that fits in the current account.
func (g *gen) keyAge(d *dist) int64 {
	a := d.draw(g.r)
	if a > g.cap {
		a = between(g.r, hour, g.cap)
	}
	return a
}

// lastUse draws how long ago a key of the given age was last used: never,
// or not before its creation.
func (g *gen) lastUse(d *dist, age int64) int64 {
	lu := d.draw(g.r)
	if lu > age {
		lu = between(g.r, 0, age+1)
	}
	return lu
}

// region is where a key last used with svc was used: IAM is global and
// answers from us-east-1; the rest mostly in the account's home region.
func (g *gen) region(svc string) string {
	if svc == "iam" {
		return "us-east-1"
	}
	if g.r.IntN(5) != 0 {
		return g.cur.HomeRegion
	}
	return regions[g.r.IntN(len(regions))]
}

func (g *gen) addUser(spec *awsemu.UserSpec) error {
	spec.Account = g.cur.ID
	if err := g.sb.AddUser(*spec); err != nil {
		return fmt.Errorf("add user %s to %s: %w", spec.Name, spec.Account, err)
	}
	g.cur.Users++
	if g.opts.OnUser != nil {
		g.opts.OnUser(*spec)
	}
	return nil
}

// addKey adds a key to user ("" for root) in the current account.
func (g *gen) addKey(user string, k keyPlan, svc, region string) (awsemu.Key, error) {
	spec := awsemu.KeySpec{
		Account: g.cur.ID, User: user, ID: g.keyID(), Status: awsemu.StatusActive, CreatedAt: g.at(k.age),
	}
	if !k.active {
		spec.Status = awsemu.StatusInactive
	}
	if k.lastUse != never {
		spec.LastUsed = g.at(k.lastUse)
		spec.LastUsedService = svc
		spec.LastUsedRegion = region
	}
	key, err := g.sb.AddAccessKey(spec)
	if err != nil {
		return awsemu.Key{}, fmt.Errorf("add access key to %q in %s: %w", user, spec.Account, err)
	}
	g.cur.Keys++
	if k.active {
		g.cur.ActiveKeys++
	}
	if g.opts.OnKey != nil {
		g.opts.OnKey(spec)
	}
	return key, nil
}
