package http

import (
	"encoding/csv"
	"io"
)

// csvWriter is the one way the API writes CSV: every cell goes through
// safeCell, so a spreadsheet opening an export never runs a cell as a
// formula (CSV injection; OWASP's advice, as CONTRACT.md asks).
type csvWriter struct{ w *csv.Writer }

func newCSVWriter(w io.Writer) *csvWriter { return &csvWriter{w: csv.NewWriter(w)} }

// Write writes one row, each cell made safe.
func (c *csvWriter) Write(row []string) error {
	safe := make([]string, len(row))
	for i, s := range row {
		safe[i] = safeCell(s)
	}
	return c.w.Write(safe)
}

// Flush writes what is buffered and returns the first error of the writer.
func (c *csvWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

// safeCell prefixes with ' a cell that a spreadsheet would read as a
// formula: one beginning with =, +, -, @, a tab or a carriage return.
func safeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
