package awsemu_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/go-cmp/cmp"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// Sandbox behaviour of Secrets Manager that the conformance suite cannot
// show against moto: the clock, faults, logs, the Go accessors, accounts.

// secretsIn is a Secrets Manager client signing for region.
func secretsIn(cfg aws.Config, region string) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.Region = region })
}

// accessKeyValue is the value keywarden stores for a rotated key.
func accessKeyValue(id, secret string) string {
	b, _ := json.Marshal(map[string]string{"AccessKeyId": id, "SecretAccessKey": secret})
	return string(b)
}

func TestSecretsPerAccountAndRegion(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 11})
	ctx := context.Background()
	hub := f.config(t, f.admin)
	west := secretsIn(hub, "eu-west-1")
	value := accessKeyValue("AKIAEXAMPLEEXAMPLE01", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	out, err := west.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("keywarden/iam-user/alice"), SecretString: aws.String(value)})
	if err != nil {
		t.Fatal(err)
	}
	prefix := "arn:aws:secretsmanager:eu-west-1:" + f.hub + ":secret:keywarden/iam-user/alice-"
	if arn := aws.ToString(out.ARN); !strings.HasPrefix(arn, prefix) || len(arn) != len(prefix)+6 {
		t.Errorf("ARN %q, want %s and six characters", arn, prefix)
	}

	// The same seed gives the same ARN.
	g := newFixture(t, awsemu.Options{Seed: 11})
	again, err := secretsIn(g.config(t, g.admin), "eu-west-1").CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("keywarden/iam-user/alice"), SecretString: aws.String(value)})
	if err != nil || aws.ToString(again.ARN) != aws.ToString(out.ARN) {
		t.Errorf("same seed: ARN %q (%v), want %q", aws.ToString(again.ARN), err, aws.ToString(out.ARN))
	}

	tests := []struct {
		name   string
		client *secretsmanager.Client
		id     string
		code   string
	}{
		{"by name in its region", west, "keywarden/iam-user/alice", ""},
		{"by ARN", west, aws.ToString(out.ARN), ""},
		{"by partial ARN", west, "arn:aws:secretsmanager:eu-west-1:" + f.hub + ":secret:keywarden/iam-user/alice", ""},
		{"in another region", secretsIn(hub, "us-east-1"), "keywarden/iam-user/alice", "ResourceNotFoundException"},
		{"in another account", secretsIn(f.member(t, hub, f.members[0]), "eu-west-1"), "keywarden/iam-user/alice", "ResourceNotFoundException"},
		{"by ARN from another account", secretsIn(f.member(t, hub, f.members[0]), "eu-west-1"), aws.ToString(out.ARN), "AccessDeniedException"},
		{"by ARN with a wrong suffix", west, prefix + "zzzzzz", "ResourceNotFoundException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(tt.id)})
			if tt.code != "" {
				if apiCode(err) != tt.code || httpStatus(err) != 400 {
					t.Fatalf("got %v (HTTP %d), want %s 400", err, httpStatus(err), tt.code)
				}
				return
			}
			if err != nil || aws.ToString(got.SecretString) != value || aws.ToString(got.ARN) != aws.ToString(out.ARN) {
				t.Fatalf("GetSecretValue: %v, ARN %q; want the value and %q", err, aws.ToString(got.ARN), aws.ToString(out.ARN))
			}
		})
	}

	// The member's own secret of the same name is another secret.
	mem := secretsIn(f.member(t, hub, f.members[0]), "eu-west-1")
	if _, err := mem.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("keywarden/iam-user/alice"), SecretString: aws.String("member")}); err != nil {
		t.Fatal(err)
	}
	if st, ok := f.sb.Secret(f.members[0], "eu-west-1", "keywarden/iam-user/alice"); !ok || st.Account != f.members[0] {
		t.Errorf("sb.Secret in the member: %v %v", st, ok)
	}
	if st, _ := f.sb.Secret(f.hub, "eu-west-1", "keywarden/iam-user/alice"); len(st.Versions) != 1 || st.Versions[0].SecretString != value {
		t.Errorf("the hub's secret changed: %d versions", len(st.Versions))
	}
}

// TestSecretsScheduledDeletion follows a deletion with a recovery window on
// the sandbox clock.
func TestSecretsScheduledDeletion(t *testing.T) {
	clock := awsemu.NewClock()
	clock.Freeze()
	f := newFixture(t, awsemu.Options{Seed: 12, Clock: clock})
	ctx := context.Background()
	c := secretsIn(f.config(t, f.admin), "eu-west-1")
	name := aws.String("keywarden/iam-user/bob")
	created, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("v1")})
	if err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: name, RecoveryWindowInDays: aws.Int64(7)})
	if err != nil {
		t.Fatal(err)
	}
	due := clock.Now().AddDate(0, 0, 7)
	if !aws.ToTime(del.DeletionDate).Equal(due.Truncate(time.Millisecond)) {
		t.Errorf("DeletionDate %v, want %v", aws.ToTime(del.DeletionDate), due)
	}
	refused := []struct {
		name string
		call func() error
		code string
	}{
		{"GetSecretValue", func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
			return err
		}, "InvalidRequestException"},
		{"PutSecretValue", func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: name, SecretString: aws.String("v2")})
			return err
		}, "InvalidRequestException"},
		{"CreateSecret of the name", func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("v2")})
			return err
		}, "InvalidRequestException"},
		{"DeleteSecret again", func() error {
			_, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: name})
			return err
		}, "InvalidRequestException"},
	}
	for _, tt := range refused {
		if err := tt.call(); apiCode(err) != tt.code || httpStatus(err) != 400 {
			t.Errorf("%s while scheduled for deletion: %v (HTTP %d), want %s 400", tt.name, err, httpStatus(err), tt.code)
		}
	}
	d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: name})
	if err != nil || !aws.ToTime(d.DeletedDate).Equal(aws.ToTime(del.DeletionDate)) {
		t.Errorf("DescribeSecret while scheduled: %v, DeletedDate %v", err, d.DeletedDate)
	}
	if st, ok := f.sb.Secret(f.hub, "eu-west-1", *name); !ok || !st.DeletionDate.Equal(aws.ToTime(del.DeletionDate)) {
		t.Errorf("sb.Secret while scheduled: %v, DeletionDate %v", ok, st.DeletionDate)
	}

	clock.Advance(7*24*time.Hour - time.Second)
	if _, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: name}); err != nil {
		t.Errorf("a second before the deletion date: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: name}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("at the deletion date: %v, want ResourceNotFoundException", err)
	}
	if _, ok := f.sb.Secret(f.hub, "eu-west-1", *name); ok {
		t.Error("sb.Secret still finds the deleted secret")
	}
	again, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("v3")})
	if err != nil {
		t.Fatalf("CreateSecret after the deletion: %v", err)
	}
	if aws.ToString(again.ARN) == aws.ToString(created.ARN) {
		t.Errorf("CreateSecret after the deletion: ARN %q, the old one's; want a new ARN", aws.ToString(again.ARN))
	}
	if _, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: created.ARN}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("the old ARN after re-creation: %v, want ResourceNotFoundException", err)
	}
}

func TestSecretsFaults(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 13})
	ctx := context.Background()
	c := secretsIn(f.config(t, f.admin), "eu-west-1")
	name := aws.String("keywarden/iam-user/carol")
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		fault  awsemu.Fault
		code   string
		status int
	}{
		{"throttled", awsemu.Fault{Operation: "secretsmanager:GetSecretValue", ThrottleRate: 0.001, ThrottleBurst: 1}, "ThrottlingException", 400},
		{"internal error", awsemu.Fault{Account: f.hub, Operation: "GetSecretValue", ErrorRate: 1}, "InternalServiceError", 500},
		{"denied", awsemu.Fault{Operation: "secretsmanager:GetSecretValue", Deny: true}, "AccessDeniedException", 400},
		{"other operation denied", awsemu.Fault{Operation: "secretsmanager:PutSecretValue", Deny: true}, "", 0},
		{"other service denied", awsemu.Fault{Operation: "iam:GetSecretValue", Deny: true}, "", 0},
		{"other account denied", awsemu.Fault{Account: f.members[0], Deny: true}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.sb.SetFaults(tt.fault)
			defer f.sb.SetFaults()
			var err error
			for range 2 { // the first call may spend the bucket's burst
				_, err = c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
			}
			if apiCode(err) != tt.code || tt.status != 0 && httpStatus(err) != tt.status {
				t.Fatalf("got %v (HTTP %d), want %q %d", err, httpStatus(err), tt.code, tt.status)
			}
		})
	}
	t.Run("latency", func(t *testing.T) {
		f.sb.SetFaults(awsemu.Fault{Operation: "secretsmanager:DescribeSecret", Latency: 100 * time.Millisecond})
		defer f.sb.SetFaults()
		start := time.Now()
		if _, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: name}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Fatalf("call took %v, want at least the injected 100ms", d)
		}
	})
	n := 0
	for _, cc := range f.sb.Calls() {
		if cc.Account == f.hub && cc.Service == "secretsmanager" && cc.Operation == "GetSecretValue" {
			n = cc.Calls
		}
	}
	if n != 2*len(tests) {
		t.Errorf("Calls counted %d GetSecretValue, want %d", n, 2*len(tests))
	}
}

// TestSecretsNeverLogged runs every operation, successes and failures,
// with a debug logger, and looks for the values in what was logged.
func TestSecretsNeverLogged(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t, awsemu.Options{Seed: 14, Logger: log})
	ctx := context.Background()
	c := secretsIn(f.config(t, f.admin), "eu-west-1")
	const first, second, third = "first-Sup3rS3cr3tValue", "second-Sup3rS3cr3tValue", "third-Sup3rS3cr3tValue"
	name := aws.String("keywarden/iam-user/dave")
	token := aws.String(strings.Repeat("7", 32))
	steps := []func() error{
		func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String(first), ClientRequestToken: token})
			return err
		},
		func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: name, SecretString: aws.String(second)})
			return err
		},
		func() error {
			_, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
			return err
		},
		// Failures: a token in use with another value, a value too long, both values.
		func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: name, SecretString: aws.String(third), ClientRequestToken: token})
			return err
		},
		func() error {
			_, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: name, SecretString: aws.String(third + strings.Repeat("x", 65536))})
			return err
		},
		func() error {
			_, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String(third), SecretBinary: []byte(third)})
			return err
		},
	}
	for i, step := range steps {
		err := step()
		if (i < 3) != (err == nil) {
			t.Fatalf("step %d: %v", i+1, err)
		}
		if err != nil && strings.Contains(err.Error(), "Sup3rS3cr3t") {
			t.Errorf("step %d: the error quotes the value: %v", i+1, err)
		}
	}
	if !strings.Contains(logs.String(), "op=GetSecretValue") || !strings.Contains(logs.String(), "code=ValidationException") {
		t.Fatalf("the sandbox logged no line per request:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "Sup3rS3cr3t") {
		t.Errorf("a secret value was logged:\n%s", logs.String())
	}

	// The accessors redact too.
	st, ok := f.sb.Secret(f.hub, "eu-west-1", *name)
	if !ok {
		t.Fatal("sb.Secret: not found")
	}
	var printed bytes.Buffer
	fmt.Fprintf(&printed, "%v %+v %s %#v", st, st, st.Versions, st.Versions[0])
	slog.New(slog.NewJSONHandler(&printed, nil)).Info("state", "secret", st, "version", st.Versions[1],
		"spec", awsemu.SecretSpec{Name: "x", SecretString: first})
	fmt.Fprintf(&printed, "%v", awsemu.SecretSpec{Name: "x", SecretString: first})
	if strings.Contains(printed.String(), "Sup3rS3cr3t") {
		t.Errorf("printing the state shows a value:\n%s", printed.String())
	}
}

func TestSecretAccessorsAndSeeding(t *testing.T) {
	clock := awsemu.NewClock()
	clock.Freeze()
	clock.Set(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC))
	f := newFixture(t, awsemu.Options{Seed: 15, Clock: clock})
	ctx := context.Background()
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + f.members[1] +
		`:user/erin"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	arn, err := f.sb.AddSecret(awsemu.SecretSpec{Account: f.members[1], Region: "us-west-2", Name: "keywarden/iam-user/erin",
		SecretString: "seeded", Description: "erin's key", KmsKeyID: "alias/keywarden", Policy: policy,
		Tags: []awsemu.Tag{{Key: "managed-by", Value: "keywarden"}}, ReplicaRegions: []string{"eu-central-1"}})
	if err != nil {
		t.Fatal(err)
	}
	c := secretsIn(f.member(t, f.config(t, f.admin), f.members[1]), "us-west-2")
	got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil || aws.ToString(got.SecretString) != "seeded" {
		t.Fatalf("GetSecretValue of a seeded secret: %v", err)
	}
	clock.Advance(time.Hour)
	if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String("rotated"),
		ClientRequestToken: aws.String("00000000-0000-4000-8000-000000000002")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: aws.String(arn), Tags: []smtypes.Tag{
		{Key: aws.String("rotated"), Value: aws.String("2026-03-01")}, {Key: aws.String("managed-by"), Value: aws.String("keywarden-v2")}}}); err != nil {
		t.Fatal(err)
	}
	st, ok := f.sb.Secret(f.members[1], "us-west-2", "keywarden/iam-user/erin")
	if !ok {
		t.Fatal("sb.Secret: not found")
	}
	cur, _ := st.Current()
	prev, _ := st.Stage(awsemu.StagePrevious)
	if cur.ID != "00000000-0000-4000-8000-000000000002" || cur.SecretString != "rotated" || prev.SecretString != "seeded" ||
		!cur.CreatedAt.Equal(clock.Now()) {
		t.Errorf("current %v %q %v, previous %q", cur, cur.SecretString, cur.CreatedAt, prev.SecretString)
	}
	want := awsemu.SecretState{
		ARN: arn, Account: f.members[1], Region: "us-west-2", Name: "keywarden/iam-user/erin",
		Description: "erin's key", KmsKeyID: "alias/keywarden", Policy: policy,
		Tags:      []awsemu.Tag{{Key: "managed-by", Value: "keywarden-v2"}, {Key: "rotated", Value: "2026-03-01"}},
		Replicas:  []awsemu.SecretReplica{{Region: "eu-central-1", Status: "InSync", StatusMessage: "Replication succeeded"}},
		CreatedAt: clock.Now().Add(-time.Hour), LastChangedAt: clock.Now(),
		LastAccessedAt: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
	}
	st.Versions = nil
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("sb.Secret (-want +got):\n%s", diff)
	}
	if all := f.sb.Secrets(f.members[1]); len(all) != 1 || all[0].ARN != arn {
		t.Errorf("sb.Secrets: %v", all)
	}
	for _, spec := range []awsemu.SecretSpec{
		{Account: "999999999999", Name: "x"},
		{Account: f.members[1], Region: "us-west-2", Name: "keywarden/iam-user/erin"},
		{Account: f.members[1], Name: "bad name!"},
		{Account: f.members[1], Name: "bad-policy", Policy: "{"},
		{Account: f.members[1], Name: "bad-replica", ReplicaRegions: []string{"Mars"}},
	} {
		if _, err := f.sb.AddSecret(spec); err == nil {
			t.Errorf("AddSecret(%s/%s): succeeded, want an error", spec.Account, spec.Name)
		}
	}
}

func TestSecretsReplicas(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 16})
	ctx := context.Background()
	hub := f.config(t, f.admin)
	primary, replica := secretsIn(hub, "eu-west-1"), secretsIn(hub, "eu-north-1")
	name := aws.String("keywarden/iam-user/frank")
	if _, err := replica.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("taken"), SecretString: aws.String("x")}); err != nil {
		t.Fatal(err)
	}
	out, err := primary.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("v1"),
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("eu-north-1"), KmsKeyId: aws.String("alias/north")}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ReplicationStatus) != 1 || out.ReplicationStatus[0].Status != smtypes.StatusTypeInProgress {
		t.Errorf("CreateSecret ReplicationStatus %+v, want eu-north-1 InProgress", out.ReplicationStatus)
	}
	d, err := primary.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: name})
	if err != nil || len(d.ReplicationStatus) != 1 || d.ReplicationStatus[0].Status != smtypes.StatusTypeInSync ||
		aws.ToString(d.ReplicationStatus[0].KmsKeyId) != "alias/north" || aws.ToString(d.PrimaryRegion) != "eu-west-1" {
		t.Errorf("DescribeSecret: %v %+v", err, d)
	}
	// The replica reads in its region, with its own ARN, and refuses writes.
	got, err := replica.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name})
	if err != nil || aws.ToString(got.SecretString) != "v1" || aws.ToString(got.ARN) != strings.Replace(aws.ToString(out.ARN), "eu-west-1", "eu-north-1", 1) {
		t.Errorf("GetSecretValue in the replica region: %v, ARN %q", err, aws.ToString(got.ARN))
	}
	_, err = replica.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: name, SecretString: aws.String("v2")})
	if apiCode(err) != "InvalidParameterException" {
		t.Errorf("PutSecretValue in the replica region: %v, want InvalidParameterException", err)
	}
	// A replica into a region where the name is taken fails.
	failed, err := primary.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("taken"), SecretString: aws.String("y"),
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("eu-north-1")}}})
	if err != nil || len(failed.ReplicationStatus) != 1 || failed.ReplicationStatus[0].Status != smtypes.StatusTypeFailed {
		t.Errorf("replica over a taken name: %v %+v, want Failed", err, failed)
	}
	// A replicated secret is deleted after its replicas.
	_, err = primary.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: name})
	if apiCode(err) != "InvalidParameterException" {
		t.Errorf("DeleteSecret with a replica: %v, want InvalidParameterException", err)
	}
	rm, err := primary.RemoveRegionsFromReplication(ctx, &secretsmanager.RemoveRegionsFromReplicationInput{SecretId: name, RemoveReplicaRegions: []string{"eu-north-1"}})
	if err != nil || len(rm.ReplicationStatus) != 0 {
		t.Fatalf("RemoveRegionsFromReplication: %v %+v", err, rm)
	}
	if _, err := replica.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("the removed replica: %v, want ResourceNotFoundException", err)
	}
	if _, err := primary.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: name, ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Errorf("DeleteSecret without replicas: %v", err)
	}
}

func TestSecretsListing(t *testing.T) {
	clock := awsemu.NewClock()
	clock.Freeze()
	f := newFixture(t, awsemu.Options{Seed: 17, Clock: clock})
	ctx := context.Background()
	c := secretsIn(f.config(t, f.admin), "eu-west-1")
	for _, s := range []struct{ name, desc, tag string }{
		{"keywarden/iam-user/zed", "Access key of zed", "team-a"},
		{"keywarden/iam-user/amy", "access key of amy", "team-b"},
		{"app/db-password", "Database", "team-a"},
		{"keywarden/iam-user/kim", "", ""},
	} {
		in := &secretsmanager.CreateSecretInput{Name: aws.String(s.name), SecretString: aws.String("v")}
		if s.desc != "" {
			in.Description = aws.String(s.desc)
		}
		if s.tag != "" {
			in.Tags = []smtypes.Tag{{Key: aws.String("team"), Value: aws.String(s.tag)}}
		}
		if _, err := c.CreateSecret(ctx, in); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	if _, err := c.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: aws.String("keywarden/iam-user/kim")}); err != nil {
		t.Fatal(err)
	}
	filter := func(key smtypes.FilterNameStringType, values ...string) []smtypes.Filter {
		return []smtypes.Filter{{Key: key, Values: values}}
	}
	tests := []struct {
		name string
		in   secretsmanager.ListSecretsInput
		want []string
	}{
		{"all, oldest first", secretsmanager.ListSecretsInput{}, []string{"keywarden/iam-user/zed", "keywarden/iam-user/amy", "app/db-password"}},
		{"with planned deletions", secretsmanager.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true)},
			[]string{"keywarden/iam-user/zed", "keywarden/iam-user/amy", "app/db-password", "keywarden/iam-user/kim"}},
		{"by name, descending", secretsmanager.ListSecretsInput{SortBy: smtypes.SortByTypeName, SortOrder: smtypes.SortOrderTypeDesc},
			[]string{"keywarden/iam-user/zed", "keywarden/iam-user/amy", "app/db-password"}},
		{"name prefix", secretsmanager.ListSecretsInput{Filters: filter(smtypes.FilterNameStringTypeName, "keywarden/iam-user/")},
			[]string{"keywarden/iam-user/zed", "keywarden/iam-user/amy"}},
		{"name prefix is case-sensitive", secretsmanager.ListSecretsInput{Filters: filter(smtypes.FilterNameStringTypeName, "Keywarden/")}, nil},
		{"negated name prefix", secretsmanager.ListSecretsInput{Filters: filter(smtypes.FilterNameStringTypeName, "!keywarden/")}, []string{"app/db-password"}},
		{"description, any case", secretsmanager.ListSecretsInput{Filters: filter(smtypes.FilterNameStringTypeDescription, "ACCESS KEY")},
			[]string{"keywarden/iam-user/zed", "keywarden/iam-user/amy"}},
		{"tag value", secretsmanager.ListSecretsInput{Filters: filter(smtypes.FilterNameStringTypeTagValue, "team-a")},
			[]string{"keywarden/iam-user/zed", "app/db-password"}},
		{"two filters", secretsmanager.ListSecretsInput{Filters: append(filter(smtypes.FilterNameStringTypeTagValue, "team-a"),
			filter(smtypes.FilterNameStringTypeName, "keywarden/")...)}, []string{"keywarden/iam-user/zed"}},
		{"all attributes", secretsmanager.ListSecretsInput{Filters: filter(smtypes.FilterNameStringTypeAll, "DATABASE")}, []string{"app/db-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int32{1, 2, 100} {
				in := tt.in
				in.MaxResults = aws.Int32(size)
				var names []string
				pages := 0
				p := secretsmanager.NewListSecretsPaginator(c, &in)
				for p.HasMorePages() {
					page, err := p.NextPage(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if pages++; pages > 10 || len(page.SecretList) > int(size) {
						t.Fatalf("MaxResults %d: page %d of %d secrets", size, pages, len(page.SecretList))
					}
					for _, s := range page.SecretList {
						names = append(names, aws.ToString(s.Name))
					}
				}
				if !cmp.Equal(names, tt.want) {
					t.Errorf("MaxResults %d: %v, want %v", size, names, tt.want)
				}
			}
		})
	}
	for _, tt := range []struct {
		name string
		in   secretsmanager.ListSecretsInput
		code string
	}{
		{"MaxResults 0", secretsmanager.ListSecretsInput{MaxResults: aws.Int32(0)}, "ValidationException"},
		{"MaxResults 101", secretsmanager.ListSecretsInput{MaxResults: aws.Int32(101)}, "ValidationException"},
		{"unknown filter", secretsmanager.ListSecretsInput{Filters: filter("colour", "red")}, "ValidationException"},
		{"bad token", secretsmanager.ListSecretsInput{NextToken: aws.String("not-a-token")}, "InvalidNextTokenException"},
		{"bad sort order", secretsmanager.ListSecretsInput{SortOrder: "sideways"}, "ValidationException"},
	} {
		if _, err := c.ListSecrets(ctx, &tt.in); apiCode(err) != tt.code || httpStatus(err) != 400 {
			t.Errorf("ListSecrets %s: %v (HTTP %d), want %s 400", tt.name, err, httpStatus(err), tt.code)
		}
	}
	// A token is for the region that made it.
	first, err := c.ListSecrets(ctx, &secretsmanager.ListSecretsInput{MaxResults: aws.Int32(1)})
	if err != nil || first.NextToken == nil {
		t.Fatalf("ListSecrets MaxResults=1: %v, token %v", err, first.NextToken)
	}
	_, err = secretsIn(f.config(t, f.admin), "us-east-1").ListSecrets(ctx, &secretsmanager.ListSecretsInput{NextToken: first.NextToken})
	if apiCode(err) != "InvalidNextTokenException" {
		t.Errorf("another region's token: %v, want InvalidNextTokenException", err)
	}
}

func TestSecretsResourcePolicyChecks(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 18})
	ctx := context.Background()
	c := secretsIn(f.config(t, f.admin), "eu-west-1")
	name := aws.String("keywarden/iam-user/gil")
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("v")}); err != nil {
		t.Fatal(err)
	}
	user := `{"AWS":"arn:aws:iam::` + f.hub + `:user/gil"}`
	stmt := func(effect, principal, extra string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"` + effect + `","Principal":` + principal +
			`,"Action":"secretsmanager:GetSecretValue","Resource":"*"` + extra + `}]}`
	}
	tests := []struct {
		name   string
		policy string
		block  bool
		code   string
	}{
		{"the user may read", stmt("Allow", user, ""), true, ""},
		{"a single statement object", `{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}`, true, ""},
		{"not JSON", "allow gil", false, "MalformedPolicyDocumentException"},
		{"no statement", `{"Version":"2012-10-17"}`, false, "MalformedPolicyDocumentException"},
		{"bad effect", stmt("Permit", user, ""), false, "MalformedPolicyDocumentException"},
		{"public, not blocked", stmt("Allow", `"*"`, ""), false, ""},
		{"public, blocked", stmt("Allow", `"*"`, ""), true, "PublicPolicyException"},
		{"public AWS list, blocked", stmt("Allow", `{"AWS":["arn:aws:iam::`+f.hub+`:root","*"]}`, ""), true, "PublicPolicyException"},
		{"public with a condition, blocked", stmt("Allow", `{"AWS":"*"}`, `,"Condition":{"StringEquals":{"aws:PrincipalAccount":"`+f.hub+`"}}`), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Start from a policy no case puts, to see whether the call stored its own.
			const start = `{"Version":"2012-10-17","Statement":[]}`
			if _, err := c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: name, ResourcePolicy: aws.String(start)}); err != nil {
				t.Fatal(err)
			}
			_, err := c.PutResourcePolicy(ctx, &secretsmanager.PutResourcePolicyInput{SecretId: name,
				ResourcePolicy: aws.String(tt.policy), BlockPublicPolicy: aws.Bool(tt.block)})
			if apiCode(err) != tt.code || tt.code != "" && httpStatus(err) != 400 {
				t.Fatalf("got %v (HTTP %d), want %q", err, httpStatus(err), tt.code)
			}
			got, err := c.GetResourcePolicy(ctx, &secretsmanager.GetResourcePolicyInput{SecretId: name})
			if err != nil {
				t.Fatal(err)
			}
			want := tt.policy
			if tt.code != "" {
				want = start
			}
			if aws.ToString(got.ResourcePolicy) != want {
				t.Errorf("stored policy %s, want %s", aws.ToString(got.ResourcePolicy), want)
			}
		})
	}
}

// TestSecretsRawWire checks what the SDK hides: the status, content type
// and error body of a JSON call, the key use a call records, and a raw
// request without a ClientRequestToken.
func TestSecretsRawWire(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 19})
	ctx := context.Background()
	cfg := f.config(t, f.admin)
	var statuses []int
	var bodies []string
	cfg.HTTPClient = &recordingClient{inner: http.DefaultClient, status: &statuses, body: &bodies}
	c := secretsIn(cfg, "ap-southeast-2")
	_, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("nope")})
	if apiCode(err) != "ResourceNotFoundException" || len(statuses) != 1 || statuses[0] != 400 ||
		!strings.Contains(bodies[0], `"__type":"ResourceNotFoundException"`) || !strings.Contains(bodies[0], `"Message":`) {
		t.Errorf("DescribeSecret of an unknown secret: %v, HTTP %v, body %v", err, statuses, bodies)
	}
	created, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("wire"), SecretString: aws.String("v")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("wire")}); err != nil {
		t.Fatal(err)
	}
	if last := bodies[len(bodies)-1]; strings.Contains(last, "null") || strings.Contains(last, "SecretVersionsToStages") ||
		!strings.Contains(last, `"VersionIdsToStages":{"`+aws.ToString(created.VersionId)+`":["AWSCURRENT"]}`) {
		t.Errorf("DescribeSecret body: %s", last)
	}
	st, _ := f.sb.AccessKey(f.admin.AccessKeyID)
	if st.LastUsedService != "secretsmanager" || st.LastUsedRegion != "ap-southeast-2" {
		t.Errorf("key use after a Secrets Manager call: %q %q, want secretsmanager ap-southeast-2", st.LastUsedService, st.LastUsedRegion)
	}
}

// recordingClient keeps the status and body of every response.
type recordingClient struct {
	inner  *http.Client
	status *[]int
	body   *[]string
}

func (r *recordingClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.inner.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	*r.status = append(*r.status, resp.StatusCode)
	*r.body = append(*r.body, string(body))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, err
}

func TestSecretsVersionStages(t *testing.T) {
	f := newFixture(t, awsemu.Options{Seed: 20})
	ctx := context.Background()
	c := secretsIn(f.config(t, f.admin), "eu-west-1")
	name := aws.String("staged")
	tok := func(n int) *string { return aws.String(fmt.Sprintf("00000000-0000-4000-8000-%012d", n)) }
	if _, err := c.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: name, SecretString: aws.String("v1"), ClientRequestToken: tok(1)}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		token  int
		value  string
		stages []string
		want   map[int][]string // version → stages after the step
	}{
		{2, "v2", nil, map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}}},
		{3, "v3", []string{"AWSPENDING"}, map[int][]string{1: {"AWSPREVIOUS"}, 2: {"AWSCURRENT"}, 3: {"AWSPENDING"}}},
		{4, "v4", []string{"AWSCURRENT", "AWSPENDING"}, map[int][]string{2: {"AWSPREVIOUS"}, 4: {"AWSCURRENT", "AWSPENDING"}}},
		{5, "v5", nil, map[int][]string{4: {"AWSPENDING", "AWSPREVIOUS"}, 5: {"AWSCURRENT"}}},
	}
	for _, st := range steps {
		if _, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: name, SecretString: aws.String(st.value),
			ClientRequestToken: tok(st.token), VersionStages: st.stages}); err != nil {
			t.Fatal(err)
		}
		d, err := c.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: name})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{}
		for n, stages := range st.want {
			want[*tok(n)] = stages
		}
		got := map[string][]string{}
		for id, stages := range d.VersionIdsToStages {
			got[id] = slices.Sorted(slices.Values(stages))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after putting %s with %v (-want +got):\n%s", st.value, st.stages, diff)
		}
	}
	// A deprecated version (no label) is still readable by its ID.
	got, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: name, VersionId: tok(3)})
	if err != nil || aws.ToString(got.SecretString) != "v3" || len(got.VersionStages) != 0 {
		t.Errorf("GetSecretValue of a deprecated version: %v %+v", err, got)
	}
}
