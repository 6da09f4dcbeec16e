// Package sse frames server-sent event streams and newline-delimited JSON
// streams without allocating per event.
//
// The framing follows the WHATWG HTML Living Standard, "Server-sent events",
// §9.2.6 "Interpreting an event stream": lines end in LF or CRLF, a blank line
// dispatches the event, "data:" lines are joined with LF, one leading space
// after the colon is dropped, lines starting with ':' are comments. A lone CR
// as line terminator is not supported (no LLM provider sends it).
//
// # Notes
//
// Every []byte returned aliases the Reader's buffers and is valid until the
// next call to Next. A Reader is not safe for concurrent use.
package sse

import (
	"bytes"
	"errors"
	"io"
)

// DefaultMaxEvent bounds one event (or one NDJSON line): a hostile or broken
// upstream cannot make the gateway buffer without limit.
const DefaultMaxEvent = 8 << 20

// ErrTooLarge is returned when one event exceeds the Reader's maximum size.
var ErrTooLarge = errors.New("stream event exceeds the maximum size")

// Event is one dispatched server-sent event.
type Event struct {
	Name []byte // the "event:" field, nil when absent
	Data []byte // the "data:" lines joined with '\n'
}

// Buffer sizes of a lineReader. A stream starts with a small buffer: a
// slow stream's events (a few hundred bytes, tens of milliseconds apart)
// arrive one per read, and a gateway relaying a thousand of them at once
// keeps a thousand buffers for the streams' whole life. A read that fills
// the free space says more is waiting (a fast or coalesced stream): the
// buffer doubles, up to growBuffer, so that such a stream is read in
// fewer, larger reads. A line longer than the buffer grows it up to the
// maximum event size.
const (
	startBuffer = 512
	growBuffer  = 4096
)

// lineReader yields lines from r through a reused, bounded buffer.
type lineReader struct {
	r          io.Reader
	buf        []byte
	start, end int
	max        int
	err        error
}

func (l *lineReader) reset(r io.Reader, max int) {
	l.r, l.start, l.end, l.err = r, 0, 0, nil
	if max <= 0 {
		max = DefaultMaxEvent
	}
	l.max = max
	if cap(l.buf) == 0 {
		l.buf = make([]byte, startBuffer)
	}
	l.buf = l.buf[:cap(l.buf)]
}

// line returns the next line without its terminator. At the end of input a
// final unterminated line is returned before io.EOF.
func (l *lineReader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(l.buf[l.start:l.end], '\n'); i >= 0 {
			ln := l.buf[l.start : l.start+i]
			l.start += i + 1
			if n := len(ln); n > 0 && ln[n-1] == '\r' {
				ln = ln[:n-1]
			}
			return ln, nil
		}
		if l.err != nil {
			if l.start < l.end {
				ln := l.buf[l.start:l.end]
				l.start = l.end
				return ln, nil
			}
			return nil, l.err
		}
		if l.start > 0 {
			n := copy(l.buf, l.buf[l.start:l.end])
			l.start, l.end = 0, n
		}
		if l.end == len(l.buf) {
			if len(l.buf) >= l.max {
				return nil, ErrTooLarge
			}
			nb := make([]byte, min(2*len(l.buf), l.max))
			copy(nb, l.buf[:l.end])
			l.buf = nb
		}
		n, err := l.r.Read(l.buf[l.end:])
		l.end += n
		if err != nil {
			l.err = err
		} else if l.end == len(l.buf) && n > 0 && len(l.buf) < min(growBuffer, l.max) {
			nb := make([]byte, min(2*len(l.buf), growBuffer, l.max))
			copy(nb, l.buf[:l.end])
			l.buf = nb
		}
	}
}

// Reader reads server-sent events.
type Reader struct {
	lr   lineReader
	data []byte
	name []byte
}

// NewReader returns a Reader of r; max bounds one event (0: DefaultMaxEvent).
func NewReader(r io.Reader, max int) *Reader {
	sr := &Reader{}
	sr.Reset(r, max)
	return sr
}

// Reset makes the Reader read from r, keeping its buffers.
func (s *Reader) Reset(r io.Reader, max int) {
	s.lr.reset(r, max)
	s.data, s.name = s.data[:0], s.name[:0]
}

// Next returns the next event. It returns io.EOF at the end of the stream;
// an event cut short by the end of the stream is still returned first.
func (s *Reader) Next() (Event, error) {
	s.data, s.name = s.data[:0], s.name[:0]
	hasData, hasName := false, false
	for {
		ln, err := s.lr.line()
		if err != nil {
			if hasData && errors.Is(err, io.EOF) {
				return s.event(hasName), nil
			}
			return Event{}, err
		}
		if len(ln) == 0 {
			if hasData {
				return s.event(hasName), nil
			}
			hasName = false
			s.name = s.name[:0]
			continue
		}
		if ln[0] == ':' {
			continue
		}
		field, value := ln, ln[:0]
		if c := bytes.IndexByte(ln, ':'); c >= 0 {
			field, value = ln[:c], ln[c+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				s.data = append(s.data, '\n')
			}
			if len(s.data)+len(value) > s.lr.max {
				return Event{}, ErrTooLarge
			}
			s.data = append(s.data, value...)
			hasData = true
		case "event":
			s.name = append(s.name[:0], value...)
			hasName = true
		}
	}
}

func (s *Reader) event(hasName bool) Event {
	ev := Event{Data: s.data}
	if hasName {
		ev.Name = s.name
	}
	return ev
}

// Pending reports whether the next event is already buffered in full, so
// that Next will return it without reading (and without blocking).
func (s *Reader) Pending() bool {
	b := s.lr.buf[s.lr.start:s.lr.end]
	return bytes.Contains(b, lflf) || bytes.Contains(b, crlfcrlf)
}

var (
	lflf     = []byte("\n\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// Lines reads newline-delimited JSON (Ollama's streaming format), skipping
// blank lines.
type Lines struct{ lr lineReader }

// NewLines returns a Lines reader of r; max bounds one line (0: DefaultMaxEvent).
func NewLines(r io.Reader, max int) *Lines {
	l := &Lines{}
	l.Reset(r, max)
	return l
}

// Reset makes l read from r, keeping its buffer.
func (l *Lines) Reset(r io.Reader, max int) { l.lr.reset(r, max) }

// Next returns the next non-blank line, or io.EOF.
func (l *Lines) Next() ([]byte, error) {
	for {
		ln, err := l.lr.line()
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(ln)) > 0 {
			return ln, nil
		}
	}
}

// Pending reports whether a whole line is already buffered, so that Next
// returns without reading.
func (l *Lines) Pending() bool {
	return bytes.IndexByte(l.lr.buf[l.lr.start:l.lr.end], '\n') >= 0
}

// AppendData appends data framed as one SSE event ("data: …\n\n"). data must
// not contain newlines (JSON from the gateway never does).
func AppendData(dst, data []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}

// Done is the OpenAI end-of-stream event.
var Done = []byte("data: [DONE]\n\n")
