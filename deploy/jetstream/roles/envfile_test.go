package roles_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ccm-ledger/ccm-ledger/deploy/jetstream/roles"
)

// values are what the environment files hold: bcrypt hashes (with "$"),
// plain passwords of `openssl rand -base64 24` (with "+", "/", "="), a
// URL list.
var values = map[string]string{
	"CCM_NATS_AUDITOR_PASSWORD":  "$2a$11$Zr7WkAV0CXrDU4kjmQE9l.lnsFNXnL2C7XBm8bnnuQyE4ysPEAIdq",
	"CCM_NATS_RECORDER_PASSWORD": "q8Vd+0x/Hk2mJ5mWn3p1Yr8sZtV9==",
	"CCM_NATS_URL":               "nats://127.0.0.1:4222,nats://127.0.0.1:4223",
	"CCM_NATS_SYS_PASSWORD":      "with space $HOME `date` \\ \"quoted\"",
}

func writeEnv(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# a comment\n\n")
	for k, v := range values {
		l, err := roles.EnvLine(k, v)
		require.NoError(t, err)
		b.WriteString(l + "\n")
	}
	f := filepath.Join(t.TempDir(), "nats.env")
	require.NoError(t, os.WriteFile(f, []byte(b.String()), 0o600))
	return f
}

// sh reads the file with `. FILE` as systemd-less scripts and the trial's
// instructions do: every value comes back as written.
func TestEnvFileSourcedBySh(t *testing.T) {
	f := writeEnv(t)
	for k, v := range values {
		out, err := exec.Command("sh", "-c", fmt.Sprintf(`set -a; . "$1"; set +a; printf '%%s' "$%s"`, k), "sh", f).Output()
		require.NoError(t, err)
		assert.Equal(t, v, string(out), "%s as sh reads it", k)
	}
	// Unquoted, sh expands the hash's "$2a", "$11"...: the value changes.
	bad := filepath.Join(t.TempDir(), "bad.env")
	require.NoError(t, os.WriteFile(bad, []byte("X="+values["CCM_NATS_AUDITOR_PASSWORD"]+"\n"), 0o600))
	out, err := exec.Command("sh", "-c", `. "$1"; printf '%s' "$X"`, "sh", bad).Output()
	require.NoError(t, err)
	assert.NotEqual(t, values["CCM_NATS_AUDITOR_PASSWORD"], string(out), "why the values are quoted")
}

// compose reads the file (env_file) by the rules of its documentation:
// comments and blank lines skipped; VAR='VAL' taken literally; unquoted and
// double-quoted values interpolated ($VAR, ${VAR}; "$" before anything
// else is an invalid template), double-quoted ones unescaped.
func composeEnvFile(t *testing.T, path string) (map[string]string, error) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		switch {
		case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
			v = v[1 : len(v)-1]
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			v = strings.NewReplacer(`\n`, "\n", `\"`, `"`, `\\`, `\`).Replace(v[1 : len(v)-1])
			fallthrough
		default:
			if v, err = interpolate(v); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
		}
		out[k] = v
	}
	return out, nil
}

var composeVar = regexp.MustCompile(`\$(\$|[_A-Za-z][_A-Za-z0-9]*|\{[^}]*\}|)`)

func interpolate(v string) (string, error) {
	var err error
	out := composeVar.ReplaceAllStringFunc(v, func(m string) string {
		switch {
		case m == "$$":
			return "$"
		case m == "$":
			err = fmt.Errorf("invalid template: %q", v)
		}
		return "" // no variable of the file's is set
	})
	return out, err
}

func TestEnvFileReadByCompose(t *testing.T) {
	got, err := composeEnvFile(t, writeEnv(t))
	require.NoError(t, err)
	assert.Equal(t, values, got, "compose takes the single-quoted values literally")
	bad := filepath.Join(t.TempDir(), "bad.env")
	require.NoError(t, os.WriteFile(bad, []byte("X="+values["CCM_NATS_AUDITOR_PASSWORD"]+"\n"), 0o600))
	_, err = composeEnvFile(t, bad)
	assert.Error(t, err, "unquoted, compose refuses the hash")
}

// ReadEnvFile reads what EnvLine writes, and refuses what sh, compose and
// systemd would read differently.
func TestReadEnvFile(t *testing.T) {
	f, err := os.Open(writeEnv(t))
	require.NoError(t, err)
	defer f.Close()
	got, err := roles.ReadEnvFile(f)
	require.NoError(t, err)
	assert.Equal(t, values, got)
	for _, bad := range []string{`X=$2a$11$abc`, `X="$2a$11$abc"`, `export X='a'`, `X='a'b'`, `X=a b`} {
		_, err := roles.ReadEnvFile(strings.NewReader(bad + "\n"))
		assert.Error(t, err, "%s", bad)
	}
	_, err = roles.EnvLine("X", "it's")
	assert.ErrorContains(t, err, "single quote")
}

// The compose files' examples are in the format, and compose reads them
// as ReadEnvFile does.
func TestComposeExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "compose", "*.env.example"))
	require.NoError(t, err)
	require.Len(t, files, 3)
	for _, name := range files {
		f, err := os.Open(name)
		require.NoError(t, err)
		ours, err := roles.ReadEnvFile(f)
		f.Close()
		require.NoError(t, err, name)
		compose, err := composeEnvFile(t, name)
		require.NoError(t, err, name)
		assert.Equal(t, compose, ours, "%s: compose reads what ReadEnvFile reads", name)
	}
}
