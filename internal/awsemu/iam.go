package awsemu

import (
	"net/url"
	"sort"
	"strings"
	"time"
)

// IAM over the Query protocol (version 2010-05-08).

var iamHandlers = map[string]handler{
	"CreateUser":                     (*Sandbox).createUser,
	"GetUser":                        (*Sandbox).getUser,
	"ListUsers":                      (*Sandbox).listUsers,
	"DeleteUser":                     (*Sandbox).deleteUser,
	"TagUser":                        (*Sandbox).tagUser,
	"UntagUser":                      (*Sandbox).untagUser,
	"ListUserTags":                   (*Sandbox).listUserTags,
	"ListGroupsForUser":              (*Sandbox).listGroupsForUser,
	"GetAccountAuthorizationDetails": (*Sandbox).getAccountAuthorizationDetails,
	"CreateAccessKey":                (*Sandbox).createAccessKey,
	"ListAccessKeys":                 (*Sandbox).listAccessKeys,
	"UpdateAccessKey":                (*Sandbox).updateAccessKey,
	"DeleteAccessKey":                (*Sandbox).deleteAccessKey,
	"GetAccessKeyLastUsed":           (*Sandbox).getAccessKeyLastUsed,
	"GenerateCredentialReport":       (*Sandbox).generateCredentialReport,
	"GetCredentialReport":            (*Sandbox).getCredentialReport,
	"GetAccountSummary":              (*Sandbox).getAccountSummary,
	"ListAccountAliases":             (*Sandbox).listAccountAliases,
}

// XML shapes, named as in the IAM API reference.

type xmlTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type xmlUser struct {
	Path             string          `xml:"Path"`
	UserName         string          `xml:"UserName"`
	UserID           string          `xml:"UserId"`
	Arn              string          `xml:"Arn"`
	CreateDate       isoTime         `xml:"CreateDate"`
	PasswordLastUsed *isoTime        `xml:"PasswordLastUsed,omitempty"`
	Tags             members[xmlTag] `xml:"Tags,omitempty"`
}

type xmlGroup struct {
	Path       string  `xml:"Path"`
	GroupName  string  `xml:"GroupName"`
	GroupID    string  `xml:"GroupId"`
	Arn        string  `xml:"Arn"`
	CreateDate isoTime `xml:"CreateDate"`
}

type xmlKeyMetadata struct {
	UserName    string  `xml:"UserName,omitempty"`
	AccessKeyID string  `xml:"AccessKeyId"`
	Status      string  `xml:"Status"`
	CreateDate  isoTime `xml:"CreateDate"`
}

type listResult struct {
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

func noSuchUser(name string) *apiError {
	return errorf(404, "NoSuchEntity", "The user with name %s cannot be found.", name)
}

func noSuchKey(id string) *apiError {
	return errorf(404, "NoSuchEntity", "The Access Key with id %s cannot be found.", id)
}

func xmlTags(tags []Tag) members[xmlTag] {
	out := make(members[xmlTag], len(tags))
	for i, t := range tags {
		out[i] = xmlTag(t)
	}
	return out
}

func userXML(a *account, u *user, withTags bool) xmlUser {
	x := xmlUser{Path: u.path, UserName: u.name, UserID: u.id, Arn: a.userARN(u), CreateDate: isoTime(u.created)}
	if !u.passwordLastUsed.IsZero() {
		t := isoTime(u.passwordLastUsed)
		x.PasswordLastUsed = &t
	}
	if withTags && len(u.tags) > 0 {
		x.Tags = xmlTags(u.tags)
	}
	return x
}

// existingUser finds a user named by the request, or the signing user when
// the name is absent. A request from an assumed role must name the user.
func (s *Sandbox) existingUser(c *call, name string, named bool) (*user, *apiError) {
	a := c.principal.account
	if !named {
		switch {
		case c.principal.session != nil:
			return nil, errorf(400, "ValidationError", "Must specify userName when calling with non-User credentials")
		case c.principal.user == nil:
			return nil, nil // the root user
		}
		return c.principal.user, nil
	}
	u := a.users[name]
	if u == nil {
		return nil, noSuchUser(name)
	}
	return u, nil
}

func (s *Sandbox) createUser(c *call) (any, *apiError) {
	var v validator
	name, _ := v.str(c, "UserName", "userName", true, 1, 64, userNamePattern, userNameText)
	path, hasPath := v.str(c, "Path", "path", false, 1, 512, pathPattern, pathText)
	tags := v.tags(c, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	if !hasPath {
		path = "/"
	}
	if e := checkTagKeys(tags); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	if a.users[name] != nil {
		return nil, errorf(409, "EntityAlreadyExists", "User with name %s already exists.", name)
	}
	u := &user{name: name, path: path, id: s.ids.userID(), created: s.clock.Now().Truncate(time.Second)}
	u.setTags(tags)
	a.users[name] = u
	a.userNames = append(a.userNames, name)
	a.usersDirty = true
	return struct {
		User xmlUser `xml:"User"`
	}{userXML(a, u, true)}, nil
}

func (s *Sandbox) getUser(c *call) (any, *apiError) {
	var v validator
	name, named := v.userName(c, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, e := s.existingUser(c, name, named)
	if e != nil {
		return nil, e
	}
	a := c.principal.account
	if u == nil { // root
		x := xmlUser{UserID: a.id, Arn: a.arnRoot(), CreateDate: isoTime(a.created)}
		if !a.root.passwordLastUsed.IsZero() {
			t := isoTime(a.root.passwordLastUsed)
			x.PasswordLastUsed = &t
		}
		return struct {
			User xmlUser `xml:"User"`
		}{x}, nil
	}
	return struct {
		User xmlUser `xml:"User"`
	}{userXML(a, u, true)}, nil
}

func (s *Sandbox) listUsers(c *call) (any, *apiError) {
	var v validator
	prefix, hasPrefix := v.str(c, "PathPrefix", "pathPrefix", false, 1, 512, pathPrefixPattern, `\u002F[\u0021-\u007F]*`)
	p := v.paging(c)
	if e := v.err(); e != nil {
		return nil, e
	}
	if !hasPrefix {
		prefix = "/"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	names := a.sortedUsers()
	if prefix != "/" {
		var filtered []string
		for _, n := range names {
			if pathPrefixMatch(a.users[n].path, prefix) {
				filtered = append(filtered, n)
			}
		}
		names = filtered
	}
	pg, marker := paginate(names, func(n string) string { return n }, p)
	users := make(members[xmlUser], len(pg))
	for i, n := range pg {
		users[i] = userXML(a, a.users[n], false)
	}
	return struct {
		Users members[xmlUser] `xml:"Users"`
		listResult
	}{users, listResult{marker != "", marker}}, nil
}

func (s *Sandbox) deleteUser(c *call) (any, *apiError) {
	var v validator
	name, _ := v.userName(c, true)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	u := a.users[name]
	switch {
	case u == nil:
		return nil, noSuchUser(name)
	case len(u.keys) > 0:
		return nil, errorf(409, "DeleteConflict", "Cannot delete entity, must delete access keys first.")
	case len(u.groups) > 0:
		return nil, errorf(409, "DeleteConflict", "Cannot delete entity, must remove users from group first.")
	case u.password:
		return nil, errorf(409, "DeleteConflict", "Cannot delete entity, must delete login profile first.")
	}
	delete(a.users, name)
	names := a.userNames[:0]
	for _, n := range a.userNames {
		if n != name {
			names = append(names, n)
		}
	}
	a.userNames = names
	return nil, nil
}

func checkTagKeys(tags []Tag) *apiError {
	for _, t := range tags {
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return errorf(400, "InvalidInput", "User tags with the 'aws:' prefix are reserved for AWS use.")
		}
	}
	return nil
}

func (s *Sandbox) tagUser(c *call) (any, *apiError) {
	var v validator
	name, _ := v.userName(c, true)
	tags := v.tags(c, true)
	if e := v.err(); e != nil {
		return nil, e
	}
	if e := checkTagKeys(tags); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := c.principal.account.users[name]
	if u == nil {
		return nil, noSuchUser(name)
	}
	// The whole request fails if the result would exceed 50 tags.
	keys := map[string]bool{}
	for _, t := range u.tags {
		keys[t.Key] = true
	}
	for _, t := range tags {
		keys[t.Key] = true
	}
	if len(keys) > 50 {
		return nil, errorf(409, "LimitExceeded", "The number of tags has reached the maximum limit.")
	}
	u.setTags(tags)
	return nil, nil
}

func (s *Sandbox) untagUser(c *call) (any, *apiError) {
	var v validator
	name, _ := v.userName(c, true)
	keys := listMembers(c, "TagKeys")
	if len(keys) == 0 {
		v.add(nil, "tagKeys", "Member must not be null")
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := c.principal.account.users[name]
	if u == nil {
		return nil, noSuchUser(name)
	}
	u.removeTags(keys)
	return nil, nil
}

func (s *Sandbox) listUserTags(c *call) (any, *apiError) {
	var v validator
	name, _ := v.userName(c, true)
	p := v.paging(c)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := c.principal.account.users[name]
	if u == nil {
		return nil, noSuchUser(name)
	}
	pg, marker := paginate(u.tags, func(t Tag) string { return t.Key }, p)
	return struct {
		Tags members[xmlTag] `xml:"Tags"`
		listResult
	}{xmlTags(pg), listResult{marker != "", marker}}, nil
}

func (s *Sandbox) listGroupsForUser(c *call) (any, *apiError) {
	var v validator
	name, _ := v.userName(c, true)
	p := v.paging(c)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	u := a.users[name]
	if u == nil {
		return nil, noSuchUser(name)
	}
	names := append([]string(nil), u.groups...)
	sort.Strings(names)
	pg, marker := paginate(names, func(n string) string { return n }, p)
	groups := make(members[xmlGroup], len(pg))
	for i, n := range pg {
		g := a.groups[n]
		groups[i] = xmlGroup{Path: g.path, GroupName: g.name, GroupID: g.id, Arn: a.groupARN(g), CreateDate: isoTime(g.created)}
	}
	return struct {
		Groups members[xmlGroup] `xml:"Groups"`
		listResult
	}{groups, listResult{marker != "", marker}}, nil
}

type xmlUserDetail struct {
	Path                    string            `xml:"Path"`
	UserName                string            `xml:"UserName"`
	UserID                  string            `xml:"UserId"`
	Arn                     string            `xml:"Arn"`
	CreateDate              isoTime           `xml:"CreateDate"`
	UserPolicyList          members[struct{}] `xml:"UserPolicyList"`
	GroupList               members[string]   `xml:"GroupList"`
	AttachedManagedPolicies members[struct{}] `xml:"AttachedManagedPolicies"`
	Tags                    members[xmlTag]   `xml:"Tags"`
}

type xmlGroupDetail struct {
	Path                    string            `xml:"Path"`
	GroupName               string            `xml:"GroupName"`
	GroupID                 string            `xml:"GroupId"`
	Arn                     string            `xml:"Arn"`
	CreateDate              isoTime           `xml:"CreateDate"`
	GroupPolicyList         members[struct{}] `xml:"GroupPolicyList"`
	AttachedManagedPolicies members[struct{}] `xml:"AttachedManagedPolicies"`
}

type xmlRoleDetail struct {
	Path                     string            `xml:"Path"`
	RoleName                 string            `xml:"RoleName"`
	RoleID                   string            `xml:"RoleId"`
	Arn                      string            `xml:"Arn"`
	CreateDate               isoTime           `xml:"CreateDate"`
	AssumeRolePolicyDocument string            `xml:"AssumeRolePolicyDocument"`
	InstanceProfileList      members[struct{}] `xml:"InstanceProfileList"`
	RolePolicyList           members[struct{}] `xml:"RolePolicyList"`
	AttachedManagedPolicies  members[struct{}] `xml:"AttachedManagedPolicies"`
	Tags                     members[xmlTag]   `xml:"Tags"`
}

// trustPolicy is the role's trust policy document as IAM returns it: URL-encoded JSON.
func trustPolicy(r *role) string {
	principals := make([]string, len(r.trustedAccounts))
	for i, id := range r.trustedAccounts {
		principals[i] = `"arn:aws:iam::` + id + `:root"`
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":[` +
		strings.Join(principals, ",") + `]},"Action":"sts:AssumeRole"`
	if r.externalID != "" {
		doc += `,"Condition":{"StringEquals":{"sts:ExternalId":"` + r.externalID + `"}}`
	}
	return url.QueryEscape(doc + `}]}`)
}

func (s *Sandbox) getAccountAuthorizationDetails(c *call) (any, *apiError) {
	var v validator
	p := v.paging(c)
	filters := listMembers(c, "Filter")
	want := map[string]bool{}
	for _, f := range filters {
		switch f {
		case "User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy":
			want[f] = true
		default:
			f := f
			v.add(&f, "filter", "Member must satisfy enum value set: [User, Role, Group, LocalManagedPolicy, AWSManagedPolicy]")
		}
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	all := len(want) == 0
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	// One list of entities in a stable order, users then groups then roles,
	// so that a single Marker pages through all of them.
	var keys []string
	if all || want["User"] {
		for _, n := range a.sortedUsers() {
			keys = append(keys, "1"+n)
		}
	}
	if all || want["Group"] {
		keys = append(keys, sortedKeys(a.groups, "2")...)
	}
	if all || want["Role"] {
		keys = append(keys, sortedKeys(a.roles, "3")...)
	}
	pg, marker := paginate(keys, func(k string) string { return k }, p)
	out := struct {
		UserDetailList  members[xmlUserDetail]  `xml:"UserDetailList"`
		GroupDetailList members[xmlGroupDetail] `xml:"GroupDetailList"`
		RoleDetailList  members[xmlRoleDetail]  `xml:"RoleDetailList"`
		Policies        members[struct{}]       `xml:"Policies"`
		listResult
	}{listResult: listResult{marker != "", marker}}
	for _, k := range pg {
		name := k[1:]
		switch k[0] {
		case '1':
			u := a.users[name]
			out.UserDetailList = append(out.UserDetailList, xmlUserDetail{
				Path: u.path, UserName: u.name, UserID: u.id, Arn: a.userARN(u), CreateDate: isoTime(u.created),
				GroupList: members[string](append([]string(nil), u.groups...)), Tags: xmlTags(u.tags),
			})
		case '2':
			g := a.groups[name]
			out.GroupDetailList = append(out.GroupDetailList, xmlGroupDetail{
				Path: g.path, GroupName: g.name, GroupID: g.id, Arn: a.groupARN(g), CreateDate: isoTime(g.created),
			})
		case '3':
			r := a.roles[name]
			out.RoleDetailList = append(out.RoleDetailList, xmlRoleDetail{
				Path: r.path, RoleName: r.name, RoleID: r.id, Arn: a.roleARN(r), CreateDate: isoTime(r.created),
				AssumeRolePolicyDocument: trustPolicy(r),
			})
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V, prefix string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, prefix+k)
	}
	sort.Strings(out)
	return out
}

func keyXML(k *accessKey) xmlKeyMetadata {
	x := xmlKeyMetadata{AccessKeyID: k.id, Status: k.status, CreateDate: isoTime(k.created)}
	if k.user != nil {
		x.UserName = k.user.name
	}
	return x
}

func (s *Sandbox) createAccessKey(c *call) (any, *apiError) {
	var v validator
	name, named := v.userName(c, false)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, e := s.existingUser(c, name, named)
	if e != nil {
		return nil, e
	}
	a := c.principal.account
	keys := a.root.keys
	if u != nil {
		keys = u.keys
	}
	if len(keys) >= 2 {
		return nil, errorf(409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")
	}
	k := &accessKey{
		id: s.newAccessKeyID(), secret: s.ids.secret(), account: a, user: u,
		status: StatusActive, created: s.clock.Now().Truncate(time.Second),
	}
	s.keys[k.id] = k
	if u != nil {
		u.keys = append(u.keys, k)
	} else {
		a.root.keys = append(a.root.keys, k)
	}
	md := keyXML(k)
	return struct {
		AccessKey struct {
			UserName        string  `xml:"UserName,omitempty"`
			AccessKeyID     string  `xml:"AccessKeyId"`
			Status          string  `xml:"Status"`
			SecretAccessKey string  `xml:"SecretAccessKey"`
			CreateDate      isoTime `xml:"CreateDate"`
		} `xml:"AccessKey"`
	}{AccessKey: struct {
		UserName        string  `xml:"UserName,omitempty"`
		AccessKeyID     string  `xml:"AccessKeyId"`
		Status          string  `xml:"Status"`
		SecretAccessKey string  `xml:"SecretAccessKey"`
		CreateDate      isoTime `xml:"CreateDate"`
	}{md.UserName, md.AccessKeyID, md.Status, k.secret, md.CreateDate}}, nil
}

func (s *Sandbox) listAccessKeys(c *call) (any, *apiError) {
	var v validator
	name, named := v.userName(c, false)
	p := v.paging(c)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, e := s.existingUser(c, name, named)
	if e != nil {
		return nil, e
	}
	keys := c.principal.account.root.keys
	if u != nil {
		keys = u.keys
	}
	keys = keysByCreation(keys)
	pg, marker := paginate(keys, func(k *accessKey) string { return k.created.Format(time.RFC3339) + k.id }, p)
	out := make(members[xmlKeyMetadata], len(pg))
	for i, k := range pg {
		out[i] = keyXML(k)
	}
	return struct {
		AccessKeyMetadata members[xmlKeyMetadata] `xml:"AccessKeyMetadata"`
		listResult
	}{out, listResult{marker != "", marker}}, nil
}

// ownedKey finds the key a request names, which must belong to the named
// user (or, with no name, to the signer).
func (s *Sandbox) ownedKey(c *call) (*accessKey, *apiError) {
	var v validator
	name, named := v.userName(c, false)
	id := v.accessKeyID(c)
	if e := v.err(); e != nil {
		return nil, e
	}
	u, e := s.existingUser(c, name, named)
	if e != nil {
		return nil, e
	}
	k := s.keys[id]
	if k == nil || k.account != c.principal.account || k.user != u {
		return nil, noSuchKey(id)
	}
	return k, nil
}

func (s *Sandbox) updateAccessKey(c *call) (any, *apiError) {
	var v validator
	status, _ := v.str(c, "Status", "status", true, 0, 1<<10, nil, "")
	if _, ok := c.form["Status"]; ok && status != StatusActive && status != StatusInactive && status != "Expired" {
		v.add(&status, "status", "Member must satisfy enum value set: [Active, Expired, Inactive]")
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, e := s.ownedKey(c)
	if e != nil {
		return nil, e
	}
	if status == "Expired" {
		return nil, errorf(400, "InvalidInput", "Invalid status Expired: an access key can be made Active or Inactive.")
	}
	k.status = status
	return nil, nil
}

func (s *Sandbox) deleteAccessKey(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, e := s.ownedKey(c)
	if e != nil {
		return nil, e
	}
	delete(s.keys, k.id)
	if k.user != nil {
		k.user.keys = removeKey(k.user.keys, k)
	} else {
		k.account.root.keys = removeKey(k.account.root.keys, k)
	}
	return nil, nil
}

func (s *Sandbox) getAccessKeyLastUsed(c *call) (any, *apiError) {
	var v validator
	id := v.accessKeyID(c)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keys[id]
	if k == nil || k.account != c.principal.account {
		// IAM does not say whether a key exists in another account.
		return nil, accessDenied(c, "iam:GetAccessKeyLastUsed", "access key "+id)
	}
	type lastUsed struct {
		LastUsedDate *isoTime `xml:"LastUsedDate,omitempty"`
		ServiceName  string   `xml:"ServiceName"`
		Region       string   `xml:"Region"`
	}
	k.settle(s.clock.Now(), s.lastUsedDelay)
	lu := lastUsed{ServiceName: "N/A", Region: "N/A"}
	if !k.used.at.IsZero() {
		t := isoTime(k.used.at)
		lu = lastUsed{&t, k.used.service, k.used.region}
	}
	userName := "root"
	if k.user != nil {
		userName = k.user.name
	}
	return struct {
		UserName          string   `xml:"UserName"`
		AccessKeyLastUsed lastUsed `xml:"AccessKeyLastUsed"`
	}{userName, lu}, nil
}

func (s *Sandbox) getAccountSummary(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	mfaInUse := 0
	for _, u := range a.users {
		if u.mfa {
			mfaInUse++
		}
	}
	if a.root.mfa {
		mfaInUse++
	}
	b := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	m := map[string]int{
		"Users": len(a.users), "UsersQuota": 5000,
		"Groups": len(a.groups), "GroupsQuota": 300,
		"Roles": len(a.roles), "RolesQuota": 1000,
		"ServerCertificates": 0, "ServerCertificatesQuota": 20,
		"UserPolicySizeQuota": 2048, "GroupPolicySizeQuota": 5120, "RolePolicySizeQuota": 10240,
		"GroupsPerUserQuota": 10, "SigningCertificatesPerUserQuota": 2, "AccessKeysPerUserQuota": 2,
		"MFADevices": mfaInUse, "MFADevicesInUse": mfaInUse,
		"AccountMFAEnabled":                 b(a.root.mfa),
		"AccountAccessKeysPresent":          b(len(a.root.keys) > 0),
		"AccountPasswordPresent":            b(!a.root.passwordLastUsed.IsZero()),
		"AccountSigningCertificatesPresent": 0,
		"AttachedPoliciesPerGroupQuota":     10, "AttachedPoliciesPerRoleQuota": 10, "AttachedPoliciesPerUserQuota": 10,
		"Policies": 0, "PoliciesQuota": 1500, "PolicySizeQuota": 6144,
		"PolicyVersionsInUse": 0, "PolicyVersionsInUseQuota": 10000, "VersionsPerPolicyQuota": 5,
		"GlobalEndpointTokenVersion": 1, "AssumeRolePolicySizeQuota": 2048,
		"InstanceProfiles": 0, "InstanceProfilesQuota": 1000, "Providers": 0,
	}
	entries := make(summaryMap, 0, len(m))
	for k, v := range m {
		entries = append(entries, summaryEntry{k, v})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Key < entries[j].Key })
	return struct {
		SummaryMap summaryMap `xml:"SummaryMap"`
	}{entries}, nil
}

func (s *Sandbox) listAccountAliases(c *call) (any, *apiError) {
	var v validator
	p := v.paging(c)
	if e := v.err(); e != nil {
		return nil, e
	}
	s.mu.Lock()
	var aliases []string
	if a := c.principal.account.alias; a != "" {
		aliases = []string{a}
	}
	s.mu.Unlock()
	pg, marker := paginate(aliases, func(a string) string { return a }, p)
	return struct {
		AccountAliases members[string] `xml:"AccountAliases"`
		listResult
	}{members[string](pg), listResult{marker != "", marker}}, nil
}
