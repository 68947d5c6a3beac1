package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

// Journal is where deliveries are recorded; store.Store implements it.
type Journal interface {
	RecordNotification(ctx context.Context, n store.Notification) (int64, error)
}

// DeliverOptions tune Deliver. Zero values take the defaults.
type DeliverOptions struct {
	// Attempts per digest (default 4).
	Attempts int
	// Backoff is the wait before the second attempt (default 2s); it
	// doubles for each attempt after, up to MaxBackoff (default 1m), and
	// each wait is jittered between half and all of it. A receiver's
	// Retry-After is honoured up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds one attempt (default 30s).
	Timeout time.Duration
	// Parallel digests are delivered at once (default 4).
	Parallel int
	// Renderer renders the digests (default DefaultRenderer()).
	Renderer *Renderer
	// Now stamps the records (default time.Now).
	Now func() time.Time
	Log *slog.Logger
}

func (o DeliverOptions) withDefaults() DeliverOptions {
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.Renderer == nil {
		o.Renderer = DefaultRenderer()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return o
}

// Delivery is what became of one digest.
type Delivery struct {
	To       Recipient
	Items    int
	Attempts int
	Err      error // nil: sent
}

// Report is what became of a run's digests. Deliver never fails: its
// failures are here.
type Report struct {
	Deliveries []Delivery
	// RecordErr is the first error writing the outcomes to the journal.
	RecordErr error
}

// Sent counts the digests delivered.
func (r Report) Sent() int { return len(r.Deliveries) - r.Failed() }

// Failed counts the digests not delivered.
func (r Report) Failed() int {
	n := 0
	for _, d := range r.Deliveries {
		if d.Err != nil {
			n++
		}
	}
	return n
}

// Deliver renders each digest for its channel and sends it, retrying
// transient failures with exponential backoff and jitter, and records the
// outcome of every item in the journal (nil: not recorded). It never
// returns an error: a digest that could not be delivered (no such
// channel, a permanent failure, attempts exhausted, ctx done) is a failed
// Delivery in the report, and recorded as failed. Deliveries are in the
// order of digests.
func Deliver(ctx context.Context, digests []Digest, channels map[string]Channel, j Journal, o DeliverOptions) Report {
	o = o.withDefaults()
	rep := Report{Deliveries: make([]Delivery, len(digests))}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		sem = make(chan struct{}, o.Parallel)
	)
	for i, d := range digests {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			del := deliverOne(ctx, d, channels[d.To.Channel], o)
			rep.Deliveries[i] = del
			if err := record(ctx, j, d, del, o.Now()); err != nil {
				mu.Lock()
				if rep.RecordErr == nil {
					rep.RecordErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return rep
}

func deliverOne(ctx context.Context, d Digest, ch Channel, o DeliverOptions) Delivery {
	del := Delivery{To: d.To, Items: len(d.Items)}
	if ch == nil {
		del.Err = fmt.Errorf("no channel named %q", d.To.Channel)
		return del
	}
	m, err := o.Renderer.Render(d, ch.Name())
	if err != nil {
		del.Err = err
		return del
	}
	log := o.Log.With("to", d.To.Contact, "channel", d.To.Channel, "items", len(d.Items))
	for attempt := 1; ; attempt++ {
		del.Attempts = attempt
		actx, cancel := context.WithTimeout(ctx, o.Timeout)
		err := ch.Send(actx, m)
		cancel()
		if err == nil {
			log.Info("notification sent", "attempts", attempt)
			del.Err = nil
			return del
		}
		del.Err = err
		switch {
		case ctx.Err() != nil:
			del.Err = fmt.Errorf("%w (after %d %s)", ctx.Err(), attempt, plural(attempt, "attempt", "attempts"))
			return del
		case errors.Is(err, ErrPermanent):
			log.Warn("notification failed", "attempt", attempt, "error", err)
			return del
		case attempt >= o.Attempts:
			log.Warn("notification failed", "attempt", attempt, "error", err)
			del.Err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			return del
		}
		wait := backoff(o, attempt, retryAfter(err))
		log.Warn("notification failed; retrying", "attempt", attempt, "error", err, "retry_in", wait)
		if err := sleep(ctx, wait); err != nil {
			del.Err = fmt.Errorf("%w (after %d %s)", err, attempt, plural(attempt, "attempt", "attempts"))
			return del
		}
	}
}

// backoff is the wait after the given failed attempt: Backoff doubled for
// each attempt before, capped at MaxBackoff, jittered between half and
// all of it; at least what the receiver asked for, within MaxBackoff.
func backoff(o DeliverOptions, attempt int, asked time.Duration) time.Duration {
	d := o.Backoff
	for i := 1; i < attempt && d < o.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	if asked > d {
		d = min(asked, o.MaxBackoff)
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// record writes the outcome of each item, even once ctx is done.
func record(ctx context.Context, j Journal, d Digest, del Delivery, at time.Time) error {
	if j == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	outcome, detail := store.NotificationSent, ""
	if del.Err != nil {
		outcome, detail = store.NotificationFailed, del.Err.Error()
	}
	for _, it := range d.Items {
		_, err := j.RecordNotification(ctx, store.Notification{
			RunID: d.RunID, Recipient: d.To.Key(), Channel: d.To.Channel, ItemKey: ItemKey(d.RunID, it),
			AccountID: it.AccountID, UserName: it.UserName, AccessKeyID: it.AccessKeyID,
			Outcome: outcome, Detail: detail, Attempts: del.Attempts, At: at,
		})
		if err != nil {
			return fmt.Errorf("record the notification of %s: %w", d.To.Contact, err)
		}
	}
	return nil
}
