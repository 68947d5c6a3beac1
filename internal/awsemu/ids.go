package awsemu

import (
	"fmt"
	"math/rand/v2"
)

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	secretSet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	mixedAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	hexDigits  = "0123456789abcdef"
)

// idSource makes the identifiers AWS would: AKIA…/ASIA… key IDs, AIDA…
// unique IDs, 40-character secrets. It is seeded so that a generated
// organization is the same on every run; callers hold Sandbox.mu.
type idSource struct{ r *rand.Rand }

func newIDSource(seed uint64) *idSource {
	return &idSource{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func (s *idSource) pick(set string, n int) string {
	var buf [320]byte // the longest ID made here; avoids a second allocation
	b := buf[:n]
	for i := range b {
		b[i] = set[s.r.IntN(len(set))]
	}
	return string(b)
}

func (s *idSource) accessKeyID() string  { return "AKIA" + s.pick(upperAlnum, 16) }
func (s *idSource) sessionKeyID() string { return "ASIA" + s.pick(upperAlnum, 16) }
func (s *idSource) userID() string       { return "AIDA" + s.pick(upperAlnum, 17) }
func (s *idSource) groupID() string      { return "AGPA" + s.pick(upperAlnum, 17) }
func (s *idSource) roleID() string       { return "AROA" + s.pick(upperAlnum, 17) }
func (s *idSource) secret() string       { return s.pick(secretSet, 40) }
func (s *idSource) sessionToken() string { return "IQoJb3JpZ2luX2VjE" + s.pick(secretSet, 300) }
func (s *idSource) orgID() string        { return "o-" + s.pick(lowerAlnum, 10) }
func (s *idSource) rootID() string       { return "r-" + s.pick(lowerAlnum, 4) }
func (s *idSource) ouID(rootID string) string {
	return "ou-" + rootID[2:] + "-" + s.pick(lowerAlnum, 8)
}

// secretSuffix is the "-" and six random characters Secrets Manager adds to
// a secret's name in its ARN.
func (s *idSource) secretSuffix() string { return "-" + s.pick(mixedAlnum, 6) }

// uuid makes a version 4 UUID, for secret versions created without a
// ClientRequestToken.
func (s *idSource) uuid() string {
	h := s.pick(hexDigits, 32)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-" + string("89ab"[s.r.IntN(4)]) + h[17:20] + "-" + h[20:]
}

// accountID makes a 12-digit account ID that does not start with 0.
func (s *idSource) accountID() string {
	return fmt.Sprintf("%d%011d", 1+s.r.IntN(9), s.r.Int64N(100_000_000_000))
}

// requestID returns a UUID-shaped request ID. It uses the global generator:
// request IDs need not be reproducible and must not serialise on Sandbox.mu.
func requestID() string {
	a, b := rand.Uint64(), rand.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x",
		uint32(a>>32), uint16(a>>16), uint16(a)&0xfff, (uint16(b>>48)&0x3fff)|0x8000, b&0xffffffffffff)
}
