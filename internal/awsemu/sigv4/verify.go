package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MismatchMsg is AWS's text for a signature that does not match.
const MismatchMsg = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

func mismatch(msg string) *Error { return &Error{Kind: Mismatch, Msg: msg} }

// Verify recomputes the signature over r and body with secret and compares in
// constant time. now is the server's real time, used for the ±15 minute skew
// check (and presigned X-Amz-Expires).
//
// body must be the exact bytes received. The payload hash is the SHA-256 of
// body unless an X-Amz-Content-Sha256 header says UNSIGNED-PAYLOAD or gives
// that same hash. A presigned request without the header may have been
// signed over UNSIGNED-PAYLOAD (botocore, and the rule for presigned URLs) or
// over the body's hash (the Go SDK's STS presigner); both are accepted.
func (a *Auth) Verify(r *http.Request, body []byte, secret string, now time.Time) error {
	amzDate := a.Date.UTC().Format(timeFormat)
	if day := a.Date.UTC().Format(dateFormat); a.ScopeDate != day {
		return mismatch(fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.ScopeDate, day, amzDate))
	}
	if err := a.checkTime(now.UTC()); err != nil {
		return err
	}
	hashes, err := payloadHashes(r, body, a.Presigned)
	if err != nil {
		return err
	}
	headers, ok := canonicalHeaders(r, a.SignedHeaders)
	if !ok {
		return mismatch(MismatchMsg) // a signed header is missing
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet // the net/http client's meaning of ""
	}
	prefix := strings.Join([]string{
		method,
		canonicalURI(r),
		canonicalQuery(r, a.Presigned),
		headers, // ends in "\n", so the join leaves the blank line AWS expects
		strings.Join(a.SignedHeaders, ";"),
	}, "\n") + "\n"
	scope := strings.Join([]string{a.ScopeDate, a.Region, a.Service, terminator}, "/")
	key := signingKey(secret, a.ScopeDate, a.Region, a.Service)
	for _, h := range hashes {
		stringToSign := algorithm + "\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(prefix+h))
		want := hex.EncodeToString(hmacSHA256(key, stringToSign))
		if hmac.Equal([]byte(want), []byte(a.Signature)) {
			return nil
		}
	}
	return mismatch(MismatchMsg)
}

// checkTime applies AWS's ±15 minute window. A presigned URL with
// X-Amz-Expires lives that long instead, but may still not be from the future.
func (a *Auth) checkTime(now time.Time) error {
	const layout = timeFormat
	date := a.Date.UTC()
	if date.After(now.Add(maxSkew)) {
		return &Error{Kind: Expired, Msg: fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			date.Format(layout), now.Add(maxSkew).Format(layout), now.Format(layout))}
	}
	if a.Presigned && a.expires > 0 {
		if now.After(date.Add(a.expires)) {
			return &Error{Kind: Expired, Msg: "Request has expired"}
		}
		return nil
	}
	if date.Before(now.Add(-maxSkew)) {
		return &Error{Kind: Expired, Msg: fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			date.Format(layout), now.Add(-maxSkew).Format(layout), now.Format(layout))}
	}
	return nil
}

// payloadHashes returns the payload hashes the signer may have used.
func payloadHashes(r *http.Request, body []byte, presigned bool) ([]string, error) {
	sum := hexSHA256(body)
	if v, ok := r.Header["X-Amz-Content-Sha256"]; ok && len(v) > 0 {
		// Sign over the value as sent, but only accept values that commit
		// to this body or explicitly to none; anything else would let the
		// body change under a valid signature.
		if v[0] == unsignedPayload || strings.EqualFold(v[0], sum) {
			return []string{v[0]}, nil
		}
		return nil, mismatch("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	if presigned {
		return []string{unsignedPayload, sum}, nil
	}
	return []string{sum}, nil
}

// canonicalHeaders builds "name:value\n" for each signed header, in the
// order listed. It reports false when a signed header is absent.
func canonicalHeaders(r *http.Request, names []string) (string, bool) {
	var b strings.Builder
	for _, name := range names {
		vals, ok := headerValues(r, name)
		if !ok {
			return "", false
		}
		for i, v := range vals {
			vals[i] = trimAll(v)
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.Join(vals, ","))
		b.WriteByte('\n')
	}
	return b.String(), true
}

// headerValues finds a header as the client sent it. net/http's server moves
// some headers out of r.Header, so those are read back from where it put them.
func headerValues(r *http.Request, name string) ([]string, bool) {
	switch name {
	case "host":
		host := r.Host
		if host == "" && r.URL != nil {
			host = r.URL.Host
		}
		return []string{host}, host != ""
	case "content-length":
		if v := r.Header.Values("Content-Length"); len(v) > 0 {
			return append([]string(nil), v...), true
		}
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}, true
		}
		return nil, false
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}, true
		}
	}
	if v, ok := r.Header[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return append([]string(nil), v...), true
	}
	// A request built by hand may hold keys that are not canonical; take
	// them in a fixed order so the result does not depend on map order.
	var keys []string
	for k := range r.Header {
		if strings.EqualFold(k, name) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var vals []string
	for _, k := range keys {
		vals = append(vals, r.Header[k]...)
	}
	return vals, len(keys) > 0
}

// trimAll trims the value and collapses runs of spaces into one, as the
// SigV4 canonical form requires.
func trimAll(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' && i > 0 && v[i-1] == ' ' {
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// canonicalURI encodes the path as sent once more, keeping the slashes: for
// every service but S3, AWS signs each segment URI-encoded twice.
func canonicalURI(r *http.Request) string {
	path := ""
	if r.URL != nil {
		path = r.URL.EscapedPath()
	}
	if path == "" {
		return "/"
	}
	return uriEncode(path, false)
}

// canonicalQuery encodes each name and value, then sorts the encoded pairs
// (AWS sorts after encoding). A presigned request's own signature is left out.
func canonicalQuery(r *http.Request, presigned bool) string {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range query(r) {
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		ek := uriEncode(k, true)
		for _, v := range vs {
			pairs = append(pairs, pair{ek, uriEncode(v, true)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, "&")
}

// uriEncode percent-encodes every byte outside RFC 3986's unreserved set,
// with upper-case hex; '/' is kept unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~', c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// signingKey derives the key for one day, region and service:
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, terminator)
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
