package channelconfig

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Reader is the reader of the file the channels are a section of. Parse
// reads through it so that the channels' problems join the file's others,
// with their positions, and are worded as theirs are.
type Reader interface {
	// Problem records a problem at n (nil: no position) with the setting
	// it is about, e.g. notifications.channels.email.smtp.host.
	Problem(n *yaml.Node, field, format string, args ...any)
	// Problems is how many problems have been recorded so far.
	Problems() int
	// Mapping calls fn with each entry of the mapping n, in order; a null
	// n is an empty mapping. It reports another kind of node (want says
	// what is wanted; "" for "a mapping") and entries it cannot pass on.
	Mapping(n *yaml.Node, field, want string, fn func(key string, k, v *yaml.Node))
	// Text returns a scalar's text; false after reporting anything else.
	Text(n *yaml.Node, field string) (string, bool)
	// Boolean returns true or false; false after reporting anything else.
	Boolean(n *yaml.Node, field string) (value, ok bool)
	// UnknownKey reports the key k, which is not one of known.
	UnknownKey(k *yaml.Node, field, key string, known []string)
	// Describe names a node for "want X, not Y" messages.
	Describe(n *yaml.Node) string
	// Suggest returns the word of known that s is likely a typo of, or "".
	Suggest(s string, known []string) string
}

var (
	// typeKeys are the keys of each channel type, type aside.
	typeKeys = map[string][]string{
		TypeSlack:   {"url_env", "url_file"},
		TypeWebhook: {"url", "url_env", "url_file", "secret_env", "secret_file"},
		TypeSNS:     {"topic_arn", "region"},
		TypeSMTP:    {"smtp"},
		TypeSES:     {"ses"},
	}
	smtpKeys = []string{"host", "port", "from", "username", "username_env", "password_env", "password_file", "starttls", "ca_file"}
	sesKeys  = []string{"from", "region"}
	// secretKeys are keys that would hold a secret in clear, and where the
	// secret goes instead.
	secretKeys = map[string]string{
		"password":    "password_env or password_file",
		"secret":      "secret_env or secret_file",
		"token":       "an environment variable or a file",
		"api_key":     "an environment variable or a file",
		"webhook_url": "url_env or url_file",
	}

	namePattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	topicARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$`)
	regionPattern   = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	envNamePattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Parse reads the channels section n, a mapping of channel names, whose
// setting is field. It returns the channels without problems, nil when
// there are none; their problems go to r.
func Parse(r Reader, n *yaml.Node, field string) map[string]Config {
	out := map[string]Config{}
	r.Mapping(n, field, "a mapping of channel names", func(name string, k, v *yaml.Node) {
		f := child(field, name)
		if !namePattern.MatchString(name) {
			r.Problem(k, f, "%q is not a channel name: 1 to 64 letters, digits and _.-, starting with a letter or digit", name)
			return
		}
		if c, ok := channel(r, name, v, f); ok {
			c.Line = k.Line
			out[name] = c
		}
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// channel reads one channel: its type first, then the settings of that type.
func channel(r Reader, name string, n *yaml.Node, field string) (Config, bool) {
	c := Config{Name: name}
	if n.Kind != yaml.MappingNode {
		r.Problem(n, field, "want a channel (a mapping with a type: %s), not %s", strings.Join(Types, ", "), r.Describe(n))
		return c, false
	}
	var typeNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typeNode = n.Content[i+1]
		}
	}
	if typeNode == nil {
		r.Problem(n, child(field, "type"), "missing: want one of %s", strings.Join(Types, ", "))
		return c, false
	}
	t, ok := r.Text(typeNode, child(field, "type"))
	if !ok {
		return c, false
	}
	if _, known := typeKeys[t]; !known {
		hint := ""
		if s := r.Suggest(t, Types); s != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", s)
		}
		r.Problem(typeNode, child(field, "type"), "unknown channel type %q%s; want one of %s", t, hint, strings.Join(Types, ", "))
		return c, false
	}
	c.Type = t
	before := r.Problems()
	var urlRef, secret refCount
	r.Mapping(n, field, "", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		if key == "type" {
			return
		}
		if key == "url" && t == TypeSlack {
			r.Problem(k, f, "a Slack webhook URL is a secret, not for the policy file: put it in an environment variable or a file: use url_env or url_file")
			return
		}
		if where, secretKey := secretKeys[key]; secretKey {
			r.Problem(k, f, "a secret in the policy file: put it in an environment variable or a file: use %s", where)
			return
		}
		if !slices.Contains(typeKeys[t], key) {
			otherTypeKey(r, k, f, t, key)
			return
		}
		switch key {
		case "url":
			urlRef.set(r, k, field, "url")
			if s, ok := r.Text(v, f); ok {
				if msg := checkURL(s); msg != "" {
					r.Problem(v, f, "%s", msg)
					return
				}
				c.URL = s
			}
		case "url_env":
			c.URLRef.Env = envName(r, v, f)
			urlRef.set(r, k, field, "url_env")
		case "url_file":
			c.URLRef.File = fileName(r, v, f)
			urlRef.set(r, k, field, "url_file")
		case "secret_env":
			c.Secret.Env = envName(r, v, f)
			secret.set(r, k, field, "secret_env")
		case "secret_file":
			c.Secret.File = fileName(r, v, f)
			secret.set(r, k, field, "secret_file")
		case "topic_arn":
			if s, ok := r.Text(v, f); ok {
				if topicARNPattern.MatchString(s) {
					c.TopicARN = s
				} else {
					r.Problem(v, f, "%q is not an SNS topic ARN: want arn:aws:sns:REGION:ACCOUNT:NAME", s)
				}
			}
		case "region":
			c.Region = region(r, v, f)
		case "smtp":
			c.SMTP = smtp(r, v, f)
		case "ses":
			r.Mapping(v, f, "a mapping", func(key string, k, v *yaml.Node) {
				g := child(f, key)
				switch key {
				case "from":
					c.From = address(r, v, g)
				case "region":
					c.Region = region(r, v, g)
				default:
					r.UnknownKey(k, f, key, sesKeys)
				}
			})
		}
	})
	// What each type needs.
	missing := func(key, what string) { r.Problem(n, child(field, key), "missing: %s", what) }
	switch t {
	case TypeSlack:
		if urlRef.n == 0 {
			missing("url_env", "say where the Slack webhook URL is: url_env (an environment variable) or url_file")
		}
	case TypeWebhook:
		if urlRef.n == 0 {
			missing("url", "give the webhook's url, or url_env or url_file")
		}
		if secret.n == 0 {
			missing("secret_env", "say where the HMAC signing secret is: secret_env (an environment variable) or secret_file")
		}
	case TypeSNS:
		if c.TopicARN == "" && !hasKey(n, "topic_arn") {
			missing("topic_arn", "give the SNS topic's ARN")
		}
	case TypeSMTP:
		if !hasKey(n, "smtp") {
			missing("smtp", "give the server: smtp: {host, port, from, …}")
		}
	case TypeSES:
		if !hasKey(n, "ses") {
			missing("ses", "give the sender: ses: {from: keywarden@example.com}")
		} else if c.From == "" && !hasKey(keyValue(n, "ses"), "from") {
			r.Problem(keyValue(n, "ses"), child(field, "ses.from"), "missing: give the sender's address")
		}
	}
	return c, r.Problems() == before
}

// refCount counts the ways a secret (or URL) is given: one is wanted.
type refCount struct {
	n     int
	first string
}

func (rc *refCount) set(r Reader, k *yaml.Node, field, key string) {
	rc.n++
	if rc.n == 1 {
		rc.first = key
		return
	}
	r.Problem(k, child(field, key), "given with %s: keep one", rc.first)
}

// otherTypeKey reports a key that the channel's type does not have, naming
// the type that has it.
func otherTypeKey(r Reader, k *yaml.Node, field, typ, key string) {
	for _, other := range Types {
		if slices.Contains(typeKeys[other], key) {
			r.Problem(k, field, "a %s channel has no %s (%s channels do); it has type, %s", typ, key, other, strings.Join(typeKeys[typ], ", "))
			return
		}
	}
	r.UnknownKey(k, strings.TrimSuffix(field, "."+key), key, append([]string{"type"}, typeKeys[typ]...))
}

func smtp(r Reader, n *yaml.Node, field string) SMTPConfig {
	s := SMTPConfig{Port: 587, StartTLS: true}
	if n.Kind != yaml.MappingNode {
		r.Problem(n, field, "want the SMTP server (a mapping with host, port, from, …), not %s", r.Describe(n))
		return s
	}
	var user, pass refCount
	r.Mapping(n, field, "", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		if where, secretKey := secretKeys[key]; secretKey {
			r.Problem(k, f, "a secret in the policy file: put it in an environment variable or a file: use %s", where)
			pass.n++
			return
		}
		switch key {
		case "host":
			if t, ok := r.Text(v, f); ok {
				if t == "" || strings.ContainsAny(t, " /:") {
					r.Problem(v, f, "%q is not a host name: give the name alone, and the port as port", t)
				} else {
					s.Host = t
				}
			}
		case "port":
			if t, ok := r.Text(v, f); ok {
				p, err := strconv.Atoi(t)
				if err != nil || p < 1 || p > 65535 {
					r.Problem(v, f, "want a port number from 1 to 65535, like 587, not %q", t)
				} else {
					s.Port = p
				}
			}
		case "from":
			s.From = address(r, v, f)
		case "username":
			if t, ok := r.Text(v, f); ok {
				s.Username = t
			}
			user.set(r, k, field, key)
		case "username_env":
			s.UsernameEnv = envName(r, v, f)
			user.set(r, k, field, key)
		case "password_env":
			s.Password.Env = envName(r, v, f)
			pass.set(r, k, field, key)
		case "password_file":
			s.Password.File = fileName(r, v, f)
			pass.set(r, k, field, key)
		case "starttls":
			if b, ok := r.Boolean(v, f); ok {
				s.StartTLS = b
			}
		case "ca_file":
			s.CAFile = fileName(r, v, f)
		default:
			r.UnknownKey(k, field, key, smtpKeys)
		}
	})
	if !hasKey(n, "host") {
		r.Problem(n, child(field, "host"), "missing: give the SMTP server's host name")
	}
	if !hasKey(n, "from") {
		r.Problem(n, child(field, "from"), "missing: give the sender's address")
	}
	switch {
	case user.n > 0 && pass.n == 0:
		r.Problem(n, child(field, "password_env"), "missing: a username needs a password: password_env or password_file")
	case user.n == 0 && pass.n > 0:
		r.Problem(n, child(field, "username"), "missing: a password needs a username: username or username_env")
	}
	return s
}

func envName(r Reader, n *yaml.Node, field string) string {
	s, ok := r.Text(n, field)
	if !ok {
		return ""
	}
	if !envNamePattern.MatchString(s) {
		r.Problem(n, field, "%q is not an environment variable name: letters, digits and _, not starting with a digit", s)
		return ""
	}
	return s
}

func fileName(r Reader, n *yaml.Node, field string) string {
	s, ok := r.Text(n, field)
	if !ok {
		return ""
	}
	if strings.TrimSpace(s) == "" {
		r.Problem(n, field, "empty file name")
		return ""
	}
	return s
}

func address(r Reader, n *yaml.Node, field string) string {
	s, ok := r.Text(n, field)
	if !ok {
		return ""
	}
	if _, err := mail.ParseAddress(s); err != nil {
		r.Problem(n, field, "%q is not an e-mail address", s)
		return ""
	}
	return s
}

func region(r Reader, n *yaml.Node, field string) string {
	s, ok := r.Text(n, field)
	if !ok {
		return ""
	}
	if !regionPattern.MatchString(s) {
		r.Problem(n, field, "%q is not an AWS region: want one like eu-west-1", s)
		return ""
	}
	return s
}

func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Sprintf("%q is not an http or https URL", s)
	}
	if u.User != nil {
		return "the URL holds credentials: put it in an environment variable or a file: use url_env or url_file"
	}
	return ""
}

func child(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

// hasKey reports whether the mapping n has the key.
func hasKey(n *yaml.Node, key string) bool { return keyValue(n, key) != nil }

// keyValue returns the value of key in the mapping n, nil if there is none.
func keyValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
