// Package cmdservice is the ledger's command service on NATS: the only way
// into the log for anyone but the ledger itself. Recorders send it commands
// (ccm.cmd.record: one State's events; ccm.cmd.import: a whole input, in
// parts), the ledger decides them by the Convention's rules and appends what
// they accept, as the only user that may publish events
// (deploy/jetstream/roles). It is a NATS micro service, so `nats micro ls`,
// `info` and `stats` show it; the ledgers of several `ccm serve` share the
// commands in one queue group.
//
// Guarantees: a command is all or nothing; an import is decided whole
// before anything is appended and then recorded as one chain (a failure
// leaves a consistent prefix, and the same input sent again records only
// the rest); an input's parts are held in memory up to events.MaxInputBytes
// per import and for at most a few imports at once; every refusal names the
// line, field or rule.
package cmdservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// Recorder decides and records commands (aggregates.Ledger).
type Recorder interface {
	RecordCommand(ctx context.Context, evs ...events.Envelope) ([]aggregates.Outcome, error)
	Import(ctx context.Context, evs []events.Envelope, progress func(done, total int)) (aggregates.ImportResult, error)
	Check(ctx context.Context, evs []events.Envelope) (aggregates.ImportResult, error)
}

// Notary signs checkpoints of the log (notary.Notary).
type Notary interface {
	Checkpoint(ctx context.Context, force bool) (evidence.Checkpoint, error)
}

// Config configures the service.
type Config struct {
	Recorder Recorder
	// Notary, when set, answers checkpoint commands.
	Notary Notary
	// Version is the service's version in `nats micro info`.
	Version string
	// MaxImports bounds the imports held at once; default 1: each holds up
	// to MaxInputBytes of decoded events until it is recorded.
	MaxImports int
	// MaxInputBytes and MaxInputEvents bound one import's input; default
	// events.MaxInputBytes and events.MaxInputEvents.
	MaxInputBytes  int64
	MaxInputEvents int
	// MaxImportTime bounds how long one import may take to arrive, so
	// that a client sending a part now and then cannot hold the ledger's
	// import for long; default 30 minutes.
	MaxImportTime time.Duration
	// PartTimeout is how long an import waits for its next part before it
	// is dropped; default one minute.
	PartTimeout time.Duration
	// CommandTimeout bounds the work on one record command; default 30 s.
	CommandTimeout time.Duration
	// Logf, when set, receives what the service does.
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.MaxImports <= 0 {
		c.MaxImports = 1
	}
	if c.MaxInputBytes <= 0 {
		c.MaxInputBytes = events.MaxInputBytes
	}
	if c.MaxInputEvents <= 0 {
		c.MaxInputEvents = events.MaxInputEvents
	}
	if c.MaxImportTime <= 0 {
		c.MaxImportTime = 30 * time.Minute
	}
	if c.PartTimeout <= 0 {
		c.PartTimeout = time.Minute
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 30 * time.Second
	}
	if c.Version == "" {
		c.Version = "0.0.0"
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Service is the running command service.
type Service struct {
	cfg  Config
	svc  micro.Service
	stop context.CancelFunc
	ctx  context.Context

	mu       sync.Mutex
	sessions map[string]*session
	wg       sync.WaitGroup // imports being recorded
}

// Start adds the service to nc, which must be the ledger's connection.
func Start(nc *nats.Conn, cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	ctx, stop := context.WithCancel(context.Background())
	s := &Service{cfg: cfg, ctx: ctx, stop: stop, sessions: map[string]*session{}}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        Name,
		Version:     cfg.Version,
		Description: "ccm-ledger: decides commands by the Convention's rules and records what they accept",
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("command service: %w", err)
	}
	s.svc = svc
	if err := svc.AddEndpoint("record", micro.HandlerFunc(s.record), micro.WithEndpointSubject(RecordSubject),
		micro.WithEndpointMetadata(map[string]string{"description": "one command about one State: an event, or {\"events\": [...]}"})); err != nil {
		s.Stop()
		return nil, fmt.Errorf("command service: %w", err)
	}
	if err := svc.AddEndpoint("import", micro.HandlerFunc(s.importPart), micro.WithEndpointSubject(ImportSubject),
		micro.WithEndpointMetadata(map[string]string{"description": "a JSON Lines input in parts (headers " + HeaderImport + ", " + HeaderPart + ", " + HeaderLast + ")"})); err != nil {
		s.Stop()
		return nil, fmt.Errorf("command service: %w", err)
	}
	if cfg.Notary != nil {
		if err := svc.AddEndpoint("checkpoint", micro.HandlerFunc(s.checkpoint), micro.WithEndpointSubject(CheckpointSubject),
			micro.WithEndpointMetadata(map[string]string{"description": "sign a checkpoint of the log's head now"})); err != nil {
			s.Stop()
			return nil, fmt.Errorf("command service: %w", err)
		}
	}
	// The subscriptions reach the server before Start returns: a command
	// sent right after is answered.
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("command service: %w", err)
	}
	go s.expire()
	return s, nil
}

// StopGrace bounds how long Stop lets the imports being recorded finish
// before it cancels them (a cancelled chain leaves a stored prefix, which the
// same import sent again completes).
const StopGrace = 30 * time.Second

// Stop stops taking commands, lets the imports being recorded finish (up to
// StopGrace), and returns once they ended.
func (s *Service) Stop() {
	if s.svc != nil {
		_ = s.svc.Stop()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(StopGrace):
	}
	s.stop()
	<-done
}

// Info is the service's description, as `nats micro info` shows it.
func (s *Service) Info() micro.Info { return s.svc.Info() }

func reply(req micro.Request, v any) {
	_ = req.Respond(marshal(v))
}

func fail(req micro.Request, e *Error) {
	_ = req.Error(statusOf[e.Code], e.Message, marshal(e))
}

func (s *Service) record(req micro.Request) {
	evs, _, err := events.DecodeCommand(req.Data())
	if err != nil {
		fail(req, errorOf(err, nil))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.CommandTimeout)
	defer cancel()
	out, err := s.cfg.Recorder.RecordCommand(ctx, evs...)
	if err != nil {
		fail(req, errorOf(err, nil))
		return
	}
	r := RecordReply{Events: make([]Recorded, len(evs))}
	for i, e := range evs {
		r.Events[i] = Recorded{ID: e.ID.String(), Seq: out[i].Seq, Subject: e.Subject(), Status: "created"}
		if out[i].Existing {
			r.Events[i].Status = "existing"
		}
	}
	reply(req, r)
}

// session is an import whose parts are coming.
type session struct {
	id       string
	dryRun   bool
	next     int // the part expected
	line     int // lines read so far
	bytes    int64
	evs      []events.Envelope
	lines    []int
	seen     map[[16]byte]int // id -> index in evs
	problems []*events.FieldError
	started  time.Time
	touched  time.Time
}

// maxProblems bounds the problems an import reports.
const maxProblems = 1000

func (s *Service) importPart(req micro.Request) {
	h := req.Headers()
	id, last, dry := h.Get(HeaderImport), h.Get(HeaderLast) == "true", h.Get(HeaderDryRun) == "true"
	part, err := strconv.Atoi(h.Get(HeaderPart))
	if id == "" || err != nil || part < 1 {
		fail(req, &Error{Code: CodeBadRequest, Message: "an import part needs the headers " + HeaderImport + " and " + HeaderPart + " (1, 2, ...)"})
		return
	}
	sess, e := s.session(id, part, dry)
	if e != nil {
		fail(req, e)
		return
	}
	if e := s.add(sess, req.Data()); e != nil {
		s.drop(id)
		fail(req, e)
		return
	}
	if !last {
		reply(req, PartReply{Part: part, Lines: sess.line, Bytes: sess.bytes})
		return
	}
	s.drop(id)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.commit(req, sess)
	}()
}

// session returns the import id expecting this part, making it for part 1.
func (s *Service) session(id string, part int, dry bool) (*session, *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	switch {
	case !ok && part == 1:
		if len(s.sessions) >= s.cfg.MaxImports {
			return nil, &Error{Code: CodeBusy, Message: fmt.Sprintf("%d imports are being received already: try again shortly", len(s.sessions))}
		}
		sess = &session{id: id, dryRun: dry, next: 1, seen: map[[16]byte]int{}, started: time.Now()}
		s.sessions[id] = sess
	case !ok:
		return nil, &Error{Code: CodeExpired, Message: fmt.Sprintf("import %s: no such import (its parts stopped coming for %s, or it ended): send it again from part 1", id, s.cfg.PartTimeout)}
	}
	if part != sess.next {
		delete(s.sessions, id)
		return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("import %s: part %d came where part %d was expected: send it again from part 1", id, part, sess.next)}
	}
	sess.next++
	sess.touched = time.Now()
	return sess, nil
}

func (s *Service) drop(id string) {
	s.mu.Lock()
	delete(s.sessions, id)
	s.mu.Unlock()
}

// add decodes a part of whole lines into the import.
func (s *Service) add(sess *session, data []byte) *Error {
	sess.bytes += int64(len(data))
	if sess.bytes > s.cfg.MaxInputBytes {
		return errorOf(&events.InputTooLargeError{Limit: s.cfg.MaxInputBytes}, nil)
	}
	first := sess.line
	sess.line += countLines(data)
	evs, lines, err := events.ReadLines(bytes.NewReader(data), events.WithMaxInputBytes(0))
	var ie *events.InputError
	var fe *events.FieldError
	switch {
	case errors.As(err, &ie):
		for _, p := range ie.Problems {
			sess.problem(first, p)
		}
		return nil
	case errors.As(err, &fe):
		sess.problem(first, fe)
		return nil
	case err != nil:
		return errorOf(err, nil)
	}
	for i, e := range evs {
		line := first + lines[i]
		if j, dup := sess.seen[e.ID]; dup {
			if !sess.evs[j].SameFact(e) {
				sess.problem(0, &events.FieldError{Line: line, Field: "id", Reason: fmt.Sprintf("%s is also the id of a different event on line %d", e.ID, sess.lines[j])})
			}
			continue
		}
		sess.seen[e.ID] = len(sess.evs)
		sess.evs = append(sess.evs, e)
		sess.lines = append(sess.lines, line)
	}
	if len(sess.evs) > s.cfg.MaxInputEvents {
		return errorOf(&events.InputTooLargeError{Limit: s.cfg.MaxInputBytes, Events: s.cfg.MaxInputEvents}, nil)
	}
	return nil
}

func (sess *session) problem(offset int, p *events.FieldError) {
	if len(sess.problems) < maxProblems {
		c := *p
		if c.Line > 0 {
			c.Line += offset
		}
		sess.problems = append(sess.problems, &c)
	}
}

// countLines counts the lines of a part: every newline, and a last line
// without one.
func countLines(data []byte) int {
	n := bytes.Count(data, []byte{'\n'})
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	return n
}

// commit decides the import whole and records it, then answers its last
// part.
func (s *Service) commit(req micro.Request, sess *session) {
	if len(sess.problems) > 0 {
		fail(req, errorOf(&events.InputError{Problems: sess.problems}, nil))
		return
	}
	var res aggregates.ImportResult
	var err error
	if sess.dryRun {
		res, err = s.cfg.Recorder.Check(s.ctx, sess.evs)
	} else {
		res, err = s.cfg.Recorder.Import(s.ctx, sess.evs, nil)
	}
	if err != nil {
		s.cfg.Logf("import %s: %d events: %v", sess.id, len(sess.evs), err)
		fail(req, errorOf(err, sess.lines))
		return
	}
	s.cfg.Logf("import %s: %d events, %d recorded, %d already recorded", sess.id, len(sess.evs), res.Appended, res.Skipped)
	reply(req, ImportReply{Events: len(sess.evs), Recorded: res.Appended, AlreadyRecorded: res.Skipped, LastSeq: res.LastSeq,
		Attempts: res.Attempts, StoredPerAttempt: res.Stored, DryRun: sess.dryRun})
}

// expire drops the imports whose parts stopped coming.
func (s *Service) expire() {
	t := time.NewTicker(max(min(s.cfg.PartTimeout, s.cfg.MaxImportTime)/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			s.mu.Lock()
			for id, sess := range s.sessions {
				switch {
				case now.Sub(sess.touched) > s.cfg.PartTimeout:
					delete(s.sessions, id)
					s.cfg.Logf("import %s: no part for %s after part %d: dropped", id, s.cfg.PartTimeout, sess.next-1)
				case now.Sub(sess.started) > s.cfg.MaxImportTime:
					delete(s.sessions, id)
					s.cfg.Logf("import %s: not whole after %s (part %d): dropped", id, s.cfg.MaxImportTime, sess.next-1)
				}
			}
			s.mu.Unlock()
		}
	}
}

func (s *Service) checkpoint(req micro.Request) {
	var q CheckpointRequest
	if len(req.Data()) > 0 {
		if err := json.Unmarshal(req.Data(), &q); err != nil {
			fail(req, &Error{Code: CodeBadRequest, Message: "a checkpoint command is empty or {\"force\": true}: " + err.Error()})
			return
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
	defer cancel()
	cp, err := s.cfg.Notary.Checkpoint(ctx, q.Force)
	if err != nil {
		fail(req, errorOf(err, nil))
		return
	}
	reply(req, CheckpointReply{Checkpoint: string(cp.Note), Size: cp.Size})
}
