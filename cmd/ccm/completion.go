package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// completion prints the completion script of a shell.
func (m *Main) completion(ctx context.Context, args []string) error {
	fs := m.flagSet("completion", "bash|zsh|fish")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	cmds := m.commandFlags(ctx)
	switch pos[0] {
	case "bash":
		writeBashCompletion(m.Stdout, cmds)
	case "zsh":
		writeZshCompletion(m.Stdout, cmds)
	case "fish":
		writeFishCompletion(m.Stdout, cmds)
	default:
		return usagef("completion: %q is not bash, zsh or fish", pos[0])
	}
	return nil
}

// completed is a command with its flags, for a completion script.
type completed struct {
	name, summary string
	flags         []*flag.Flag
}

// commandFlags learns every command's flags by asking it for help, which
// each answers after making its FlagSet and before doing anything.
func (m *Main) commandFlags(ctx context.Context) []completed {
	var out []completed
	for _, c := range commands {
		var sets []*flag.FlagSet
		probe := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
			Getenv: func(string) string { return "" }, Now: m.Now,
			onFlagSet: func(fs *flag.FlagSet) { sets = append(sets, fs) }}
		if c.name != "completion" {
			_ = c.run(probe, ctx, []string{"-h"})
		}
		var fl []*flag.Flag
		for _, fs := range sets {
			fs.VisitAll(func(f *flag.Flag) { fl = append(fl, f) })
		}
		sort.Slice(fl, func(i, j int) bool { return fl[i].Name < fl[j].Name })
		out = append(out, completed{c.name, c.summary, fl})
	}
	return out
}

func names(cmds []completed) string {
	var ns []string
	for _, c := range cmds {
		ns = append(ns, c.name)
	}
	return strings.Join(append(ns, "help"), " ")
}

func flagWords(c completed) string {
	var ws []string
	for _, f := range c.flags {
		ws = append(ws, "--"+f.Name)
	}
	return strings.Join(ws, " ")
}

func writeBashCompletion(w io.Writer, cmds []completed) {
	fmt.Fprintf(w, `# bash completion for ccm: source <(ccm completion bash)
_ccm() {
  local cur=${COMP_WORDS[COMP_CWORD]} flags=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "%s --version" -- "$cur"))
    return
  fi
  case "${COMP_WORDS[1]}" in
    help) COMPREPLY=($(compgen -W "%[1]s exit-codes" -- "$cur")); return ;;
    completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return ;;
`, names(cmds))
	for _, c := range cmds {
		if len(c.flags) > 0 && c.name != "completion" {
			fmt.Fprintf(w, "    %s) flags=%q ;;\n", c.name, flagWords(c))
		}
	}
	fmt.Fprint(w, `  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _ccm ccm
`)
}

// quoted is s in single quotes for a POSIX-like shell.
func quoted(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func writeZshCompletion(w io.Writer, cmds []completed) {
	fmt.Fprint(w, "#compdef ccm\n# zsh completion for ccm: ccm completion zsh > \"${fpath[1]}/_ccm\"\n_ccm() {\n  local -a cmds\n  cmds=(\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "    %s\n", quoted(c.name+":"+c.summary))
	}
	fmt.Fprint(w, "    'help:what a command does, its flags and an example'\n  )\n")
	fmt.Fprint(w, "  if (( CURRENT == 2 )); then\n    _describe 'command' cmds\n    return\n  fi\n  case $words[2] in\n")
	fmt.Fprint(w, "    help) _describe 'command' cmds ;;\n    completion) compadd bash zsh fish ;;\n")
	for _, c := range cmds {
		if len(c.flags) > 0 && c.name != "completion" {
			fmt.Fprintf(w, "    %s) compadd -- %s; _files ;;\n", c.name, flagWords(c))
		}
	}
	fmt.Fprint(w, "  esac\n}\ncompdef _ccm ccm\n")
}

func writeFishCompletion(w io.Writer, cmds []completed) {
	fmt.Fprint(w, "# fish completion for ccm: ccm completion fish > ~/.config/fish/completions/ccm.fish\n")
	fmt.Fprintf(w, "complete -c ccm -n __fish_use_subcommand -l version -d %s\n", quoted("print the version"))
	for _, c := range cmds {
		fmt.Fprintf(w, "complete -c ccm -f -n __fish_use_subcommand -a %s -d %s\n", c.name, quoted(c.summary))
	}
	fmt.Fprintf(w, "complete -c ccm -f -n '__fish_seen_subcommand_from help' -a %s\n", quoted(names(cmds)+" exit-codes"))
	fmt.Fprint(w, "complete -c ccm -f -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'\n")
	for _, c := range cmds {
		for _, f := range c.flags {
			_, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "complete -c ccm -n '__fish_seen_subcommand_from %s' -l %s -d %s\n", c.name, f.Name, quoted(usage))
		}
	}
}
