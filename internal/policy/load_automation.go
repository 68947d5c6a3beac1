package policy

import (
	"go.yaml.in/yaml/v3"
)

var automationKeys = []string{"mode", "schedule", "security_hub", "reports_s3", "snapshot_retention"}

func (l *loader) automation(n *yaml.Node, field string, a *Automation) {
	a.Line = n.Line
	l.mapping(n, field, "a mapping", func(key string, k, v *yaml.Node) {
		f := child(field, key)
		switch key {
		case "mode":
			if t, ok := l.text(v, f); ok {
				if t != ModeReport && t != ModeEnforce {
					l.problem(v, f, "want %s (scan and warn, change nothing) or %s (plan and apply within the safety limits), not %q", ModeReport, ModeEnforce, t)
				} else {
					a.Mode = t
				}
			}
		case "schedule":
			if t, ok := l.text(v, f); ok {
				if !scheduleRate.MatchString(t) && !scheduleCron.MatchString(t) {
					l.problem(v, f, "want an EventBridge schedule like rate(1 day) or cron(0 6 * * ? *), not %q", t)
				} else {
					a.Schedule = t
				}
			}
		case "security_hub":
			if b, ok := l.boolean(v, f); ok {
				a.SecurityHub = b
			}
		case "reports_s3":
			if t, ok := l.text(v, f); ok {
				if !s3URL.MatchString(t) {
					l.problem(v, f, "want s3://BUCKET or s3://BUCKET/PREFIX, not %q", t)
				} else {
					a.ReportsS3 = t
				}
			}
		case "snapshot_retention":
			if v.Kind == yaml.ScalarNode && v.Value == "forever" {
				a.SnapshotRetention = new(Duration(0))
			} else if d := l.duration(v, f); d != nil {
				a.SnapshotRetention = d
			}
		default:
			l.unknownKey(k, field, key, automationKeys)
		}
	})
}
