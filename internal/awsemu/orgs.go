package awsemu

import (
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
)

// Organizations over JSON 1.1 (target prefix AWSOrganizationsV20161128).

var orgHandlers = map[string]handler{
	"DescribeOrganization":             (*Sandbox).describeOrganization,
	"ListAccounts":                     (*Sandbox).listAccounts,
	"ListRoots":                        (*Sandbox).listRoots,
	"ListOrganizationalUnitsForParent": (*Sandbox).listOUsForParent,
	"ListAccountsForParent":            (*Sandbox).listAccountsForParent,
	"ListParents":                      (*Sandbox).listParents,
}

var (
	parentIDPattern = regexp.MustCompile(`^(r-[0-9a-z]{4,32})$|^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
	childIDPattern  = regexp.MustCompile(`^(\d{12})$|^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$`)
)

const orgPageDefault = 20

type orgPaging struct {
	MaxResults *float64 `json:"MaxResults"`
	NextToken  *string  `json:"NextToken"`
}

type jsonAccount struct {
	ID              string    `json:"Id"`
	Arn             string    `json:"Arn"`
	Email           string    `json:"Email"`
	Name            string    `json:"Name"`
	Status          string    `json:"Status"`
	State           string    `json:"State"`
	JoinedMethod    string    `json:"JoinedMethod"`
	JoinedTimestamp epochTime `json:"JoinedTimestamp"`
	Paths           []string  `json:"Paths,omitempty"`
}

type jsonOU struct {
	ID   string `json:"Id"`
	Arn  string `json:"Arn"`
	Name string `json:"Name"`
	Path string `json:"Path,omitempty"`
}

func invalidInput(reason, msg string) *apiError {
	return &apiError{status: 400, code: "InvalidInputException", msg: msg, reason: reason}
}

// orgFor checks that the caller's account belongs to the organization, and
// for the List operations that it is the management account.
func (s *Sandbox) orgFor(c *call, managementOnly bool) (*organization, *apiError) {
	o := s.org
	if o == nil || o.byID[c.principal.account.id] == nil {
		return nil, errorf(400, "AWSOrganizationsNotInUseException", "Your account is not a member of an organization.")
	}
	if managementOnly && c.principal.account != o.mgmt {
		return nil, accessDenied(c, "organizations:"+c.op, "*")
	}
	return o, nil
}

// window parses MaxResults and NextToken and returns the slice bounds of
// the requested page of n items, and the token of the next page ("" at the end).
func window(c *call, p orgPaging, scope string, n int) (start, end int, next string, e *apiError) {
	size := orgPageDefault
	if p.MaxResults != nil {
		m := clampInt(*p.MaxResults)
		if m < 1 {
			return 0, 0, "", invalidInput("MIN_VALUE_EXCEEDED", "You provided a value that is below the minimum allowed for MaxResults: 1.")
		}
		if m > 20 {
			return 0, 0, "", invalidInput("MAX_VALUE_EXCEEDED", "You provided a value that exceeds the maximum allowed for MaxResults: 20.")
		}
		size = m
	}
	if p.NextToken != nil && *p.NextToken != "" {
		bad := invalidInput("INVALID_NEXT_TOKEN", "You specified an invalid value for nextToken. You must get the value from the response to a previous call to the API.")
		raw, err := base64.RawURLEncoding.DecodeString(*p.NextToken)
		if err != nil {
			return 0, 0, "", bad
		}
		prefix, offset, ok := strings.Cut(string(raw), "#")
		if !ok || prefix != c.op+":"+scope {
			return 0, 0, "", bad
		}
		start, err = strconv.Atoi(offset)
		if err != nil || start < 0 || start > n {
			return 0, 0, "", bad
		}
	}
	end = start + size
	if end >= n {
		return start, n, "", nil
	}
	return start, end, base64.RawURLEncoding.EncodeToString([]byte(c.op + ":" + scope + "#" + strconv.Itoa(end))), nil
}

func accountStatus(state string) string {
	switch state {
	case AccountActive, AccountSuspended, "PENDING_CLOSURE":
		return state
	}
	return AccountSuspended
}

func (o *organization) accountJSON(m *orgMember) jsonAccount {
	a := m.account
	return jsonAccount{
		ID: a.id, Arn: o.accountARN(a.id), Email: a.email, Name: a.name,
		Status: accountStatus(a.state), State: a.state, JoinedMethod: m.method,
		JoinedTimestamp: epochTime(m.joined), Paths: []string{o.path(m.parent) + a.id + "/"},
	}
}

func (o *organization) ouJSON(u *orgUnit) jsonOU {
	return jsonOU{ID: u.id, Arn: o.unitARN(u), Name: u.name, Path: o.path(u)}
}

func (s *Sandbox) describeOrganization(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, e := s.orgFor(c, false)
	if e != nil {
		return nil, e
	}
	type policyType struct {
		Type   string `json:"Type"`
		Status string `json:"Status"`
	}
	return map[string]any{"Organization": struct {
		ID                   string       `json:"Id"`
		Arn                  string       `json:"Arn"`
		FeatureSet           string       `json:"FeatureSet"`
		MasterAccountArn     string       `json:"MasterAccountArn"`
		MasterAccountID      string       `json:"MasterAccountId"`
		MasterAccountEmail   string       `json:"MasterAccountEmail"`
		AvailablePolicyTypes []policyType `json:"AvailablePolicyTypes"`
	}{o.id, o.arn(), "ALL", o.accountARN(o.mgmt.id), o.mgmt.id, o.mgmt.email,
		[]policyType{{"SERVICE_CONTROL_POLICY", "ENABLED"}}}}, nil
}

func (s *Sandbox) listAccounts(c *call) (any, *apiError) {
	var in orgPaging
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, e := s.orgFor(c, true)
	if e != nil {
		return nil, e
	}
	start, end, next, e := window(c, in, "", len(o.members))
	if e != nil {
		return nil, e
	}
	accounts := make([]jsonAccount, 0, end-start)
	for _, m := range o.members[start:end] {
		accounts = append(accounts, o.accountJSON(m))
	}
	return pageJSON("Accounts", accounts, next), nil
}

func pageJSON(field string, items any, next string) map[string]any {
	out := map[string]any{field: items}
	if next != "" {
		out["NextToken"] = next
	}
	return out
}

func (s *Sandbox) listRoots(c *call) (any, *apiError) {
	var in orgPaging
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, e := s.orgFor(c, true)
	if e != nil {
		return nil, e
	}
	start, end, next, e := window(c, in, "", 1)
	if e != nil {
		return nil, e
	}
	type root struct {
		ID          string     `json:"Id"`
		Arn         string     `json:"Arn"`
		Name        string     `json:"Name"`
		PolicyTypes []struct{} `json:"PolicyTypes"`
	}
	roots := []root{{o.root.id, o.unitARN(o.root), o.root.name, []struct{}{}}}[start:end]
	return pageJSON("Roots", roots, next), nil
}

type parentInput struct {
	orgPaging
	ParentID *string `json:"ParentId"`
}

func (s *Sandbox) parent(c *call, o *organization, in parentInput) (*orgUnit, *apiError) {
	if in.ParentID == nil {
		return nil, invalidInput("INVALID_INPUT", "You must specify a value for ParentId.")
	}
	if !parentIDPattern.MatchString(*in.ParentID) {
		return nil, invalidInput("INVALID_PATTERN_TARGET_ID", "You specified a value with an invalid pattern for ParentId.")
	}
	u := o.ous[*in.ParentID]
	if u == nil {
		return nil, errorf(400, "ParentNotFoundException", "We can't find a root or OU with the ParentId that you specified.")
	}
	return u, nil
}

func (s *Sandbox) listOUsForParent(c *call) (any, *apiError) {
	var in parentInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, e := s.orgFor(c, true)
	if e != nil {
		return nil, e
	}
	u, e := s.parent(c, o, in)
	if e != nil {
		return nil, e
	}
	start, end, next, e := window(c, in.orgPaging, u.id, len(u.children))
	if e != nil {
		return nil, e
	}
	ous := make([]jsonOU, 0, end-start)
	for _, child := range u.children[start:end] {
		ous = append(ous, o.ouJSON(child))
	}
	return pageJSON("OrganizationalUnits", ous, next), nil
}

func (s *Sandbox) listAccountsForParent(c *call) (any, *apiError) {
	var in parentInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, e := s.orgFor(c, true)
	if e != nil {
		return nil, e
	}
	u, e := s.parent(c, o, in)
	if e != nil {
		return nil, e
	}
	start, end, next, e := window(c, in.orgPaging, u.id, len(u.accounts))
	if e != nil {
		return nil, e
	}
	accounts := make([]jsonAccount, 0, end-start)
	for _, m := range u.accounts[start:end] {
		accounts = append(accounts, o.accountJSON(m))
	}
	return pageJSON("Accounts", accounts, next), nil
}

func (s *Sandbox) listParents(c *call) (any, *apiError) {
	var in struct {
		orgPaging
		ChildID *string `json:"ChildId"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, e := s.orgFor(c, true)
	if e != nil {
		return nil, e
	}
	if in.ChildID == nil {
		return nil, invalidInput("INVALID_INPUT", "You must specify a value for ChildId.")
	}
	if !childIDPattern.MatchString(*in.ChildID) {
		return nil, invalidInput("INVALID_PATTERN_TARGET_ID", "You specified a value with an invalid pattern for ChildId.")
	}
	var parent *orgUnit
	if m := o.byID[*in.ChildID]; m != nil {
		parent = m.parent
	} else if u := o.ous[*in.ChildID]; u != nil && u.parent != nil {
		parent = u.parent
	} else {
		return nil, errorf(400, "ChildNotFoundException", "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.")
	}
	start, end, next, e := window(c, in.orgPaging, *in.ChildID, 1)
	if e != nil {
		return nil, e
	}
	type parentJSON struct {
		ID   string `json:"Id"`
		Type string `json:"Type"`
	}
	typ := "ORGANIZATIONAL_UNIT"
	if parent.parent == nil {
		typ = "ROOT"
	}
	parents := []parentJSON{{parent.id, typ}}[start:end]
	return pageJSON("Parents", parents, next), nil
}
