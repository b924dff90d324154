package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// statusValue is the value of a meeting's _status key.
type statusValue struct {
	Rev      uint64   `json:"rev"`
	Statuses []Status `json:"statuses"`
}

// rawStatuses is statusValue with each status left encoded: a refresh that
// rewrites a few statuses decodes and encodes only those.
type rawStatuses struct {
	Rev      uint64            `json:"rev"`
	Statuses []json.RawMessage `json:"statuses"`
}

// loadStatuses reads the stored statuses of a snapshot, by State.
func (e *Engine) loadStatuses(ctx context.Context, m *snapMeta) (map[string]Status, error) {
	var v statusValue
	if err := e.getStatuses(ctx, m, &v, &v.Rev); err != nil {
		return nil, err
	}
	out := make(map[string]Status, len(v.Statuses))
	for _, st := range v.Statuses {
		out[st.State] = st
	}
	return out, nil
}

// loadRawStatuses reads the stored statuses of a snapshot, each still
// encoded, by State.
func (e *Engine) loadRawStatuses(ctx context.Context, m *snapMeta) (map[string]json.RawMessage, error) {
	var v rawStatuses
	if err := e.getStatuses(ctx, m, &v, &v.Rev); err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(v.Statuses))
	for _, raw := range v.Statuses {
		iso3, err := statusState(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %v: %w", statusKey(m.Meeting), err, errStale)
		}
		out[iso3] = raw
	}
	return out, nil
}

// getStatuses reads the _status key of m into v, whose revision is at rev;
// errStale is returned when it is absent or of another revision than the
// meta says.
func (e *Engine) getStatuses(ctx context.Context, m *snapMeta, v any, rev *uint64) error {
	found, err := e.getValue(ctx, statusKey(m.Meeting), v)
	if err != nil {
		return err
	}
	if !found || *rev != m.StatusRev {
		return fmt.Errorf("%s: statuses at %d, meta says %d: %w", m.Meeting, *rev, m.StatusRev, errStale)
	}
	return nil
}

// statusPrefix is how an encoded Status begins: its State comes first.
var statusPrefix = []byte(`{"state":"`)

// statusState returns the State of an encoded status.
func statusState(raw json.RawMessage) (string, error) {
	if rest, ok := bytes.CutPrefix(raw, statusPrefix); ok {
		if i := bytes.IndexByte(rest, '"'); i > 0 && bytes.IndexByte(rest[:i], '\\') < 0 {
			return string(rest[:i]), nil
		}
	}
	var id struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(raw, &id); err != nil || id.State == "" {
		return "", fmt.Errorf("a status without a State")
	}
	return id.State, nil
}

// encodeStatuses returns the value of a _status key at rev holding the
// encoded statuses sts, sorted by State.
func encodeStatuses(rev uint64, sts map[string]json.RawMessage) []byte {
	n := 32
	for _, raw := range sts {
		n += len(raw) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"rev":`...)
	b = strconv.AppendUint(b, rev, 10)
	b = append(b, `,"statuses":[`...)
	for i, iso3 := range sortedKeys(sts) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, sts[iso3]...)
	}
	return append(b, "]}"...)
}
