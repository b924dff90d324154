package cmdservice

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/ccm-ledger/ccm-ledger/aggregates/retry"
	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/jslog"
	"github.com/ccm-ledger/ccm-ledger/events"
)

// PartBytes is the most a client puts in one part of an import: whole
// lines, or one line when it is longer (up to events.MaxLineBytes).
const PartBytes = 512 << 10

// partBytes is PartBytes, smaller in tests.
var partBytes = PartBytes

// ErrNoLedger marks a command that no ledger answered: no `ccm serve` runs
// on the server, or the user may not send commands.
var ErrNoLedger = errors.New("no ledger answers commands")

// Client sends commands to the ledger's service.
type Client struct {
	nc *nats.Conn
	// Timeout bounds the wait for the answer to a command or to a part,
	// and ImportTimeout the wait for the answer to the last part of an
	// import, which comes once the import is recorded.
	Timeout, ImportTimeout time.Duration
}

// NewClient returns a client on nc.
func NewClient(nc *nats.Conn) *Client {
	return &Client{nc: nc, Timeout: 30 * time.Second, ImportTimeout: 30 * time.Minute}
}

// Record sends one command (one event of the wire format, or {"events":
// [...]}) and returns what the ledger did with each event. Errors match the
// ledger's: events.ErrInvalid, events.ErrRejected, events.ErrIDConflict,
// events.ErrConflict; ErrNoLedger when nobody answers.
func (c *Client) Record(ctx context.Context, body []byte) (RecordReply, error) {
	var r RecordReply
	err := c.request(ctx, nats.NewMsg(RecordSubject), body, c.Timeout, &r)
	return r, err
}

// Checkpoint asks the ledger to sign a checkpoint of the log's head and
// returns the signed note.
func (c *Client) Checkpoint(ctx context.Context, force bool) (CheckpointReply, error) {
	var r CheckpointReply
	body, _ := json.Marshal(CheckpointRequest{Force: force})
	err := c.request(ctx, nats.NewMsg(CheckpointSubject), body, c.Timeout, &r)
	return r, err
}

// ImportOptions adjust an import.
type ImportOptions struct {
	// DryRun decides the input and records nothing.
	DryRun bool
	// Sent, when set, is called after each part with the bytes sent so
	// far.
	Sent func(bytes int64)
}

// Import sends a JSON Lines input in parts and returns what the ledger
// recorded. The input is read as it is sent, never held whole.
func (c *Client) Import(ctx context.Context, input io.Reader, o ImportOptions) (ImportReply, error) {
	id := uuid.NewString()
	br := bufio.NewReaderSize(input, 64<<10)
	var sent int64
	for part := 1; ; part++ {
		data, last, err := nextPart(br)
		if err != nil {
			return ImportReply{}, fmt.Errorf("read the input: %w", err)
		}
		m := nats.NewMsg(ImportSubject)
		m.Header.Set(HeaderImport, id)
		m.Header.Set(HeaderPart, strconv.Itoa(part))
		if o.DryRun {
			m.Header.Set(HeaderDryRun, "true")
		}
		if last {
			m.Header.Set(HeaderLast, "true")
			var r ImportReply
			err := c.send(ctx, m, data, c.ImportTimeout, part == 1, &r)
			return r, err
		}
		var pr PartReply
		if err := c.send(ctx, m, data, c.Timeout, part == 1, &pr); err != nil {
			return ImportReply{}, err
		}
		sent += int64(len(data))
		if o.Sent != nil {
			o.Sent(sent)
		}
	}
}

// send sends a part; the first is sent again while the ledger is busy with
// another import (retry.Transient bounds the wait).
func (c *Client) send(ctx context.Context, m *nats.Msg, data []byte, timeout time.Duration, first bool, v any) error {
	if !first {
		return c.request(ctx, m, data, timeout, v)
	}
	return retry.Do(ctx, retry.Transient, func(int) error {
		err := c.request(ctx, m, data, timeout, v)
		var e *Error
		if errors.As(err, &e) && e.Code == CodeBusy {
			return err
		}
		return retry.Permanent(err)
	})
}

// nextPart reads whole lines up to PartBytes (at least one line). A line
// longer than events.MaxLineBytes is cut one byte past the bound: the
// ledger reports it as too long without receiving all of it.
func nextPart(br *bufio.Reader) (data []byte, last bool, err error) {
	for len(data) < partBytes {
		line, err := readLine(br)
		data = append(data, line...)
		if errors.Is(err, io.EOF) {
			return data, true, nil
		}
		if err != nil {
			return nil, false, err
		}
	}
	_, err = br.Peek(1)
	return data, errors.Is(err, io.EOF), nil
}

// readLine reads one line with its newline, cut as nextPart says.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line) <= events.MaxLineBytes {
			line = append(line, chunk[:min(len(chunk), events.MaxLineBytes+1-len(line))]...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return line, err
		}
		if line[len(line)-1] != '\n' {
			line = append(line, '\n')
		}
		return line, nil
	}
}

// request sends one request and decodes its answer into v, or its error
// reply into the ledger's errors.
func (c *Client) request(ctx context.Context, m *nats.Msg, data []byte, timeout time.Duration, v any) error {
	m.Data = data
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// A user who may not send commands is refused by the server, which
	// answers nothing: without the guard the request would wait for its
	// timeout.
	gctx, explain := jslog.Guard(rctx, c.nc, m.Subject)
	resp, err := c.nc.RequestMsgWithContext(gctx, m)
	err = explain(err)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%s: %w (start `ccm serve`, or check that this user may send commands)", m.Subject, ErrNoLedger)
	case errors.Is(err, jslog.ErrPermissionDenied):
		return err
	case err != nil:
		return fmt.Errorf("%s: %w", m.Subject, err)
	}
	if code := resp.Header.Get(micro.ErrorCodeHeader); code != "" {
		var e Error
		if json.Unmarshal(resp.Data, &e) != nil || e.Code == "" {
			e = Error{Code: CodeInternal, Message: resp.Header.Get(micro.ErrorHeader)}
		}
		return errorFrom(&e)
	}
	if err := json.Unmarshal(resp.Data, v); err != nil {
		return fmt.Errorf("%s: the answer is not understood: %w", m.Subject, err)
	}
	return nil
}
