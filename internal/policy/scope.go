package policy

// UsesOUs reports whether any exemption or override names an OU or a
// root: judging an account then needs its OU path, and an account whose
// path is unknown cannot be judged as if it were outside every OU.
func (p *Policy) UsesOUs() bool {
	for _, e := range p.Exemptions {
		if len(e.OUs) > 0 {
			return true
		}
	}
	for _, o := range p.Overrides {
		if len(o.OUs) > 0 {
			return true
		}
	}
	return false
}
