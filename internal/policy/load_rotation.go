package policy

import (
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// minQuietWindow is IAM's delay in showing a key's last use, at most.
const minQuietWindow = 4 * time.Hour

var rotationKeys = []string{"enabled", "secret_name", "readers", "kms_key_id", "replica_regions", "region", "quiet_window", "on_deadline"}

func (l *loader) rotation(n *yaml.Node, field string, r *Rotation) {
	r.Line = n.Line
	l.mapping(n, field, "a mapping", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		switch key {
		case "enabled":
			if b, ok := l.boolean(v, f); ok {
				r.Enabled = b
			}
		case "secret_name":
			if t, ok := l.text(v, f); ok {
				if msg := checkSecretName(t); msg != "" {
					l.problem(v, f, "%s", msg)
				} else {
					r.SecretName = t
				}
			}
		case "readers":
			r.Readers = l.strings(v, f, false, func(s string) string {
				if !principalARN.MatchString(s) {
					return "want a principal ARN such as arn:aws:iam::111111111111:role/app, not " + strconv.Quote(s)
				}
				return ""
			})
		case "kms_key_id":
			if t, ok := l.text(v, f); ok {
				if t == "" || len(t) > 2048 {
					l.problem(v, f, "want a KMS key ID, ARN or alias (alias/NAME), not %s", strconv.Quote(t))
				} else {
					r.KMSKeyID = t
				}
			}
		case "replica_regions":
			r.ReplicaRegions = l.strings(v, f, false, func(s string) string {
				if !regionName.MatchString(s) {
					return "want a region such as eu-west-1, not " + strconv.Quote(s)
				}
				return ""
			})
		case "region":
			if t, ok := l.text(v, f); ok {
				if !regionName.MatchString(t) {
					l.problem(v, f, "want a region such as eu-west-1, not %s", strconv.Quote(t))
				} else {
					r.Region = t
				}
			}
		case "quiet_window":
			if d := l.duration(v, f); d != nil {
				// Shorter than IAM's delay in showing a use, the window
				// would take a key still in use for a quiet one.
				if d.Std() < minQuietWindow {
					l.problem(v, f, "%s is shorter than IAM's delay in showing a key's last use (up to about 4 hours): want at least %s", *d, Duration(minQuietWindow))
				} else {
					r.QuietWindow = *d
				}
			}
		case "on_deadline":
			if t, ok := l.text(v, f); ok {
				if t != OnDeadlineHold && t != OnDeadlineDeactivate {
					l.problem(v, f, "want %s (keep the old key, tell the owner and the security team) or %s, not %s", OnDeadlineHold, OnDeadlineDeactivate, strconv.Quote(t))
				} else {
					r.OnDeadline = t
				}
			}
		default:
			l.unknownKey(k, field, key, rotationKeys)
		}
	})
	if r.Region != "" {
		for _, rr := range r.ReplicaRegions {
			if rr == r.Region {
				l.problem(n, child(field, "replica_regions"), "%s is the secret's own region (rotation.region): a replica goes to another region", rr)
			}
		}
	}
}
