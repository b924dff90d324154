package projector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/embedded"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/projector"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// service is a subscriber to compliance events as any service would write
// it, with nothing but NATS: a durable pull consumer on the stream
// CCM_COMPLIANCE, which remembers on the server how far the service got.
// Each event is acknowledged once handled, so that after a stop the service
// resumes after the last event it handled.
type service struct {
	seen map[string]int // event id -> times handled
	log  []string
}

// run handles the events waiting for the durable consumer "deadlines",
// creating it on first use, until none is left (a stand-in for "until the
// service is stopped").
func (s *service) run(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "CCM_COMPLIANCE", jetstream.ConsumerConfig{
		Durable:        "deadlines",
		FilterSubjects: []string{"ccm.compliance.SWE.deadline-approaching", "ccm.compliance.SWE.deadline-missed"},
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return err
	}
	for {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			return err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var ev struct {
				ID       string `json:"id"`
				Kind     string `json:"kind"`
				State    string `json:"state"`
				Date     string `json:"date"`
				Deadline string `json:"deadline"`
				Rule     string `json:"rule"`
			}
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				return err
			}
			s.seen[ev.ID]++
			s.log = append(s.log, fmt.Sprintf("%s %s %s (%s, deadline %s)", ev.Date, ev.State, ev.Kind, ev.Rule, ev.Deadline))
			if err := m.Ack(); err != nil {
				return err
			}
		}
		if batch.Error() != nil && !errors.Is(batch.Error(), nats.ErrTimeout) {
			return batch.Error()
		}
		if n == 0 {
			return nil
		}
	}
}

// Example_durableSubscriber shows a service that subscribes to deadline
// events with a durable consumer, is stopped, and is started again after
// the projector published more while it was down: it sees each event
// exactly once.
func Example_durableSubscriber() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "ccm-example-")
	defer os.RemoveAll(dir)
	srv, err := embedded.Start(embedded.Options{StoreDir: dir, Port: -1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Stop()
	nc, _ := srv.Connect("example", false)
	defer nc.Close()

	// A ledger with thirty States Parties and Sweden, which declared
	// stockpiles (Art. 3 deadline 2020-10-01) and contaminated areas
	// (Art. 4 deadline 2022-10-01).
	log, _ := jslog.Create(ctx, nc, jslog.Config{})
	ledger := aggregates.NewLedger(log, nil)
	var evs []events.Envelope
	n := 0
	for _, c := range events.States() {
		if n == 30 || c.ISO3 == "SWE" {
			continue
		}
		sig, _ := events.New(uuid.Nil, events.Signed, c.ISO3, events.MustDate("2008-12-03"), nil, "example")
		dep, _ := events.New(uuid.Nil, events.Deposited, c.ISO3, events.MustDate("2009-03-01").AddDate(0, 0, n*11), &events.Deposit{Instrument: events.Ratification}, "example")
		evs = append(evs, sig, dep)
		n++
	}
	for _, e := range []struct {
		t    events.Type
		date string
		p    events.Payload
	}{
		{events.Signed, "2008-12-03", nil},
		{events.Deposited, "2012-04-23", &events.Deposit{Instrument: events.Ratification}},
		{events.StockpileDeclared, "2012-10-01", &events.Quantities{}},
		{events.ContaminationDeclared, "2012-10-01", &events.Contamination{}},
		{events.ReportSubmitted, "2013-03-01", &events.Report{Kind: events.InitialReport}},
	} {
		ev, _ := events.New(uuid.Nil, e.t, "SWE", events.MustDate(e.date), e.p, "example")
		evs = append(evs, ev)
	}
	if _, err := ledger.Import(ctx, evs, nil); err != nil {
		fmt.Println(err)
		return
	}

	// The projector runs with a clock the example sets.
	clk := newClock("2020-06-01")
	// The operator creates the compliance stream and the checkpoint bucket.
	if err := projector.Create(ctx, log.JetStream(), projector.Config{}); err != nil {
		fmt.Println(err)
		return
	}
	runProjector := func() {
		p, _ := projector.Open(ctx, log, projector.Config{Now: clk.Now, Tick: 10 * time.Millisecond})
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { p.Run(pctx); close(done) }()
		for s := p.Stats(); !(s.Running && s.Checkpoint.Date == clk.Date()); s = p.Stats() {
			time.Sleep(10 * time.Millisecond)
		}
		stop()
		<-done
	}
	runProjector()

	svc := &service{seen: map[string]int{}}
	if err := svc.run(ctx, nc); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("first run:")
	for _, l := range svc.log {
		fmt.Println(" ", l)
	}

	// The service is down while the clock passes two deadlines.
	clk.Set("2022-12-31")
	runProjector()
	svc.log = nil
	if err := svc.run(ctx, nc); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("after a restart:")
	for _, l := range svc.log {
		fmt.Println(" ", l)
	}
	twice := 0
	for _, n := range svc.seen {
		if n > 1 {
			twice++
		}
	}
	fmt.Printf("%d events, %d handled twice\n", len(svc.seen), twice)
	// Output:
	// first run:
	//   2012-10-01 SWE deadline-approaching (art7-initial-report, deadline 2013-03-30)
	//   2020-04-04 SWE deadline-approaching (art3-stockpile-destruction, deadline 2020-10-01)
	// after a restart:
	//   2020-10-02 SWE deadline-missed (art3-stockpile-destruction, deadline 2020-10-01)
	//   2022-04-04 SWE deadline-approaching (art4-clearance, deadline 2022-10-01)
	//   2022-10-02 SWE deadline-missed (art4-clearance, deadline 2022-10-01)
	// 5 events, 0 handled twice
}
