package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"strings"
	"time"

	"github.com/ccm-ledger/ccm-ledger/events"
	"github.com/ccm-ledger/ccm-ledger/projections"
)

// query is the common part of the read commands: connection, bounds and
// format flags, and the opened ledger with its bounds resolved.
type query struct {
	conn   connFlags
	bounds boundFlags
	format formatFlag
	b      *backend
	engine *projections.Engine
}

func (m *Main) queryFlags(fs *flag.FlagSet, q *query, formats ...string) {
	m.addConnFlags(fs, &q.conn)
	addBoundFlags(fs, &q.bounds)
	addFormatFlag(fs, &q.format, formats...)
}

// open checks the flags, opens the ledger and resolves the bounds.
func (m *Main) openQuery(ctx context.Context, fs *flag.FlagSet, q *query) (projections.Bounds, error) {
	if err := q.format.check(); err != nil {
		return projections.Bounds{}, err
	}
	rule, err := q.bounds.annualRule()
	if err != nil {
		return projections.Bounds{}, err
	}
	m.fromEnv(fs, &q.conn)
	q.b, err = m.open(ctx, q.conn, openOptions{})
	if err != nil {
		return projections.Bounds{}, err
	}
	q.engine = q.b.engine(projections.Options{AnnualRule: rule})
	return q.resolve(ctx, q.bounds.asOf, m.Now())
}

// resolve resolves an as-of point with the --known-at flag. A value that
// is neither a date nor a meeting code (nor a known-at point) is a usage
// error, exit 2; an unknown meeting is not found, exit 6.
func (q *query) resolve(ctx context.Context, asOf string, now time.Time) (projections.Bounds, error) {
	b, err := q.engine.Resolve(ctx, asOf, q.bounds.knownAt, events.DateOf(now))
	if err != nil && !errors.Is(err, projections.ErrUnknownMeeting) {
		msg := err.Error()
		if strings.HasPrefix(msg, "as-of ") || strings.HasPrefix(msg, "known-at ") {
			return b, usagef("--%s", msg)
		}
	}
	return b, err
}

// show writes v as JSON when asked, else runs text.
func (q *query) show(w io.Writer, v any, text func() error) error {
	if q.format.value == "json" {
		return writeJSON(w, v)
	}
	return text()
}

func (q *query) close() {
	if q.b != nil {
		q.b.close()
	}
}

func (m *Main) status(ctx context.Context, args []string) error {
	return m.stateView(ctx, "status", args, func(ctx context.Context, e *projections.Engine, iso3 string, b projections.Bounds) (any, func() error, error) {
		st, err := e.Status(ctx, iso3, b)
		return st, func() error { return writeStatusText(m.Stdout, st) }, err
	})
}

// stateView runs a command showing a view of one State (ISO3 argument,
// bounds, text or JSON).
func (m *Main) stateView(ctx context.Context, name string, args []string,
	view func(context.Context, *projections.Engine, string, projections.Bounds) (v any, text func() error, err error)) error {
	fs := m.flagSet(name, "ISO3")
	var q query
	m.queryFlags(fs, &q, "text", "json")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	iso3, err := stateArg(pos[0])
	if err != nil {
		return err
	}
	defer q.close()
	bounds, err := m.openQuery(ctx, fs, &q)
	if err != nil {
		return err
	}
	v, text, err := view(ctx, q.engine, iso3, bounds)
	if err != nil {
		return err
	}
	return q.show(m.Stdout, v, text)
}

func (m *Main) report(ctx context.Context, args []string) error {
	var names *bool
	return m.boundedQuery(ctx, "report", args, []string{"text", "json", "csv"},
		func(fs *flag.FlagSet) {
			names = fs.Bool("names", false, "text: list States by name instead of ISO3 code")
		},
		func(q *query, bounds projections.Bounds) error {
			r, err := q.engine.Report(ctx, bounds)
			if err != nil {
				return err
			}
			switch q.format.value {
			case "json":
				return writeJSON(m.Stdout, r)
			case "csv":
				return writeReportCSV(m.Stdout, r)
			}
			return writeReportText(m.Stdout, r, *names)
		})
}

// boundedQuery runs a command of no argument that shows a view as of and
// known at the bounds of its flags: more adds the command's own flags,
// show answers once the ledger is open and the bounds resolved.
func (m *Main) boundedQuery(ctx context.Context, name string, args, formats []string,
	more func(*flag.FlagSet), show func(*query, projections.Bounds) error) error {
	fs := m.flagSet(name, "")
	var q query
	m.queryFlags(fs, &q, formats...)
	if more != nil {
		more(fs)
	}
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	defer q.close()
	bounds, err := m.openQuery(ctx, fs, &q)
	if err != nil {
		return err
	}
	return show(&q, bounds)
}

func (m *Main) diff(ctx context.Context, args []string) error {
	fs := m.flagSet("diff", "FROM TO")
	var q query
	m.queryFlags(fs, &q, "text", "json")
	allEvents := fs.Bool("events", false, "text: list every event dated in the period")
	pos, err := parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	if q.bounds.asOf != "" {
		return usagef("diff: give the two as-of points as arguments, not --as-of")
	}
	defer q.close()
	if _, err := m.openQuery(ctx, fs, &q); err != nil {
		return err
	}
	from, err := q.resolve(ctx, pos[0], m.Now())
	if err != nil {
		return err
	}
	to, err := q.resolve(ctx, pos[1], m.Now())
	if err != nil {
		return err
	}
	d, err := q.engine.Diff(ctx, from, to)
	if err != nil {
		return err
	}
	return q.show(m.Stdout, d, func() error { return writeDiffText(m.Stdout, d, *allEvents) })
}

func (m *Main) history(ctx context.Context, args []string) error {
	return m.stateView(ctx, "history", args, func(ctx context.Context, e *projections.Engine, iso3 string, b projections.Bounds) (any, func() error, error) {
		h, err := e.History(ctx, iso3, b)
		return h, func() error { return writeHistoryText(m.Stdout, h) }, err
	})
}

func (m *Main) replay(ctx context.Context, args []string) error {
	fs := m.flagSet("replay", "")
	var q query
	m.queryFlags(fs, &q, "text", "json")
	state := fs.String("state", "", "only the events of this State (ISO3), or 'convention'")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	scope, err := scopeArg(*state)
	if err != nil {
		return err
	}
	defer q.close()
	bounds, err := m.openQuery(ctx, fs, &q)
	if err != nil {
		return err
	}
	steps, err := q.engine.Replay(ctx, bounds, scope)
	if err != nil {
		return err
	}
	return q.show(m.Stdout, steps, func() error { return writeReplayText(m.Stdout, steps) })
}

func (m *Main) meetings(ctx context.Context, args []string) error {
	fs := m.flagSet("meetings", "")
	var q query
	m.queryFlags(fs, &q, "text", "json")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	defer q.close()
	bounds, err := m.openQuery(ctx, fs, &q)
	if err != nil {
		return err
	}
	ms, err := q.engine.Meetings(ctx, bounds)
	if err != nil {
		return err
	}
	return q.show(m.Stdout, ms, func() error { return writeMeetingsText(m.Stdout, ms) })
}

func (m *Main) snapshots(ctx context.Context, args []string) error {
	fs := m.flagSet("snapshots", "")
	var q query
	m.queryFlags(fs, &q, "text", "json")
	refresh := fs.Bool("refresh", false, "create or bring up to date the snapshot of every meeting first")
	if _, err := parse(fs, args, 0, 0); err != nil {
		return err
	}
	defer q.close()
	if _, err := m.openQuery(ctx, fs, &q); err != nil {
		return err
	}
	if *refresh {
		st, err := q.engine.RefreshSnapshots(ctx)
		if err != nil {
			return err
		}
		if q.format.value == "text" {
			writeRefreshText(m.Stderr, st)
		}
	}
	infos, err := q.engine.Snapshots(ctx)
	if err != nil {
		return err
	}
	return q.show(m.Stdout, infos, func() error { return writeSnapshotsText(m.Stdout, infos) })
}
