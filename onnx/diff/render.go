package graphdiff

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
)

var severityColor = [...]string{
	Metadata:  "\x1b[36m",   // cyan
	Attribute: "\x1b[33m",   // yellow
	Structure: "\x1b[31m",   // red
	Interface: "\x1b[1;31m", // bold red
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// summary is the one-line verdict shared by the renderings.
func (r *Report) summary() string {
	m, ok := r.Max()
	if !ok {
		return "no differences"
	}
	return fmt.Sprintf("%s, max severity %s", plural(len(r.Changes), "change", "changes"), m)
}

func (r *Report) statsLine() string {
	s := r.Stats
	return fmt.Sprintf("nodes %d → %d: %d matched, %d inserted, %d deleted, %d changed", s.NodesA, s.NodesB, s.Matched, s.Inserted, s.Deleted, s.Changed)
}

// WriteText writes the report for a terminal, grouped by level; with color
// the severities and headings carry ANSI colours, without it the output is
// plain text.
func (r *Report) WriteText(w io.Writer, color bool) error {
	bw := bufio.NewWriter(w)
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	a, b := r.labels()
	fmt.Fprintf(bw, "%s %s → %s: %s\n", paint(ansiBold, "mhcc diff"), a, b, r.summary())
	fmt.Fprintln(bw, r.statsLine())
	for _, level := range r.levelsPresent() {
		cs := r.byLevel(level)
		if len(cs) == 0 {
			continue
		}
		fmt.Fprintf(bw, "\n%s (%d)\n", paint(ansiBold, level), len(cs))
		for _, c := range cs {
			sev := fmt.Sprintf("%-9s", c.Severity)
			code := ""
			if c.Severity >= 0 && int(c.Severity) < len(severityColor) {
				code = severityColor[c.Severity]
			}
			fmt.Fprintf(bw, "  %s  %s\n", paint(code, sev), oneLine(c.Message))
		}
	}
	return bw.Flush()
}

// WriteJSON writes the mhcc.diff/v1 document (see the package documentation).
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// WriteMarkdown writes a pull-request comment: a summary line, then a table
// of changes per level.
func (r *Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	a, b := r.labels()
	if m, ok := r.Max(); ok {
		fmt.Fprintf(bw, "**mhcc diff** %s → %s: %s, max severity **%s**\n\n", mdCode(a), mdCode(b), plural(len(r.Changes), "change", "changes"), m)
	} else {
		fmt.Fprintf(bw, "**mhcc diff** %s → %s: no differences\n\n", mdCode(a), mdCode(b))
	}
	fmt.Fprintf(bw, "%s\n", mdCell(r.statsLine()))
	for _, level := range r.levelsPresent() {
		cs := r.byLevel(level)
		if len(cs) == 0 {
			continue
		}
		fmt.Fprintf(bw, "\n#### %s (%d)\n\n", level, len(cs))
		fmt.Fprintln(bw, "| severity | kind | where | change |")
		fmt.Fprintln(bw, "|---|---|---|---|")
		for _, c := range cs {
			fmt.Fprintf(bw, "| %s | %s | %s | %s |\n", c.Severity, mdCode(c.Kind), mdCode(c.Path), mdCell(c.Message))
		}
	}
	return bw.Flush()
}

// mdCell makes s safe inside a table cell.
func mdCell(s string) string {
	s = oneLine(s)
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`, "_", `\_`, "`", "\\`")
	return r.Replace(s)
}

// mdCode shows s as inline code inside a table cell.
func mdCode(s string) string {
	s = oneLine(s)
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.NewReplacer("\r", " ", "\n", " ").Replace(s)), " ")
}

// WriteGitHub writes one GitHub Actions workflow command per change:
// ::error for interface and structure changes, ::warning for attribute
// changes, ::notice for metadata, titled "mhcc diff <level> <kind>". The
// annotations point at no file; WriteGitHubAt places them.
func (r *Report) WriteGitHub(w io.Writer) error { return r.WriteGitHubAt(w, nil) }

// WriteGitHubAt is WriteGitHub with each annotation placed at at(change):
// file=, line= and col= when known, so GitHub shows it on that line of the
// pull request's diff. at may be nil.
func (r *Report) WriteGitHubAt(w io.Writer, at func(Change) Location) error {
	bw := bufio.NewWriter(w)
	for _, c := range r.Changes {
		cmd := "notice"
		switch c.Severity {
		case Interface, Structure:
			cmd = "error"
		case Attribute:
			cmd = "warning"
		}
		title := fmt.Sprintf("mhcc diff %s %s", c.Level, c.Kind)
		msg := c.Message
		if c.Path != "" {
			msg += " [" + c.Path + "]"
		}
		props := ""
		if at != nil {
			props = at(c).properties()
		}
		fmt.Fprintf(bw, "::%s %stitle=%s::%s\n", cmd, props, ghProperty(title), ghData(msg))
	}
	return bw.Flush()
}

// ghData escapes a workflow command's message (actions/toolkit escapeData).
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value (escapeProperty).
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
