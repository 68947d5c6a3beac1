package orggen

import "math/rand/v2"

// Durations in whole seconds: every generated timestamp is now minus a whole
// number of seconds, so nothing is lost when the sandbox truncates.
const (
	minute int64 = 60
	hour         = 60 * minute
	day          = 24 * hour
	year         = 365 * day
)

// never is the age drawn for "never used".
const never = -1

// span is a range of ages in seconds, [lo, hi); lo == never means never.
type span struct{ lo, hi int64 }

// dist is a mixture of uniform spans with integer weights.
type dist struct {
	spans []span
	cum   []int
}

func mix(weights []int, spans []span) *dist {
	if len(weights) != len(spans) {
		panic("orggen: weights and spans differ in length")
	}
	d := &dist{spans: spans, cum: make([]int, len(weights))}
	total := 0
	for i, w := range weights {
		total += w
		d.cum[i] = total
	}
	return d
}

func (d *dist) draw(r *rand.Rand) int64 {
	x := r.IntN(d.cum[len(d.cum)-1])
	i := 0
	for d.cum[i] <= x {
		i++
	}
	s := d.spans[i]
	if s.lo == never {
		return never
	}
	return between(r, s.lo, s.hi)
}

// between returns a uniform value in [lo, hi), or lo when the range is empty.
func between(r *rand.Rand, lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + r.Int64N(hi-lo)
}

// Key ages. The spans put keys on both sides of every threshold a key
// policy is likely to use: 7, 30, 45, 80, 90, 100 and 110 days, one year.
var (
	ageSpans = []span{
		{hour, 7 * day}, {7 * day, 30 * day}, {30 * day, 45 * day}, {45 * day, 80 * day},
		{80 * day, 90 * day}, {90 * day, 100 * day}, {100 * day, 110 * day},
		{110 * day, year}, {year, 2 * year}, {2 * year, 5 * year},
	}
	humanAge  = mix([]int{10, 10, 8, 10, 6, 6, 5, 18, 12, 15}, ageSpans)
	svcAge    = mix([]int{5, 7, 6, 8, 5, 5, 5, 19, 17, 23}, ageSpans)
	ciAge     = mix([]int{12, 12, 8, 10, 6, 6, 5, 17, 12, 12}, ageSpans)
	legacyAge = mix([]int{1}, []span{{3 * year, 5*year + 180*day}})
	rootAge   = mix([]int{3, 7}, []span{{90 * day, year}, {year, 6 * year}})
)

// Ages of the last use: from never through minutes ago to years ago.
var (
	useSpans = []span{
		{never, never}, {0, hour}, {hour, day}, {day, 7 * day}, {7 * day, 45 * day},
		{45 * day, 90 * day}, {90 * day, year}, {year, 5 * year},
	}
	humanUse  = mix([]int{15, 8, 15, 15, 15, 10, 12, 10}, useSpans)
	svcUse    = mix([]int{8, 30, 20, 10, 10, 7, 8, 7}, useSpans)
	ciUse     = mix([]int{5, 25, 25, 20, 10, 5, 5, 5}, useSpans)
	legacyUse = mix([]int{10, 20, 15, 0, 0, 0, 20, 35}, useSpans)
	rootUse   = mix([]int{50, 0, 0, 5, 5, 0, 15, 25}, useSpans)
	staleUse  = mix([]int{20, 0, 0, 0, 0, 20, 35, 25}, useSpans) // inactive keys
)

// Password last use for people: recent, long ago, or never.
var passwordUse = mix([]int{50, 25, 25}, []span{{0, 7 * day}, {90 * day, 2 * year}, {never, never}})
