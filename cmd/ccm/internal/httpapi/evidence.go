package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// Evidence is the log's evidence as the ledger keeps it (the notary of
// `ccm serve` and its store).
type Evidence interface {
	// Latest returns the latest checkpoint, or nil.
	Latest() *evidence.Checkpoint
	// Stored returns every stored checkpoint, in the order stored.
	Stored(ctx context.Context) ([]evidence.Stored, error)
	// PublicKey is the key the checkpoints verify with.
	PublicKey() string
	// Prove returns the inclusion proof of the event id.
	Prove(ctx context.Context, id uuid.UUID) (evidence.Proof, error)
	// Damaged returns the log's damage, or nil.
	Damaged() error
}

// CheckpointHeader carries, on the answer of a view, the latest
// checkpoint: "size=451 time=2026-12-03T12:00:00Z root=BASE64".
const CheckpointHeader = "Ccm-Checkpoint"

// DamagedHeader is set on every answer while the log fails its check
// against its checkpoints.
const DamagedHeader = "Ccm-Damaged"

// Checkpoints is the answer of GET /v1/checkpoints.
type Checkpoints struct {
	// PublicKey verifies every checkpoint (check it against the one the
	// ledger's operator gave you: an answer cannot vouch for itself).
	PublicKey string `json:"public_key"`
	// Latest is the latest checkpoint the ledger signed.
	Latest *evidence.Checkpoint `json:"latest"`
	// Checkpoints lists every stored checkpoint, oldest first, with the
	// consistency proof from the one before.
	Checkpoints []evidence.Stored `json:"checkpoints"`
	// Damaged, when set, says why the log fails its check.
	Damaged string `json:"damaged,omitempty"`
}

func (s *Server) checkpoints(w http.ResponseWriter, r *http.Request) *Error {
	ev := s.cfg.Evidence
	if ev == nil {
		return errorf(http.StatusNotFound, CodeNotFound, "this ledger keeps no evidence")
	}
	stored, err := ev.Stored(r.Context())
	if err != nil {
		return fromError(err)
	}
	out := Checkpoints{PublicKey: ev.PublicKey(), Checkpoints: stored}
	if out.Checkpoints == nil {
		out.Checkpoints = []evidence.Stored{}
	}
	out.Latest = ev.Latest()
	if err := ev.Damaged(); err != nil {
		out.Damaged = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) proof(w http.ResponseWriter, r *http.Request) *Error {
	ev := s.cfg.Evidence
	if ev == nil {
		return errorf(http.StatusNotFound, CodeNotFound, "this ledger keeps no evidence")
	}
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return errorf(http.StatusBadRequest, CodeBadRequest, "not an event id (a UUID): "+strconv.Quote(r.PathValue("id")))
	}
	p, err := ev.Prove(r.Context(), id)
	if err != nil {
		return fromError(err)
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// noteEvidence sets the checkpoint and damage headers of an answer.
func (s *Server) noteEvidence(w http.ResponseWriter) {
	ev := s.cfg.Evidence
	if ev == nil {
		return
	}
	if c := ev.Latest(); c != nil {
		w.Header().Set(CheckpointHeader, "size="+strconv.FormatUint(c.Size, 10)+" time="+c.Time.Format(time.RFC3339)+" root="+base64.StdEncoding.EncodeToString(c.Root[:]))
	}
	if ev.Damaged() != nil {
		w.Header().Set(DamagedHeader, "true")
	}
}
