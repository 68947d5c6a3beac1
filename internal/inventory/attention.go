package inventory

import "time"

// Thresholds of NeedsAttention, from CIS AWS Foundations: keys rotated
// within 90 days, credentials unused for 45 days disabled, one active key.
const (
	attentionAge    = 90 * 24 * time.Hour
	attentionUnused = 45 * 24 * time.Hour
	// attentionNear reads IDs a little before a threshold, so that warnings
	// ahead of it can name the key.
	attentionNear = 10 * 24 * time.Hour
)

// NeedsAttention is the default NeedKeyIDs for callers without a policy: a
// user whose keys CIS AWS Foundations would flag, or soon will — an active
// key near or past 90 days old, an active key unused (or never used) for
// nearly 45 days, two active keys, or an inactive key.
func NeedsAttention(u User, asOf time.Time) bool {
	active := 0
	for _, k := range u.Keys {
		if !k.Active() {
			return true
		}
		active++
		if asOf.Sub(k.CreatedAt) >= attentionAge-attentionNear {
			return true
		}
		lastUse := k.LastUsedAt
		if lastUse.IsZero() || lastUse.Before(k.CreatedAt) {
			lastUse = k.CreatedAt
		}
		if asOf.Sub(lastUse) >= attentionUnused-attentionNear {
			return true
		}
	}
	return active > 1
}
