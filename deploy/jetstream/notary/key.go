package notary

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/events/evidence"
)

// KeyFile is the name of the checkpoint key in a credentials directory;
// its public part is beside it, in PublicKeyFile.
const (
	KeyFile       = "checkpoint.key"
	PublicKeyFile = "checkpoint.pub"
)

// Key is the ledger's checkpoint key pair.
type Key struct {
	Private string
	Public  string
	Path    string
}

// ErrLooseKey marks a private key file that others (not its owner or
// group) can read, or that its group can write. Group read is allowed for
// the secrets of container platforms, mounted 0440 for the service's
// group.
var ErrLooseKey = errors.New("checkpoint key open to others")

// EnsureKey returns the checkpoint key at path, making it (0600, the public
// part beside it, 0644) when it does not exist. The key is made for the
// log's origin: a key of another log is refused.
func EnsureKey(path, origin string) (Key, error) {
	k, err := LoadKey(path, origin)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return Key{}, fmt.Errorf("checkpoint key: %w", err)
	}
	private, public, err := evidence.NewKey(origin)
	if err != nil {
		return Key{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadKey(path, origin) // made meanwhile by another process
	}
	if err != nil {
		return Key{}, fmt.Errorf("checkpoint key: %w", err)
	}
	_, err = f.WriteString(private + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.WriteFile(publicPath(path), []byte(public+"\n"), 0o644)
	}
	if err != nil {
		return Key{}, fmt.Errorf("checkpoint key: %w", err)
	}
	return Key{Private: private, Public: public, Path: path}, nil
}

// LoadKey reads the checkpoint key at path, refusing one that others may
// read or its group write, or one made for another log.
func LoadKey(path, origin string) (Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Key{}, err
	}
	if st.Mode().Perm()&0o027 != 0 {
		return Key{}, fmt.Errorf("%s has mode %04o: %w (chmod g-w,o-rwx %s)", path, st.Mode().Perm(), ErrLooseKey, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("checkpoint key: %w", err)
	}
	private := strings.TrimSpace(string(b))
	public, err := evidence.PublicKey(private)
	if err != nil {
		return Key{}, fmt.Errorf("checkpoint key %s: %w", path, err)
	}
	if got, _ := evidence.KeyOrigin(public); got != origin {
		return Key{}, fmt.Errorf("checkpoint key %s signs for %q, not for this log (%q)", path, got, origin)
	}
	return Key{Private: private, Public: public, Path: path}, nil
}

// ReadPublicKey reads a public key given as itself or as a file's path.
func ReadPublicKey(arg string) (string, error) {
	if _, err := evidence.KeyOrigin(arg); err == nil {
		return strings.TrimSpace(arg), nil
	}
	b, err := os.ReadFile(arg)
	if err != nil {
		return "", fmt.Errorf("public key: %q is neither a key nor a readable file: %w", arg, err)
	}
	k := strings.TrimSpace(string(b))
	if _, err := evidence.KeyOrigin(k); err != nil {
		return "", fmt.Errorf("public key %s: %w", arg, err)
	}
	return k, nil
}

// PublicKeyPath returns where the public part of the key at path is.
func publicPath(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".pub"
}

// PublicKeyAt returns the public key kept beside the private key at path
// (for a reader who may not read the private key), or that of the private
// key itself when nothing is beside it (a mounted secret).
func PublicKeyAt(path string) (string, error) {
	b, err := os.ReadFile(publicPath(path))
	if errors.Is(err, fs.ErrNotExist) {
		if b, kerr := os.ReadFile(path); kerr == nil {
			return evidence.PublicKey(strings.TrimSpace(string(b)))
		}
	}
	if err != nil {
		return "", err
	}
	return ReadPublicKey(strings.TrimSpace(string(b)))
}

// NewKeyFile makes a checkpoint key at path for the log's origin, refusing
// to replace one: for a deployment whose ledger cannot write its own (a
// container's secret).
func NewKeyFile(path, origin string) (Key, error) {
	if _, err := os.Stat(path); err == nil {
		return Key{}, fmt.Errorf("%s exists: a ledger's key is kept, never replaced (its checkpoints verify with it)", path)
	}
	return EnsureKey(path, origin)
}
