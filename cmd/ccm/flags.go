package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"

	"github.com/ccm-ledger/ccm-ledger/aggregates"
)

// flagSet returns a FlagSet for a command whose usage lists its flags.
func (m *Main) flagSet(name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { commandHelp(fs.Output(), fs, name, args) }
	if m.onFlagSet != nil {
		m.onFlagSet(fs)
	}
	return fs
}

// parse parses flags, allowing them before and after positional arguments,
// and checks the number of positional arguments.
func parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < minArgs:
		return nil, usagef("%s: missing argument (see ccm help %s)", fs.Name(), fs.Name())
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, usagef("%s: unexpected argument %q", fs.Name(), pos[maxArgs])
	}
	return pos, nil
}

// connFlags say where the ledger is: a server (URL and credentials) or a
// data directory for an embedded one.
type connFlags struct {
	url, data               string
	user, password, token   string
	nkey, creds             string
	tlsCA, tlsCert, tlsKey  string
	inboxPrefix             string
	authDir                 string
	stream                  string
	replicas                int
	noRecord                bool
	syncAlways              bool
	allowDamaged            bool
	checkpointKey           string
	urlSet, dataSet, remote bool
	replicasSet             bool
}

func (m *Main) addConnFlags(fs *flag.FlagSet, c *connFlags) {
	fs.StringVar(&c.url, "nats-url", "nats://127.0.0.1:4222", "NATS server or cluster URL(s), comma-separated ($CCM_NATS_URL)")
	fs.StringVar(&c.data, "data", "", "data directory: work one-shot on an embedded server with this store ($CCM_DATA)")
	fs.StringVar(&c.user, "nats-user", "", "NATS user ($CCM_NATS_USER)")
	fs.StringVar(&c.password, "nats-password", "", "NATS password ($CCM_NATS_PASSWORD; prefer the environment)")
	fs.StringVar(&c.token, "nats-token", "", "NATS token ($CCM_NATS_TOKEN; prefer the environment)")
	fs.StringVar(&c.nkey, "nats-nkey", "", "file holding an NKey seed to authenticate with")
	fs.StringVar(&c.creds, "nats-creds", "", "NATS credentials file (JWT and NKey seed)")
	fs.StringVar(&c.tlsCA, "tls-ca", "", "CA certificate file to verify the server")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "client certificate file (mutual TLS)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "client key file (mutual TLS)")
	fs.StringVar(&c.inboxPrefix, "nats-inbox-prefix", "", "prefix of the subjects replies come back on, for a user with inboxes of its own, e.g. _INBOX_service for the service role ($CCM_NATS_INBOX_PREFIX)")
	fs.StringVar(&c.authDir, "nats-auth-dir", "", "credentials of a ccm serve on this machine, for a server on loopback given no other credentials (default: the auth directory of the default data directory; $CCM_NATS_AUTH_DIR)")
	fs.StringVar(&c.stream, "stream", "CCM", "name of the ledger's stream")
	fs.IntVar(&c.replicas, "replicas", 1, "replicas of the streams when this command creates them (default: 3 on a cluster, 1 on one server)")
	fs.BoolVar(&c.noRecord, "no-record", false, "do not load the bundled record into a new, empty ledger")
	fs.BoolVar(&c.allowDamaged, "allow-damaged", false, "go on when the log fails its check against its signed checkpoints (tampered or damaged: exit 9 otherwise); nothing is recorded on such a log")
	fs.StringVar(&c.checkpointKey, "checkpoint-key", "", "the ledger's checkpoint signing key, made at first start (default: auth/checkpoint.key of the data directory; $CCM_CHECKPOINT_KEY); others check with its public part, checkpoint.pub beside it")
	fs.BoolVar(&c.syncAlways, "sync-always", false, "embedded server: write every event to disk (fsync) before acknowledging it, so that it survives a power loss, not only a crash of the process (BENCHMARKS.md gives the cost)")
}

// fromEnv fills flags not given on the command line from the environment.
func (m *Main) fromEnv(fs *flag.FlagSet, c *connFlags) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	env := func(flagName, key string, dst *string) {
		if !set[flagName] {
			if v := m.Getenv(key); v != "" {
				*dst = v
				set[flagName] = true
			}
		}
	}
	env("nats-url", "CCM_NATS_URL", &c.url)
	env("data", "CCM_DATA", &c.data)
	env("nats-user", "CCM_NATS_USER", &c.user)
	env("nats-password", "CCM_NATS_PASSWORD", &c.password)
	env("nats-token", "CCM_NATS_TOKEN", &c.token)
	env("nats-inbox-prefix", "CCM_NATS_INBOX_PREFIX", &c.inboxPrefix)
	env("nats-auth-dir", "CCM_NATS_AUTH_DIR", &c.authDir)
	env("checkpoint-key", "CCM_CHECKPOINT_KEY", &c.checkpointKey)
	c.urlSet, c.dataSet, c.replicasSet = set["nats-url"], set["data"], set["replicas"]
}

// boundFlags are the as-of and known-at bounds of a query.
type boundFlags struct {
	asOf, knownAt, rule string
}

func addBoundFlags(fs *flag.FlagSet, b *boundFlags) {
	fs.StringVar(&b.asOf, "as-of", "", "valid-date bound: YYYY-MM-DD or a meeting code such as 3MSP (default today)")
	fs.StringVar(&b.knownAt, "known-at", "", "record-time bound: a stream sequence, an RFC 3339 time or a date (default: all recorded)")
	fs.StringVar(&b.rule, "annual-rule", aggregates.DefaultAnnualRule.Name, "Article 7 annual-report rule: "+annualRuleNames())
}

func annualRuleNames() string {
	var names []string
	for _, r := range aggregates.AnnualRules() {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

func (b boundFlags) annualRule() (aggregates.AnnualRule, error) {
	r, ok := aggregates.AnnualRuleByName(b.rule)
	if !ok {
		return r, usagef("--annual-rule %q: not one of %s", b.rule, annualRuleNames())
	}
	return r, nil
}

// formatFlag is --format with its allowed values.
type formatFlag struct {
	value   string
	allowed []string
}

func addFormatFlag(fs *flag.FlagSet, f *formatFlag, allowed ...string) {
	f.allowed = allowed
	fs.StringVar(&f.value, "format", "text", "output format: "+strings.Join(allowed, ", "))
}

func (f formatFlag) check() error {
	for _, a := range f.allowed {
		if f.value == a {
			return nil
		}
	}
	return usagef("--format %q: not one of %s", f.value, strings.Join(f.allowed, ", "))
}

// defaultDataDir is the per-user store of `ccm serve`:
// $XDG_DATA_HOME/ccm-ledger, or ~/.local/share/ccm-ledger.
func (m *Main) defaultDataDir() string {
	if d := m.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "ccm-ledger")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "ccm-ledger")
	}
	return filepath.Join(os.TempDir(), "ccm-ledger")
}
