package awsemu

import (
	"fmt"
	"time"
)

type organization struct {
	id   string
	mgmt *account
	root *orgUnit // the root; its id starts with r-
	ous  map[string]*orgUnit
	// members in the order they joined; membership and parent of each account
	members []*orgMember
	byID    map[string]*orgMember
}

type orgUnit struct {
	id       string
	name     string
	parent   *orgUnit // nil for the root
	children []*orgUnit
	accounts []*orgMember
}

type orgMember struct {
	account *account
	parent  *orgUnit
	joined  time.Time
	method  string // CREATED or INVITED
}

func (o *organization) arn() string {
	return "arn:aws:organizations::" + o.mgmt.id + ":organization/" + o.id
}

func (o *organization) accountARN(id string) string {
	return "arn:aws:organizations::" + o.mgmt.id + ":account/" + o.id + "/" + id
}

func (o *organization) unitARN(u *orgUnit) string {
	if u.parent == nil {
		return "arn:aws:organizations::" + o.mgmt.id + ":root/" + o.id + "/" + u.id
	}
	return "arn:aws:organizations::" + o.mgmt.id + ":ou/" + o.id + "/" + u.id
}

// path is the Organizations entity path of a unit: o-…/r-…/ou-…/.
func (o *organization) path(u *orgUnit) string {
	if u == nil {
		return o.id + "/"
	}
	return o.path(u.parent) + u.id + "/"
}

// CreateOrganization makes an organization whose management account is
// mgmtAccount (which becomes its first member, under the root) and returns
// the root's ID.
func (s *Sandbox) CreateOrganization(mgmtAccount string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.org != nil {
		return "", fmt.Errorf("an organization already exists")
	}
	a := s.accounts[mgmtAccount]
	if a == nil {
		return "", fmt.Errorf("account %s: %w", mgmtAccount, ErrNotFound)
	}
	root := &orgUnit{id: s.ids.rootID(), name: "Root"}
	o := &organization{id: s.ids.orgID(), mgmt: a, root: root,
		ous: map[string]*orgUnit{root.id: root}, byID: map[string]*orgMember{}}
	s.org = o
	s.joinLocked(a, root, a.created, "CREATED")
	return root.id, nil
}

// AddOU adds an organizational unit under parentID (the root or an OU) and returns its ID.
func (s *Sandbox) AddOU(parentID, name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.org == nil {
		return "", fmt.Errorf("no organization")
	}
	parent := s.org.ous[parentID]
	if parent == nil {
		return "", fmt.Errorf("parent %s: %w", parentID, ErrNotFound)
	}
	id := s.ids.ouID(s.org.root.id)
	for s.org.ous[id] != nil {
		id = s.ids.ouID(s.org.root.id)
	}
	u := &orgUnit{id: id, name: name, parent: parent}
	parent.children = append(parent.children, u)
	s.org.ous[id] = u
	return id, nil
}

// JoinOrganization makes an account a member of the organization under parentID.
func (s *Sandbox) JoinOrganization(accountID, parentID string, joined time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.org == nil {
		return fmt.Errorf("no organization")
	}
	a := s.accounts[accountID]
	if a == nil {
		return fmt.Errorf("account %s: %w", accountID, ErrNotFound)
	}
	parent := s.org.ous[parentID]
	if parent == nil {
		return fmt.Errorf("parent %s: %w", parentID, ErrNotFound)
	}
	if s.org.byID[accountID] != nil {
		return fmt.Errorf("account %s is already a member", accountID)
	}
	if joined.IsZero() {
		joined = a.created
	}
	s.joinLocked(a, parent, joined, "CREATED")
	return nil
}

func (s *Sandbox) joinLocked(a *account, parent *orgUnit, joined time.Time, method string) {
	m := &orgMember{account: a, parent: parent, joined: joined, method: method}
	s.org.members = append(s.org.members, m)
	s.org.byID[a.id] = m
	parent.accounts = append(parent.accounts, m)
}
