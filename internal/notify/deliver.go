package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/keywarden/keywarden/internal/store"
)

// Journal is where deliveries are recorded; store.Store implements it.
// Deliver calls RecordNotification from one goroutine at a time, so an
// implementation need not be safe for concurrent use on Deliver's account.
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
	// ChannelTimeout bounds the whole delivery of one digest through its
	// channel, every attempt and wait included (default 2m): a channel
	// that hangs or keeps failing costs each of its digests at most this
	// long, and a wait that would end past it is not waited (the digest
	// fails at once). It fails the digest (ErrChannelTimeout); the
	// caller's ctx ending first interrupts it instead.
	ChannelTimeout time.Duration
	// ChannelTimeouts replace ChannelTimeout for the channels they name
	// (by the policy's channel name); zero or less is ChannelTimeout.
	ChannelTimeouts map[string]time.Duration
	// Parallel bounds the digests being delivered at once (default 8). It
	// is shared out between the channels the digests go through, each
	// getting at least an equal part (or one per digest, if fewer) and
	// never less than one, so that a slow or hanging channel holds only its
	// own part and delays no other channel; within a channel, the security
	// team's digest goes first. With more channels than Parallel, each
	// channel still has one.
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
	if o.ChannelTimeout <= 0 {
		o.ChannelTimeout = 2 * time.Minute
	}
	if o.Parallel <= 0 {
		o.Parallel = 8
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

// channelTimeout is the time of a digest through the named channel.
func (o DeliverOptions) channelTimeout(channel string) time.Duration {
	if d := o.ChannelTimeouts[channel]; d > 0 {
		return d
	}
	return o.ChannelTimeout
}

// ErrChannelTimeout is the failure of a digest whose channel did not take
// it within DeliverOptions.ChannelTimeout.
var ErrChannelTimeout = errors.New("channel timeout")

// Delivery is what became of one digest: sent (Err nil), failed (Err set,
// Interrupted false: given up on in this run, and recorded as failed), or
// interrupted (Err set, Interrupted true).
type Delivery struct {
	To       Recipient
	Items    int
	Attempts int   // 0: never tried
	Err      error // nil: sent
	// Interrupted is true when the digest was not delivered because
	// Deliver's ctx ended (Ctrl-C, the caller's deadline) before it was:
	// never tried (Attempts 0), or stopped during an attempt or a wait.
	// Such a digest was not given up on: deliver it again later
	// (Report.Undelivered). Err wraps ctx's error. An attempt cut short may
	// still have reached the receiver: the retry carries the same
	// idempotency key (Digest.IdempotencyKey).
	Interrupted bool
	// Digest is the digest itself, for a retry.
	Digest Digest
}

// Report is what became of a run's digests. Deliver never fails: its
// failures are here.
type Report struct {
	// Deliveries are in the order of the digests given to Deliver.
	Deliveries []Delivery
	// RecordErr is the first error writing the outcomes to the journal.
	RecordErr error
}

// Sent counts the digests delivered.
func (r Report) Sent() int {
	n := 0
	for _, d := range r.Deliveries {
		if d.Err == nil {
			n++
		}
	}
	return n
}

// Failed counts the digests given up on: a permanent failure, attempts or
// the channel's time exhausted, no such channel. Interrupted digests are
// not counted.
func (r Report) Failed() int {
	n := 0
	for _, d := range r.Deliveries {
		if d.Err != nil && !d.Interrupted {
			n++
		}
	}
	return n
}

// Interrupted counts the digests not delivered because Deliver's ctx
// ended first. Sent, Failed and Interrupted add up to len(Deliveries).
func (r Report) Interrupted() int { return len(r.Undelivered()) }

// Undelivered returns the digests Deliver did not get to deliver because
// its ctx ended (the deliveries Interrupted), in order: those to deliver
// again later. Failed digests are not among them.
func (r Report) Undelivered() []Digest {
	var out []Digest
	for _, d := range r.Deliveries {
		if d.Interrupted {
			out = append(out, d.Digest)
		}
	}
	return out
}

// Deliver renders each digest for its channel and sends it, retrying
// transient failures with exponential backoff and jitter, and records the
// outcome of every item in the journal (nil: not recorded). It never
// returns an error: a digest that could not be delivered (no such
// channel, a permanent failure, attempts or ChannelTimeout exhausted) is a
// failed Delivery in the report, and recorded as failed.
//
// Digests are delivered concurrently, each channel with its own part of
// Parallel and each digest within its ChannelTimeout, so that a slow
// channel delays no other; the security team's digest goes first in its
// channel. Deliveries are in the order of digests, whatever the order they
// end in.
//
// When ctx ends, Deliver returns promptly: the digests not delivered yet
// are Interrupted in the report (Report.Undelivered), and recorded as
// failed, saying so.
func Deliver(ctx context.Context, digests []Digest, channels map[string]Channel, j Journal, o DeliverOptions) Report {
	o = o.withDefaults()
	rep := Report{Deliveries: make([]Delivery, len(digests))}
	var (
		wg  sync.WaitGroup
		jmu sync.Mutex // one journal write at a time; guards rep.RecordErr
	)
	finish := func(i int, del Delivery) {
		rep.Deliveries[i] = del // each index is written by one goroutine
		jmu.Lock()
		defer jmu.Unlock()
		if err := record(ctx, j, digests[i], del, o.Now()); err != nil && rep.RecordErr == nil {
			rep.RecordErr = err
		}
	}
	for _, q := range queues(digests, o.Parallel) {
		for range q.workers {
			wg.Go(func() {
				for i := range q.digests {
					d := digests[i]
					if ctx.Err() != nil {
						finish(i, interrupted(ctx, Delivery{To: d.To, Items: len(d.Items), Digest: d}, nil, o))
						continue
					}
					finish(i, deliverOne(ctx, d, channels[d.To.Channel], o))
				}
			})
		}
	}
	wg.Wait()
	return rep
}

// queue is the digests of one channel, by index, and how many are
// delivered at once.
type queue struct {
	digests chan int
	workers int
}

// queues splits digests by channel, the security team's first in each,
// and shares parallel out between the channels: each gets at least an
// equal part of it (or one per digest, if fewer), and never less than one;
// what a channel with fewer digests leaves goes to the others.
func queues(digests []Digest, parallel int) []queue {
	var names []string
	byName := map[string][]int{}
	for _, team := range []bool{true, false} {
		for i, d := range digests {
			if d.To.Team != team {
				continue
			}
			name := d.To.Channel
			if _, ok := byName[name]; !ok {
				names = append(names, name)
			}
			byName[name] = append(byName[name], i)
		}
	}
	// The channels with the fewest digests take their part first.
	workers := map[string]int{}
	bySize := slices.Clone(names)
	slices.SortStableFunc(bySize, func(a, b string) int { return len(byName[a]) - len(byName[b]) })
	left := parallel
	for k, name := range bySize {
		n := min(max(left/(len(bySize)-k), 1), len(byName[name]))
		workers[name] = n
		left -= n
	}
	out := make([]queue, 0, len(names))
	for _, name := range names {
		idx := byName[name]
		q := queue{digests: make(chan int, len(idx)), workers: workers[name]}
		for _, i := range idx {
			q.digests <- i
		}
		close(q.digests)
		out = append(out, q)
	}
	return out
}

func deliverOne(ctx context.Context, d Digest, ch Channel, o DeliverOptions) Delivery {
	del := Delivery{To: d.To, Items: len(d.Items), Digest: d}
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
	timeout := o.channelTimeout(d.To.Channel)
	deadline := time.Now().Add(timeout) // the channel's, not the caller's
	cctx, cancel := context.WithDeadlineCause(ctx, deadline, ErrChannelTimeout)
	defer cancel()
	// timedOut fails the delivery on the channel's time, after err.
	timedOut := func(err error, attempt int) Delivery {
		del.Err = fmt.Errorf("%w (%s) after %d %s; the last: %v", ErrChannelTimeout, timeout, attempt, plural(attempt, "attempt", "attempts"), err)
		log.Warn("notification failed", "attempt", attempt, "error", del.Err)
		return del
	}
	for attempt := 1; ; attempt++ {
		del.Attempts = attempt
		actx, acancel := context.WithTimeout(cctx, o.Timeout)
		err := send(actx, ch, m)
		acancel()
		if err == nil {
			log.Info("notification sent", "attempts", attempt)
			del.Err = nil
			return del
		}
		del.Err = err
		switch {
		case errors.Is(err, ErrPermanent): // an answer, whatever became of ctx
			log.Warn("notification failed", "attempt", attempt, "error", err)
			return del
		case ctx.Err() != nil:
			return interrupted(ctx, del, err, o)
		case cctx.Err() != nil:
			return timedOut(err, attempt)
		case attempt >= o.Attempts:
			log.Warn("notification failed", "attempt", attempt, "error", err)
			del.Err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			return del
		}
		wait := backoff(o, attempt, retryAfter(err))
		if time.Until(deadline) <= wait {
			return timedOut(err, attempt) // no time left for another attempt
		}
		log.Warn("notification failed; retrying", "attempt", attempt, "error", err, "retry_in", wait)
		if sleep(cctx, wait) != nil {
			if ctx.Err() != nil {
				return interrupted(ctx, del, err, o)
			}
			return timedOut(err, attempt)
		}
	}
}

// interrupted marks del as not delivered because ctx ended, after its
// attempts (the last failing with last, if any).
func interrupted(ctx context.Context, del Delivery, last error, o DeliverOptions) Delivery {
	del.Interrupted = true
	switch {
	case del.Attempts == 0:
		del.Err = fmt.Errorf("%w (interrupted before the first attempt)", ctx.Err())
	case last == nil || errors.Is(last, ctx.Err()):
		del.Err = fmt.Errorf("%w (interrupted after %d %s)", ctx.Err(), del.Attempts, plural(del.Attempts, "attempt", "attempts"))
	default:
		del.Err = fmt.Errorf("%w (interrupted after %d %s; the last: %v)", ctx.Err(), del.Attempts, plural(del.Attempts, "attempt", "attempts"), last)
	}
	o.Log.Warn("notification interrupted", "to", del.To.Contact, "channel", del.To.Channel, "attempts", del.Attempts, "error", del.Err)
	return del
}

// sendGrace is how long send waits, once ctx is done, for a channel to
// return: a channel that heeds ctx returns well within it.
const sendGrace = 100 * time.Millisecond

// send calls ch.Send, returning ctx's error soon after ctx is done even if
// the channel does not heed ctx: such a Send is left to end on its own,
// its outcome unknown (the digest counts as not delivered).
func send(ctx context.Context, ch Channel, m Message) error {
	done := make(chan error, 1)
	go func() { done <- ch.Send(ctx, m) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	t := time.NewTimer(sendGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return ctx.Err()
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
