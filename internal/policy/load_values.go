package policy

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// The checks of values several sections share, for loader.strings: each
// says what is wrong with a value, "" if nothing.

var (
	accountIDPattern = regexp.MustCompile(`^[0-9]{12}$`)
	ouIDPattern      = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`)
	rootIDPattern    = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	groupNamePattern = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
)

func checkAccountID(s string) string {
	if !accountIDPattern.MatchString(s) {
		return fmt.Sprintf("%q is not an account ID: want 12 digits, quoted like \"111111111111\"", s)
	}
	return ""
}

func checkOU(s string) string {
	if !ouIDPattern.MatchString(s) {
		if rootIDPattern.MatchString(s) {
			return fmt.Sprintf("%q is the organization's root: use organization: true", s)
		}
		return fmt.Sprintf("%q is not an OU ID: want ou-xxxx-xxxxxxxx", s)
	}
	return ""
}

func checkOUOrRoot(s string) string {
	if !ouIDPattern.MatchString(s) && !rootIDPattern.MatchString(s) {
		return fmt.Sprintf("%q is not an OU or root ID: want ou-xxxx-xxxxxxxx or r-xxxx", s)
	}
	return ""
}

func checkGlob(s string) string {
	if s == "" {
		return "empty pattern"
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Sprintf("%q is not a valid pattern: %v", s, err)
	}
	return ""
}

func checkPath(s string) string {
	if !strings.HasPrefix(s, "/") {
		return fmt.Sprintf("%q is not an IAM path: paths start with /, like /service/ or /service/*/", s)
	}
	return checkGlob(s)
}

func checkGroup(s string) string {
	if !groupNamePattern.MatchString(s) {
		return fmt.Sprintf("%q is not an IAM group name: letters, digits and +=,.@_- (exact names, no patterns)", s)
	}
	return ""
}
