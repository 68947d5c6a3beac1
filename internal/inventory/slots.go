package inventory

import (
	"context"
	"slices"
	"sync"
)

// slots bound how many accounts are read at once (Options.Parallel). An
// account waiting for its credential report to be generated gives its slot
// up, so that the next accounts can start theirs meanwhile; when it comes
// back it goes before every account not yet started, so that a report is
// read soon after it is ready and the accounts begun are finished first.
type slots struct {
	mu      sync.Mutex
	free    int
	resumed []chan struct{} // waiting accounts that have started, first come first served
	fresh   []chan struct{} // waiting accounts not yet started
}

func newSlots(n int) *slots { return &slots{free: n} }

// acquire waits for a slot; resume says the account has started already.
// It fails only when ctx ends, and then holds no slot.
func (s *slots) acquire(ctx context.Context, resume bool) error {
	s.mu.Lock()
	if s.free > 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if resume {
		s.resumed = append(s.resumed, ch)
	} else {
		s.fresh = append(s.fresh, ch)
	}
	s.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		queued := false
		for _, q := range []*[]chan struct{}{&s.resumed, &s.fresh} {
			if i := slices.Index(*q, ch); i >= 0 {
				*q = slices.Delete(*q, i, i+1)
				queued = true
			}
		}
		s.mu.Unlock()
		if !queued {
			// The slot was handed over as ctx ended: pass it on.
			s.release()
		}
		return ctx.Err()
	}
}

// release gives a slot back, to a started account first.
func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range []*[]chan struct{}{&s.resumed, &s.fresh} {
		if len(*q) > 0 {
			ch := (*q)[0]
			*q = (*q)[1:]
			close(ch)
			return
		}
	}
	s.free++
}
