package awsemu_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// FuzzServeHTTP sends arbitrary parameters to every operation: the sandbox
// must answer each with a well-formed AWS response, never panic.
func FuzzServeHTTP(f *testing.F) {
	sb := awsemu.New(awsemu.Options{Seed: 9, SkipSignatureCheck: true})
	acct, _ := sb.AddAccount(awsemu.AccountSpec{ID: "100000000001"})
	sb.AddUser(awsemu.UserSpec{Account: acct, Name: "alice", Tags: []awsemu.Tag{{Key: "owner", Value: "a@example.com"}}})
	k, _ := sb.AddAccessKey(awsemu.KeySpec{Account: acct, User: "alice"})
	root, _ := sb.CreateOrganization(acct)
	sb.AddOU(root, "Workloads")

	f.Add("", "Action=ListUsers&Version=2010-05-08&MaxItems=1")
	f.Add("", "Action=CreateUser&Version=2010-05-08&UserName=bob&Tags.member.1.Key=k&Tags.member.1.Value=v")
	f.Add("", "Action=UpdateAccessKey&Version=2010-05-08&AccessKeyId="+k.AccessKeyID+"&Status=Inactive")
	f.Add("", "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::100000000001:role/x&RoleSessionName=s")
	f.Add("", "Action=ListUsers&Version=2010-05-08&Marker=%ff%00")
	f.Add("", "Action=GetAccountAuthorizationDetails&Version=2010-05-08&Filter.member.1=User")
	f.Add("AWSOrganizationsV20161128.ListAccountsForParent", `{"ParentId":"`+root+`","MaxResults":1}`)
	f.Add("AWSOrganizationsV20161128.ListParents", `{"ChildId":"100000000001","NextToken":"x"}`)
	f.Add("AWSOrganizationsV20161128.ListAccounts", `{"MaxResults":1e99}`)
	f.Add("secretsmanager.CreateSecret", `{"Name":"s","SecretString":"v","Tags":[{"Key":"k","Value":"v"}],"AddReplicaRegions":[{"Region":"eu-west-1"}]}`)
	f.Add("secretsmanager.PutSecretValue", `{"SecretId":"s","SecretBinary":"dg==","VersionStages":["AWSPENDING"]}`)
	f.Add("secretsmanager.GetSecretValue", `{"SecretId":"arn:aws:secretsmanager:us-east-1:100000000001:secret:s","VersionStage":"AWSCURRENT"}`)
	f.Add("secretsmanager.ListSecrets", `{"MaxResults":1,"NextToken":"x","Filters":[{"Key":"name","Values":["!s"]}]}`)
	f.Add("secretsmanager.PutResourcePolicy", `{"SecretId":"s","ResourcePolicy":"{\"Statement\":{\"Effect\":\"Allow\",\"Principal\":\"*\"}}","BlockPublicPolicy":true}`)
	f.Add("secretsmanager.DeleteSecret", `{"SecretId":"s","RecoveryWindowInDays":7.5}`)
	f.Fuzz(func(t *testing.T, target, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		service := "iam"
		if strings.Contains(body, "2011-06-15") {
			service = "sts"
		}
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			service = "organizations"
			if strings.HasPrefix(target, "secretsmanager.") {
				service = "secretsmanager"
			}
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		now := time.Now().UTC()
		req.Header.Set("X-Amz-Date", now.Format("20060102T150405Z"))
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+k.AccessKeyID+"/"+now.Format("20060102")+
			"/us-east-1/"+service+"/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("0", 64))
		rec := httptest.NewRecorder()
		sb.ServeHTTP(rec, req)
		if rec.Code == 0 || rec.Header().Get("x-amzn-RequestId") == "" {
			t.Fatalf("response without status or request ID: %d %v", rec.Code, rec.Header())
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), "<Code>") && !strings.Contains(rec.Body.String(), `"__type"`) {
			t.Fatalf("error %d without an AWS error body: %s", rec.Code, rec.Body)
		}
	})
}
