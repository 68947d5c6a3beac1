package awsemu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/awsemu/sigv4"
)

// maxBody bounds a request body; AWS's own limits for these APIs are smaller.
const maxBody = 1 << 20

// call is one request on its way through the sandbox.
type call struct {
	ctx     context.Context
	proto   int
	service string // iam, sts, organizations, secretsmanager
	op      string
	form    url.Values // Query protocol parameters
	body    []byte     // JSON protocol body
	reqID   string

	principal principal
	region    string     // from the signature scope
	key       *accessKey // the long-term key that signed, nil for sessions
	faults    faultOutcome
}

// principal is who signed a request.
type principal struct {
	account *account
	user    *user    // an IAM user, or nil
	session *session // an assumed role, or nil
	// neither: the account's root user
}

func (p principal) arn() string {
	switch {
	case p.session != nil:
		return "arn:aws:sts::" + p.account.id + ":assumed-role/" + p.session.role.name + "/" + p.session.name
	case p.user != nil:
		return p.account.userARN(p.user)
	default:
		return p.account.arnRoot()
	}
}

type handler func(s *Sandbox, c *call) (any, *apiError)

func (s *Sandbox) handlers(service string) map[string]handler {
	switch service {
	case "iam":
		return iamHandlers
	case "sts":
		return stsHandlers
	case "organizations":
		return orgHandlers
	case "secretsmanager":
		return secretsHandlers
	}
	return nil
}

// ServeHTTP answers one AWS API request.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, controlPrefix) {
		s.serveControl(w, r)
		return
	}
	c := &call{ctx: r.Context(), reqID: requestID()}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return // the client went away
	}
	if len(body) > maxBody {
		s.fail(w, c, errorf(413, "RequestEntityTooLarge", "Request body is too large"))
		return
	}
	c.body = body
	if e := s.route(r, c); e != nil {
		s.fail(w, c, e)
		return
	}
	if e := s.authenticate(r, c); e != nil {
		s.fail(w, c, e)
		return
	}
	h := s.handlers(c.service)[c.op]
	if h == nil {
		s.stats.record(CallKey{c.principal.account.id, c.service, c.op})
		s.fail(w, c, unknownOperation(c))
		return
	}
	s.stats.record(CallKey{c.actingAccount(), c.service, c.op})
	if e := s.applyFaults(c); e != nil {
		s.fail(w, c, e)
		return
	}
	result, e := h(s, c)
	if e != nil {
		s.fail(w, c, e)
		return
	}
	s.noteKeyUse(c)
	// Never log c.body or the result: they carry secret values.
	s.log.Debug("sandbox call", "service", c.service, "op", c.op, "account", c.principal.account.id, "request_id", c.reqID)
	if c.proto == protoJSON {
		writeJSONResult(w, c.reqID, result)
	} else {
		writeQueryResult(w, c.service, c.op, c.reqID, result)
	}
}

func (s *Sandbox) fail(w http.ResponseWriter, c *call, e *apiError) {
	s.log.Debug("sandbox error", "service", c.service, "op", c.op, "code", e.code, "status", e.status, "request_id", c.reqID)
	if c.proto == protoJSON {
		writeJSONError(w, c.reqID, e)
		return
	}
	writeQueryError(w, c.service, c.reqID, e)
}

// route decides the service and operation, as AWS's front end would: the
// X-Amz-Target header names a JSON operation; otherwise the form's Version
// names the Query service, falling back to the signature's scope.
func (s *Sandbox) route(r *http.Request, c *call) *apiError {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		c.proto = protoJSON
		prefix, op, _ := strings.Cut(target, ".")
		switch prefix {
		case "AWSOrganizationsV20161128":
			c.service, c.op = "organizations", op
		case "secretsmanager":
			c.service, c.op = "secretsmanager", op
		default:
			c.service = "organizations"
			return errorf(400, "UnknownOperationException", "Unknown operation %s", target)
		}
		return nil
	}
	c.proto = protoQuery
	form, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errorf(404, "MalformedQueryString", "%v", err)
	}
	if r.Method == http.MethodPost {
		ct := r.Header.Get("Content-Type")
		if ct != "" && !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
			return errorf(400, "InvalidAction", "Unsupported content type %s", ct)
		}
		bodyForm, err := url.ParseQuery(string(c.body))
		if err != nil {
			return errorf(404, "MalformedQueryString", "%v", err)
		}
		for k, v := range bodyForm {
			form[k] = append(form[k], v...)
		}
	}
	c.form = form
	switch form.Get("Version") {
	case "2010-05-08":
		c.service = "iam"
	case "2011-06-15":
		c.service = "sts"
	default:
		c.service = scopeService(r)
		if c.service != "iam" && c.service != "sts" {
			c.service = "iam"
			if form.Get("Version") == "" {
				return errorf(400, "MissingParameter", "The request must contain the parameter Version")
			}
			return errorf(400, "NoSuchVersion", "The requested version (%s) is not valid.", form.Get("Version"))
		}
	}
	c.op = form.Get("Action")
	if c.op == "" {
		return errorf(400, "MissingAction", "The request must contain the parameter Action")
	}
	return nil
}

func scopeService(r *http.Request) string {
	a, err := sigv4.Parse(r)
	if err != nil {
		return ""
	}
	return a.Service
}

func unknownOperation(c *call) *apiError {
	if c.proto == protoJSON {
		return errorf(400, "UnknownOperationException", "Unknown operation %s", c.op)
	}
	return errorf(400, "InvalidAction", "Could not find operation %s for version %s", c.op, c.form.Get("Version"))
}

// authenticate checks the SigV4 signature against the credentials the
// sandbox issued and sets the call's principal.
func (s *Sandbox) authenticate(r *http.Request, c *call) *apiError {
	json := c.proto == protoJSON
	auth, err := sigv4.Parse(r)
	if errors.Is(err, sigv4.ErrNoAuth) {
		if json {
			return errorf(400, "MissingAuthenticationTokenException", "Request is missing Authentication Token")
		}
		return errorf(403, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	if err != nil {
		if json {
			return errorf(400, "IncompleteSignatureException", "%s", err.Error())
		}
		return errorf(400, "IncompleteSignature", "%s", err.Error())
	}
	invalidToken := func() *apiError {
		if json {
			return errorf(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
		}
		return errorf(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	badSignature := func(msg string) *apiError {
		if json {
			return errorf(400, "InvalidSignatureException", "%s", msg)
		}
		return errorf(403, "SignatureDoesNotMatch", "%s", msg)
	}
	if auth.Service != c.service {
		return badSignature("Credential should be scoped to correct service: '" + c.service + "'. ")
	}

	var secret string
	s.mu.Lock()
	if k := s.keys[auth.AccessKeyID]; k != nil {
		if k.status != StatusActive || auth.SessionToken != "" {
			s.mu.Unlock()
			return invalidToken()
		}
		secret = k.secret
		c.key = k
		c.principal = principal{account: k.account, user: k.user}
	} else if sess := s.sessions[auth.AccessKeyID]; sess != nil {
		if auth.SessionToken != sess.token {
			s.mu.Unlock()
			return invalidToken()
		}
		if !s.clock.Now().Before(sess.expires) {
			s.mu.Unlock()
			if json {
				return errorf(400, "ExpiredTokenException", "The security token included in the request is expired")
			}
			return errorf(403, "ExpiredToken", "The security token included in the request is expired")
		}
		secret = sess.secret
		c.principal = principal{account: sess.account, session: sess}
	} else {
		s.mu.Unlock()
		return invalidToken()
	}
	s.mu.Unlock()

	c.region = auth.Region
	if s.opts.SkipSignatureCheck {
		return nil
	}
	if err := auth.Verify(r, c.body, secret, s.opts.Now()); err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) && se.Kind == sigv4.Incomplete {
			if json {
				return errorf(400, "IncompleteSignatureException", "%s", se.Msg)
			}
			return errorf(400, "IncompleteSignature", "%s", se.Msg)
		}
		return badSignature(err.Error())
	}
	return nil
}

// actingAccount is the account a call acts in: for AssumeRole, the role's.
func (c *call) actingAccount() string {
	if c.service == "sts" && c.op == "AssumeRole" {
		if id := roleARNAccount(c.form.Get("RoleArn")); id != "" {
			return id
		}
	}
	return c.principal.account.id
}

func (s *Sandbox) applyFaults(c *call) *apiError {
	out := s.faults.evaluate(c.service, c.op, c.actingAccount(), s.opts.Now())
	c.faults = out
	if err := out.wait(c.ctx); err != nil {
		return errorf(503, "ServiceUnavailable", "request cancelled")
	}
	switch {
	case out.deny:
		return accessDenied(c, c.service+":"+c.op, "*")
	case out.throttled:
		switch c.service {
		case "organizations":
			return &apiError{status: 400, code: "TooManyRequestsException",
				msg: "AWS Organizations can't complete your request because it received too many requests in a short period of time. Try again later."}
		case "secretsmanager":
			return errorf(400, "ThrottlingException", "Rate exceeded")
		}
		return errorf(400, "Throttling", "Rate exceeded")
	case out.fail:
		switch c.service {
		case "organizations":
			return errorf(500, "ServiceException", "AWS Organizations can't complete your request because of an internal service error. Try again later.")
		case "secretsmanager":
			return errorf(500, "InternalServiceError", "An error occurred on the server side.")
		case "sts":
			return errorf(500, "InternalFailure", "An internal error occurred. Try again.")
		}
		return errorf(500, "ServiceFailure", "Request processing has failed because of an unknown error, exception or failure.")
	}
	return nil
}

func accessDenied(c *call, action, resource string) *apiError {
	if c.service == "secretsmanager" {
		return errorf(400, "AccessDeniedException", "User: %s is not authorized to perform: %s on resource: %s", c.principal.arn(), action, resource)
	}
	if c.proto == protoJSON {
		return errorf(400, "AccessDeniedException", "You don't have permissions to access this resource.")
	}
	return errorf(403, "AccessDenied", "User: %s is not authorized to perform: %s on resource: %s", c.principal.arn(), action, resource)
}

// keyUseWindow is how long IAM waits before it records another use of a key:
// uses within 15 minutes of the recorded one are not recorded.
const keyUseWindow = 15 * time.Minute

func (s *Sandbox) noteKeyUse(c *call) {
	if c.key == nil {
		return
	}
	now := s.clock.Now().Truncate(time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	k := c.key
	if last := k.latestUse(); !last.IsZero() && now.Sub(last) < keyUseWindow && !now.Before(last) {
		return
	}
	use := keyUse{at: now, service: c.service, region: c.region}
	if use.region == "" {
		use.region = DefaultRegion
	}
	if s.lastUsedDelay <= 0 {
		k.used, k.pending = use, nil
		return
	}
	k.pending = append(k.pending, use)
	// A clock set back may record a use before a pending one: keep them in order.
	slices.SortStableFunc(k.pending, func(a, b keyUse) int { return a.at.Compare(b.at) })
	k.settle(now, s.lastUsedDelay)
}

// decodeJSON reads a JSON protocol body into v.
func decodeJSON(c *call, v any) *apiError {
	body := c.body
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(400, "SerializationException", "Start of structure or map found where not expected.")
	}
	return nil
}
