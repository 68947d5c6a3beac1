package sigv4

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	signer "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	signTime = time.Date(2026, 11, 22, 0, 30, 0, 0, time.UTC)
	creds    = aws.Credentials{AccessKeyID: "AKIAEXAMPLEEXAMPLE01", SecretAccessKey: "s3cr3t/Key+EXAMPLE"}
	tmpCreds = aws.Credentials{AccessKeyID: "ASIAEXAMPLEEXAMPLE01", SecretAccessKey: "tmpSecret", SessionToken: "FwoGZXIvYXdzEXAMPLE//token=="}
)

// received is a request as the server saw it.
type received struct {
	r    *http.Request
	body []byte
}

// capture starts a server that hands every request it receives to the test,
// so the verifier sees exactly what net/http makes of the wire bytes.
func capture(t *testing.T) (*httptest.Server, <-chan received) {
	t.Helper()
	ch := make(chan received, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ch <- received{r.Clone(context.Background()), body}
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func send(t *testing.T, srv *httptest.Server, ch <-chan received, req *http.Request) received {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case got := <-ch:
		return got
	default:
		t.Fatalf("server got no request (status %s)", resp.Status)
	}
	return received{}
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// checkErr fails unless err is nil (want 0) or a *Error of kind want whose
// message contains msg.
func checkErr(t *testing.T, err error, want Kind, msg string) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error of kind %v, got %v", want, err)
	}
	if e.Kind != want || !strings.Contains(e.Msg, msg) {
		t.Fatalf("got %v %q, want %v containing %q", e.Kind, e.Msg, want, msg)
	}
}

func setBody(r *http.Request, body string) {
	r.Body = io.NopCloser(strings.NewReader(body))
	r.ContentLength = int64(len(body))
}

func TestVerifySDKSigned(t *testing.T) {
	const (
		iamBody  = "Action=ListUsers&Version=2010-05-08"
		stsBody  = "Action=GetCallerIdentity&Version=2011-06-15"
		orgsBody = `{"MaxResults":20}`
		form     = "application/x-www-form-urlencoded"
	)
	iamHeaders := map[string]string{
		"Content-Type":          form,
		"Amz-Sdk-Invocation-Id": "5b7d0c2e-0000-4000-8000-000000000001",
		"Amz-Sdk-Request":       "attempt=1;  max=3", // runs of spaces are collapsed when signing
	}
	orgsHeaders := map[string]string{
		"Content-Type": "application/x-amz-json-1.1",
		"X-Amz-Target": "AWSOrganizationsV20161128.ListAccounts",
	}
	tests := []struct {
		name      string
		service   string
		path      string // appended to the server URL; "" means "/"
		body      string
		headers   map[string]string
		creds     aws.Credentials
		payload   string              // payload hash given to the signer; "" means SHA-256 of body
		afterSign func(*http.Request) // changes made on the wire after signing
		onServer  func(*http.Request) // changes to the request as received
		secret    string              // secret the server verifies with; "" means creds'
		now       time.Duration       // server clock minus signing time
		bodyFor   func([]byte) []byte // body handed to Verify; nil means as received
		wantKind  Kind
		wantMsg   string
		wantToken string
	}{
		{name: "iam form", service: "iam", body: iamBody, headers: iamHeaders, creds: creds},
		{name: "sts with session token", service: "sts", body: stsBody, headers: map[string]string{"Content-Type": form}, creds: tmpCreds, wantToken: tmpCreds.SessionToken},
		{name: "organizations json", service: "organizations", body: orgsBody, headers: orgsHeaders, creds: creds},
		{name: "empty body", service: "iam", body: "", headers: map[string]string{"Content-Type": form}, creds: creds},
		{name: "path and query", service: "securityhub", path: "/findings/a b;c%2Fd/import?z=1&b=two+words&a=2&a=1&e=", body: "{}", headers: map[string]string{"Content-Type": "application/json"}, creds: creds},
		{name: "unsigned extra header", service: "iam", body: iamBody, headers: iamHeaders, creds: creds,
			afterSign: func(r *http.Request) {
				r.Header.Set("X-Forwarded-For", "10.0.0.1")
				r.Header.Set("User-Agent", "other")
			}},
		{name: "content-length only in ContentLength", service: "iam", body: iamBody, headers: iamHeaders, creds: creds,
			onServer: func(r *http.Request) { r.Header.Del("Content-Length") }},
		{name: "skew +14 min", service: "iam", body: iamBody, headers: iamHeaders, creds: creds, now: 14 * time.Minute},
		{name: "skew exactly 15 min", service: "iam", body: iamBody, headers: iamHeaders, creds: creds, now: 15 * time.Minute},
		{name: "skew -15 min", service: "iam", body: iamBody, headers: iamHeaders, creds: creds, now: -15 * time.Minute},
		{name: "content sha256 header", service: "iam", body: iamBody, creds: creds,
			headers: map[string]string{"Content-Type": form, "X-Amz-Content-Sha256": sum([]byte(iamBody))}},
		{name: "unsigned payload header ignores body", service: "iam", body: iamBody, creds: creds, payload: unsignedPayload,
			headers:   map[string]string{"Content-Type": form, "X-Amz-Content-Sha256": unsignedPayload},
			afterSign: func(r *http.Request) { setBody(r, "Action=ListUsers&Version=2010-05-09") }},

		{name: "tampered body", service: "iam", body: iamBody, headers: iamHeaders, creds: creds,
			afterSign: func(r *http.Request) { setBody(r, "Action=ListRoles&Version=2010-05-08") },
			wantKind:  Mismatch, wantMsg: MismatchMsg},
		{name: "body handed to Verify differs", service: "organizations", body: orgsBody, headers: orgsHeaders, creds: creds,
			bodyFor:  func([]byte) []byte { return []byte(`{"MaxResults":21}`) },
			wantKind: Mismatch, wantMsg: MismatchMsg},
		{name: "tampered signed header", service: "organizations", body: orgsBody, headers: orgsHeaders, creds: creds,
			afterSign: func(r *http.Request) { r.Header.Set("X-Amz-Target", "AWSOrganizationsV20161128.DeleteOrganization") },
			wantKind:  Mismatch, wantMsg: MismatchMsg},
		{name: "tampered session token", service: "sts", body: stsBody, headers: map[string]string{"Content-Type": form}, creds: tmpCreds,
			afterSign: func(r *http.Request) { r.Header.Set("X-Amz-Security-Token", "other") },
			wantKind:  Mismatch, wantMsg: MismatchMsg, wantToken: "other"},
		{name: "tampered path", service: "securityhub", path: "/findings/import", body: "{}", headers: map[string]string{"Content-Type": "application/json"}, creds: creds,
			afterSign: func(r *http.Request) { r.URL.Path = "/findings/imporT" },
			wantKind:  Mismatch, wantMsg: MismatchMsg},
		{name: "tampered query", service: "iam", path: "/?a=1", body: iamBody, headers: iamHeaders, creds: creds,
			afterSign: func(r *http.Request) { r.URL.RawQuery = "a=2" },
			wantKind:  Mismatch, wantMsg: MismatchMsg},
		{name: "tampered host", service: "iam", body: iamBody, headers: iamHeaders, creds: creds,
			onServer: func(r *http.Request) { r.Host = "iam.amazonaws.com" },
			wantKind: Mismatch, wantMsg: MismatchMsg},
		{name: "wrong secret", service: "iam", body: iamBody, headers: iamHeaders, creds: creds, secret: "not-the-secret",
			wantKind: Mismatch, wantMsg: MismatchMsg},
		{name: "wrong scope date", service: "iam", body: iamBody, headers: iamHeaders, creds: creds,
			afterSign: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261122/", "/20261121/", 1))
			},
			wantKind: Mismatch, wantMsg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261121' != '20261122', from '20261122T003000Z'."},
		{name: "scope region changed", service: "iam", body: iamBody, headers: iamHeaders, creds: creds,
			afterSign: func(r *http.Request) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", "/eu-west-1/", 1))
			},
			wantKind: Mismatch, wantMsg: MismatchMsg},
		{name: "skew +16 min", service: "iam", body: iamBody, headers: iamHeaders, creds: creds, now: 16 * time.Minute,
			wantKind: Expired, wantMsg: "Signature expired: 20261122T003000Z is now earlier than 20261122T003100Z (20261122T004600Z - 15 min.)"},
		{name: "skew -16 min", service: "iam", body: iamBody, headers: iamHeaders, creds: creds, now: -16 * time.Minute,
			wantKind: Expired, wantMsg: "Signature not yet current: 20261122T003000Z is still later than 20261122T002900Z (20261122T001400Z + 15 min.)"},
		{name: "missing signed header", service: "iam", body: iamBody, headers: iamHeaders, creds: creds,
			afterSign: func(r *http.Request) { r.Header.Del("Amz-Sdk-Invocation-Id") },
			wantKind:  Mismatch, wantMsg: MismatchMsg},
		{name: "content sha256 header disagrees with body", service: "iam", body: iamBody, creds: creds,
			headers:   map[string]string{"Content-Type": form, "X-Amz-Content-Sha256": sum([]byte(iamBody))},
			afterSign: func(r *http.Request) { setBody(r, "Action=ListRoles&Version=2010-05-08") },
			wantKind:  Mismatch, wantMsg: "x-amz-content-sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ch := capture(t)
			path := tt.path
			if path == "" {
				path = "/"
			}
			req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			payload := tt.payload
			if payload == "" {
				payload = sum([]byte(tt.body))
			}
			if err := signer.NewSigner().SignHTTP(context.Background(), tt.creds, req, payload, tt.service, "us-east-1", signTime); err != nil {
				t.Fatal(err)
			}
			if tt.afterSign != nil {
				tt.afterSign(req)
			}
			got := send(t, srv, ch, req)
			if tt.onServer != nil {
				tt.onServer(got.r)
			}

			a, err := Parse(got.r)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if a.AccessKeyID != tt.creds.AccessKeyID || a.Service != tt.service || a.SessionToken != tt.wantToken || a.Presigned {
				t.Errorf("Parse = %+v", a)
			}
			secret := tt.secret
			if secret == "" {
				secret = tt.creds.SecretAccessKey
			}
			body := got.body
			if tt.bodyFor != nil {
				body = tt.bodyFor(body)
			}
			checkErr(t, a.Verify(got.r, body, secret, signTime.Add(tt.now)), tt.wantKind, tt.wantMsg)
		})
	}
}

func TestVerifyPresigned(t *testing.T) {
	const target = "/?Action=GetCallerIdentity&Version=2011-06-15"
	tests := []struct {
		name      string
		creds     aws.Credentials
		expires   string // X-Amz-Expires; "" for none
		payload   string
		header    http.Header // sent with the request besides the signed headers
		secret    string      // secret the server verifies with; "" means creds'
		afterSign func(*http.Request)
		now       time.Duration
		wantKind  Kind
		wantMsg   string
	}{
		{name: "unsigned payload", creds: creds, expires: "60", payload: unsignedPayload, now: 30 * time.Second},
		{name: "empty-body hash, as the SDK STS presigner", creds: creds, expires: "60", payload: sum(nil), now: time.Minute},
		{name: "session token in query", creds: tmpCreds, expires: "900", payload: unsignedPayload},
		{name: "no expires, within 15 min", creds: creds, payload: unsignedPayload, now: 14 * time.Minute},
		{name: "long expires outlives skew window", creds: creds, expires: "604800", payload: unsignedPayload, now: 6 * 24 * time.Hour},
		{name: "content sha256 header", creds: creds, payload: sum(nil), header: http.Header{"X-Amz-Content-Sha256": {sum(nil)}}},
		{name: "expired", creds: creds, expires: "60", payload: unsignedPayload, now: 61 * time.Second,
			wantKind: Expired, wantMsg: "Request has expired"},
		{name: "no expires, after 15 min", creds: creds, payload: unsignedPayload, now: 16 * time.Minute,
			wantKind: Expired, wantMsg: "Signature expired"},
		{name: "from the future", creds: creds, expires: "60", payload: unsignedPayload, now: -16 * time.Minute,
			wantKind: Expired, wantMsg: "Signature not yet current"},
		{name: "other payload hash", creds: creds, expires: "60", payload: sum([]byte("x")),
			wantKind: Mismatch, wantMsg: MismatchMsg},
		{name: "tampered query", creds: creds, expires: "60", payload: unsignedPayload,
			afterSign: func(r *http.Request) {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "GetCallerIdentity", "GetSessionToken", 1)
			},
			wantKind: Mismatch, wantMsg: MismatchMsg},
		{name: "extended expiry", creds: creds, expires: "60", payload: unsignedPayload,
			afterSign: func(r *http.Request) {
				r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Expires=60", "X-Amz-Expires=600", 1)
			},
			now: 5 * time.Minute, wantKind: Mismatch, wantMsg: MismatchMsg},
		{name: "wrong secret", creds: creds, secret: "x", expires: "60", payload: unsignedPayload,
			wantKind: Mismatch, wantMsg: MismatchMsg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ch := capture(t)
			u := srv.URL + target
			if tt.expires != "" {
				u += "&X-Amz-Expires=" + tt.expires
			}
			req, err := http.NewRequest(http.MethodGet, u, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			uri, signed, err := signer.NewSigner().PresignHTTP(context.Background(), tt.creds, req, tt.payload, "sts", "us-east-1", signTime)
			if err != nil {
				t.Fatal(err)
			}
			req, err = http.NewRequest(http.MethodGet, uri, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range signed {
				if k != "Host" {
					req.Header[k] = v
				}
			}
			if tt.afterSign != nil {
				tt.afterSign(req)
			}
			got := send(t, srv, ch, req)

			a, err := Parse(got.r)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !a.Presigned || a.Service != "sts" || a.SessionToken != tt.creds.SessionToken {
				t.Errorf("Parse = %+v", a)
			}
			secret := tt.secret
			if secret == "" {
				secret = tt.creds.SecretAccessKey
			}
			checkErr(t, a.Verify(got.r, got.body, secret, signTime.Add(tt.now)), tt.wantKind, tt.wantMsg)
		})
	}
}

// TestDocumentedVectors checks signatures published by AWS, so a
// misreading shared by this package and the SDK would still be caught.
func TestDocumentedVectors(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	tests := []struct {
		name    string
		url     string
		headers map[string]string
		auth    string
	}{
		{
			// IAM User Guide, "Create a signed AWS API request" example.
			name:    "iam ListUsers",
			url:     "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
			headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "X-Amz-Date": "20150830T123600Z"},
			auth:    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
		},
		{
			// SigV4 test suite, get-vanilla.
			name:    "get-vanilla",
			url:     "https://example.amazonaws.com/",
			headers: map[string]string{"X-Amz-Date": "20150830T123600Z"},
			auth:    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
		},
	}
	now := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.url, nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			r.Header.Set("Authorization", tt.auth)
			a, err := Parse(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Verify(r, nil, secret, now); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// The same request must fail with any other secret or body.
			checkErr(t, a.Verify(r, nil, secret+"x", now), Mismatch, MismatchMsg)
			checkErr(t, a.Verify(r, []byte("x"), secret, now), Mismatch, MismatchMsg)
		})
	}
}

func TestParse(t *testing.T) {
	const (
		date = "20261122T003000Z"
		cred = "Credential=AKID/20261122/eu-west-1/iam/aws4_request"
		sig  = "Signature=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	)
	good := "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=content-type;host;x-amz-date, " + sig
	tests := []struct {
		name     string
		url      string
		header   map[string]string
		want     *Auth
		wantErr  error
		wantKind Kind
		wantMsg  string
	}{
		{name: "no auth", header: map[string]string{"X-Amz-Date": date}, wantErr: ErrNoAuth},
		{name: "header", header: map[string]string{"Authorization": good, "X-Amz-Date": date, "X-Amz-Security-Token": "tok"},
			want: &Auth{AccessKeyID: "AKID", Date: signTime, ScopeDate: "20261122", Region: "eu-west-1", Service: "iam",
				SignedHeaders: []string{"content-type", "host", "x-amz-date"}, Signature: sig[len("Signature="):], SessionToken: "tok"}},
		{name: "commas without blanks", header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 " + cred + ",SignedHeaders=host," + sig, "X-Amz-Date": date},
			want: &Auth{AccessKeyID: "AKID", Date: signTime, ScopeDate: "20261122", Region: "eu-west-1", Service: "iam",
				SignedHeaders: []string{"host"}, Signature: sig[len("Signature="):]}},
		{name: "date header fallback", header: map[string]string{"Authorization": good, "Date": "Sun, 22 Nov 2026 00:30:00 GMT"},
			want: &Auth{AccessKeyID: "AKID", Date: signTime, ScopeDate: "20261122", Region: "eu-west-1", Service: "iam",
				SignedHeaders: []string{"content-type", "host", "x-amz-date"}, Signature: sig[len("Signature="):]}},
		{name: "presigned", url: "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=" + date +
			"&X-Amz-SignedHeaders=host&X-Amz-Signature=abc&X-Amz-Security-Token=t%2Bk&X-Amz-Expires=60",
			want: &Auth{AccessKeyID: "AKID", Date: signTime, ScopeDate: "20261122", Region: "us-east-1", Service: "sts",
				SignedHeaders: []string{"host"}, Signature: "abc", SessionToken: "t+k", Presigned: true}},

		{name: "missing signature", header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=host", "X-Amz-Date": date},
			wantKind: Incomplete, wantMsg: "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKID/"},
		{name: "empty credential", header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=, SignedHeaders=host, " + sig, "X-Amz-Date": date},
			wantKind: Incomplete, wantMsg: "Authorization header requires 'Credential' parameter. Authorization="},
		{name: "missing date", header: map[string]string{"Authorization": good},
			wantKind: Incomplete, wantMsg: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization="},
		{name: "bearer token", header: map[string]string{"Authorization": "Bearer eyJhbGciOi"},
			wantKind: Incomplete, wantMsg: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=Bearer eyJhbGciOi"},
		{name: "blank after equals", header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential= AKID/20261122/eu-west-1/iam/aws4_request, SignedHeaders=host, " + sig, "X-Amz-Date": date},
			wantKind: Incomplete, wantMsg: "'AKID/20261122/eu-west-1/iam/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential= AKID/"},
		{name: "other algorithm", header: map[string]string{"Authorization": "AWS4-HMAC-SHA512 " + cred + ", SignedHeaders=host, " + sig, "X-Amz-Date": date},
			wantKind: Incomplete, wantMsg: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'"},
		{name: "short credential", header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20261122/iam/aws4_request, SignedHeaders=host, " + sig, "X-Amz-Date": date},
			wantKind: Incomplete, wantMsg: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKID/20261122/iam/aws4_request'"},
		{name: "bad terminator", header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/iam/aws5_request, SignedHeaders=host, " + sig, "X-Amz-Date": date},
			wantKind: Incomplete, wantMsg: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{name: "host not signed", header: map[string]string{"Authorization": "AWS4-HMAC-SHA256 " + cred + ", SignedHeaders=content-type;x-amz-date, " + sig, "X-Amz-Date": date},
			wantKind: Incomplete, wantMsg: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{name: "bad x-amz-date", header: map[string]string{"Authorization": good, "X-Amz-Date": "2026-11-22T00:30:00Z"},
			wantKind: Incomplete, wantMsg: "Date must be in ISO-8601 'basic format'. Got '2026-11-22T00:30:00Z'."},
		{name: "header and query auth", url: "/?X-Amz-Signature=abc", header: map[string]string{"Authorization": good, "X-Amz-Date": date},
			wantKind: Incomplete, wantMsg: "Only one auth mechanism allowed"},
		{name: "presigned without signature", url: "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=" + date + "&X-Amz-SignedHeaders=host",
			wantKind: Incomplete, wantMsg: "AWS query-string parameters must include 'X-Amz-Signature'. Re-examine the query-string parameters."},
		{name: "presigned expires too long", url: "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=" + date + "&X-Amz-SignedHeaders=host&X-Amz-Signature=abc&X-Amz-Expires=604801",
			wantKind: Incomplete, wantMsg: "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
		{name: "presigned expires not a number", url: "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=" + date + "&X-Amz-SignedHeaders=host&X-Amz-Signature=abc&X-Amz-Expires=1h",
			wantKind: Incomplete, wantMsg: "X-Amz-Expires should be a number"},
		{name: "presigned expires zero", url: "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=" + date + "&X-Amz-SignedHeaders=host&X-Amz-Signature=abc&X-Amz-Expires=0",
			wantKind: Incomplete, wantMsg: "X-Amz-Expires must be at least 1 second"},
		{name: "presigned other algorithm", url: "/?X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256&X-Amz-Credential=AKID%2F20261122%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=" + date + "&X-Amz-SignedHeaders=host&X-Amz-Signature=abc",
			wantKind: Incomplete, wantMsg: "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.url
			if u == "" {
				u = "/"
			}
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:5077"+u, nil)
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			a, err := Parse(r)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
			case tt.wantKind != 0:
				checkErr(t, err, tt.wantKind, tt.wantMsg)
			default:
				if err != nil {
					t.Fatal(err)
				}
				if d := cmp.Diff(tt.want, a, cmpopts.IgnoreUnexported(Auth{})); d != "" {
					t.Errorf("Parse mismatch (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestCanonicalHelpers(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"a  b   c", "a b c"},
		{"  lead and trail  ", "lead and trail"},
		{"single", "single"},
		{"", ""},
	} {
		if got := trimAll(tt.in); got != tt.want {
			t.Errorf("trimAll(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in    string
		slash bool
		want  string
	}{
		{"/a b/c%2F", false, "/a%20b/c%252F"},
		{"a/b~_-.", true, "a%2Fb~_-."},
		{"é+=", true, "%C3%A9%2B%3D"},
	} {
		if got := uriEncode(tt.in, tt.slash); got != tt.want {
			t.Errorf("uriEncode(%q, %v) = %q, want %q", tt.in, tt.slash, got, tt.want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/?b=2&a=2&a=1&a%2Fb=x&c=a+b&X-Amz-Signature=s", nil)
	if got, want := canonicalQuery(r, true), "a=1&a=2&a%2Fb=x&b=2&c=a%20b"; got != want {
		t.Errorf("canonicalQuery = %q, want %q", got, want)
	}
	if got := canonicalQuery(r, false); !strings.Contains(got, "X-Amz-Signature=s") {
		t.Errorf("canonicalQuery without presigning dropped X-Amz-Signature: %q", got)
	}
}

// A request the SDK signed, checked against bodies that are not the one it
// signed, must always fail; and no parse or verify may panic.
func FuzzVerify(f *testing.F) {
	const body = "Action=ListUsers&Version=2010-05-08"
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:5077/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := signer.NewSigner().SignHTTP(context.Background(), creds, req, sum([]byte(body)), "iam", "us-east-1", signTime); err != nil {
		f.Fatal(err)
	}
	a, err := Parse(req)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(body))
	f.Add([]byte(""))
	f.Add([]byte("Action=ListUsers&Version=2010-05-09"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := a.Verify(req, b, creds.SecretAccessKey, signTime)
		if ok := bytes.Equal(b, []byte(body)); ok != (err == nil) {
			t.Fatalf("body %q: Verify = %v", b, err)
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20261122T003000Z", "")
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request,SignedHeaders=;;host;Content-Length;transfer-encoding,Signature=", "20261122T003000Z", "a=1&a=%zz;x")
	f.Add("Bearer x", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256")
	f.Add("", "99999999T999999Z", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a/b/c/d/aws4_request&X-Amz-Date=20261122T003000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=x&X-Amz-Expires=9")
	f.Fuzz(func(t *testing.T, authz, amzDate, rawQuery string) {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:5077/", strings.NewReader("{}"))
		r.URL.RawQuery = rawQuery
		r.Header["Authorization"] = []string{authz}
		r.Header["X-Amz-Date"] = []string{amzDate}
		a, err := Parse(r)
		if err != nil {
			var e *Error
			if !errors.Is(err, ErrNoAuth) && (!errors.As(err, &e) || e.Kind != Incomplete) {
				t.Fatalf("Parse error %T %v is neither ErrNoAuth nor Incomplete", err, err)
			}
			return
		}
		// Nothing signed this request with the secret, so it cannot verify.
		err = a.Verify(r, []byte("{}"), "secret", a.Date)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Verify = %v, want *Error", err)
		}
	})
}
