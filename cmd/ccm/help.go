package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
	"unicode/utf8"
)

// examples give one command line per command, shown by `ccm help COMMAND`.
var examples = map[string]string{
	"serve":      "ccm serve --data ./ccm-data",
	"import":     "ccm import events.jsonl --data ./ccm-data",
	"export":     "ccm export --data ./ccm-data > ledger.jsonl",
	"record":     "ccm record --type signed --state SWE --date 2008-12-03 --source 'UNTC' --data ./ccm-data",
	"status":     "ccm status SWE --as-of 3MSP --data ./ccm-data",
	"report":     "ccm report --as-of 13MSP --format csv --data ./ccm-data > report.csv",
	"states":     "ccm states --as-of 3MSP --format csv --data ./ccm-data > states.csv",
	"diff":       "ccm diff 3MSP 13MSP --data ./ccm-data",
	"history":    "ccm history LAO --as-of 3MSP --data ./ccm-data",
	"replay":     "ccm replay --state SWE --as-of 3MSP --data ./ccm-data",
	"meetings":   "ccm meetings --data ./ccm-data",
	"snapshots":  "ccm snapshots --refresh --data ./ccm-data",
	"verify":     "ccm verify --data ./ccm-data",
	"checkpoint": "ccm checkpoint --public-key --data ./ccm-data > ledger.pub",
	"witness":    "ccm witness --key ledger.pub --out checkpoints.txt",
	"prove":      "ccm prove ID --data ./ccm-data > proof.json",
	"init":       "ccm init --nats-user operator --nats-url nats://n1:4222,nats://n2:4222,nats://n3:4222",
	"cluster":    "ccm cluster trial start --dir /tmp/ccm-trial",
	"passwd":     "openssl rand -base64 24 | tee recorder.pw | ccm passwd --role recorder >> nats.env",
	"watch":      "ccm watch '*.deadline-missed'",
	"bench":      "ccm bench",
	"version":    "ccm version",
	"completion": "source <(ccm completion bash)",
}

// connFlagNames are the flags of addConnFlags, which help lists apart.
var connFlagNames = func() map[string]bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	(&Main{}).addConnFlags(fs, &connFlags{})
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}()

func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// commandHelp writes what `ccm help NAME` says: usage, what the command
// does, an example, its own flags, then the connection flags.
func commandHelp(w io.Writer, fs *flag.FlagSet, name, args string) {
	fmt.Fprintln(w, strings.TrimSpace(fmt.Sprintf("Usage: ccm %s [flags] %s", name, args)))
	if c, ok := lookupCommand(name); ok {
		fmt.Fprintf(w, "\n%s\n", wrapWords(strings.ToUpper(c.summary[:1])+c.summary[1:]+".", 0, textWidth))
	}
	if ex := examples[name]; ex != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", ex)
	}
	var own, conn []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if connFlagNames[f.Name] {
			conn = append(conn, f)
		} else {
			own = append(own, f)
		}
	})
	writeFlags(w, "Flags:", own)
	writeFlags(w, "Connection flags (a server, or a data directory for an embedded one):", conn)
}

func writeFlags(w io.Writer, title string, fl []*flag.Flag) {
	if len(fl) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	for _, f := range fl {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		switch f.DefValue {
		case "", "false", "0":
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n%s\n", line, wrapWords(usage, 6, textWidth))
	}
}

// wrapWords breaks text at spaces into lines of at most width columns
// (runes), each indented; a word longer than a line is cut across lines.
func wrapWords(text string, indent, width int) string {
	pad := strings.Repeat(" ", indent)
	room := max(width-indent, 10)
	var lines []string
	line, n := pad, 0
	for _, word := range strings.Fields(text) {
		for r := []rune(word); len(r) > room; r = []rune(word) {
			if n > 0 {
				lines, line, n = append(lines, line), pad, 0
			}
			lines, word = append(lines, pad+string(r[:room])), string(r[room:])
		}
		wn := utf8.RuneCountInString(word)
		if n > 0 && n+1+wn > room {
			lines, line, n = append(lines, line), pad, 0
		}
		if n > 0 {
			line += " "
			n++
		}
		line += word
		n += wn
	}
	return strings.Join(append(lines, line), "\n")
}

// unknownCommand says that name is no command, with the nearest one.
func (m *Main) unknownCommand(name string) int {
	names := make([]string, 0, len(commands)+1)
	for _, c := range commands {
		names = append(names, c.name)
	}
	names = append(names, "help")
	if near := nearest(name, names); near != "" {
		fmt.Fprintf(m.Stderr, "ccm: unknown command %q; did you mean %q?\n", name, near)
		fmt.Fprintf(m.Stderr, "Run `ccm help` for the list of commands.\n")
		return exitUsage
	}
	fmt.Fprintf(m.Stderr, "ccm: unknown command %q\n\n", name)
	m.usage(m.Stderr)
	return exitUsage
}

// versionText is the version from the build information: the module's
// version (devel for a build from a work tree), the VCS revision, and
// dirty when the tree had uncommitted changes.
func versionText(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "devel (no build information)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, when string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var parts []string
	if rev != "" {
		parts = append(parts, "revision "+rev)
	}
	if when != "" {
		parts = append(parts, when)
	}
	if dirty && !strings.HasSuffix(v, "+dirty") {
		parts = append(parts, "dirty")
	}
	if bi.GoVersion != "" {
		parts = append(parts, bi.GoVersion)
	}
	if len(parts) > 0 {
		v += " (" + strings.Join(parts, ", ") + ")"
	}
	return v
}

// version is the module's version alone ("devel" for a build from a work
// tree), as the command service announces it.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
