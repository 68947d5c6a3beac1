package server_test

import (
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/server"
)

// FuzzParseSchedule: any schedule text either is refused or gives runs
// that lie ahead, never a panic or a schedule that never advances.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"rate(1 day)", "rate(5 minutes)", "cron(0 6 * * ? *)", "cron(15 7 ? * 2-6 *)",
		"cron(0 8 ? * MON-FRI *)", "cron(0/15 * * * ? *)", "cron(0 0 1 1 ? *)", "cron(0 6 L * ? *)", "rate(0 days)", "cron(* * * * 1/2 *)"} {
		f.Add(s)
	}
	at := time.Date(2026, 12, 4, 6, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := server.ParseSchedule(spec)
		if err != nil {
			return
		}
		next := s.Next(at)
		if !next.IsZero() && !next.After(at) {
			t.Fatalf("%q: next run %v is not after %v", spec, next, at)
		}
	})
}
