package awsemu_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/keywarden/keywarden/internal/awsemu"
)

// signedRequest returns a function making copies of one SigV4-signed IAM
// Query request, so that a benchmark measures the server, not the signer.
func signedRequest(b *testing.B, url string, k awsemu.Key, body string) func() *http.Request {
	b.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "iam", "us-east-1", time.Now()); err != nil {
		b.Fatal(err)
	}
	return func() *http.Request {
		r, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		r.Header = req.Header.Clone()
		return r
	}
}

// benchAccount makes an account with users, each with two keys, and
// returns the sandbox and the key of a user to sign with.
func benchAccount(b *testing.B, users int) (*awsemu.Sandbox, awsemu.Key) {
	sb := awsemu.New(awsemu.Options{Seed: 1})
	acct, _ := sb.AddAccount(awsemu.AccountSpec{ID: "100000000001"})
	var key awsemu.Key
	for i := range users {
		name := fmt.Sprintf("user-%04d", i)
		if err := sb.AddUser(awsemu.UserSpec{Account: acct, Name: name, Password: i%2 == 0}); err != nil {
			b.Fatal(err)
		}
		for range 2 {
			k, err := sb.AddAccessKey(awsemu.KeySpec{Account: acct, User: name, LastUsed: time.Now().Add(-time.Hour)})
			if err != nil {
				b.Fatal(err)
			}
			key = k
		}
	}
	return sb, key
}

// BenchmarkServer measures requests per second through a real HTTP server
// on loopback, with signature checks, as SDK clients would send them.
func BenchmarkServer(b *testing.B) {
	cases := []struct {
		name  string
		users int
		body  string
		setup string
	}{
		{"ListAccessKeys", 10, "Action=ListAccessKeys&UserName=user-0001&Version=2010-05-08", ""},
		{"GetCredentialReport/1000users", 1000, "Action=GetCredentialReport&Version=2010-05-08", "Action=GenerateCredentialReport&Version=2010-05-08"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			sb, key := benchAccount(b, tc.users)
			srv := httptest.NewServer(sb)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			if tc.setup != "" {
				resp, err := client.Do(signedRequest(b, srv.URL, key, tc.setup)())
				if err != nil || resp.StatusCode != 200 {
					b.Fatalf("setup: %v %v", err, resp)
				}
				resp.Body.Close()
			}
			next := signedRequest(b, srv.URL, key, tc.body)
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Do(next())
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// BenchmarkHandler measures the handler alone, without HTTP transport.
func BenchmarkHandler(b *testing.B) {
	sb, key := benchAccount(b, 10)
	next := signedRequest(b, "http://127.0.0.1/", key, "Action=ListAccessKeys&UserName=user-0001&Version=2010-05-08")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		r := next()
		r.Host = "127.0.0.1"
		sb.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
