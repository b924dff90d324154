package events

import "fmt"

// DecodeData reads the canonical data of an event of type t (what
// Envelope.Data wrote, as a snapshot keeps it) back into its payload, on the
// fast path when it can. Data of another shape is an error; its values are
// not validated again.
func DecodeData(t Type, data []byte) (Payload, error) {
	sp, ok := specs[t]
	if !ok {
		return nil, fmt.Errorf("%q is not an event type", t)
	}
	if sp.fast != nil {
		p := parsers.Get()
		v, err := p.ParseBytes(data)
		if len(data) == 0 {
			v, err = nil, nil
		}
		if err == nil {
			if pl, ok := sp.fast(v); ok {
				parsers.Put(p)
				return pl, nil
			}
		}
		parsers.Put(p)
	}
	pl, probs := sp.decode(data)
	if len(probs) > 0 {
		return nil, fmt.Errorf("%s data: %s: %s", t, probs[0].field, probs[0].reason)
	}
	return pl, nil
}
