package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections/compliance"
)

// watch follows the derived compliance events (and, with --raw, the
// recorded events) live and prints them, until interrupted or --count
// events were printed. With --durable NAME it reads through a durable
// consumer that remembers on the server where it stopped.
func (m *Main) watch(ctx context.Context, args []string) error {
	fs := m.flagSet("watch", "[FILTER]")
	var c connFlags
	m.addConnFlags(fs, &c)
	var format formatFlag
	addFormatFlag(fs, &format, "text", "json")
	durable := fs.String("durable", "", "resume from where the durable consumer NAME stopped (created on first use)")
	fromStart := fs.Bool("from-start", false, "begin with the first event stored, not with the next one published")
	raw := fs.Bool("raw", false, "also follow the recorded events (ccm.events.>)")
	count := fs.Int("count", 0, "stop after this many events (0: until interrupted)")
	pos, err := parse(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if err := format.check(); err != nil {
		return err
	}
	filter := compliance.SubjectPrefix + ">"
	if len(pos) == 1 {
		if filter, err = watchFilter(pos[0]); err != nil {
			return err
		}
	}
	if *durable != "" && strings.ContainsAny(*durable, ".*> \t") {
		return usagef("--durable %q: a consumer name has no '.', '*', '>' or spaces", *durable)
	}
	if *count < 0 {
		return usagef("--count %d: not negative", *count)
	}
	m.fromEnv(fs, &c)
	c.noRecord = true // a watcher never writes to the ledger
	// Without --raw only the compliance stream is read: the log is not
	// opened, so that a user who may not read it (the service role) can
	// watch.
	b, err := m.open(ctx, c, openOptions{connOnly: !*raw})
	if err != nil {
		return err
	}
	defer b.close()
	js, err := jetstream.New(b.nc)
	if err != nil {
		return err
	}
	if err := findComplianceStream(ctx, b.nc, js); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("no compliance stream %s at %s: start `ccm serve` with its projector", projector.DefaultStream, b.where)
		}
		return fmt.Errorf("compliance stream %s at %s: %w", projector.DefaultStream, b.where, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out := &watchOut{w: m.Stdout, json: format.value == "json", limit: *count, done: cancel}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	follow := func(stream, name, subject string, show func([]byte, jetstream.MsgMetadata) error) {
		defer wg.Done()
		cons, err := watchConsumer(ctx, js, stream, name, subject, *fromStart)
		if err == nil {
			err = consume(ctx, cons, name != "", show)
		}
		if err != nil && ctx.Err() == nil {
			errs <- err
			cancel()
		}
	}
	wg.Add(1)
	go follow(projector.DefaultStream, *durable, filter, out.compliance)
	if *raw {
		name := ""
		if *durable != "" {
			name = *durable + "-raw"
		}
		wg.Add(1)
		go follow(b.log.StreamName(), name, events.SubjectPrefix+">", out.event)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// findComplianceStream looks the compliance stream up. A refused
// subscription to the replies' inbox (a user with inboxes of its own, such
// as the service role, connected without --nats-inbox-prefix) ends the
// wait for a reply that cannot come at once, with an error that says so.
func findComplianceStream(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) {
					cancel(err)
					return
				}
			}
		}
	}()
	_, err := js.Stream(ctx, projector.DefaultStream)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, nats.ErrPermissionViolation) {
		return fmt.Errorf("%w; a user whose replies come on inboxes of its own, such as the service role, needs --nats-inbox-prefix", cause)
	}
	return err
}

// watchConsumer returns a durable consumer NAME (created on first use) or,
// without a name, an ordered consumer, on subject.
func watchConsumer(ctx context.Context, js jetstream.JetStream, stream, name, subject string, fromStart bool) (jetstream.Consumer, error) {
	deliver := jetstream.DeliverNewPolicy
	if fromStart {
		deliver = jetstream.DeliverAllPolicy
	}
	if name == "" {
		return js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}, DeliverPolicy: deliver})
	}
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	cons, err := st.Consumer(ctx, name)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return st.CreateConsumer(ctx, jetstream.ConsumerConfig{
			Durable: name, Description: "ccm watch", FilterSubject: subject,
			AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: deliver,
		})
	}
	if err != nil {
		return nil, err
	}
	if got := cons.CachedInfo().Config.FilterSubject; got != subject {
		return nil, usagef("--durable %s follows %s, not %s: give another name", name, got, subject)
	}
	return cons, nil
}

// watchHeartbeat is how often the server tells an idle watcher that its
// pull request is still alive; two missed in a row make a new one.
const watchHeartbeat = time.Second

// consume prints each message, acknowledging it after (durable only).
//
// A missed heartbeat is not the end of a watch: a pull request can be lost
// (a consumer leader elected after the request, a network path that
// stalls), and the iterator then issues a new one. An ordered consumer
// recovers on its own; a durable one reports it, and consume goes on.
func consume(ctx context.Context, cons jetstream.Consumer, ack bool, show func([]byte, jetstream.MsgMetadata) error) error {
	it, err := cons.Messages(jetstream.PullHeartbeat(watchHeartbeat))
	if err != nil {
		return err
	}
	defer it.Stop()
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrNoHeartbeat) && ctx.Err() == nil {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		md, err := msg.Metadata()
		if err != nil {
			return err
		}
		if err := show(msg.Data(), *md); err != nil {
			if errors.Is(err, errWatchDone) {
				if ack {
					_ = msg.DoubleAck(context.Background())
				}
				return nil
			}
			return err
		}
		if ack {
			if err := msg.DoubleAck(ctx); err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

var errWatchDone = errors.New("enough events")

// watchOut prints events from both followers, one line each.
type watchOut struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	limit int
	n     int
	done  func()
}

func (o *watchOut) print(line string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.limit > 0 && o.n >= o.limit {
		return errWatchDone
	}
	fmt.Fprintln(o.w, line)
	o.n++
	if o.limit > 0 && o.n >= o.limit {
		o.done()
		return errWatchDone
	}
	return nil
}

func (o *watchOut) compliance(data []byte, md jetstream.MsgMetadata) error {
	var e compliance.Event
	if err := json.Unmarshal(data, &e); err != nil {
		return fmt.Errorf("compliance event %d: %w", md.Sequence.Stream, err)
	}
	if o.json {
		b, _ := json.Marshal(e)
		return o.print(string(b))
	}
	var causes []string
	for _, c := range e.Causes {
		s := fmt.Sprintf("%s %s (seq %d)", c.Type, c.Date, c.Seq)
		if c.State != "" && c.State != e.State {
			s = c.State + " " + s
		}
		causes = append(causes, s)
	}
	line := e.Summary()
	if len(causes) > 0 {
		line += "; from " + strings.Join(causes, ", ")
	}
	return o.print(line)
}

func (o *watchOut) event(data []byte, md jetstream.MsgMetadata) error {
	e, err := events.DecodeStored(data, md.Sequence.Stream, md.Timestamp)
	if err != nil {
		return err
	}
	if o.json {
		b, _ := e.MarshalJSON()
		return o.print(string(b))
	}
	line := fmt.Sprintf("recorded #%d: %s %s %s", e.Seq, e.Scope(), e.Type, e.Date)
	if d := e.Data(); d != nil {
		line += " " + string(d)
	}
	return o.print(line)
}
