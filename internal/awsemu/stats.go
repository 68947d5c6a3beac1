package awsemu

import (
	"sort"
	"sync"
)

// stats counts the calls the sandbox answered, by account and operation, so
// that benchmarks and tests can report how many API calls a job made.
type stats struct {
	mu     sync.Mutex
	counts map[CallKey]int
}

// CallKey names one operation in one account.
type CallKey struct {
	Account   string // "" when the caller could not be identified
	Service   string // iam, sts, organizations, secretsmanager
	Operation string
}

func (st *stats) record(k CallKey) {
	st.mu.Lock()
	if st.counts == nil {
		st.counts = make(map[CallKey]int)
	}
	st.counts[k]++
	st.mu.Unlock()
}

// CallCount is a number of calls of one operation in one account.
type CallCount struct {
	CallKey
	Calls int
}

// Calls returns the calls answered so far (including errors), sorted by
// account, service and operation.
func (s *Sandbox) Calls() []CallCount {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	out := make([]CallCount, 0, len(s.stats.counts))
	for k, n := range s.stats.counts {
		out = append(out, CallCount{k, n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Account != b.Account {
			return a.Account < b.Account
		}
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		return a.Operation < b.Operation
	})
	return out
}

// ResetCalls forgets the counted calls.
func (s *Sandbox) ResetCalls() {
	s.stats.mu.Lock()
	s.stats.counts = nil
	s.stats.mu.Unlock()
}
