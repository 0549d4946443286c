package chat

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"chat/app/layer"
	"chat/models"
)

// MessageSaver stores a batch of messages in one transaction (the store implements it).
type MessageSaver interface {
	SaveMessages(ctx context.Context, batch []*models.Message) (duplicate []bool, err error)
}

// ErrPublisherClosed is returned by Publish after Close.
var ErrPublisherClosed = errors.New("chat: publisher closed")

// Publisher stores messages, then broadcasts them, from one goroutine. Requests that arrive
// while a transaction runs are committed together in the next one (group commit), which is
// what lets SQLite's single writer keep up, and broadcasting from the same goroutine in commit
// order means every member sees a room's messages in the order of their ids.
type Publisher struct {
	store    MessageSaver
	layer    layer.Layer
	maxBatch int
	log      *slog.Logger

	reqs    chan *publishRequest
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when run has returned
	closing sync.Once

	stored, batches, failed atomic.Uint64
	obs                     Observers
	linger                  time.Duration
}

// publishRequest is one message waiting for the publisher.
type publishRequest struct {
	msg   *models.Message
	group string
	done  func(duplicate bool, err error)
}

// publishResult tells the sender what became of its message.
type publishResult struct {
	duplicate bool
	err       error
}

// Observers receive the publisher's timings (for metrics); either may be nil.
type Observers struct {
	Commit    func(d time.Duration, messages int) // one transaction
	Broadcast func(d time.Duration)               // one group send
}

// NewPublisher starts the publisher goroutine; Close stops it. linger is how long a busy
// publisher waits to fill a batch (0: never).
func NewPublisher(store MessageSaver, l layer.Layer, maxBatch int, linger time.Duration, log *slog.Logger, obs Observers) *Publisher {
	p := &Publisher{
		store: store, layer: l, maxBatch: maxBatch, linger: linger, log: log, obs: obs,
		reqs: make(chan *publishRequest, maxBatch*4),
		done: make(chan struct{}), stopped: make(chan struct{}),
	}
	go p.run()
	return p
}

// Submit queues msg to be stored and, once committed, sent to group; done runs on the
// publisher goroutine afterwards (it must not block). duplicate is true when msg.ClientID was
// already stored for this user: msg is then filled from the stored row and nothing is
// broadcast again. Submit waits only while the queue is full, which pushes back on a flood
// through the sender's socket; it does not wait for the commit, so one connection can have
// many messages in one transaction.
func (p *Publisher) Submit(ctx context.Context, msg *models.Message, group string, done func(duplicate bool, err error)) error {
	select {
	case p.reqs <- &publishRequest{msg: msg, group: group, done: done}:
		return nil
	case <-p.done:
		return ErrPublisherClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Publish is Submit that waits for the outcome.
func (p *Publisher) Publish(ctx context.Context, msg *models.Message, group string) (duplicate bool, err error) {
	reply := make(chan publishResult, 1)
	if err := p.Submit(ctx, msg, group, func(dup bool, err error) { reply <- publishResult{dup, err} }); err != nil {
		return false, err
	}
	select {
	case res := <-reply:
		return res.duplicate, res.err
	case <-p.stopped:
		return false, ErrPublisherClosed
	}
}

func (p *Publisher) run() {
	defer close(p.stopped)
	batch := make([]*publishRequest, 0, p.maxBatch)
	msgs := make([]*models.Message, 0, p.maxBatch)
	var frame []byte
	var lastCommit time.Time
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	for {
		var first *publishRequest
		select {
		case first = <-p.reqs:
		case <-p.done:
			p.drain()
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < p.maxBatch {
			select {
			case r := <-p.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		// Busy (the last commit ended moments ago): wait a little for more, because a commit
		// costs about the same for one message as for a hundred. A quiet room never waits.
		if p.linger > 0 && len(batch) < p.maxBatch && time.Since(lastCommit) < 4*p.linger {
			linger.Reset(p.linger)
		wait:
			for len(batch) < p.maxBatch {
				select {
				case r := <-p.reqs:
					batch = append(batch, r)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		msgs = msgs[:0]
		for _, r := range batch {
			msgs = append(msgs, r.msg)
		}
		dups, errs := p.save(msgs)
		lastCommit = time.Now()
		for i, r := range batch {
			if errs[i] != nil {
				p.failed.Add(1)
				r.done(false, errs[i])
				continue
			}
			if !dups[i] {
				p.stored.Add(1)
				frame = appendMessageFrame(frame[:0], r.msg)
				ev := &layer.Event{Type: TypeMessage, Data: append([]byte(nil), frame...), Seq: r.msg.Seq}
				start := time.Now()
				err := p.layer.GroupSend(context.Background(), r.group, ev)
				if p.obs.Broadcast != nil {
					p.obs.Broadcast(time.Since(start))
				}
				if err != nil {
					// Stored but not broadcast: members get it from catch-up or a reload.
					p.log.Error("broadcast failed", "group", r.group, "id", r.msg.ID, "err", err)
				}
			}
			r.done(dups[i], nil)
		}
		clear(batch)
	}
}

// save stores a batch in one transaction. If that fails and the batch has several messages,
// each is tried alone, so one bad row (its user deleted meanwhile, say) fails only its sender.
func (p *Publisher) save(msgs []*models.Message) (dups []bool, errs []error) {
	errs = make([]error, len(msgs))
	start := time.Now()
	dups, err := p.store.SaveMessages(context.Background(), msgs)
	p.batches.Add(1)
	if p.obs.Commit != nil {
		p.obs.Commit(time.Since(start), len(msgs))
	}
	if err == nil {
		return dups, errs
	}
	p.log.Error("storing messages failed", "count", len(msgs), "err", err)
	dups = make([]bool, len(msgs))
	if len(msgs) == 1 {
		errs[0] = err
		return dups, errs
	}
	for i := range msgs {
		d, err := p.store.SaveMessages(context.Background(), msgs[i:i+1])
		p.batches.Add(1)
		if err != nil {
			errs[i] = err
			continue
		}
		dups[i] = d[0]
	}
	return dups, errs
}

// drain answers every request still queued after Close.
func (p *Publisher) drain() {
	for {
		select {
		case r := <-p.reqs:
			r.done(false, ErrPublisherClosed)
		default:
			return
		}
	}
}

// Close stops the publisher after the batch in progress.
func (p *Publisher) Close() { p.closing.Do(func() { close(p.done) }) }

// PublisherStats are the publisher's counters.
type PublisherStats struct {
	Stored  uint64 // messages stored and broadcast
	Batches uint64 // transactions run
	Failed  uint64 // messages whose transaction failed
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{Stored: p.stored.Load(), Batches: p.batches.Load(), Failed: p.failed.Load()}
}
