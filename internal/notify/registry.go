package notify

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/keywarden/keywarden/internal/notify/channelconfig"
	"github.com/keywarden/keywarden/internal/policy"
)

// Opener makes the channel a policy describes, reading its secrets
// through env.
type Opener func(cfg channelconfig.Config, env Env) (Channel, error)

// Registry makes channels by type. Builtin has the channels of this
// package; the CLI adds sns and ses from notify/awschannel, which need an
// AWS configuration:
//
//	reg := notify.Builtin(nil)
//	reg[channelconfig.TypeSNS] = func(c channelconfig.Config, env notify.Env) (notify.Channel, error) { … }
type Registry map[string]Opener

// Builtin returns the openers of slack, webhook and smtp channels. HTTP
// channels use client; nil is a client with a 30 second timeout.
func Builtin(client *http.Client) Registry {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	return Registry{
		channelconfig.TypeSlack: func(c channelconfig.Config, env Env) (Channel, error) {
			url, err := env.Secret(c.URLRef)
			if err != nil {
				return nil, fmt.Errorf("the Slack webhook URL: %w", err)
			}
			return NewSlack(url, client), nil
		},
		channelconfig.TypeWebhook: func(c channelconfig.Config, env Env) (Channel, error) {
			url := NewSecret(c.URL)
			if c.URL == "" {
				var err error
				if url, err = env.Secret(c.URLRef); err != nil {
					return nil, fmt.Errorf("the webhook URL: %w", err)
				}
			}
			secret, err := env.Secret(c.Secret)
			if err != nil {
				return nil, fmt.Errorf("the webhook signing secret: %w", err)
			}
			return NewWebhook(url, secret, client, nil), nil
		},
		channelconfig.TypeSMTP: func(c channelconfig.Config, env Env) (Channel, error) {
			s := c.SMTP
			o := SMTPOptions{Host: s.Host, Port: s.Port, From: s.From, Username: s.Username, StartTLS: s.StartTLS}
			if s.UsernameEnv != "" {
				u, err := env.Secret(channelconfig.SecretRef{Env: s.UsernameEnv})
				if err != nil {
					return nil, fmt.Errorf("the SMTP username: %w", err)
				}
				o.Username = u.Reveal()
			}
			if !s.Password.IsZero() {
				p, err := env.Secret(s.Password)
				if err != nil {
					return nil, fmt.Errorf("the SMTP password: %w", err)
				}
				o.Password = p
			}
			if s.CAFile != "" {
				pem, err := os.ReadFile(env.Path(s.CAFile))
				if err != nil {
					return nil, fmt.Errorf("smtp.ca_file: %w", err)
				}
				o.RootCAs = x509.NewCertPool()
				if !o.RootCAs.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("smtp.ca_file: no PEM certificate in %s", env.Path(s.CAFile))
				}
			}
			return NewSMTP(o)
		},
	}
}

// Open makes every channel of the policy, by name. A channel that cannot
// be made (an unset secret, a type without an opener) is still in the
// map, as a channel whose every Send fails with the reason, so that
// deliveries to it are recorded as failed; the reasons are also returned,
// for the caller to show. Nothing here stops a run.
func (r Registry) Open(n policy.Notifications, env Env) (map[string]Channel, []error) {
	names := make([]string, 0, len(n.Channels))
	for name := range n.Channels {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]Channel, len(names))
	var errs []error
	for _, name := range names {
		c := n.Channels[name]
		open := r[c.Type]
		var (
			ch  Channel
			err error
		)
		if open == nil {
			err = fmt.Errorf("this keywarden cannot send through %s channels", c.Type)
		} else {
			ch, err = open(c, env)
		}
		if err != nil {
			err = fmt.Errorf("notification channel %s (%s): %w", name, c.Type, err)
			errs = append(errs, err)
			ch = broken{kind: c.Type, err: err}
		}
		out[name] = ch
	}
	return out, errs
}

// broken is a channel that could not be made.
type broken struct {
	kind string
	err  error
}

func (b broken) Name() string                        { return b.kind }
func (b broken) Send(context.Context, Message) error { return Permanent(b.err) }
