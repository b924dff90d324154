package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// progressBar draws the progress of long work on one line of a terminal,
// redrawn only when the percentage changes.
type progressBar struct {
	w     io.Writer
	label string
	pct   int
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label, pct: -1}
}

const barWidth = 30

func (p *progressBar) update(done, total int) {
	if total <= 0 {
		return
	}
	pct := min(100, done*100/total)
	if pct == p.pct {
		return
	}
	p.pct = pct
	full := pct * barWidth / 100
	fmt.Fprintf(p.w, "\rccm: %s [%s%s] %3d%% %d/%d", p.label, strings.Repeat("#", full), strings.Repeat(".", barWidth-full), pct, done, total)
}

// finish ends the bar's line, if one was drawn.
func (p *progressBar) finish() {
	if p.pct >= 0 {
		fmt.Fprintln(p.w)
	}
}

// terminal reports whether w is a terminal, where progress is shown.
func (m *Main) terminal(w io.Writer) bool {
	if m.isTerminal != nil {
		return m.isTerminal(w)
	}
	return isTerminal(w)
}

// isTerminal reports whether w is a character device (a terminal), not a
// file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
