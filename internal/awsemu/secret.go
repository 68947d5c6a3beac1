package awsemu

import (
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Secrets Manager's model: secrets per account and region, their versions
// and staging labels, replicas, and the seeding and inspection API for
// tests. Guarded by Sandbox.mu like the rest of the model.

// Staging labels Secrets Manager moves by itself.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// defaultSecretsKey is the AWS managed key a secret without KmsKeyId uses.
const defaultSecretsKey = "alias/aws/secretsmanager"

// maxSecretVersions is how many versions a secret keeps: past it, the
// oldest versions without a staging label are dropped, as AWS does.
const maxSecretVersions = 100

var (
	// secretNamePattern: "ASCII letters, numbers, and the following
	// characters: /_+=.@-" (CreateSecret, Name).
	secretNamePattern = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]+$`)
	regionPattern     = regexp.MustCompile(`^([a-z]+-)+\d+$`)
)

type secretKey struct{ region, name string }

type secret struct {
	account     *account
	region      string // the primary region
	name        string
	suffix      string // "-" and six random characters, the end of the ARN
	seq         uint64 // creation order in the account
	description string
	kmsKeyID    string // "" for the AWS managed key
	tags        []Tag  // in the order first set
	policy      string // "" for none
	created     time.Time
	lastChanged time.Time
	accessed    map[string]time.Time // region → the day of the last read there
	deletion    time.Time            // when a scheduled deletion happens; zero: not scheduled
	versions    []*secretVersion     // oldest first
	replicas    []*secretReplica
}

type secretVersion struct {
	id      string
	value   []byte
	binary  bool // SecretBinary rather than SecretString
	created time.Time
	stages  []string
}

type secretReplica struct {
	region   string
	kmsKeyID string // "" for the AWS managed key
	failed   string // why replication failed; "" when in sync
}

func (sec *secret) arnIn(region string) string {
	return "arn:aws:secretsmanager:" + region + ":" + sec.account.id + ":secret:" + sec.name + sec.suffix
}

func (sec *secret) scheduled() bool { return !sec.deletion.IsZero() }

func (sec *secret) version(id string) *secretVersion {
	for _, v := range sec.versions {
		if v.id == id {
			return v
		}
	}
	return nil
}

func (sec *secret) staged(stage string) *secretVersion {
	for _, v := range sec.versions {
		if slices.Contains(v.stages, stage) {
			return v
		}
	}
	return nil
}

// syncedReplica returns the replica in region if it was created there.
func (sec *secret) syncedReplica(region string) *secretReplica {
	for _, r := range sec.replicas {
		if r.region == region && r.failed == "" {
			return r
		}
	}
	return nil
}

// addVersion adds v with the given staging labels, moving each label from
// the version that had it; moving AWSCURRENT gives the version that had it
// AWSPREVIOUS. A first version is always AWSCURRENT.
func (sec *secret) addVersion(v *secretVersion, stages []string) {
	if len(sec.versions) == 0 && !slices.Contains(stages, StageCurrent) {
		stages = append(stages, StageCurrent)
	}
	for _, st := range stages {
		old := sec.staged(st)
		if old == nil {
			continue
		}
		old.stages = slices.DeleteFunc(old.stages, func(s string) bool { return s == st })
		if st == StageCurrent && !slices.Contains(stages, StagePrevious) {
			if prev := sec.staged(StagePrevious); prev != nil {
				prev.stages = slices.DeleteFunc(prev.stages, func(s string) bool { return s == StagePrevious })
			}
			old.stages = append(old.stages, StagePrevious)
		}
	}
	v.stages = slices.Compact(slices.Sorted(slices.Values(stages)))
	sec.versions = append(sec.versions, v)
	for n := len(sec.versions); n > maxSecretVersions; n-- {
		i := slices.IndexFunc(sec.versions, func(v *secretVersion) bool { return len(v.stages) == 0 })
		if i < 0 {
			break
		}
		sec.versions = slices.Delete(sec.versions, i, i+1)
	}
}

// setTags merges tags into the secret's: a new key is added at the end, an
// existing key gets the new value.
func (sec *secret) setTags(tags []Tag) {
	for _, t := range tags {
		i := slices.IndexFunc(sec.tags, func(x Tag) bool { return x.Key == t.Key })
		if i >= 0 {
			sec.tags[i].Value = t.Value
		} else {
			sec.tags = append(sec.tags, t)
		}
	}
}

// secretView is a secret as seen from one region: its primary region, or
// the region of one of its replicas (read-only there).
type secretView struct {
	*secret
	region string
}

func (v secretView) replica() bool { return v.region != v.secret.region }
func (v secretView) arn() string   { return v.arnIn(v.region) }

// secretIn finds the secret named name that callers in region see: one
// created there, or a replica of one created elsewhere.
func (a *account) secretIn(region, name string) (secretView, bool) {
	if sec := a.secrets[secretKey{region, name}]; sec != nil {
		return secretView{sec, region}, true
	}
	for _, sec := range a.secrets {
		if sec.name == name && sec.syncedReplica(region) != nil {
			return secretView{sec, region}, true
		}
	}
	return secretView{}, false
}

// secretsIn lists what callers in region see, in creation order.
func (a *account) secretsIn(region string) []secretView {
	var out []secretView
	for _, sec := range a.secrets {
		if sec.region == region || sec.syncedReplica(region) != nil {
			out = append(out, secretView{sec, region})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// purgeSecrets ends the scheduled deletions whose date has come.
func (a *account) purgeSecrets(now time.Time) {
	for k, sec := range a.secrets {
		if sec.scheduled() && !now.Before(sec.deletion) {
			delete(a.secrets, k)
		}
	}
}

// newSecret adds an empty secret to a and returns it.
func (s *Sandbox) newSecret(a *account, region, name string, now time.Time) *secret {
	if a.secrets == nil {
		a.secrets = make(map[secretKey]*secret)
	}
	a.secretSeq++
	sec := &secret{
		account: a, region: region, name: name, suffix: s.ids.secretSuffix(), seq: a.secretSeq,
		created: now, lastChanged: now, accessed: map[string]time.Time{},
	}
	a.secrets[secretKey{region, name}] = sec
	return sec
}

// addReplica records a replica of sec in region; it fails when a secret of
// the same name already lives there.
func (sec *secret) addReplica(region, kmsKeyID string) *secretReplica {
	r := &secretReplica{region: region, kmsKeyID: kmsKeyID}
	if _, taken := sec.account.secretIn(region, sec.name); taken {
		r.failed = fmt.Sprintf("Replication failed: Secret name %s already exists in region %s.", sec.name, region)
	}
	sec.replicas = append(sec.replicas, r)
	return r
}

// SecretSpec describes a secret to add with AddSecret. It formats and logs
// without its value.
type SecretSpec struct {
	Account string
	Region  string // DefaultRegion when empty
	Name    string
	// SecretString is the value of the first version (labelled AWSCURRENT);
	// empty: the secret has no version yet.
	SecretString   string
	Description    string
	KmsKeyID       string
	Tags           []Tag
	Policy         string   // resource policy, JSON
	ReplicaRegions []string // regions the secret is replicated to
	CreatedAt      time.Time
}

// String shows the spec without its value.
func (sp SecretSpec) String() string {
	return fmt.Sprintf("secret %s in %s/%s (value redacted)", sp.Name, sp.Account, sp.Region)
}

// Format implements fmt.Formatter so that every verb redacts the value.
func (sp SecretSpec) Format(f fmt.State, _ rune) { fmt.Fprint(f, sp.String()) }

// LogValue implements slog.LogValuer.
func (sp SecretSpec) LogValue() slog.Value {
	return slog.GroupValue(slog.String("account", sp.Account), slog.String("region", sp.Region),
		slog.String("name", sp.Name), slog.String("secret_string", "REDACTED"))
}

// AddSecret adds a secret directly, as CreateSecret (and PutResourcePolicy)
// would, and returns its ARN.
func (s *Sandbox) AddSecret(spec SecretSpec) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[spec.Account]
	if a == nil {
		return "", fmt.Errorf("account %s: %w", spec.Account, ErrNotFound)
	}
	region := spec.Region
	if region == "" {
		region = DefaultRegion
	}
	if len(spec.Name) > 512 || !secretNamePattern.MatchString(spec.Name) {
		return "", fmt.Errorf("secret name %q: 1-512 ASCII letters, digits and /_+=.@-", spec.Name)
	}
	now := s.now(spec.CreatedAt)
	a.purgeSecrets(s.clock.Now())
	if _, taken := a.secretIn(region, spec.Name); taken {
		return "", fmt.Errorf("secret %s already exists in %s %s", spec.Name, spec.Account, region)
	}
	for _, r := range spec.ReplicaRegions {
		if !regionPattern.MatchString(r) {
			return "", fmt.Errorf("secret %s: replica region %q is not a region", spec.Name, r)
		}
	}
	if spec.Policy != "" {
		if e := checkResourcePolicy(spec.Policy, false); e != nil {
			return "", fmt.Errorf("secret %s: policy: %s", spec.Name, e.msg)
		}
	}
	sec := s.newSecret(a, region, spec.Name, now)
	sec.description, sec.kmsKeyID, sec.policy = spec.Description, spec.KmsKeyID, spec.Policy
	sec.setTags(spec.Tags)
	if spec.SecretString != "" {
		sec.addVersion(&secretVersion{id: s.ids.uuid(), value: []byte(spec.SecretString), created: now}, nil)
	}
	for _, r := range spec.ReplicaRegions {
		if r != region {
			sec.addReplica(r, "")
		}
	}
	return sec.arnIn(region), nil
}

// SecretState is what the sandbox holds for a secret, for tests. Printing it
// (fmt or slog) shows no secret value.
type SecretState struct {
	ARN         string
	Account     string
	Region      string // the primary region
	Name        string
	Description string
	KmsKeyID    string // "" for the AWS managed key
	Policy      string // the resource policy, "" for none
	Tags        []Tag  // in the order first set
	Versions    []SecretVersion
	Replicas    []SecretReplica

	CreatedAt      time.Time
	LastChangedAt  time.Time
	LastAccessedAt time.Time // the day of the last GetSecretValue in the primary region; zero: never
	DeletionDate   time.Time // when a scheduled deletion happens; zero: not scheduled
}

// SecretVersion is one version of a secret. Printing it (fmt or slog) shows
// no value.
type SecretVersion struct {
	ID           string
	Stages       []string // staging labels, sorted; none for a deprecated version
	SecretString string   // "" for a binary version
	SecretBinary []byte   // nil for a string version
	CreatedAt    time.Time
}

// SecretReplica is a region a secret is replicated to.
type SecretReplica struct {
	Region        string
	KmsKeyID      string // "" for the AWS managed key
	Status        string // InSync or Failed
	StatusMessage string
}

// String shows the version without its value.
func (v SecretVersion) String() string {
	return fmt.Sprintf("version %s %v (value redacted)", v.ID, v.Stages)
}

// Format implements fmt.Formatter so that every verb redacts the value.
func (v SecretVersion) Format(f fmt.State, _ rune) { fmt.Fprint(f, v.String()) }

// LogValue implements slog.LogValuer.
func (v SecretVersion) LogValue() slog.Value {
	return slog.GroupValue(slog.String("version_id", v.ID), slog.String("stages", strings.Join(v.Stages, ",")),
		slog.String("value", "REDACTED"))
}

// LogValue implements slog.LogValuer: the secret's identity and version
// IDs, never a value. (fmt redacts through SecretVersion.Format.)
func (st SecretState) LogValue() slog.Value {
	ids := make([]string, len(st.Versions))
	for i, v := range st.Versions {
		ids[i] = v.ID
	}
	return slog.GroupValue(slog.String("arn", st.ARN), slog.String("versions", strings.Join(ids, ",")))
}

// Stage returns the version holding a staging label.
func (st SecretState) Stage(label string) (SecretVersion, bool) {
	for _, v := range st.Versions {
		if slices.Contains(v.Stages, label) {
			return v, true
		}
	}
	return SecretVersion{}, false
}

// Current returns the AWSCURRENT version, the one GetSecretValue returns
// by default.
func (st SecretState) Current() (SecretVersion, bool) { return st.Stage(StageCurrent) }

func (sec *secret) state() SecretState {
	st := SecretState{
		ARN: sec.arnIn(sec.region), Account: sec.account.id, Region: sec.region, Name: sec.name,
		Description: sec.description, KmsKeyID: sec.kmsKeyID, Policy: sec.policy,
		Tags:      slices.Clone(sec.tags),
		CreatedAt: sec.created, LastChangedAt: sec.lastChanged, LastAccessedAt: sec.accessed[sec.region],
		DeletionDate: sec.deletion,
	}
	for _, v := range sec.versions {
		sv := SecretVersion{ID: v.id, Stages: slices.Clone(v.stages), CreatedAt: v.created}
		if v.binary {
			sv.SecretBinary = slices.Clone(v.value)
		} else {
			sv.SecretString = string(v.value)
		}
		st.Versions = append(st.Versions, sv)
	}
	for _, r := range sec.replicas {
		st.Replicas = append(st.Replicas, r.state())
	}
	return st
}

func (r *secretReplica) state() SecretReplica {
	if r.failed != "" {
		return SecretReplica{Region: r.region, KmsKeyID: r.kmsKeyID, Status: "Failed", StatusMessage: r.failed}
	}
	return SecretReplica{Region: r.region, KmsKeyID: r.kmsKeyID, Status: "InSync", StatusMessage: "Replication succeeded"}
}

// Secret returns the secret named name that was created in account and
// region (a replica is reported with its primary), including one scheduled
// for deletion until its deletion date.
func (s *Sandbox) Secret(account, region, name string) (SecretState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[account]
	if a == nil {
		return SecretState{}, false
	}
	a.purgeSecrets(s.clock.Now())
	sec := a.secrets[secretKey{region, name}]
	if sec == nil {
		return SecretState{}, false
	}
	return sec.state(), true
}

// Secrets returns every secret created in account, sorted by region and name.
func (s *Sandbox) Secrets(account string) []SecretState {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[account]
	if a == nil {
		return nil
	}
	a.purgeSecrets(s.clock.Now())
	out := make([]SecretState, 0, len(a.secrets))
	for _, sec := range a.secrets {
		out = append(out, sec.state())
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Region != out[j].Region {
			return out[i].Region < out[j].Region
		}
		return out[i].Name < out[j].Name
	})
	return out
}
