package remediate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/store"
)

// SecretsAPI is every Secrets Manager call rotation makes, in the key's
// account; it is also the list of permissions the spoke role needs for it.
// keywarden never reads a secret's value.
type SecretsAPI interface {
	DescribeSecret(context.Context, *secretsmanager.DescribeSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	PutResourcePolicy(context.Context, *secretsmanager.PutResourcePolicyInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutResourcePolicyOutput, error)
	TagResource(context.Context, *secretsmanager.TagResourceInput, ...func(*secretsmanager.Options)) (*secretsmanager.TagResourceOutput, error)
}

// Tags keywarden puts on a secret holding a rotated key.
const (
	TagUser        = "keywarden:user"
	TagReplaces    = "keywarden:replaces"
	TagAccessKeyID = "keywarden:access-key-id"
	TagRotatedAt   = "keywarden:rotated-at"
)

// clockSkew is how far AWS's clock (a key's creation date) may be behind
// keywarden's (the journal's intent time).
const clockSkew = 5 * time.Second

// orphanWindow is how long after an attempt's intent its CreateAccessKey
// may come (a few reads of the key and the journal, with retries): a key
// created later is not that attempt's.
const orphanWindow = 10 * time.Minute

// afterAnAttempt reports whether created falls within window after one of
// the intents (allowing for AWS's clock being behind keywarden's).
func afterAnAttempt(created time.Time, intents []time.Time, window time.Duration) bool {
	for _, t := range intents {
		from := t.Truncate(time.Second).Add(-clockSkew)
		if !created.Before(from) && !created.After(t.Add(window)) {
			return true
		}
	}
	return false
}

// storeTimeout bounds storing a new key, and deleteTimeout deleting it if
// that fails, each on its own: once created, the key is stored or deleted
// even if the run is cancelled, and a store that used up its time leaves
// the delete its own.
const (
	storeTimeout  = 2 * time.Minute
	deleteTimeout = time.Minute
)

// rotatedDetail is the journal's detail of a rotation done; RotationDetail
// reads it back. It names the new key and the secret, never the secret's
// value.
var rotatedDetail = regexp.MustCompile(`new key (\S+) stored in secret (arn:[^\s;]+)`)

// RotationDetail reads the new key's ID and the secret's ARN from the
// detail of a rotate action done.
func RotationDetail(detail string) (newKeyID, secretARN string, ok bool) {
	m := rotatedDetail.FindStringSubmatch(detail)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// SecretRegion is the region of a secret's ARN.
func SecretRegion(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[3]
}

// secretRegion is where rotated keys are stored: the policy's region, else
// keywarden's own.
func (ap *Applier) secretRegion() string {
	if ap.Policy.Rotation.Region != "" {
		return ap.Policy.Rotation.Region
	}
	return ap.SecretsRegion
}

// rotate carries out a rotate action: the old key is re-read and judged
// again, a new key is created for the user and stored in Secrets Manager
// (or deleted at once if it cannot be), and the old key is left active.
// intents are when earlier attempts of this action were intended;
// resuming says one was cut off: a key of the user that such an attempt
// created and its secret does not hold is deleted first (its secret is
// lost), and the rotation is done again.
func (ap *Applier) rotate(ctx context.Context, live *LiveView, a Action, intents []time.Time, resuming bool, fence func() error) (outcome, detail, requestID string) {
	if ap.SecretsFor == nil {
		return store.OutcomeFailed, "keywarden has no Secrets Manager client to store the new key in", ""
	}
	client := ap.ClientFor(a.AccountID)
	region := ap.secretRegion()
	name, err := ap.Policy.Rotation.SecretNameFor(a.AccountID, a.UserName)
	if err != nil {
		return store.OutcomeFailed, err.Error(), ""
	}
	sm := ap.SecretsFor(a.AccountID, region)
	keys, err := listKeys(ctx, client, a.UserName)
	var noUser *types.NoSuchEntityException
	switch {
	case errors.As(err, &noUser):
		return store.OutcomeSkipped, "the user no longer exists", ""
	case err != nil:
		return store.OutcomeFailed, "list the user's keys: " + apiMessage(err), ""
	}
	var notes []string
	if resuming {
		var out string
		put := func(ctx context.Context, arn string) error { return ap.putReaders(ctx, sm, live, a, arn) }
		keys, out, notes = ap.recoverRotation(ctx, client, sm, put, a, name, keys, intents, "", fence)
		if out != "" {
			return out, strings.Join(notes, "; "), ""
		}
	}
	note := func(outcome, d, rid string) (string, string, string) {
		return outcome, strings.Join(append(notes, d), "; "), rid
	}
	lk, err := liveKeyIn(ctx, client, keys, a.AccessKeyID) // the keys were just listed
	switch {
	case errors.As(err, &noUser) || (err == nil && lk == nil):
		return note(store.OutcomeSkipped, "the key no longer exists", "")
	case err != nil:
		return note(store.OutcomeFailed, "re-read the key: "+apiMessage(err), "")
	case !lk.created.Equal(a.Key.CreatedAt.Truncate(time.Second)):
		return note(store.OutcomeSkipped, "not the key the plan saw (its creation date differs)", "")
	case lk.status != StatusActive:
		return note(store.OutcomeSkipped, "the key is no longer active: it needs no successor", "")
	case len(keys) >= 2:
		return note(store.OutcomeSkipped, fmt.Sprintf("withheld now by the %s guard: the user holds %d access keys, IAM's quota; no key is deactivated or deleted to make room", GuardKeyQuota, len(keys)), "")
	}
	if ok, why := live.rejudgeWithout(ctx, ap, a, lk, dropped(keys, live, a)); !ok {
		return note(store.OutcomeSkipped, why, "")
	}
	if fence() != nil {
		return store.OutcomePending, "", ""
	}
	created, err := client.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(a.UserName)})
	if err != nil {
		if ctx.Err() != nil {
			return note(store.OutcomeFailed, DetailOutcomeUnknown, requestIDOf(err))
		}
		why := "create the new key: " + apiMessage(err)
		if lost := ap.dropLostKeys(ctx, client, a, keys, fence); lost != "" {
			why += "; " + lost
		}
		return note(store.OutcomeFailed, why, requestIDOf(err))
	}
	rid := requestIDFrom(created.ResultMetadata)
	newID := aws.ToString(created.AccessKey.AccessKeyId)
	secret := aws.ToString(created.AccessKey.SecretAccessKey)
	// From here the new key's secret exists only in this process: it is
	// stored, or the key is deleted, whatever happens to the run.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	arn, storeNote, err := ap.storeKey(sctx, sm, live, a, name, newID, secret)
	if err != nil {
		why := redact(apiMessage(err), secret)
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
		defer dcancel()
		if _, derr := client.DeleteAccessKey(dctx, &iam.DeleteAccessKeyInput{UserName: aws.String(a.UserName), AccessKeyId: aws.String(newID)}); derr != nil {
			return note(store.OutcomeFailed, fmt.Sprintf("the new key %s could not be stored in secret %s (%s), and deleting it failed too (%s): delete it by hand with 'aws iam delete-access-key --user-name %s --access-key-id %s'; its secret is lost",
				newID, name, why, redact(apiMessage(derr), secret), a.UserName, newID), rid)
		}
		return note(store.OutcomeFailed, fmt.Sprintf("the new key could not be stored in secret %s in %s (%s): the new key %s was deleted at once; the old key is unchanged", name, region, why, newID), rid)
	}
	d := fmt.Sprintf("new key %s stored in secret %s; the old key stays active", newID, arn)
	if a.DeactivateOld {
		d = fmt.Sprintf("new key %s stored in secret %s; the old key is deactivated next (--deactivate-now)", newID, arn)
	}
	if storeNote != "" {
		d += " (" + redact(storeNote, secret) + ")"
	}
	return note(store.OutcomeDone, d, rid)
}

// dropLostKeys deletes what a CreateAccessKey that failed may have left:
// the SDK sends a call again when its answer is lost, so the first try
// may have created a key whose secret nobody received (IAM then refuses
// the second: the user holds two keys). A key of the user that was not
// there right before the call and was never used is that key. It says
// what it did, "" when nothing was left.
func (ap *Applier) dropLostKeys(ctx context.Context, client KeyAPI, a Action, before []types.AccessKeyMetadata, fence func() error) string {
	was := map[string]bool{}
	for _, k := range before {
		was[aws.ToString(k.AccessKeyId)] = true
	}
	now, err := listKeys(ctx, client, a.UserName)
	if err != nil {
		return "the user's keys could not be listed again to find a key the call may have created (" + apiMessage(err) + "): check 'aws iam list-access-keys --user-name " + a.UserName + "'"
	}
	var notes []string
	for _, k := range now {
		id := aws.ToString(k.AccessKeyId)
		if was[id] {
			continue
		}
		lu, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
		if err != nil || (lu.AccessKeyLastUsed != nil && lu.AccessKeyLastUsed.LastUsedDate != nil) {
			continue // used, or not known: someone else's
		}
		if fence() != nil {
			return ""
		}
		if _, err := client.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(a.UserName), AccessKeyId: k.AccessKeyId}); err != nil {
			notes = append(notes, fmt.Sprintf("key %s, created by a try of the call whose answer was lost, could not be deleted (%s): delete it with 'aws iam delete-access-key --user-name %s --access-key-id %s'",
				id, apiMessage(err), a.UserName, id))
			continue
		}
		notes = append(notes, fmt.Sprintf("key %s, created by a try of the call whose answer was lost (its secret never reached keywarden), was deleted; the old key is unchanged", id))
	}
	return strings.Join(notes, "; ")
}

// dropped are the keys the fresh read of the user holds that are no longer
// there (deleted by the recovery of an interrupted rotation).
func dropped(keys []types.AccessKeyMetadata, live *LiveView, a Action) map[string]bool {
	now := map[string]bool{}
	for _, k := range keys {
		now[aws.ToString(k.AccessKeyId)] = true
	}
	out := map[string]bool{}
	if u := live.user(a.AccountID, a.UserName); u != nil {
		for _, k := range u.Keys {
			if k.ID != "" && !now[k.ID] {
				out[k.ID] = true
			}
		}
	}
	return out
}

// recoverRotation finishes what an interrupted rotation left: a key of the
// user created since the action was intended is either the one its secret
// holds (tagged so) — then the secret's policy is put again and the
// rotation is done — or, if an attempt of the action created it (right
// after its intent, and never used: its secret was nowhere), a key whose
// secret is lost, which is deleted — unless keep says why it may not be,
// when the recovery fails saying so. Any other key is someone else's and
// left alone. put puts the secret's resource policy. It returns the user's
// keys left, and an outcome when the rotation is finished (or cannot go on).
func (ap *Applier) recoverRotation(ctx context.Context, client KeyAPI, sm SecretsAPI, put func(context.Context, string) error, a Action, name string,
	keys []types.AccessKeyMetadata, intents []time.Time, keep string, fence func() error) ([]types.AccessKeyMetadata, string, []string) {
	var notes []string
	held := ""
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var nf *smtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return keys, store.OutcomeFailed, []string{"read secret " + name + " to finish the interrupted rotation: " + apiMessage(err)}
	default:
		for _, t := range desc.Tags {
			if aws.ToString(t.Key) == TagAccessKeyID {
				held = aws.ToString(t.Value)
			}
		}
	}
	var left []types.AccessKeyMetadata
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		created := aws.ToTime(k.CreateDate)
		if id == a.AccessKeyID || !afterAnAttempt(created, intents, orphanWindow) {
			left = append(left, k)
			continue
		}
		if id == held && desc != nil {
			// Stored before the interruption: make sure the user can read it.
			if err := put(ctx, aws.ToString(desc.ARN)); err != nil {
				return keys, store.OutcomeFailed, []string{"the interrupted run stored new key " + id + " in secret " + aws.ToString(desc.ARN) + ", but its resource policy could not be put: " + apiMessage(err)}
			}
			return keys, store.OutcomeDone, []string{fmt.Sprintf("new key %s stored in secret %s; the old key stays active (stored by the interrupted run)", id, aws.ToString(desc.ARN))}
		}
		// An orphan's secret was never anywhere: a key that was used is
		// someone's, whenever it was made.
		lu, err := client.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
		if err != nil {
			return keys, store.OutcomeFailed, []string{fmt.Sprintf("read the last use of key %s, created since the interrupted rotation: %s", id, apiMessage(err))}
		}
		if lu.AccessKeyLastUsed != nil && lu.AccessKeyLastUsed.LastUsedDate != nil {
			notes = append(notes, fmt.Sprintf("key %s, created %s, has been used: it is not the interrupted run's, and is left alone", id, created.UTC().Format(time.RFC3339)))
			left = append(left, k)
			continue
		}
		if keep != "" {
			return keys, store.OutcomeFailed, []string{fmt.Sprintf("key %s, created right after the interrupted attempt and never used, is not deleted: %s", id, keep)}
		}
		if fence() != nil {
			return keys, store.OutcomePending, nil
		}
		if _, err := client.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(a.UserName), AccessKeyId: k.AccessKeyId}); err != nil {
			var gone *types.NoSuchEntityException
			if !errors.As(err, &gone) {
				return keys, store.OutcomeFailed, []string{fmt.Sprintf("key %s, created by the interrupted rotation and not stored in any secret, could not be deleted: %s", id, apiMessage(err))}
			}
		}
		notes = append(notes, fmt.Sprintf("deleted key %s, created by the interrupted run and never stored (its secret was lost)", id))
	}
	return left, "", notes
}

// storeKey stores a new key in the secret name: a new secret, or a new
// version of the existing one, then the resource policy that lets the user
// (and the policy's readers) read it. It returns the secret's ARN, and a
// note on what did not matter enough to fail.
func (ap *Applier) storeKey(ctx context.Context, sm SecretsAPI, live *LiveView, a Action, name, newID, secret string) (arn, note string, err error) {
	rot := ap.Policy.Rotation
	value, err := json.Marshal(struct {
		AccessKeyID     string `json:"AccessKeyId"`
		SecretAccessKey string `json:"SecretAccessKey"`
	}{newID, secret})
	if err != nil {
		return "", "", err
	}
	tags := []smtypes.Tag{
		{Key: aws.String(TagUser), Value: aws.String(a.UserName)},
		{Key: aws.String(TagReplaces), Value: aws.String(a.AccessKeyID)},
		{Key: aws.String(TagAccessKeyID), Value: aws.String(newID)},
		{Key: aws.String(TagRotatedAt), Value: aws.String(ap.now().Format(time.RFC3339))},
	}
	desc, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
	var nf *smtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		in := &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(value)), Tags: tags,
			Description: aws.String(fmt.Sprintf("Access key of IAM user %s, stored by keywarden when it rotated key %s", a.UserName, a.AccessKeyID))}
		if rot.KMSKeyID != "" {
			in.KmsKeyId = aws.String(rot.KMSKeyID)
		}
		for _, r := range rot.ReplicaRegions {
			rr := smtypes.ReplicaRegionType{Region: aws.String(r)}
			in.AddReplicaRegions = append(in.AddReplicaRegions, rr)
		}
		out, err := sm.CreateSecret(ctx, in)
		if err != nil {
			return "", "", err
		}
		arn = aws.ToString(out.ARN)
		if err := ap.putReaders(ctx, sm, live, a, arn); err != nil {
			return "", "", fmt.Errorf("put the secret's resource policy: %w", err)
		}
		return arn, "", nil
	case err != nil:
		return "", "", fmt.Errorf("read secret %s: %w", name, err)
	}
	arn = aws.ToString(desc.ARN)
	if desc.DeletedDate != nil {
		return "", "", fmt.Errorf("secret %s is scheduled for deletion: restore it (aws secretsmanager restore-secret) or choose another rotation.secret_name", arn)
	}
	// A secret keywarden did not make for this user is someone else's:
	// writing its value and its resource policy would take it from them.
	owner := ""
	for _, t := range desc.Tags {
		if aws.ToString(t.Key) == TagUser {
			owner = aws.ToString(t.Value)
		}
	}
	if owner != a.UserName {
		return "", "", fmt.Errorf("secret %s exists and keywarden did not make it for user %s (its %s tag is %q): keywarden does not write over another's secret; choose another rotation.secret_name, or tag the secret %s=%s to hand it over",
			arn, a.UserName, TagUser, owner, TagUser, a.UserName)
	}
	// The readers first: the value is the last thing that matters.
	if err := ap.putReaders(ctx, sm, live, a, arn); err != nil {
		return "", "", fmt.Errorf("put the secret's resource policy: %w", err)
	}
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(string(value))}); err != nil {
		return "", "", err
	}
	// The value is stored and readable; the tags are what a resumed run
	// recognises it by, nothing more.
	if _, err := sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn), Tags: tags}); err != nil {
		return arn, "its tags could not be updated: " + apiMessage(err), nil
	}
	return arn, "", nil
}

// putReaders puts the secret's resource policy: the IAM user and the
// policy's readers may read it.
func (ap *Applier) putReaders(ctx context.Context, sm SecretsAPI, live *LiveView, a Action, arn string) error {
	principals := append([]string{ap.userARN(live, a)}, ap.Policy.Rotation.Readers...)
	doc, err := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []any{map[string]any{
			"Sid":       "KeywardenRotatedKeyReaders",
			"Effect":    "Allow",
			"Principal": map[string]any{"AWS": principals},
			"Action":    "secretsmanager:GetSecretValue",
			"Resource":  "*",
		}},
	})
	if err != nil {
		return err
	}
	_, err = sm.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: aws.String(arn),
		ResourcePolicy: aws.String(string(doc)), BlockPublicPolicy: aws.Bool(true)})
	return err
}

// userARN is the ARN of the action's user, with its path from the fresh
// read, in keywarden's partition.
func (ap *Applier) userARN(live *LiveView, a Action) string {
	partition := "aws"
	if parts := strings.SplitN(ap.Caller, ":", 3); len(parts) == 3 && parts[0] == "arn" && parts[1] != "" {
		partition = parts[1]
	}
	p := "/"
	if u := live.user(a.AccountID, a.UserName); u != nil && u.Path != "" {
		p = u.Path
	}
	return fmt.Sprintf("arn:%s:iam::%s:user%s%s", partition, a.AccountID, p, a.UserName)
}

// user is the fresh read of a user, nil when it was not read.
func (live *LiveView) user(account, name string) *inventory.User {
	if live == nil || live.Inventory == nil {
		return nil
	}
	for i := range live.Inventory.Accounts {
		acct := &live.Inventory.Accounts[i]
		if acct.Account.ID != account {
			continue
		}
		for j := range acct.Users {
			if acct.Users[j].Name == name {
				return &acct.Users[j]
			}
		}
	}
	return nil
}

// listKeys lists every key of a user.
func listKeys(ctx context.Context, c KeyAPI, user string) ([]types.AccessKeyMetadata, error) {
	var out []types.AccessKeyMetadata
	p := iam.NewListAccessKeysPaginator(c, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.AccessKeyMetadata...)
	}
	return out, nil
}

// redact removes a secret from a message, in case a service ever echoed it.
func redact(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "[REDACTED]")
}

// Recovery is what became of the rotations that dead runs of other plans
// left unfinished (RecoverRotations).
type Recovery struct {
	// Results are the rotations finished, each journaled on the entry the
	// dead run left: done when the secret holds the new key (the cutover
	// then follows it), failed when it does not — saying which orphan key
	// was deleted, or that none was left. A rotation finished is never
	// looked at again.
	Results []ActionResult
	// Left says why each of the others could not be finished now (an AWS
	// error, a user not read, another policy); the next run tries again.
	Left []string
}

// UserPath reads the path of an IAM user, for a secret's resource policy,
// when the run did not read the user.
type UserPath func(ctx context.Context, accountID, userName string) (string, error)

// RecoverRotations finishes the rotations that runs of other plans left
// unfinished when they died between creating a new key and journaling it,
// holding the state store's lock for that only (as runID): a run that
// makes a new plan every time (a schedule, 'keywarden rotate') would
// otherwise find the user holding the old key and an orphan, and withhold
// the rotation for good. userPath, if set, reads a user's path when a
// secret's policy must be put again.
func (ap *Applier) RecoverRotations(ctx context.Context, runID string, userPath UserPath) (*Recovery, error) {
	lease, err := ap.Store.Acquire(ctx, runID, lockStaleAfter)
	if err != nil {
		return nil, err
	}
	defer lease.Release()
	return ap.recoverStrays(ctx, lease, runID, "", nil, userPath)
}

// recoverRuns is how many of the newest runs recovery looks through: every
// run that changes keys recovers first, so a dead run is found by the next
// one, and the journal's whole history is not read each time.
const recoverRuns = 1000

// recoverStrays finishes, under lease (held as holder), the rotations left
// unfinished by the runs of plans other than planID that are dead: still
// running or interrupted, and not the holder. A rotation is unfinished
// when the last entry of its action has no result, or failed with
// DetailOutcomeUnknown. Each one finished is journaled on its entry (see
// Recovery); live, when it holds the user, gives the user's path.
func (ap *Applier) recoverStrays(ctx context.Context, lease store.Lease, holder, planID string, live *LiveView, userPath UserPath) (*Recovery, error) {
	runs, err := ap.Store.Runs(ctx, recoverRuns)
	if err != nil {
		return nil, fmt.Errorf("read the journal: %w", err)
	}
	dead := map[string]store.Run{}
	var plans []string
	for i := len(runs) - 1; i >= 0; i-- { // oldest first
		r := runs[i]
		if r.ID == holder || r.PlanID == "" || r.PlanID == planID || (r.Status != store.RunRunning && r.Status != store.RunInterrupted) {
			continue
		}
		if !slices.Contains(plans, r.PlanID) {
			plans = append(plans, r.PlanID)
		}
		dead[r.ID] = r
		if r.Status == store.RunRunning {
			// Every run that acts holds the lock, and we do: this one died
			// (or lost the lock) and history should say so.
			if err := lease.FinishRun(ctx, r.ID, store.RunInterrupted, ap.now()); err != nil {
				return nil, fmt.Errorf("record that run %s was interrupted: %w", r.ID, err)
			}
			ap.log().Info("a run that died is recorded as interrupted", "run", r.ID, "started", r.StartedAt)
		}
	}
	rec := &Recovery{}
	for _, pid := range plans {
		entries, err := ap.Store.PlanEntries(ctx, pid)
		if err != nil {
			return rec, fmt.Errorf("read the journal: %w", err)
		}
		last := map[string]store.Entry{}
		intents := map[string][]time.Time{}
		var order []string
		for _, e := range entries {
			if _, ok := last[e.ActionID]; !ok {
				order = append(order, e.ActionID)
			}
			last[e.ActionID] = e
			intents[e.ActionID] = append(intents[e.ActionID], e.IntentAt)
		}
		// The old keys whose --deactivate-now deactivation has a final
		// result in the plan's runs.
		deactivated := map[string]bool{}
		for _, e := range entries {
			if e.Action == Deactivate && e.Stage == StageDeactivateNow && e.Outcome != store.OutcomePending && e.Detail != DetailOutcomeUnknown {
				deactivated[e.AccountID+"/"+e.AccessKeyID] = true
			}
		}
		for _, id := range order {
			e := last[id]
			r, ok := dead[e.RunID]
			unfinished := e.Outcome == store.OutcomePending || (e.Outcome == store.OutcomeFailed && e.Detail == DetailOutcomeUnknown)
			owed := strings.HasSuffix(e.Stage, StageOwesDeactivation) && !deactivated[e.AccountID+"/"+e.AccessKeyID]
			if !ok || e.Action != Rotate || (!unfinished && !(owed && e.Outcome == store.OutcomeDone)) {
				continue
			}
			if !unfinished {
				// Rotated, but the run died before it deactivated the
				// leaked key it was asked to.
				res, err := ap.deactivateOwed(ctx, lease, r, e)
				if err != nil {
					return rec, err
				}
				rec.Results = append(rec.Results, res)
				continue
			}
			res, left, err := ap.recoverStray(ctx, lease, holder, r, e, intents[id], live, userPath)
			if err != nil {
				return rec, err
			}
			if left != "" {
				why := fmt.Sprintf("the rotation of key %s of %s in %s, interrupted in run %s, is not finished yet: %s", e.AccessKeyID, e.UserName, e.AccountID, e.RunID, left)
				ap.log().Warn("interrupted rotation not finished", "run", e.RunID, "account", e.AccountID, "user", e.UserName, "key", e.AccessKeyID, "why", left)
				rec.Left = append(rec.Left, why)
				continue
			}
			ap.log().Warn("finished a rotation an interrupted run left", "run", e.RunID, "account", e.AccountID, "user", e.UserName,
				"key", e.AccessKeyID, "outcome", res.Outcome, "detail", res.Detail)
			rec.Results = append(rec.Results, res)
			if owed && res.Outcome == store.OutcomeDone {
				res, err := ap.deactivateOwed(ctx, lease, r, e)
				if err != nil {
					return rec, err
				}
				rec.Results = append(rec.Results, res)
			}
		}
	}
	return rec, nil
}

// deactivateOwed deactivates the old key of rotation e, which dead run r
// stored but did not deactivate although asked to (--deactivate-now: a
// leaked key), and journals it in r, as r would have: undo of r reverses it.
func (ap *Applier) deactivateOwed(ctx context.Context, lease store.Lease, r store.Run, e store.Entry) (ActionResult, error) {
	a := Action{Type: Rotate, AccountID: e.AccountID, UserName: e.UserName, AccessKeyID: e.AccessKeyID,
		Key: KeyState{Status: e.KeyStatus, CreatedAt: e.KeyCreatedAt}}
	if e.Rule != "" {
		a.Rules = strings.Split(e.Rule, ",")
	}
	res, err := ap.deactivateOld(ctx, lease, &Plan{ID: e.PlanID, PolicyHash: r.PolicyHash}, r.ID, a)
	if err == nil {
		ap.log().Warn("deactivated the leaked key an interrupted run rotated", "run", r.ID, "account", e.AccountID, "user", e.UserName,
			"key", e.AccessKeyID, "outcome", res.Outcome, "detail", res.Detail)
	}
	return res, err
}

// recoverStray finishes one rotation that run r left unfinished (entry e,
// intents the times of its attempts) and journals the result on e: a
// result for an entry left pending, or, for one whose AWS call was cut
// off (it has a result already), an entry of the same action in the same
// run, which then is its last. left says why it cannot be finished now;
// err, that the journal or the lock failed.
func (ap *Applier) recoverStray(ctx context.Context, lease store.Lease, holder string, r store.Run, e store.Entry, intents []time.Time,
	live *LiveView, userPath UserPath) (res ActionResult, left string, err error) {
	a := Action{ID: e.ActionID, Type: e.Action, AccountID: e.AccountID, UserName: e.UserName, AccessKeyID: e.AccessKeyID,
		Stage: e.Stage, Reason: e.Reason, Key: KeyState{Status: e.KeyStatus, CreatedAt: e.KeyCreatedAt}}
	if e.Rule != "" {
		a.Rules = strings.Split(e.Rule, ",")
	}
	if !e.KeyLastUsedAt.IsZero() {
		t := e.KeyLastUsedAt
		a.Key.LastUsedAt = &t
	}
	res.Action = a
	if ap.SecretsFor == nil {
		return res, "keywarden has no Secrets Manager client to look for the new key in", nil
	}
	name, err := ap.Policy.Rotation.SecretNameFor(a.AccountID, a.UserName)
	if err != nil {
		return res, err.Error(), nil
	}
	client := ap.ClientFor(a.AccountID)
	sm := ap.SecretsFor(a.AccountID, ap.secretRegion())
	// Under another policy the secret may have had another name or region:
	// a key it does not find there may be one the run stored elsewhere.
	keep := ""
	if r.PolicyHash != ap.Policy.Hash {
		keep = "run " + r.ID + " was made under another policy, whose secret may be elsewhere; if the key is the interrupted run's and no secret holds it, delete it by hand with 'aws iam delete-access-key'"
	}
	put := func(ctx context.Context, arn string) error {
		l := live
		if live.user(a.AccountID, a.UserName) == nil {
			if userPath == nil {
				return fmt.Errorf("user %s was not read by this run, so its path is not known", a.UserName)
			}
			p, err := userPath(ctx, a.AccountID, a.UserName)
			if err != nil {
				return errors.New("read the path of user " + a.UserName + ": " + apiMessage(err))
			}
			l = &LiveView{Inventory: &inventory.Inventory{Accounts: []inventory.AccountInventory{{Account: inventory.Account{ID: a.AccountID},
				Users: []inventory.User{{Name: a.UserName, Path: p}}}}}}
		}
		return ap.putReaders(ctx, sm, l, a, arn)
	}
	// The new key of a rotation of the same key that another run finished
	// is that run's, stored: never taken for the orphan.
	var stored string
	if done, ok, err := ap.Store.LastRotation(ctx, a.AccountID, a.AccessKeyID); err != nil {
		return res, "", fmt.Errorf("read the journal: %w", err)
	} else if ok {
		stored, _, _ = RotationDetail(done.Detail)
	}
	keys, err := listKeys(ctx, client, a.UserName)
	var noUser *types.NoSuchEntityException
	switch {
	case errors.As(err, &noUser):
		res.Outcome = store.OutcomeFailed
		res.Detail = "interrupted before its new key was stored; finished by run " + holder + ": the user no longer exists"
	case err != nil:
		return res, "list the user's keys: " + apiMessage(err), nil
	default:
		keys = slices.DeleteFunc(keys, func(k types.AccessKeyMetadata) bool { return aws.ToString(k.AccessKeyId) == stored })
		var fenceErr error
		_, outcome, notes := ap.recoverRotation(ctx, client, sm, put, a, name, keys, intents, keep, func() error { fenceErr = lease.Check(ctx); return fenceErr })
		if fenceErr != nil {
			return res, "", fmt.Errorf("stopped before finishing the rotation of %s: %w", a.AccessKeyID, fenceErr)
		}
		switch outcome {
		case store.OutcomeFailed:
			return res, strings.Join(notes, "; "), nil
		case store.OutcomeDone:
			res.Outcome, res.Detail = store.OutcomeDone, strings.Join(notes, "; ")+"; finished by run "+holder
		default:
			if len(notes) == 0 {
				notes = []string{"no key it created is left"}
			}
			res.Outcome = store.OutcomeFailed
			res.Detail = fmt.Sprintf("interrupted before its new key was stored; finished by run %s: %s; the old key is unchanged",
				holder, strings.Join(notes, "; "))
		}
	}
	id := e.ID
	if e.Outcome != store.OutcomePending {
		ne := e
		ne.ID, ne.Outcome, ne.Detail, ne.RequestID, ne.ResultAt, ne.Caller = 0, store.OutcomePending, "", "", time.Time{}, ap.Caller
		if id, err = lease.RecordIntent(ctx, ne); err != nil {
			return res, "", fmt.Errorf("journal the end of the rotation of %s: %w", a.AccessKeyID, err)
		}
	}
	if err := lease.RecordResult(context.WithoutCancel(ctx), id, store.Result{Outcome: res.Outcome, Detail: res.Detail, At: ap.now()}); err != nil {
		return res, "", fmt.Errorf("journal the end of the rotation of %s: %w", a.AccessKeyID, err)
	}
	return res, "", nil
}
