package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// AuthDir is the directory, inside a data directory, that holds the
// credentials of the embedded server's users.
const AuthDir = "auth"

// Credentials are the NKeys of the embedded server's users, one per role
// (deploy/jetstream/roles): each seed in its own file, <dir>/<role>.nk,
// readable by the owner only. The server holds only the public keys.
type Credentials struct {
	dir  string
	keys map[string]string // role -> public key
}

// ErrLooseCredentials marks a credentials file or directory that others
// than its owner can read or write.
var ErrLooseCredentials = errors.New("credentials readable by others")

// EnsureCredentials returns the credentials in dir, making the missing
// ones (the directory 0700, each seed file 0600). It refuses a directory or
// file that group or others may read or write: chmod them, or remove them
// to make new ones.
func EnsureCredentials(dir string) (*Credentials, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if err := private(dir); err != nil {
		return nil, err
	}
	c := &Credentials{dir: dir, keys: map[string]string{}}
	for _, r := range roles.All() {
		pub, err := c.ensure(r.Name)
		if err != nil {
			return nil, err
		}
		c.keys[r.Name] = pub
	}
	return c, nil
}

// OpenCredentials returns the credentials in dir as they are, making none.
func OpenCredentials(dir string) (*Credentials, error) {
	if err := private(dir); err != nil {
		return nil, err
	}
	c := &Credentials{dir: dir, keys: map[string]string{}}
	for _, r := range roles.All() {
		kp, err := c.load(r.Name)
		if err != nil {
			return nil, err
		}
		c.keys[r.Name], _ = kp.PublicKey()
		kp.Wipe()
	}
	return c, nil
}

// private refuses a path whose mode lets group or others in.
func private(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("credentials: %s has mode %04o: %w (chmod go-rwx %s)", path, st.Mode().Perm(), ErrLooseCredentials, path)
	}
	return nil
}

// SeedFile returns the file holding role's seed, for --nats-nkey.
func (c *Credentials) SeedFile(role string) string { return filepath.Join(c.dir, role+".nk") }

// Dir returns the directory of the credentials.
func (c *Credentials) Dir() string { return c.dir }

func (c *Credentials) ensure(role string) (string, error) {
	kp, err := c.load(role)
	if errors.Is(err, fs.ErrNotExist) {
		kp, err = nkeys.CreateUser()
		if err != nil {
			return "", fmt.Errorf("credentials: %w", err)
		}
		seed, _ := kp.Seed()
		f, err := os.OpenFile(c.SeedFile(role), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", fmt.Errorf("credentials: %w", err)
		}
		_, werr := f.Write(append(seed, '\n'))
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return "", fmt.Errorf("credentials: %w", werr)
		}
	} else if err != nil {
		return "", err
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

func (c *Credentials) load(role string) (nkeys.KeyPair, error) {
	path := c.SeedFile(role)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials of %s: %w", role, err)
	}
	if err := private(path); err != nil {
		return nil, err
	}
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
	if err != nil {
		return nil, fmt.Errorf("credentials of %s: %s: %w", role, path, err)
	}
	return kp, nil
}

// Users returns the server's users: one NKey per role with the role's
// permissions.
func (c *Credentials) Users() []*server.NkeyUser {
	var out []*server.NkeyUser
	for _, r := range roles.All() {
		out = append(out, &server.NkeyUser{Nkey: c.keys[r.Name], Permissions: r.Permissions()})
	}
	return out
}

// Option authenticates a connection as role.
func (c *Credentials) Option(role string) (nats.Option, error) {
	opt, err := nats.NkeyOptionFromSeed(c.SeedFile(role))
	if err != nil {
		return nil, fmt.Errorf("credentials of %s: %w", role, err)
	}
	if r, ok := roles.ByName(role); ok && r.Inbox != "" {
		inbox := nats.CustomInboxPrefix(r.Inbox)
		return func(o *nats.Options) error {
			if err := opt(o); err != nil {
				return err
			}
			return inbox(o)
		}, nil
	}
	return opt, nil
}
