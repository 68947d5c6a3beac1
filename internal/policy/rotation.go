package policy

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// DefaultSecretName is where a rotated key is stored when the policy does
// not say: one secret per user, in the key's account.
const DefaultSecretName = "keywarden/iam-user/{{.User}}"

// Rotation is the policy's rotation section: what the rotate stage of a
// rule does. Disabled (the default), the rotate stage only warns; enabled,
// it plans a rotate action: a new key for the user, stored in AWS Secrets
// Manager in the key's account, and the owner told where it is. Part of
// Hash when enabled: it changes what apply does.
type Rotation struct {
	Enabled bool
	// SecretName is the secret's name, a template with the placeholders
	// {{.User}} (required) and {{.Account}}.
	SecretName string
	// Readers are principal ARNs allowed to read the secret besides the
	// IAM user itself.
	Readers []string
	// KMSKeyID is the customer managed key that encrypts the secret; ""
	// uses the account's AWS managed key.
	KMSKeyID string
	// ReplicaRegions are regions the secret is replicated to.
	ReplicaRegions []string
	// Region is where the secret is kept; "" is the region of keywarden's
	// AWS configuration.
	Region string
	// QuietWindow is how long the old key must have gone unused, once the
	// new key is in use, before a later run deactivates it (the cutover).
	// IAM shows a key's last use minutes to hours late: the window must be
	// longer than that delay, or a use not shown yet would be missed.
	QuietWindow Duration
	// OnDeadline is what happens when the old key reaches its rule's
	// deactivate stage and the new key was never used: OnDeadlineHold or
	// OnDeadlineDeactivate.
	OnDeadline string
	Line       int `json:"-"`
}

// What the deadline does to a rotated key whose successor was never used.
const (
	// OnDeadlineHold keeps the old key active and escalates to the owner
	// and the security team: deactivating it would break the application.
	OnDeadlineHold = "hold"
	// OnDeadlineDeactivate deactivates the old key anyway (still under the
	// safety guards: a key in use is not deactivated).
	OnDeadlineDeactivate = "deactivate"
)

// DefaultQuietWindow allows for IAM's delay in showing a key's last use
// (up to about four hours) several times over.
const DefaultQuietWindow = Duration(24 * time.Hour)

// DefaultRotation is the rotation section's defaults: disabled.
func DefaultRotation() Rotation {
	return Rotation{SecretName: DefaultSecretName, QuietWindow: DefaultQuietWindow, OnDeadline: OnDeadlineHold}
}

var (
	secretNameChars = regexp.MustCompile(`^[A-Za-z0-9/_+=.@-]*$`)
	namePlaceholder = regexp.MustCompile(`\{\{\s*\.([A-Za-z]+)\s*\}\}`)
	regionName      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	principalARN    = regexp.MustCompile(`^arn:aws[a-z-]*:(iam::[0-9]{12}:(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)|sts::[0-9]{12}:assumed-role/[\w+=,.@/-]+)$`)
)

// maxSecretNameLen is Secrets Manager's limit on a secret's name.
const maxSecretNameLen = 512

// checkSecretName says what is wrong with a secret name template, or "".
func checkSecretName(t string) string {
	if t == "" {
		return "empty: want a name such as " + DefaultSecretName
	}
	hasUser := false
	for _, m := range namePlaceholder.FindAllStringSubmatch(t, -1) {
		switch m[1] {
		case "User":
			hasUser = true
		case "Account":
		default:
			return fmt.Sprintf("unknown placeholder %s: want {{.User}} or {{.Account}}", m[0])
		}
	}
	rest := namePlaceholder.ReplaceAllString(t, "")
	if strings.Contains(rest, "{") || strings.Contains(rest, "}") {
		return fmt.Sprintf("%q: the placeholders are {{.User}} and {{.Account}}, nothing else", t)
	}
	if !secretNameChars.MatchString(rest) {
		return fmt.Sprintf("%q: a Secrets Manager name holds only ASCII letters, digits and /_+=.@-", t)
	}
	if !hasUser {
		return fmt.Sprintf("%q has no {{.User}}: every user needs a secret of its own", t)
	}
	// IAM user names are at most 64 characters, account IDs 12.
	if len(rest)+64+12 > maxSecretNameLen {
		return fmt.Sprintf("%q is too long: a secret's name is at most %d characters", t, maxSecretNameLen)
	}
	return ""
}

// SecretNameFor is the secret that holds the rotated key of user in
// account, or an error when the name is not one Secrets Manager accepts
// (IAM allows a comma in a user's name; Secrets Manager does not).
func (r Rotation) SecretNameFor(account, user string) (string, error) {
	t := r.SecretName
	if t == "" {
		t = DefaultSecretName
	}
	name := namePlaceholder.ReplaceAllStringFunc(t, func(m string) string {
		if namePlaceholder.FindStringSubmatch(m)[1] == "User" {
			return user
		}
		return account
	})
	if name == "" || !secretNameChars.MatchString(name) || len(name) > maxSecretNameLen {
		return "", fmt.Errorf("the secret name %q (rotation.secret_name %q) is not a valid Secrets Manager name: at most %d ASCII letters, digits and /_+=.@-", name, t, maxSecretNameLen)
	}
	return name, nil
}
