package roles

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// The password environment file (deploy/nats/nats.env, and the clients'
// files of a trial) holds one variable a line, NAME='value': single quotes,
// because a bcrypt hash ($2a$11$...) holds "$", which sh would expand in an
// unquoted or double-quoted value, and compose would interpolate. Single
// quotes are taken literally by sh (`. FILE`), by compose's env_file and by
// systemd's EnvironmentFile alike; a value therefore may not hold a single
// quote, a newline or a NUL. Blank lines and lines starting with # are
// comments.

// EnvLine returns the line of the environment file that sets name to value.
func EnvLine(name, value string) (string, error) {
	if !envName.MatchString(name) {
		return "", fmt.Errorf("environment file: name %q: want letters, digits and _, not starting with a digit", name)
	}
	if strings.ContainsAny(value, "'\n\r\x00") {
		return "", fmt.Errorf("environment file: %s: the value holds a single quote, a newline or a NUL, which no quoting keeps the same for sh, compose and systemd", name)
	}
	return name + "='" + value + "'", nil
}

var (
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// A bare value that every reader takes as it is written.
	envBare = regexp.MustCompile(`^[A-Za-z0-9_./:,@%+=-]*$`)
)

// ReadEnvFile reads an environment file in the format of EnvLine. A value
// may also be bare when it holds none of sh's special characters; anything
// else (a double-quoted value, an unquoted "$", an export keyword) is
// refused with its line, since sh, compose and systemd would not read it
// alike.
func ReadEnvFile(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok || !envName.MatchString(name) {
			return nil, fmt.Errorf("environment file: line %d: want NAME='value'", n)
		}
		switch {
		case len(value) >= 2 && value[0] == '\'' && value[len(value)-1] == '\'' && !strings.Contains(value[1:len(value)-1], "'"):
			value = value[1 : len(value)-1]
		case envBare.MatchString(value):
		default:
			return nil, fmt.Errorf("environment file: line %d: %s: quote the value in single quotes (NAME='value'): sh, compose and systemd read it differently otherwise", n, name)
		}
		out[name] = value
	}
	return out, sc.Err()
}

// PasswordCost is the bcrypt cost of HashPassword: that of `nats server
// passwd`.
const PasswordCost = 11

// HashPassword returns the bcrypt hash of a password, as nats-server takes
// it in place of the password (deploy/nats/accounts.conf): the server's
// environment then holds no usable password. A password must be 16 to 72
// bytes (bcrypt reads no further).
func HashPassword(password string) (string, error) {
	switch {
	case len(password) < 16:
		return "", fmt.Errorf("password: %d bytes, fewer than 16: make one with `openssl rand -base64 24`", len(password))
	case len(password) > 72:
		return "", fmt.Errorf("password: %d bytes, more than the 72 bcrypt reads", len(password))
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), PasswordCost)
	return string(h), err
}
