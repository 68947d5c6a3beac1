package lambda_test

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"

	"github.com/keywarden/keywarden/internal/awsemu"
	"github.com/keywarden/keywarden/internal/awsx"
	"github.com/keywarden/keywarden/internal/lambda"
	"github.com/keywarden/keywarden/internal/permissions"
)

// TestOperationsArePermissionsList: an enforcing run of the handler, in
// this process, calls only what the permissions list has for each
// identity, and the calls the deployed function's role is given for (the
// policy from SSM, the reports to S3, the state in DynamoDB) are made.
func TestOperationsArePermissionsList(t *testing.T) {
	w := newWorld(t, enforcePolicy)
	w.function.Process.Kill() // this test runs the handler in-process
	rec := &permissions.Recorder{}
	env := map[string]string{
		"KEYWARDEN_CONFIG": "ssm:/keywarden/policy",
		"KEYWARDEN_STATE":  "dynamodb://keywarden-" + "testoperationsarepermissionslist",
	}
	for _, k := range []string{"S3", "SSM", "DYNAMODB"} {
		t.Setenv("AWS_ENDPOINT_URL_"+k, w.moto.URL)
	}
	t.Setenv("AWS_ENDPOINT_URL", w.sandbox)
	t.Setenv("AWS_S3_USE_PATH_STYLE", "true")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	sum, err := lambda.Handle(t.Context(), lambda.Options{
		Getenv:     func(k string) string { return env[k] },
		PackageDir: w.dir,
		AWS: awsx.Options{Region: "us-east-1", MaxBackoff: 10 * time.Millisecond,
			Credentials: credentials.NewStaticCredentialsProvider(w.org.AdminKey.AccessKeyID, w.org.AdminKey.SecretAccessKey, ""),
			APIOptions:  []func(*middleware.Stack) error{rec.Option(awsx.RoleHub)}},
		Instrument: rec.Instrument,
	}, json.RawMessage(scheduledEvent))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Status != "ok" || sum.Actions["done"] == 0 || len(sum.Reports) == 0 {
		b, _ := json.Marshal(sum)
		t.Fatalf("summary %s: want actions done and reports written", b)
	}
	for _, tt := range []struct {
		role   awsx.Role
		groups []string
		made   []permissions.Operation // must have been called
	}{
		{awsx.RoleHub, []string{permissions.Identity, permissions.Organization, permissions.State, permissions.ConfigSSM, permissions.Reports},
			[]permissions.Operation{{Service: "SSM", Name: "GetParameter"}, {Service: "S3", Name: "PutObject"},
				{Service: "DynamoDB", Name: "TransactWriteItems"}, {Service: "STS", Name: "AssumeRole"}}},
		{awsx.RoleRead, []string{permissions.Scan}, []permissions.Operation{{Service: "IAM", Name: "GetCredentialReport"}}},
		{awsx.RoleAct, []string{permissions.Act}, []permissions.Operation{{Service: "IAM", Name: "UpdateAccessKey"}}},
	} {
		var gs []permissions.Group
		for _, n := range tt.groups {
			g, _ := permissions.Find(n)
			gs = append(gs, g)
		}
		listed := permissions.Operations(gs...)
		got := rec.Calls(tt.role)
		for _, op := range got {
			if !slices.Contains(listed, op) {
				t.Errorf("%s role called %s, which its groups %v do not list", tt.role, op, tt.groups)
			}
		}
		for _, op := range tt.made {
			if !slices.Contains(got, op) {
				t.Errorf("%s role never called %s (calls: %v)", tt.role, op, got)
			}
		}
	}
	if st, ok := w.sb.AccessKey(w.org.AdminKey.AccessKeyID); !ok || st.Status != awsemu.StatusActive {
		t.Errorf("the hub's own key: %+v", st)
	}
}
