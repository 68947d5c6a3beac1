package awsemu

import (
	"regexp"
	"strconv"
	"time"
)

// STS over the Query protocol (version 2011-06-15).

var stsHandlers = map[string]handler{
	"GetCallerIdentity": (*Sandbox).getCallerIdentity,
	"AssumeRole":        (*Sandbox).assumeRole,
}

var (
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	roleARNPattern     = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role(/(?:[\x21-\x7E]*/)?)?([\w+=,.@-]+)$`)
)

// roleARNAccount returns the account of a role ARN, or "".
func roleARNAccount(arn string) string {
	if m := roleARNPattern.FindStringSubmatch(arn); m != nil {
		return m[1]
	}
	return ""
}

func (s *Sandbox) getCallerIdentity(c *call) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := c.principal
	userID := p.account.id
	switch {
	case p.session != nil:
		userID = p.session.role.id + ":" + p.session.name
	case p.user != nil:
		userID = p.user.id
	}
	return struct {
		UserID  string `xml:"UserId"`
		Account string `xml:"Account"`
		Arn     string `xml:"Arn"`
	}{userID, p.account.id, p.arn()}, nil
}

// sessionSweepAt is the number of sessions above which expired ones are dropped.
const sessionSweepAt = 10000

func (s *Sandbox) assumeRole(c *call) (any, *apiError) {
	var v validator
	roleARN, _ := v.str(c, "RoleArn", "roleArn", true, 20, 2048, nil, "")
	sessionName, _ := v.str(c, "RoleSessionName", "roleSessionName", true, 2, 64, sessionNamePattern, `[\w+=,.@-]*`)
	externalID, hasExternalID := v.str(c, "ExternalId", "externalId", false, 2, 1224, externalIDPattern, `[\w+=,.@:\/-]*`)
	duration := time.Hour
	if d, ok := c.form["DurationSeconds"]; ok {
		n, err := strconv.Atoi(d[0])
		switch {
		case err != nil:
			v.add(&d[0], "durationSeconds", "Member must be an integer")
		case n < 900:
			v.add(&d[0], "durationSeconds", "Member must have value greater than or equal to 900")
		case n > 43200:
			v.add(&d[0], "durationSeconds", "Member must have value less than or equal to 43200")
		default:
			duration = time.Duration(n) * time.Second
		}
	}
	if e := v.err(); e != nil {
		return nil, e
	}
	denied := accessDenied(c, "sts:AssumeRole", roleARN)
	m := roleARNPattern.FindStringSubmatch(roleARN)
	if m == nil {
		return nil, errorf(400, "ValidationError", "%s is invalid", roleARN)
	}
	if c.faults.denyRole {
		return nil, denied
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	target := s.accounts[m[1]]
	if target == nil || target.state != AccountActive {
		return nil, denied
	}
	r := target.roles[m[3]]
	if r == nil || m[2] != r.path {
		return nil, denied
	}
	trusted := false
	for _, id := range r.trustedAccounts {
		if id == c.principal.account.id {
			trusted = true
		}
	}
	if !trusted || (r.externalID != "" && (!hasExternalID || externalID != r.externalID)) {
		return nil, denied
	}
	chained := c.principal.session != nil
	if chained && duration > time.Hour {
		return nil, errorf(400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	if duration > r.maxSessionDuration {
		return nil, errorf(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	now := s.clock.Now().Truncate(time.Second)
	if len(s.sessions) >= sessionSweepAt {
		for id, sess := range s.sessions {
			if !now.Before(sess.expires) {
				delete(s.sessions, id)
			}
		}
	}
	sess := &session{
		keyID: s.ids.sessionKeyID(), secret: s.ids.secret(), token: s.ids.sessionToken(),
		account: target, role: r, name: sessionName, expires: now.Add(duration), chained: chained,
	}
	for s.sessions[sess.keyID] != nil || s.keys[sess.keyID] != nil {
		sess.keyID = s.ids.sessionKeyID()
	}
	s.sessions[sess.keyID] = sess
	type credentials struct {
		AccessKeyID     string  `xml:"AccessKeyId"`
		SecretAccessKey string  `xml:"SecretAccessKey"`
		SessionToken    string  `xml:"SessionToken"`
		Expiration      isoTime `xml:"Expiration"`
	}
	type assumedRoleUser struct {
		AssumedRoleID string `xml:"AssumedRoleId"`
		Arn           string `xml:"Arn"`
	}
	return struct {
		Credentials     credentials     `xml:"Credentials"`
		AssumedRoleUser assumedRoleUser `xml:"AssumedRoleUser"`
	}{
		credentials{sess.keyID, sess.secret, sess.token, isoTime(sess.expires)},
		assumedRoleUser{r.id + ":" + sessionName, principal{account: target, session: sess}.arn()},
	}, nil
}
