package awsemu

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Secrets Manager over JSON 1.1 (target prefix secretsmanager). Secrets
// live in the account of the caller's credentials and in the region of the
// signature's scope, as they do in AWS. No request body, secret value or
// error carrying a value is ever logged; validation errors about a value
// name the field, never the value.

var secretsHandlers = map[string]handler{
	"CreateSecret":                 (*Sandbox).createSecret,
	"PutSecretValue":               (*Sandbox).putSecretValue,
	"GetSecretValue":               (*Sandbox).getSecretValue,
	"DescribeSecret":               (*Sandbox).describeSecret,
	"ListSecrets":                  (*Sandbox).listSecrets,
	"PutResourcePolicy":            (*Sandbox).putResourcePolicy,
	"GetResourcePolicy":            (*Sandbox).getResourcePolicy,
	"TagResource":                  (*Sandbox).tagResource,
	"DeleteSecret":                 (*Sandbox).deleteSecret,
	"RemoveRegionsFromReplication": (*Sandbox).removeRegionsFromReplication,
}

const (
	secretsValidation  = "ValidationException"
	secretsPageMax     = 100
	defaultRecoveryDay = 30
)

func secretNotFound() *apiError {
	return errorf(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func secretMarkedDeleted() *apiError {
	return errorf(400, "InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.")
}

func secretReplicaReadOnly() *apiError {
	return errorf(400, "InvalidParameterException", "Operation not permitted on a replica secret. Call must be made in primary secret's region.")
}

func secretBothValues() *apiError {
	return errorf(400, "InvalidParameterException", "You can't specify both a binary secret value and a string secret value in the same secret.")
}

func secretTokenInUse(token, arn string) *apiError {
	return errorf(400, "ResourceExistsException", "You can't use ClientRequestToken %s because that value is already in use for a version of secret %s.", token, arn)
}

// secretRegion is the region a call acts in: the signature's.
func secretRegion(c *call) string {
	if c.region == "" {
		return DefaultRegion
	}
	return c.region
}

// findSecret resolves a SecretId — a name, a full ARN or a partial ARN (one
// without the random suffix) — in the caller's account and region. An ARN
// of another account is refused: the sandbox does not evaluate resource
// policies across accounts. Callers hold s.mu.
func (s *Sandbox) findSecret(c *call, id string) (secretView, *apiError) {
	a := c.principal.account
	region := secretRegion(c)
	a.purgeSecrets(s.clock.Now())
	name := id
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 7)
		if len(parts) != 7 || parts[2] != "secretsmanager" || parts[5] != "secret" || parts[6] == "" {
			return secretView{}, secretNotFound()
		}
		if parts[4] != a.id {
			return secretView{}, accessDenied(c, "secretsmanager:"+c.op, id)
		}
		if parts[3] != region {
			return secretView{}, secretNotFound()
		}
		for _, v := range a.secretsIn(region) {
			if v.arn() == id {
				return v, nil
			}
		}
		name = parts[6]
	}
	if v, ok := a.secretIn(region, name); ok {
		return v, nil
	}
	return secretView{}, secretNotFound()
}

// JSON shapes, named as in the Secrets Manager API reference.

type jsonTagIn struct {
	Key   *string `json:"Key"`
	Value *string `json:"Value"`
}

type jsonTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type jsonReplication struct {
	Region           string     `json:"Region"`
	KmsKeyID         string     `json:"KmsKeyId,omitempty"`
	Status           string     `json:"Status"`
	StatusMessage    string     `json:"StatusMessage,omitempty"`
	LastAccessedDate *epochTime `json:"LastAccessedDate,omitempty"`
}

type jsonSecretMeta struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            string              `json:"Description,omitempty"`
	KmsKeyID               string              `json:"KmsKeyId,omitempty"`
	LastChangedDate        epochTime           `json:"LastChangedDate"`
	LastAccessedDate       *epochTime          `json:"LastAccessedDate,omitempty"`
	DeletedDate            *epochTime          `json:"DeletedDate,omitempty"`
	Tags                   []jsonTag           `json:"Tags,omitempty"`
	VersionIdsToStages     map[string][]string `json:"VersionIdsToStages,omitempty"`     // DescribeSecret
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"` // ListSecrets
	CreatedDate            epochTime           `json:"CreatedDate"`
	PrimaryRegion          string              `json:"PrimaryRegion,omitempty"`
	ReplicationStatus      []jsonReplication   `json:"ReplicationStatus,omitempty"`
}

func epochPtr(t time.Time) *epochTime {
	if t.IsZero() {
		return nil
	}
	e := epochTime(t)
	return &e
}

// replication is a secret's ReplicationStatus; inProgress is how
// CreateSecret reports the replicas it has just started.
func replication(sec *secret, inProgress bool) []jsonReplication {
	out := make([]jsonReplication, 0, len(sec.replicas))
	for _, r := range sec.replicas {
		st := r.state()
		if inProgress && st.Status == "InSync" {
			st.Status, st.StatusMessage = "InProgress", ""
		}
		kms := r.kmsKeyID
		if kms == "" {
			kms = defaultSecretsKey
		}
		out = append(out, jsonReplication{Region: r.region, KmsKeyID: kms, Status: st.Status,
			StatusMessage: st.StatusMessage, LastAccessedDate: epochPtr(sec.accessed[r.region])})
	}
	return out
}

// meta is DescribeSecret's answer, or with forList a ListSecrets entry.
func (v secretView) meta(forList bool) jsonSecretMeta {
	m := jsonSecretMeta{
		ARN: v.arn(), Name: v.name, Description: v.description, KmsKeyID: v.kmsKeyID,
		LastChangedDate: epochTime(v.lastChanged), LastAccessedDate: epochPtr(v.accessed[v.region]),
		DeletedDate: epochPtr(v.deletion), CreatedDate: epochTime(v.created),
	}
	for _, t := range v.tags {
		m.Tags = append(m.Tags, jsonTag(t))
	}
	stages := map[string][]string{}
	for _, ver := range v.versions {
		if len(ver.stages) > 0 { // versions without a label are deprecated and not listed
			stages[ver.id] = slices.Clone(ver.stages)
		}
	}
	if len(stages) > 0 {
		if forList {
			m.SecretVersionsToStages = stages
		} else {
			m.VersionIdsToStages = stages
		}
	}
	if v.replica() || len(v.replicas) > 0 {
		m.PrimaryRegion = v.secret.region
	}
	if !v.replica() && len(v.replicas) > 0 {
		m.ReplicationStatus = replication(v.secret, false)
	}
	return m
}

// Validation of the members of a request, in AWS's ValidationException
// wording.

// member checks a string member against its length bounds.
func (v *validator) member(val *string, field string, required bool, minLen, maxLen int) {
	if val == nil {
		if required {
			v.add(nil, field, "Member must not be null")
		}
		return
	}
	switch n := utf8.RuneCountInString(*val); {
	case n < minLen:
		v.add(val, field, fmt.Sprintf("Member must have length greater than or equal to %d", minLen))
	case n > maxLen:
		v.add(val, field, fmt.Sprintf("Member must have length less than or equal to %d", maxLen))
	}
}

// secretValue checks SecretString and SecretBinary (1–65536) without
// quoting them.
func (v *validator) secretValue(str *string, bin *[]byte) {
	check := func(field string, n int) {
		switch {
		case n < 1:
			v.problems = append(v.problems, fmt.Sprintf("Value at '%s' failed to satisfy constraint: Member must have length greater than or equal to 1", field))
		case n > 65536:
			v.problems = append(v.problems, fmt.Sprintf("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to 65536", field))
		}
	}
	if str != nil {
		check("secretString", utf8.RuneCountInString(*str))
	}
	if bin != nil {
		check("secretBinary", len(*bin))
	}
}

// secretTags checks and converts the Tags member.
func (v *validator) secretTags(in []jsonTagIn) []Tag {
	tags := make([]Tag, 0, len(in))
	for i, t := range in {
		v.member(t.Key, fmt.Sprintf("tags.%d.member.key", i+1), true, 1, 128)
		v.member(t.Value, fmt.Sprintf("tags.%d.member.value", i+1), false, 0, 256)
		tag := Tag{}
		if t.Key != nil {
			tag.Key = *t.Key
		}
		if t.Value != nil {
			tag.Value = *t.Value
		}
		tags = append(tags, tag)
	}
	return tags
}

func (v *validator) region(r *string, field string) {
	v.member(r, field, false, 1, 128)
	if r != nil && *r != "" && !regionPattern.MatchString(*r) {
		v.add(r, field, `Member must satisfy regular expression pattern: ^([a-z]+-)+\d+$`)
	}
}

// value returns the value a request carries and whether it is binary.
func requestValue(str *string, bin *[]byte) ([]byte, bool) {
	if bin != nil {
		return *bin, true
	}
	if str != nil {
		return []byte(*str), false
	}
	return nil, false
}

func (ver *secretVersion) holds(value []byte, binary bool) bool {
	return ver.binary == binary && string(ver.value) == string(value)
}

func (s *Sandbox) createSecret(c *call) (any, *apiError) {
	var in struct {
		Name               *string     `json:"Name"`
		ClientRequestToken *string     `json:"ClientRequestToken"`
		Description        *string     `json:"Description"`
		KmsKeyID           *string     `json:"KmsKeyId"`
		SecretString       *string     `json:"SecretString"`
		SecretBinary       *[]byte     `json:"SecretBinary"`
		Tags               []jsonTagIn `json:"Tags"`
		AddReplicaRegions  []struct {
			Region   *string `json:"Region"`
			KmsKeyID *string `json:"KmsKeyId"`
		} `json:"AddReplicaRegions"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	var v validator
	v.member(in.Name, "name", true, 1, 512)
	v.member(in.ClientRequestToken, "clientRequestToken", false, 32, 64)
	v.member(in.Description, "description", false, 0, 2048)
	v.member(in.KmsKeyID, "kmsKeyId", false, 0, 2048)
	v.secretValue(in.SecretString, in.SecretBinary)
	tags := v.secretTags(in.Tags)
	for i, r := range in.AddReplicaRegions {
		field := fmt.Sprintf("addReplicaRegions.%d.member.region", i+1)
		v.region(r.Region, field)
		v.member(r.KmsKeyID, fmt.Sprintf("addReplicaRegions.%d.member.kmsKeyId", i+1), false, 0, 2048)
	}
	if e := v.errCode(secretsValidation); e != nil {
		return nil, e
	}
	name := *in.Name
	if !secretNamePattern.MatchString(name) {
		return nil, errorf(400, "InvalidParameterException", "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: /_+=.@-")
	}
	if in.SecretString != nil && in.SecretBinary != nil {
		return nil, secretBothValues()
	}
	region := secretRegion(c)
	for _, r := range in.AddReplicaRegions {
		if r.Region == nil || *r.Region == region {
			return nil, errorf(400, "InvalidParameterException", "Invalid replica region.")
		}
	}
	value, binary := requestValue(in.SecretString, in.SecretBinary)
	hasValue := in.SecretString != nil || in.SecretBinary != nil

	type output struct {
		ARN               string            `json:"ARN"`
		Name              string            `json:"Name"`
		VersionID         string            `json:"VersionId,omitempty"`
		ReplicationStatus []jsonReplication `json:"ReplicationStatus,omitempty"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	now := s.clock.Now().Truncate(time.Millisecond)
	a.purgeSecrets(now)
	if existing, ok := a.secretIn(region, name); ok {
		if !existing.replica() && existing.scheduled() {
			return nil, errorf(400, "InvalidRequestException", "You can't create this secret because a secret with this name is already scheduled for deletion.")
		}
		// A retry with the same token and value is answered as the first call was.
		if in.ClientRequestToken != nil && !existing.replica() {
			if ver := existing.version(*in.ClientRequestToken); ver != nil {
				if !ver.holds(value, binary) {
					return nil, secretTokenInUse(ver.id, existing.arn())
				}
				return output{existing.arn(), name, ver.id, replication(existing.secret, false)}, nil
			}
		}
		return nil, errorf(400, "ResourceExistsException", "The operation failed because the secret %s already exists.", name)
	}
	sec := s.newSecret(a, region, name, now)
	if in.Description != nil {
		sec.description = *in.Description
	}
	if in.KmsKeyID != nil {
		sec.kmsKeyID = *in.KmsKeyID
	}
	sec.setTags(tags)
	out := output{ARN: sec.arnIn(region), Name: name}
	if hasValue {
		id := s.ids.uuid()
		if in.ClientRequestToken != nil {
			id = *in.ClientRequestToken
		}
		sec.addVersion(&secretVersion{id: id, value: value, binary: binary, created: now}, nil)
		out.VersionID = id
	}
	for _, r := range in.AddReplicaRegions {
		kms := ""
		if r.KmsKeyID != nil {
			kms = *r.KmsKeyID
		}
		if sec.syncedReplica(*r.Region) == nil {
			sec.addReplica(*r.Region, kms)
		}
	}
	if len(sec.replicas) > 0 {
		out.ReplicationStatus = replication(sec, true)
	}
	return out, nil
}

func (s *Sandbox) putSecretValue(c *call) (any, *apiError) {
	var in struct {
		SecretID           *string  `json:"SecretId"`
		ClientRequestToken *string  `json:"ClientRequestToken"`
		SecretString       *string  `json:"SecretString"`
		SecretBinary       *[]byte  `json:"SecretBinary"`
		VersionStages      []string `json:"VersionStages"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	var v validator
	v.member(in.SecretID, "secretId", true, 1, 2048)
	v.member(in.ClientRequestToken, "clientRequestToken", false, 32, 64)
	v.secretValue(in.SecretString, in.SecretBinary)
	if in.VersionStages != nil && (len(in.VersionStages) < 1 || len(in.VersionStages) > 20) {
		v.problems = append(v.problems, "Value at 'versionStages' failed to satisfy constraint: Member must have length between 1 and 20")
	}
	for i := range in.VersionStages {
		v.member(&in.VersionStages[i], fmt.Sprintf("versionStages.%d.member", i+1), true, 1, 256)
	}
	if e := v.errCode(secretsValidation); e != nil {
		return nil, e
	}
	switch {
	case in.SecretString == nil && in.SecretBinary == nil:
		return nil, errorf(400, "InvalidRequestException", "You must provide either SecretString or SecretBinary.")
	case in.SecretString != nil && in.SecretBinary != nil:
		return nil, secretBothValues()
	}
	value, binary := requestValue(in.SecretString, in.SecretBinary)

	type output struct {
		ARN           string   `json:"ARN"`
		Name          string   `json:"Name"`
		VersionID     string   `json:"VersionId"`
		VersionStages []string `json:"VersionStages"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, e := s.findSecret(c, *in.SecretID)
	if e != nil {
		return nil, e
	}
	switch {
	case sv.replica():
		return nil, secretReplicaReadOnly()
	case sv.scheduled():
		return nil, secretMarkedDeleted()
	}
	id := s.ids.uuid()
	if in.ClientRequestToken != nil {
		id = *in.ClientRequestToken
		if ver := sv.version(id); ver != nil {
			if !ver.holds(value, binary) {
				return nil, secretTokenInUse(id, sv.arn())
			}
			return output{sv.arn(), sv.name, id, slices.Clone(ver.stages)}, nil
		}
	}
	stages := slices.Clone(in.VersionStages)
	if len(stages) == 0 {
		stages = []string{StageCurrent}
	}
	now := s.clock.Now().Truncate(time.Millisecond)
	ver := &secretVersion{id: id, value: value, binary: binary, created: now}
	sv.addVersion(ver, stages)
	sv.lastChanged = now
	return output{sv.arn(), sv.name, id, slices.Clone(ver.stages)}, nil
}

func (s *Sandbox) getSecretValue(c *call) (any, *apiError) {
	var in struct {
		SecretID     *string `json:"SecretId"`
		VersionID    *string `json:"VersionId"`
		VersionStage *string `json:"VersionStage"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	var v validator
	v.member(in.SecretID, "secretId", true, 1, 2048)
	v.member(in.VersionID, "versionId", false, 32, 64)
	v.member(in.VersionStage, "versionStage", false, 1, 256)
	if e := v.errCode(secretsValidation); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, e := s.findSecret(c, *in.SecretID)
	if e != nil {
		return nil, e
	}
	if sv.scheduled() {
		return nil, secretMarkedDeleted()
	}
	var ver *secretVersion
	if in.VersionID != nil {
		if ver = sv.version(*in.VersionID); ver == nil {
			return nil, errorf(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", *in.VersionID)
		}
		if in.VersionStage != nil && !slices.Contains(ver.stages, *in.VersionStage) {
			return nil, errorf(400, "InvalidRequestException", "You provided a VersionStage that is not associated to the provided VersionId.")
		}
	} else {
		stage := StageCurrent
		if in.VersionStage != nil {
			stage = *in.VersionStage
		}
		if ver = sv.staged(stage); ver == nil {
			return nil, errorf(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
	}
	// AWS keeps the day of the last read, per region.
	sv.accessed[sv.region] = s.clock.Now().UTC().Truncate(24 * time.Hour)
	out := struct {
		ARN           string    `json:"ARN"`
		Name          string    `json:"Name"`
		VersionID     string    `json:"VersionId"`
		SecretString  *string   `json:"SecretString,omitempty"`
		SecretBinary  []byte    `json:"SecretBinary,omitempty"`
		VersionStages []string  `json:"VersionStages"`
		CreatedDate   epochTime `json:"CreatedDate"`
	}{ARN: sv.arn(), Name: sv.name, VersionID: ver.id, VersionStages: slices.Clone(ver.stages), CreatedDate: epochTime(ver.created)}
	if out.VersionStages == nil {
		out.VersionStages = []string{}
	}
	if ver.binary {
		out.SecretBinary = slices.Clone(ver.value)
	} else {
		str := string(ver.value)
		out.SecretString = &str
	}
	return out, nil
}

type secretIDInput struct {
	SecretID *string `json:"SecretId"`
}

// secretByID decodes a request whose only required member is SecretId and
// finds the secret. Callers hold s.mu.
func (s *Sandbox) secretByID(c *call, in *secretIDInput) (secretView, *apiError) {
	var v validator
	v.member(in.SecretID, "secretId", true, 1, 2048)
	if e := v.errCode(secretsValidation); e != nil {
		return secretView{}, e
	}
	return s.findSecret(c, *in.SecretID)
}

func (s *Sandbox) describeSecret(c *call) (any, *apiError) {
	var in secretIDInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, e := s.secretByID(c, &in)
	if e != nil {
		return nil, e
	}
	return sv.meta(false), nil
}

// secretFilterKeys are ListSecrets' filter keys (FilterNameStringType).
var secretFilterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

type secretFilter struct {
	key    string
	values []string
}

// matches applies one ListSecrets filter: a secret matches when one of the
// plain values matches (if there are any) and none of the negated ("!")
// values does. name, tag-key, tag-value and primary-region match
// case-sensitive prefixes; description and all are case-insensitive, and
// all looks at the name, the description and the tags.
func (f secretFilter) matches(v secretView) bool {
	var attrs []string
	fold := false
	switch f.key {
	case "name":
		attrs = []string{v.name}
	case "description":
		attrs, fold = []string{v.description}, true
	case "tag-key":
		for _, t := range v.tags {
			attrs = append(attrs, t.Key)
		}
	case "tag-value":
		for _, t := range v.tags {
			attrs = append(attrs, t.Value)
		}
	case "primary-region":
		attrs = []string{v.secret.region}
	case "all":
		attrs, fold = []string{v.name, v.description}, true
		for _, t := range v.tags {
			attrs = append(attrs, t.Key, t.Value)
		}
	default: // owning-service: the sandbox's secrets belong to no service
	}
	hit := func(prefix string) bool {
		for _, a := range attrs {
			if fold && strings.HasPrefix(strings.ToLower(a), strings.ToLower(prefix)) || !fold && strings.HasPrefix(a, prefix) {
				return true
			}
		}
		return false
	}
	plain, plainHit := 0, false
	for _, val := range f.values {
		if neg, ok := strings.CutPrefix(val, "!"); ok {
			if hit(neg) {
				return false
			}
			continue
		}
		plain++
		plainHit = plainHit || hit(val)
	}
	return plain == 0 || plainHit
}

func (s *Sandbox) listSecrets(c *call) (any, *apiError) {
	var in struct {
		IncludePlannedDeletion *bool    `json:"IncludePlannedDeletion"`
		MaxResults             *float64 `json:"MaxResults"`
		NextToken              *string  `json:"NextToken"`
		Filters                []struct {
			Key    *string  `json:"Key"`
			Values []string `json:"Values"`
		} `json:"Filters"`
		SortOrder *string `json:"SortOrder"`
		SortBy    *string `json:"SortBy"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	var v validator
	size := secretsPageMax
	if in.MaxResults != nil {
		n := clampInt(*in.MaxResults)
		shown := strconv.Itoa(n)
		switch {
		case n < 1:
			v.add(&shown, "maxResults", "Member must have value greater than or equal to 1")
		case n > secretsPageMax:
			v.add(&shown, "maxResults", fmt.Sprintf("Member must have value less than or equal to %d", secretsPageMax))
		default:
			size = n
		}
	}
	v.member(in.NextToken, "nextToken", false, 1, 4096)
	if len(in.Filters) > 10 {
		v.problems = append(v.problems, "Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to 10")
	}
	var filters []secretFilter
	for i, f := range in.Filters {
		field := fmt.Sprintf("filters.%d.member", i+1)
		if f.Key != nil && !slices.Contains(secretFilterKeys, *f.Key) {
			v.add(f.Key, field+".key", "Member must satisfy enum value set: ["+strings.Join(secretFilterKeys, ", ")+"]")
		}
		if len(f.Values) < 1 || len(f.Values) > 10 {
			v.problems = append(v.problems, fmt.Sprintf("Value at '%s.values' failed to satisfy constraint: Member must have length between 1 and 10", field))
		}
		for j := range f.Values {
			v.member(&f.Values[j], fmt.Sprintf("%s.values.%d.member", field, j+1), true, 0, 512)
		}
		if f.Key == nil {
			return nil, errorf(400, "InvalidParameterException", "Invalid filter key")
		}
		filters = append(filters, secretFilter{*f.Key, f.Values})
	}
	sortBy, order := "created-date", "asc"
	if in.SortBy != nil {
		sortBy = *in.SortBy
		if !slices.Contains([]string{"created-date", "last-accessed-date", "last-changed-date", "name"}, sortBy) {
			v.add(in.SortBy, "sortBy", "Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]")
		}
	}
	if in.SortOrder != nil {
		order = *in.SortOrder
		if order != "asc" && order != "desc" {
			v.add(in.SortOrder, "sortOrder", "Member must satisfy enum value set: [asc, desc]")
		}
	}
	if e := v.errCode(secretsValidation); e != nil {
		return nil, e
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	a := c.principal.account
	region := secretRegion(c)
	a.purgeSecrets(s.clock.Now())
	planned := in.IncludePlannedDeletion != nil && *in.IncludePlannedDeletion
	var list []secretView
	for _, sv := range a.secretsIn(region) {
		if sv.scheduled() && !planned {
			continue
		}
		if !slices.ContainsFunc(filters, func(f secretFilter) bool { return !f.matches(sv) }) {
			list = append(list, sv)
		}
	}
	key := func(sv secretView) string {
		stamp := func(t time.Time) string { return fmt.Sprintf("%020d", t.UnixNano()) }
		switch sortBy {
		case "name":
			return sv.name
		case "last-changed-date":
			return stamp(sv.lastChanged)
		case "last-accessed-date":
			return stamp(sv.accessed[region])
		}
		return stamp(sv.created)
	}
	sort.SliceStable(list, func(i, j int) bool { // ties keep creation order
		ki, kj := key(list[i]), key(list[j])
		if order == "desc" {
			return ki > kj
		}
		return ki < kj
	})

	// The token names the query's region and the offset of the next page.
	scope := "ListSecrets:" + region + "#"
	start := 0
	if in.NextToken != nil {
		raw, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		offset, ok := strings.CutPrefix(string(raw), scope)
		n, convErr := strconv.Atoi(offset)
		if err != nil || !ok || convErr != nil || n < 0 || n > len(list) {
			return nil, errorf(400, "InvalidNextTokenException", "The NextToken value is invalid.")
		}
		start = n
	}
	end := min(start+size, len(list))
	out := struct {
		SecretList []jsonSecretMeta `json:"SecretList"`
		NextToken  string           `json:"NextToken,omitempty"`
	}{SecretList: make([]jsonSecretMeta, 0, end-start)}
	for _, sv := range list[start:end] {
		out.SecretList = append(out.SecretList, sv.meta(true))
	}
	if end < len(list) {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(scope + strconv.Itoa(end)))
	}
	return out, nil
}

// checkResourcePolicy checks that a resource policy is a policy document:
// a JSON object with statements that each have an Effect. With blockPublic
// it refuses an Allow statement open to every principal without a
// condition, as BlockPublicPolicy does.
func checkResourcePolicy(doc string, blockPublic bool) *apiError {
	malformed := errorf(400, "MalformedPolicyDocumentException", "This resource policy contains a syntax error.")
	var p struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil || len(p.Statement) == 0 {
		return malformed
	}
	type statement struct {
		Effect    string          `json:"Effect"`
		Principal json.RawMessage `json:"Principal"`
		Condition json.RawMessage `json:"Condition"`
	}
	var statements []statement
	if err := json.Unmarshal(p.Statement, &statements); err != nil {
		var one statement
		if err := json.Unmarshal(p.Statement, &one); err != nil {
			return malformed
		}
		statements = []statement{one}
	}
	for _, st := range statements {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return malformed
		}
		if blockPublic && st.Effect == "Allow" && len(st.Condition) == 0 && publicPrincipal(st.Principal) {
			return errorf(400, "PublicPolicyException", "This resource policy will grant public access to the secret.")
		}
	}
	return nil
}

// publicPrincipal reports whether a policy Principal is everyone: "*" or
// {"AWS": "*"} (alone or in a list).
func publicPrincipal(raw json.RawMessage) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var byType map[string]json.RawMessage
	if json.Unmarshal(raw, &byType) != nil {
		return false
	}
	var one string
	if json.Unmarshal(byType["AWS"], &one) == nil {
		return one == "*"
	}
	var many []string
	return json.Unmarshal(byType["AWS"], &many) == nil && slices.Contains(many, "*")
}

func (s *Sandbox) putResourcePolicy(c *call) (any, *apiError) {
	var in struct {
		SecretID          *string `json:"SecretId"`
		ResourcePolicy    *string `json:"ResourcePolicy"`
		BlockPublicPolicy *bool   `json:"BlockPublicPolicy"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	var v validator
	v.member(in.SecretID, "secretId", true, 1, 2048)
	v.member(in.ResourcePolicy, "resourcePolicy", true, 1, 20480)
	if e := v.errCode(secretsValidation); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, e := s.findSecret(c, *in.SecretID)
	if e != nil {
		return nil, e
	}
	if sv.replica() {
		return nil, secretReplicaReadOnly()
	}
	if e := checkResourcePolicy(*in.ResourcePolicy, in.BlockPublicPolicy != nil && *in.BlockPublicPolicy); e != nil {
		return nil, e
	}
	sv.policy = *in.ResourcePolicy
	sv.lastChanged = s.clock.Now().Truncate(time.Millisecond)
	return struct {
		ARN  string `json:"ARN"`
		Name string `json:"Name"`
	}{sv.arn(), sv.name}, nil
}

func (s *Sandbox) getResourcePolicy(c *call) (any, *apiError) {
	var in secretIDInput
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, e := s.secretByID(c, &in)
	if e != nil {
		return nil, e
	}
	if sv.replica() {
		return nil, secretReplicaReadOnly()
	}
	return struct {
		ARN            string `json:"ARN"`
		Name           string `json:"Name"`
		ResourcePolicy string `json:"ResourcePolicy,omitempty"`
	}{sv.arn(), sv.name, sv.policy}, nil
}

func (s *Sandbox) tagResource(c *call) (any, *apiError) {
	var in struct {
		SecretID *string     `json:"SecretId"`
		Tags     []jsonTagIn `json:"Tags"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	var v validator
	v.member(in.SecretID, "secretId", true, 1, 2048)
	if in.Tags == nil {
		v.add(nil, "tags", "Member must not be null")
	}
	tags := v.secretTags(in.Tags)
	if e := v.errCode(secretsValidation); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, e := s.findSecret(c, *in.SecretID)
	if e != nil {
		return nil, e
	}
	if sv.replica() {
		return nil, secretReplicaReadOnly()
	}
	sv.setTags(tags)
	sv.lastChanged = s.clock.Now().Truncate(time.Millisecond)
	return struct{}{}, nil
}

func (s *Sandbox) deleteSecret(c *call) (any, *apiError) {
	var in struct {
		SecretID                   *string  `json:"SecretId"`
		RecoveryWindowInDays       *float64 `json:"RecoveryWindowInDays"`
		ForceDeleteWithoutRecovery *bool    `json:"ForceDeleteWithoutRecovery"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	var v validator
	v.member(in.SecretID, "secretId", true, 1, 2048)
	if e := v.errCode(secretsValidation); e != nil {
		return nil, e
	}
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	days := defaultRecoveryDay
	if in.RecoveryWindowInDays != nil {
		if force {
			return nil, errorf(400, "InvalidParameterException", "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
		}
		d := *in.RecoveryWindowInDays
		if d != math.Trunc(d) || d < 7 || d > 30 {
			return nil, errorf(400, "InvalidParameterException", "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
		days = int(d)
	}
	type output struct {
		ARN          string    `json:"ARN,omitempty"`
		Name         string    `json:"Name"`
		DeletionDate epochTime `json:"DeletionDate"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now().Truncate(time.Millisecond)
	sv, e := s.findSecret(c, *in.SecretID)
	if e != nil {
		// Forcing the deletion of a secret that does not exist succeeds.
		if force && e.code == "ResourceNotFoundException" {
			out := output{Name: *in.SecretID, DeletionDate: epochTime(now)}
			if strings.HasPrefix(out.Name, "arn:") {
				out.ARN = out.Name
				out.Name = out.Name[strings.LastIndex(out.Name, ":")+1:]
			}
			return out, nil
		}
		return nil, e
	}
	if sv.replica() {
		return nil, secretReplicaReadOnly()
	}
	if len(sv.replicas) > 0 {
		regions := make([]string, len(sv.replicas))
		for i, r := range sv.replicas {
			regions[i] = r.region
		}
		return nil, errorf(400, "InvalidParameterException", "You can't delete secret %s that still has replica regions [%s]", sv.name, strings.Join(regions, ","))
	}
	if force {
		delete(sv.account.secrets, secretKey{sv.secret.region, sv.name})
		return output{sv.arn(), sv.name, epochTime(now)}, nil
	}
	if sv.scheduled() {
		return nil, errorf(400, "InvalidRequestException", "You tried to perform the operation on a secret that's currently marked deleted.")
	}
	sv.deletion = now.AddDate(0, 0, days)
	return output{sv.arn(), sv.name, epochTime(sv.deletion)}, nil
}

func (s *Sandbox) removeRegionsFromReplication(c *call) (any, *apiError) {
	var in struct {
		SecretID             *string  `json:"SecretId"`
		RemoveReplicaRegions []string `json:"RemoveReplicaRegions"`
	}
	if e := decodeJSON(c, &in); e != nil {
		return nil, e
	}
	var v validator
	v.member(in.SecretID, "secretId", true, 1, 2048)
	if len(in.RemoveReplicaRegions) == 0 {
		v.problems = append(v.problems, "Value at 'removeReplicaRegions' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	for i := range in.RemoveReplicaRegions {
		v.region(&in.RemoveReplicaRegions[i], fmt.Sprintf("removeReplicaRegions.%d.member", i+1))
	}
	if e := v.errCode(secretsValidation); e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv, e := s.findSecret(c, *in.SecretID)
	if e != nil {
		return nil, e
	}
	if sv.replica() {
		return nil, secretReplicaReadOnly()
	}
	sv.replicas = slices.DeleteFunc(sv.replicas, func(r *secretReplica) bool {
		return slices.Contains(in.RemoveReplicaRegions, r.region)
	})
	for _, r := range in.RemoveReplicaRegions {
		delete(sv.accessed, r)
	}
	return struct {
		ARN               string            `json:"ARN"`
		ReplicationStatus []jsonReplication `json:"ReplicationStatus"`
	}{sv.arn(), replication(sv.secret, false)}, nil
}
