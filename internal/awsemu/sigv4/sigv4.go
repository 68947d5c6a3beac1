// Package sigv4 verifies AWS Signature Version 4 (AWS4-HMAC-SHA256) on
// requests received by the emulator, as the server side of IAM, STS and the
// JSON services does.
//
// The contract is two steps, so that the caller can look up the secret in
// between: Parse reads what the request claims (access key, scope, signed
// headers, signature, session token) without any secret, and Auth.Verify
// recomputes the signature from the request as received and compares it in
// constant time. Both accept the Authorization header form and the presigned
// query-string form.
//
// The package is written from the AWS documentation only and must not import
// the AWS SDK: its tests sign with the SDK, so a bug shared by the two could
// not hide behind a passing test.
//
// What the caller still has to check itself: that the access key exists,
// that a.Service is the signing name of the service being called, the region
// if it cares (AWS signs IAM with us-east-1, the SDK against a custom
// endpoint with the client's region), and that a temporary key's
// SessionToken matches the one issued with it.
package sigv4

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	terminator      = "aws4_request"
	timeFormat      = "20060102T150405Z" // ISO 8601 basic format, as in X-Amz-Date
	dateFormat      = "20060102"
	maxSkew         = 15 * time.Minute
	maxExpires      = 604800 // seven days, the longest a presigned URL may live
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// Auth is what a request claims: parsed from the Authorization header
// (AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/iam/aws4_request,
// SignedHeaders=a;b;c, Signature=hex) or from the presigned query parameters
// (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders,
// X-Amz-Signature, X-Amz-Security-Token, X-Amz-Expires).
type Auth struct {
	AccessKeyID   string
	Date          time.Time // from X-Amz-Date (or the Date header as a fallback, per AWS)
	ScopeDate     string    // yyyymmdd
	Region        string
	Service       string
	SignedHeaders []string // lower case, in the order the signer listed them
	Signature     string
	SessionToken  string // X-Amz-Security-Token header or query param, "" if none
	Presigned     bool

	expires time.Duration // presigned X-Amz-Expires; 0 when absent
}

// ErrNoAuth is returned by Parse when the request carries no SigV4
// authentication at all (AWS: MissingAuthenticationToken).
var ErrNoAuth = errors.New("sigv4: request carries no authentication")

// Kind classifies a failed check, so the caller can pick the AWS error code.
type Kind int

const (
	// Incomplete: the authentication is malformed or lacks a part
	// (AWS: IncompleteSignature).
	Incomplete Kind = iota + 1
	// Mismatch: the signature, or something it covers, does not match
	// (AWS: SignatureDoesNotMatch for Query, InvalidSignatureException for JSON).
	Mismatch
	// Expired: the request time is more than 15 minutes from the server's
	// clock, or a presigned URL outlived X-Amz-Expires. AWS reports these
	// with the Mismatch codes too; the SDK corrects its clock on them.
	Expired
)

func (k Kind) String() string {
	switch k {
	case Incomplete:
		return "Incomplete"
	case Mismatch:
		return "Mismatch"
	case Expired:
		return "Expired"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Error is a failed check. Msg is AWS's wording, fit to send to the client;
// it never contains a secret.
type Error struct {
	Kind Kind
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func incomplete(format string, args ...any) *Error {
	return &Error{Kind: Incomplete, Msg: fmt.Sprintf(format, args...)}
}

// Parse reads the claimed authentication from r. It returns ErrNoAuth when the
// request carries no SigV4 authentication at all, and a *Error (Kind
// Incomplete) when it is malformed.
func Parse(r *http.Request) (*Auth, error) {
	q := query(r)
	authz := r.Header.Get("Authorization")
	presigned := q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Credential") || q.Has("X-Amz-Signature")
	switch {
	case authz != "" && presigned:
		return nil, incomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified")
	case authz != "":
		return parseHeader(r, authz)
	case presigned:
		return parseQuery(q)
	}
	return nil, ErrNoAuth
}

func query(r *http.Request) url.Values {
	if r.URL == nil {
		return url.Values{}
	}
	return r.URL.Query()
}

func parseHeader(r *http.Request, authz string) (*Auth, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(authz), " ")
	params := map[string]string{}
	switch {
	case alg == algorithm:
		// AWS splits on commas and blanks alike, so "Credential= AKID/..."
		// leaves a token without '=' and is rejected as such.
		sep := func(c rune) bool { return c == ',' || c == ' ' || c == '\t' }
		for _, tok := range strings.FieldsFunc(rest, sep) {
			k, v, ok := strings.Cut(tok, "=")
			if !ok {
				return nil, incomplete("'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", tok, authz)
			}
			params[k] = v
		}
	case strings.HasPrefix(alg, "AWS4-"):
		return nil, incomplete("Unsupported AWS 'algorithm': '%s'", alg)
	}
	// Any other scheme (SigV2 "AWS AKID:sig", a bearer token) has none of the
	// parameters, and AWS answers with the list of what is missing.

	var missing strings.Builder
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			fmt.Fprintf(&missing, "Authorization header requires '%s' parameter. ", k)
		}
	}
	date, hasDate, err := headerDate(r)
	if err != nil {
		return nil, err
	}
	if !hasDate {
		missing.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
	}
	if missing.Len() > 0 {
		return nil, incomplete("%sAuthorization=%s", missing.String(), authz)
	}

	a, err := newAuth(params["Credential"], params["SignedHeaders"], params["Signature"], date)
	if err != nil {
		return nil, err
	}
	a.SessionToken = r.Header.Get("X-Amz-Security-Token")
	if a.SessionToken == "" {
		a.SessionToken = query(r).Get("X-Amz-Security-Token")
	}
	return a, nil
}

// headerDate returns the request time from X-Amz-Date or, failing that, the
// Date header, which is what AWS falls back to.
func headerDate(r *http.Request) (time.Time, bool, error) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := parseAmzDate(v)
		return t, true, err
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return time.Time{}, true, badDate(v)
		}
		return t.UTC(), true, nil
	}
	return time.Time{}, false, nil
}

func parseAmzDate(v string) (time.Time, error) {
	t, err := time.Parse(timeFormat, v)
	// The string to sign is rebuilt from the parsed time, so only accept
	// values that format back to exactly what the client signed.
	if err != nil || t.Format(timeFormat) != v {
		return time.Time{}, badDate(v)
	}
	return t, nil
}

func badDate(v string) *Error {
	return incomplete("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", v)
}

func parseQuery(q url.Values) (*Auth, error) {
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders"} {
		if q.Get(k) == "" {
			return nil, incomplete("AWS query-string parameters must include '%s'. Re-examine the query-string parameters.", k)
		}
	}
	if alg := q.Get("X-Amz-Algorithm"); alg != algorithm {
		return nil, incomplete("Unsupported AWS 'algorithm': '%s'", alg)
	}
	date, err := parseAmzDate(q.Get("X-Amz-Date"))
	if err != nil {
		return nil, err
	}
	a, err := newAuth(q.Get("X-Amz-Credential"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature"), date)
	if err != nil {
		return nil, err
	}
	a.Presigned = true
	a.SessionToken = q.Get("X-Amz-Security-Token")
	if v := q.Get("X-Amz-Expires"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
			return nil, incomplete("X-Amz-Expires should be a number")
		case n < 1:
			return nil, incomplete("X-Amz-Expires must be at least 1 second")
		case n > maxExpires:
			return nil, incomplete("X-Amz-Expires must be less than a week (in seconds) that is %d", maxExpires)
		}
		a.expires = time.Duration(n) * time.Second
	}
	return a, nil
}

// newAuth checks the parts both forms share. The scope date is compared with
// the request date in Verify, because AWS reports that as a signature
// mismatch rather than as a malformed request.
func newAuth(credential, signedHeaders, signature string, date time.Time) (*Auth, error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 {
		return nil, incomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", credential)
	}
	if parts[4] != terminator {
		return nil, incomplete("Credential should be scoped with a valid terminator: '%s', not '%s'.", terminator, parts[4])
	}
	if parts[2] == "" {
		return nil, incomplete("Credential should be scoped to a valid region, not ''.")
	}
	names := strings.Split(strings.ToLower(signedHeaders), ";")
	hasHost := false
	for _, n := range names {
		hasHost = hasHost || n == "host"
	}
	// Without host a signature could be replayed against another endpoint.
	if !hasHost {
		return nil, incomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return &Auth{
		AccessKeyID:   parts[0],
		Date:          date,
		ScopeDate:     parts[1],
		Region:        parts[2],
		Service:       parts[3],
		SignedHeaders: names,
		Signature:     signature,
	}, nil
}
