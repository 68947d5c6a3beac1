package policy

import (
	"regexp"

	"go.yaml.in/yaml/v3"
)

var (
	accountsKeys    = []string{"organization", "ous", "accounts", "exclude", "role_name", "act_role_name", "external_id_env"}
	roleNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	envNamePattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func (l *loader) accounts(n *yaml.Node, field string, a *AccountsConfig) {
	l.mapping(n, field, "a mapping", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		switch key {
		case "organization":
			if b, ok := l.boolean(v, f); ok {
				a.Organization = b
			}
		case "ous":
			a.OUs = l.strings(v, f, false, checkOU)
		case "accounts":
			a.Accounts = l.strings(v, f, false, checkAccountID)
		case "exclude":
			a.Exclude = l.strings(v, f, false, checkAccountID)
		case "role_name":
			a.RoleName = l.roleName(v, f, a.RoleName)
		case "act_role_name":
			a.ActRoleName = l.roleName(v, f, a.ActRoleName)
		case "external_id_env":
			if s, ok := l.text(v, f); ok {
				if envNamePattern.MatchString(s) {
					a.ExternalIDEnv = s
				} else {
					l.problem(v, f, "%q is not an environment variable name: letters, digits and _, not starting with a digit", s)
				}
			}
		default:
			l.unknownKey(k, field, key, accountsKeys)
		}
	})
}

// roleName reads an IAM role name, keeping old when it is not one.
func (l *loader) roleName(v *yaml.Node, field, old string) string {
	s, ok := l.text(v, field)
	if !ok {
		return old
	}
	if !roleNamePattern.MatchString(s) {
		l.problem(v, field, "%q is not an IAM role name: 1 to 64 letters, digits and +=,.@_-", s)
		return old
	}
	return s
}
