package policy

import (
	"strconv"

	"go.yaml.in/yaml/v3"
)

var safetyKeys = []string{"protected_users", "recent_use_guard", "max_actions", "max_account_fraction", "max_plan_age"}

func (l *loader) safety(n *yaml.Node, field string, s *Safety) {
	l.mapping(n, field, "a mapping", func(key string, k, v *yaml.Node) {
		switch key {
		case "protected_users":
			s.ProtectedUsers = l.strings(v, child(field, key), false, checkGlob)
		case "recent_use_guard":
			if d := l.duration(v, child(field, key)); d != nil {
				s.RecentUseGuard = *d
			}
		case "max_plan_age":
			if d := l.duration(v, child(field, key)); d != nil {
				s.MaxPlanAge = *d
			}
		case "max_actions":
			if t, ok := l.text(v, child(field, key)); ok {
				n, err := strconv.Atoi(t)
				if err != nil || n < 1 || n > 100000 {
					l.problem(v, child(field, key), "want a whole number from 1 to 100000, not %q", t)
				} else {
					s.MaxActions = n
				}
			}
		case "max_account_fraction":
			if t, ok := l.text(v, child(field, key)); ok {
				f, err := strconv.ParseFloat(t, 64)
				if err != nil || !(f > 0 && f <= 1) {
					l.problem(v, child(field, key), "want a fraction more than 0 and at most 1, like 0.25, not %q", t)
				} else {
					s.MaxAccountFraction = f
				}
			}
		default:
			l.unknownKey(k, field, key, safetyKeys)
		}
	})
}
