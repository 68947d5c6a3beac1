package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ok fails t when err is not nil.
func ok(t *testing.T, err error, op string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

// wantAPIError checks that err is an AWS API error with the given code and,
// when status is not zero, the given HTTP status.
func wantAPIError(t *testing.T, err error, op, code string, status int) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: succeeded, want %s (HTTP %d)", op, code, status)
		return
	}
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("%s: error %v is not an AWS API error, want %s", op, err, code)
		return
	}
	if apiErr.ErrorCode() != code {
		t.Errorf("%s: error code %q (%v), want %q", op, apiErr.ErrorCode(), err, code)
	}
	if status != 0 {
		if got := httpStatus(err); got != status {
			t.Errorf("%s: HTTP status %d, want %d (%s)", op, got, status, code)
		}
	}
}

// httpStatus returns the HTTP status of a failed call, 0 if there was none.
func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// wantTyped checks that err is (wraps) a *E, e.g. *types.NoSuchEntityException.
func wantTyped[E error](t *testing.T, err error, op string) E {
	t.Helper()
	var target E
	if !errors.As(err, &target) {
		t.Errorf("%s: error %v (%T), want %T", op, err, err, target)
	}
	return target
}

// userNames lists every user under pathPrefix through the SDK paginator.
func userNames(t *testing.T, c *iam.Client, pathPrefix string) []string {
	t.Helper()
	in := &iam.ListUsersInput{}
	if pathPrefix != "" {
		in.PathPrefix = aws.String(pathPrefix)
	}
	var names []string
	p := iam.NewListUsersPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		ok(t, err, "ListUsers")
		for _, u := range page.Users {
			names = append(names, aws.ToString(u.UserName))
		}
	}
	slices.Sort(names)
	return names
}

// rawResponse is an HTTP response read whole.
type rawResponse struct {
	status int
	header http.Header
	body   string
}

// rawQuery sends a Query-protocol request (IAM or STS), signed with creds
// for service, outside the SDK, so that a check can see the exact response
// or send what the SDK would not.
func (tgt *target) rawQuery(t *testing.T, creds aws.Credentials, service string, form url.Values) rawResponse {
	t.Helper()
	return tgt.rawSigned(t, creds, service, "application/x-www-form-urlencoded", "", form.Encode(), nil)
}

// rawSigned sends a signed POST / and returns the response; edit, if not
// nil, may change the request after signing.
func (tgt *target) rawSigned(t *testing.T, creds aws.Credentials, service, contentType, amzTarget, body string, edit func(*http.Request)) rawResponse {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tgt.url+"/", strings.NewReader(body))
	ok(t, err, "build request")
	req.Header.Set("Content-Type", contentType)
	if amzTarget != "" {
		req.Header.Set("X-Amz-Target", amzTarget)
	}
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now())
	ok(t, err, "sign request")
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	ok(t, err, "send request")
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	ok(t, err, "read response")
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// iamForm is the form of an IAM Query call.
func iamForm(action string, kv ...string) url.Values {
	v := url.Values{"Action": {action}, "Version": {"2010-05-08"}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}
