package main

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
)

// logFlags choose how the program's logs (those of `ccm serve`: what it
// serves, the projector, the command service, errors) are written.
type logFlags struct {
	format, level string
}

func addLogFlags(fs *flag.FlagSet, l *logFlags) {
	fs.StringVar(&l.format, "log-format", "text", "logs on standard error: text (key=value lines) or json (one object a line, for a log collector)")
	fs.StringVar(&l.level, "log-level", "info", "least level logged: debug, info, warn or error")
}

// setLogger makes the logger the flags ask for; a bad value is a usage
// error.
func (m *Main) setLogger(l logFlags) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return usagef("--log-level %q: not one of debug, info, warn, error", l.level)
	}
	o := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(l.format) {
	case "text":
		m.log = slog.New(slog.NewTextHandler(m.Stderr, o))
	case "json":
		m.log = slog.New(slog.NewJSONHandler(m.Stderr, o))
	default:
		return usagef("--log-format %q: not text or json", l.format)
	}
	return nil
}

// logger is the program's logger: text on standard error unless
// setLogger chose another.
func (m *Main) logger() *slog.Logger {
	if m.log == nil {
		m.log = slog.New(slog.NewTextHandler(m.Stderr, nil))
	}
	return m.log
}

// logf adapts the logger to the Logf of a component that formats its own
// messages (the projector, the command service).
func (m *Main) logf(component string) func(format string, args ...any) {
	return func(format string, args ...any) {
		m.logger().Info(fmt.Sprintf(format, args...), "component", component)
	}
}
