package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"
)

// Main is the program: its standard streams, environment and clock are
// fields so that a test can run the whole program in-process.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Now    func() time.Time
	// ServeReady, when set, is called by `serve` once it accepts requests,
	// with the NATS client URL and the HTTP address.
	ServeReady func(natsURL, httpAddr string)
	// duplicates, when set, is the duplicate window of the streams an
	// embedded server creates (tests shorten it).
	duplicates time.Duration
	// onFlagSet, when set, receives each FlagSet a command makes (how
	// completion learns a command's flags).
	onFlagSet func(*flag.FlagSet)
	// isTerminal, when set, says whether a stream is a terminal (tests
	// stand in for one).
	isTerminal func(io.Writer) bool
	// log is the program's logger (see logger).
	log *slog.Logger
}

// NewMain returns a Main on the process's streams, environment and clock.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Now: time.Now}
}

type command struct {
	name    string
	args    string
	summary string
	run     func(m *Main, ctx context.Context, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"serve", "", "run the ledger: NATS JetStream (embedded or --nats-url), the HTTP API and the projector", (*Main).serve},
		{"import", "FILE|-", "validate a JSON Lines file whole, then record it; --bundled records the bundled record", (*Main).importCmd},
		{"export", "", "write the log as JSON Lines, with stream sequence and record time", (*Main).export},
		{"record", "", "record one event from flags", (*Main).record},
		{"status", "ISO3", "one State's state of compliance", (*Main).status},
		{"report", "", "the Convention-wide tables", (*Main).report},
		{"states", "", "one row per State: treaty status, entry into force, each article's status and deadline", (*Main).states},
		{"diff", "FROM TO", "what changed between two dates or meetings", (*Main).diff},
		{"history", "ISO3", "a State's timeline with derived dates", (*Main).history},
		{"replay", "", "the events in valid-date order, each with the change it caused", (*Main).replay},
		{"meetings", "", "the meetings of the Convention", (*Main).meetings},
		{"snapshots", "", "the stored meeting snapshots (--refresh to bring them up to date)", (*Main).snapshots},
		{"verify", "", "check the log against its signed checkpoints (or --file EXPORT, --proof FILE offline with --key) and list what no view counts", (*Main).verify},
		{"checkpoint", "", "sign a checkpoint of the log's head now; --public-key prints the key auditors check with", (*Main).checkpointCmd},
		{"witness", "", "keep copies of the ledger's checkpoints in a file (--out), checking each against the key and the ones kept", (*Main).witness},
		{"prove", "ID", "write the inclusion proof of one event against the latest checkpoint (ccm verify --proof checks it)", (*Main).prove},
		{"init", "", "operator: create the ledger's streams and buckets a server lacks, with the cluster's replica count", (*Main).initCmd},
		{"cluster", "SUBCOMMAND", "operator: status, check (the deployment against deploy/), trial (three nodes on this host), node", (*Main).clusterCmd},
		{"passwd", "", "operator: the bcrypt hash of the password on standard input, for the server's environment file", (*Main).passwd},
		{"watch", "[FILTER]", "follow derived compliance events live (FILTER: SWE.>, *.deadline-missed); --durable NAME to resume", (*Main).watch},
		{"bench", "", "measure the ledger against the raw JetStream baseline in one run", (*Main).bench},
		{"version", "", "print the version: module version, VCS revision, dirty when built from a changed tree", (*Main).version},
		{"completion", "bash|zsh|fish", "print the shell completion script of ccm for bash, zsh or fish", (*Main).completion},
	}
}

// Run runs the program with args (without the program name) and returns the
// process exit code.
func (m *Main) Run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		m.usage(m.Stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "--version", "-version":
		name = "version"
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] == "exit-codes" {
			fmt.Fprint(m.Stdout, exitCodesHelp)
			return exitOK
		}
		if len(rest) > 0 {
			if _, ok := lookupCommand(rest[0]); !ok {
				return m.unknownCommand(rest[0])
			}
			// Asked for: the help goes to standard output.
			h := *m
			h.Stderr = m.Stdout
			return h.Run(ctx, []string{rest[0], "-h"})
		}
		m.usage(m.Stdout)
		return exitOK
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(m, ctx, rest)
			if err != nil && !errors.Is(err, flag.ErrHelp) {
				m.printError(err)
			}
			return exitCode(err)
		}
	}
	return m.unknownCommand(name)
}

func (m *Main) usage(w io.Writer) {
	fmt.Fprintln(w, "ccm — the compliance ledger of the Convention on Cluster Munitions")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: ccm COMMAND [flags] [args]")
	fmt.Fprintln(w)
	for _, c := range commands {
		// The summary wrapped beside the name, in textWidth columns.
		text := wrapWords(c.summary, 27, textWidth)
		fmt.Fprintf(w, "  %-24s %s\n", strings.TrimSpace(c.name+" "+c.args), text[27:])
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Client commands use a running server (--nats-url, default nats://127.0.0.1:4222, or $CCM_NATS_URL)")
	fmt.Fprintln(w, "or work one-shot on a data directory (--data DIR or $CCM_DATA) with an embedded server.")
	fmt.Fprintln(w, "`ccm help COMMAND` lists a command's flags; `ccm help exit-codes` the exit codes.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "A new data directory holds the bundled record. It is complete for treaty actions through")
	fmt.Fprintln(w, "23 Jan 2026 and for Articles 3 to 9 and extensions through the 3MSP (14 Sep 2012); it holds")
	fmt.Fprintln(w, "later facts where sources give them. What rests on a fact missing after that is shown as")
	fmt.Fprintln(w, "unknown, never as late or overdue (docs/record.md).")
}

func (m *Main) version(ctx context.Context, args []string) error {
	fs := m.flagSet("version", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, "ccm", versionText(debug.ReadBuildInfo()))
	return nil
}
