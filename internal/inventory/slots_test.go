package inventory

import (
	"context"
	"runtime"
	"testing"
)

// TestSlots: a slot given back goes to a started account before one not
// yet started, each in the order they asked; a wait that ends with its
// context holds no slot.
func TestSlots(t *testing.T) {
	s := newSlots(1)
	ctx := context.Background()
	if err := s.acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 4)
	waiting := 0
	wait := func(name string, resume bool) {
		go func() {
			if err := s.acquire(ctx, resume); err != nil {
				t.Error(err)
				return
			}
			order <- name
		}()
		waiting++
		for s.waiting() < waiting {
			runtime.Gosched()
		}
	}
	wait("fresh-1", false)
	wait("resumed-1", true)
	wait("fresh-2", false)
	wait("resumed-2", true)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.acquire(cancelled, false); err == nil {
		t.Fatal("acquire with an ended context: want an error")
	}
	if got := s.waiting(); got != waiting {
		t.Fatalf("%d waiting after a cancelled acquire, want %d", got, waiting)
	}
	for _, want := range []string{"resumed-1", "resumed-2", "fresh-1", "fresh-2"} {
		s.release()
		if got := <-order; got != want {
			t.Fatalf("slot went to %s, want %s", got, want)
		}
	}
	s.release()
	if s.free != 1 || s.waiting() != 0 {
		t.Errorf("after every release: %d free, %d waiting; want 1 and 0", s.free, s.waiting())
	}
}

func (s *slots) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.fresh) + len(s.resumed)
}
