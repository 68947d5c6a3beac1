package server

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule says when the next scheduled run is due.
type Schedule interface {
	// Next is the first time after t that a run is due.
	Next(t time.Time) time.Time
	String() string
}

// ParseSchedule reads a schedule in EventBridge's syntax, as the policy's
// automation.schedule holds it: rate(1 day), rate(6 hours), rate(30
// minutes), or cron(minutes hours day-of-month month day-of-week year),
// in UTC. A cron expression's year must be * and the EventBridge-only
// L, W and # are not supported by the service.
func ParseSchedule(s string) (Schedule, error) {
	switch {
	case strings.HasPrefix(s, "rate(") && strings.HasSuffix(s, ")"):
		return parseRate(s)
	case strings.HasPrefix(s, "cron(") && strings.HasSuffix(s, ")"):
		return parseCron(s)
	}
	return nil, fmt.Errorf("schedule %q: want rate(1 day) or cron(0 6 * * ? *)", s)
}

type rate struct {
	every time.Duration
	text  string
}

// Next is t plus the interval: a rate counts from the service's start and
// from each run's due time.
func (r rate) Next(t time.Time) time.Time { return t.Add(r.every) }
func (r rate) String() string             { return r.text }

func parseRate(s string) (Schedule, error) {
	num, unit, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(s, "rate("), ")"), " ")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n <= 0 {
		return nil, fmt.Errorf("schedule %q: want rate(N minutes|hours|days) with N > 0", s)
	}
	var d time.Duration
	switch strings.TrimSuffix(unit, "s") {
	case "minute":
		d = time.Minute
	case "hour":
		d = time.Hour
	case "day":
		d = 24 * time.Hour
	default:
		return nil, fmt.Errorf("schedule %q: unknown unit %q: want minutes, hours or days", s, unit)
	}
	if maxRate := 366 * 24 * time.Hour; time.Duration(n) > maxRate/d {
		return nil, fmt.Errorf("schedule %q: at most a year between runs", s)
	}
	return rate{every: time.Duration(n) * d, text: s}, nil
}

type cronSchedule struct {
	sched cron.Schedule
	text  string
}

func (c cronSchedule) Next(t time.Time) time.Time { return c.sched.Next(t.UTC()) }
func (c cronSchedule) String() string             { return c.text }

// parseCron turns EventBridge's six fields into the five of the standard
// cron syntax: ? becomes *, the year must be *, and days of the week
// counted from 1 (Sunday) are counted from 0.
func parseCron(s string) (Schedule, error) {
	fields := strings.Fields(strings.TrimSuffix(strings.TrimPrefix(s, "cron("), ")"))
	if len(fields) != 6 {
		return nil, fmt.Errorf("schedule %q: want six fields: minutes hours day-of-month month day-of-week year", s)
	}
	if fields[5] != "*" {
		return nil, fmt.Errorf("schedule %q: keywarden serve supports only * as the year", s)
	}
	for _, f := range fields[:5] {
		if strings.ContainsAny(f, "LW#") && !strings.ContainsAny(strings.ToUpper(f), "ABCDEFGHIJKMNOPQRSTUVXYZ") {
			return nil, fmt.Errorf("schedule %q: keywarden serve does not support L, W or # in %q", s, f)
		}
	}
	for i := range 5 {
		if fields[i] == "?" {
			fields[i] = "*"
		}
	}
	dow, err := shiftWeekdays(fields[4])
	if err != nil {
		return nil, fmt.Errorf("schedule %q: day of week: %w", s, err)
	}
	fields[4] = dow
	sched, err := cron.ParseStandard(strings.Join(fields[:5], " "))
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", s, err)
	}
	// A date that does not exist (February 30) is never due.
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("schedule %q never falls due", s)
	}
	return cronSchedule{sched: sched, text: s}, nil
}

// shiftWeekdays rewrites EventBridge's days of the week (1-7, SUN-SAT)
// as the standard's (0-6); names stay as they are.
func shiftWeekdays(f string) (string, error) {
	var b strings.Builder
	num := ""
	flush := func() error {
		if num == "" {
			return nil
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 7 {
			return fmt.Errorf("%q: want 1 (Sunday) to 7 (Saturday) or SUN-SAT", num)
		}
		b.WriteString(strconv.Itoa(n - 1))
		num = ""
		return nil
	}
	for i, r := range f {
		switch {
		case r >= '0' && r <= '9':
			// After a /, a number is a step, not a day.
			if i > 0 && strings.LastIndex(f[:i], "/") > strings.LastIndexAny(f[:i], ",-") {
				b.WriteRune(r)
				continue
			}
			num += string(r)
		default:
			if err := flush(); err != nil {
				return "", err
			}
			b.WriteRune(r)
		}
	}
	if err := flush(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Clock is the time the scheduler reads and waits on; tests drive it.
type Clock interface {
	Now() time.Time
	// After sends the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
