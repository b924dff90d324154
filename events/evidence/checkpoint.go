package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a signed statement of the log's head: its first Size stored
// messages (stream sequences 1 to Size, the last being LastSeq) have the
// Merkle root Root. It is a C2SP checkpoint (origin, size, root) with two
// extension lines, the last sequence and the signing time, in a signed note.
type Checkpoint struct {
	Origin  string
	Size    uint64
	Root    Hash
	LastSeq uint64
	Time    time.Time
	// Note is the signed note as stored, published and exported.
	Note []byte
}

// checkpointJSON is the JSON of a checkpoint.
type checkpointJSON struct {
	Origin  string    `json:"origin"`
	Size    uint64    `json:"size"`
	Root    string    `json:"root"`
	LastSeq uint64    `json:"last_seq"`
	Time    time.Time `json:"time"`
	Note    string    `json:"note"`
}

// MarshalJSON writes the checkpoint as the command line and the HTTP API
// show it: the root in base64, the note as text.
func (c Checkpoint) MarshalJSON() ([]byte, error) {
	return json.Marshal(checkpointJSON{c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]), c.LastSeq, c.Time, string(c.Note)})
}

// UnmarshalJSON reads what MarshalJSON writes (unverified: Open checks the
// note).
func (c *Checkpoint) UnmarshalJSON(b []byte) error {
	var j checkpointJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	root, err := base64.StdEncoding.DecodeString(j.Root)
	if err != nil || len(root) != len(c.Root) {
		return fmt.Errorf("checkpoint root %q: not %d bytes of base64", j.Root, len(c.Root))
	}
	*c = Checkpoint{Origin: j.Origin, Size: j.Size, LastSeq: j.LastSeq, Time: j.Time, Note: []byte(j.Note)}
	copy(c.Root[:], root)
	return nil
}

// Origin names the log of a ledger's stream in its checkpoints and its key.
func Origin(stream string) string { return "ccm-ledger/" + stream }

// NewKey makes an Ed25519 key pair for the checkpoints of origin: the
// private key (note.NewSigner's form, to keep secret) and the public key
// (note.NewVerifier's form, to give to auditors).
func NewKey(origin string) (private, public string, err error) {
	return note.GenerateKey(rand.Reader, origin)
}

// ErrNotSigned marks a checkpoint whose signature does not verify with the
// key given: another key, or altered text.
var ErrNotSigned = errors.New("checkpoint not signed by this key")

// Sign makes the checkpoint of the tree of size leaves with root, its last
// sequence and the time, signed with the private key.
func Sign(private string, origin string, size uint64, root Hash, lastSeq uint64, at time.Time) (Checkpoint, error) {
	signer, err := note.NewSigner(private)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint key: %w", err)
	}
	if signer.Name() != origin {
		return Checkpoint{}, fmt.Errorf("checkpoint key of %q cannot sign for %q", signer.Name(), origin)
	}
	at = at.UTC().Truncate(time.Second)
	body := log.Checkpoint{Origin: origin, Size: size, Hash: root[:]}.Marshal()
	body = fmt.Appendf(body, "last-seq %d\ntime %s\n", lastSeq, at.Format(time.RFC3339))
	signed, err := note.Sign(&note.Note{Text: string(body)}, signer)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, LastSeq: lastSeq, Time: at, Note: signed}, nil
}

// Open checks a signed checkpoint of origin against the public key and reads
// it. Errors: ErrNotSigned (wrapped) when the signature does not verify.
func Open(signed []byte, origin, public string) (Checkpoint, error) {
	v, err := note.NewVerifier(strings.TrimSpace(public))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("public key: %w", err)
	}
	return openWith(signed, origin, v)
}

func openWith(signed []byte, origin string, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return Checkpoint{}, fmt.Errorf("%w: %v", ErrNotSigned, err)
		}
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	return parseText(n.Text, origin, signed)
}

var errOtherOrigin = errors.New("another log")

// parseText reads the text of a checkpoint note: origin, size, root, and the
// extension lines.
func parseText(text, origin string, signed []byte) (Checkpoint, error) {
	var cp log.Checkpoint
	rest, err := cp.Unmarshal([]byte(text))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	c := Checkpoint{Origin: cp.Origin, Size: cp.Size, Note: append([]byte(nil), signed...)}
	if len(cp.Hash) != len(c.Root) {
		return Checkpoint{}, fmt.Errorf("checkpoint: a root of %d bytes", len(cp.Hash))
	}
	copy(c.Root[:], cp.Hash)
	var seen int
	for _, line := range strings.Split(strings.TrimSpace(string(rest)), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "last-seq":
			c.LastSeq, err = strconv.ParseUint(v, 10, 64)
			seen++
		case "time":
			c.Time, err = time.Parse(time.RFC3339, v)
			seen++
		}
		if err != nil {
			return Checkpoint{}, fmt.Errorf("checkpoint: %s: %w", k, err)
		}
	}
	if seen != 2 {
		return Checkpoint{}, errors.New("checkpoint: the last-seq and time lines are required")
	}
	if c.LastSeq != c.Size {
		return Checkpoint{}, fmt.Errorf("checkpoint: last sequence %d of %d leaves", c.LastSeq, c.Size)
	}
	if origin != "" && cp.Origin != origin {
		return c, fmt.Errorf("checkpoint of %q, not of %q: %w", cp.Origin, origin, errOtherOrigin)
	}
	return c, nil
}

// Text is the checkpoint without its signature, for people.
func (c Checkpoint) Text() string {
	text, _, _ := bytes.Cut(c.Note, []byte("\n\n"))
	return string(text)
}

// PublicKey returns the public key (note.NewVerifier's form) of a private
// key made by NewKey.
func PublicKey(private string) (string, error) {
	signer, err := note.NewSigner(private)
	if err != nil {
		return "", fmt.Errorf("checkpoint key: %w", err)
	}
	// PRIVATE+KEY+<name>+<hash>+<base64 of the algorithm byte and seed>
	// (the base64 may hold '+' too).
	parts := strings.SplitN(private, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("checkpoint key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(signer.Name(), pub)
}
