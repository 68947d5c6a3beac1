// Package channelconfig is the configuration of notification channels, as
// written under notifications.channels in the policy file: the channel
// types, their settings, and the reading and validation of that section.
//
// It imports neither package policy nor package notify, so that both can
// use it: policy reads the channels with the rest of the policy file, and
// notify opens channels from them.
//
// Secrets are never in the configuration: a channel names the environment
// variable or the file that holds each one (SecretRef).
package channelconfig

// Channel types.
const (
	TypeSlack   = "slack"
	TypeWebhook = "webhook"
	TypeSNS     = "sns"
	TypeSMTP    = "smtp"
	TypeSES     = "ses"
)

// Types lists the channel types in the order they are documented.
var Types = []string{TypeSlack, TypeWebhook, TypeSNS, TypeSMTP, TypeSES}

// IsEmail reports whether a channel type sends e-mail, whose contacts are
// e-mail addresses.
func IsEmail(channelType string) bool { return channelType == TypeSMTP || channelType == TypeSES }

// SecretRef says where a secret is: in an environment variable or in a
// file (a path relative to the policy file's directory). It never holds
// the secret itself. A zero SecretRef is no secret.
type SecretRef struct {
	Env  string
	File string
}

// IsZero reports whether no secret is referred to.
func (r SecretRef) IsZero() bool { return r.Env == "" && r.File == "" }

// String says where the secret is, never what it is.
func (r SecretRef) String() string {
	switch {
	case r.Env != "":
		return "$" + r.Env
	case r.File != "":
		return "file " + r.File
	}
	return "none"
}

// Config is one channel of the policy.
type Config struct {
	Name string
	Type string // one of Types
	// URL is the endpoint of slack (always a secret: URLEnv or URLFile)
	// and webhook channels; a webhook's URL may be written out (URL).
	URL    string
	URLRef SecretRef
	// Secret is the webhook's HMAC key.
	Secret SecretRef
	// TopicARN is the SNS topic.
	TopicARN string
	// Region is the AWS region of SNS and SES channels; "" : the region of
	// the AWS configuration.
	Region string
	SMTP   SMTPConfig
	// From is the sender of SES e-mail.
	From string
	Line int
}

// SMTPConfig is an SMTP channel's server and account.
type SMTPConfig struct {
	Host string
	Port int
	From string // the sender's address
	// Username, or UsernameEnv naming the variable holding it; "" for no
	// authentication.
	Username    string
	UsernameEnv string
	Password    SecretRef
	// StartTLS requires STARTTLS (the default); false uses it when the
	// server offers it.
	StartTLS bool
	// CAFile is a PEM file of the certificate authorities to trust instead
	// of the system's.
	CAFile string
}
