package awsemu

import (
	"sync"
	"time"
)

// Clock is the sandbox's notion of "now". Every timestamp the sandbox reports
// (creation dates, last use, report generation, session expiry) comes from it,
// so tests can let days pass in milliseconds. It follows the wall clock plus
// an offset until frozen.
//
// Signature time checks do not use it: SDK clients sign with the real time,
// so the ±15 minute check compares against the wall clock.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen bool
	at     time.Time // valid when frozen
	wall   func() time.Time
}

// NewClock returns a clock that follows the wall clock.
func NewClock() *Clock { return &Clock{wall: time.Now} }

// Now returns the sandbox time in UTC.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.at
	}
	return c.wall().Add(c.offset).UTC()
}

// Advance moves the clock forward by d (backward if d is negative).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.at = c.at.Add(d)
		return
	}
	c.offset += d
}

// Set makes Now return t from this moment on; a running clock keeps ticking
// from t, a frozen one stays at t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.at = t.UTC()
		return
	}
	c.offset = t.Sub(c.wall())
}

// Freeze stops the clock at its current time.
func (c *Clock) Freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen {
		c.at = c.wall().Add(c.offset).UTC()
		c.frozen = true
	}
}

// Unfreeze lets a frozen clock run again from where it stood.
func (c *Clock) Unfreeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.offset = c.at.Sub(c.wall())
		c.frozen = false
	}
}
