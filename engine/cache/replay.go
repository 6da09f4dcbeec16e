package cache

import (
	"io"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
)

// Replay is a providers.Stream that replays an Entry as a well-formed OpenAI
// SSE stream: the role chunk; reasoning, content and refusal in word-aligned
// pieces of a few tokens; each tool call opened with its id and name and its
// arguments in pieces; the finish chunk; the usage chunk when the client
// asked for it; and [DONE].
//
// # Notes
//
// Next batches events up to about 8 KiB per call: a hit has no reason to
// trickle, and fewer writes mean fewer syscalls, while every event is still
// the size a client expects. A Replay allocates nothing per event. Close may
// be called from any goroutine; after it Next fails.
type Replay struct {
	e            *Entry
	cw           providers.ChunkWriter
	out          []byte
	includeUsage bool
	state        int
	pos          int
	tool         int
	closed       atomic.Bool
}

var _ providers.Stream = (*Replay)(nil)

var replayPool = syncPool(func() *Replay { return new(Replay) })

// AcquireReplay returns a pooled Replay of e with the given completion id.
func AcquireReplay(e *Entry, id string, includeUsage bool) *Replay {
	r := replayPool.Get()
	r.Reset(e, id, includeUsage)
	return r
}

// ReleaseReplay returns r to the pool; r must not be used afterwards.
func ReleaseReplay(r *Replay) {
	r.e = nil
	replayPool.Put(r)
}

// Reset prepares r to replay e from the start.
func (r *Replay) Reset(e *Entry, id string, includeUsage bool) {
	r.e, r.includeUsage, r.state, r.pos, r.tool = e, includeUsage, rsRole, 0, 0
	r.cw.Reset(id, e.Created, e.Model)
	r.out = r.out[:0]
	r.closed.Store(false)
}

const (
	rsRole = iota
	rsReasoning
	rsContent
	rsRefusal
	rsTools
	rsFinish
	rsEnd
	rsEOF
)

// replayBatch is the size past which Next returns what it has.
const replayBatch = 8 << 10

// Piece sizes: a piece ends after the first whitespace at or past pieceMin
// bytes, and at a rune boundary by pieceMax.
const (
	pieceMin = 16
	pieceMax = 48
)

// nextPiece returns the end of the piece of text that starts at pos.
func nextPiece(text []byte, pos int) int {
	if pos+pieceMin >= len(text) {
		return len(text)
	}
	limit := min(pos+pieceMax, len(text))
	for j := pos + pieceMin; j < limit; j++ {
		if c := text[j]; c == ' ' || c == '\n' || c == '\t' {
			return j + 1
		}
	}
	if limit == len(text) {
		return limit
	}
	j := limit
	for j > pos+1 && !utf8.RuneStart(text[j]) {
		j--
	}
	return j
}

// Next returns the next batch of events; io.EOF after [DONE].
// Pending reports whether events remain: a replay never waits.
func (r *Replay) Pending() bool { return r.state != rsEOF }

func (r *Replay) Next() ([]byte, error) {
	if r.closed.Load() {
		return nil, io.ErrClosedPipe
	}
	if r.state == rsEOF {
		return nil, io.EOF
	}
	r.out = r.out[:0]
	for r.state != rsEOF && len(r.out) < replayBatch {
		r.step()
	}
	return r.out, nil
}

// step appends one event and advances the state.
func (r *Replay) step() {
	e := r.e
	switch r.state {
	case rsRole:
		r.out = append(r.out, r.cw.Role()...)
		r.state, r.pos = rsReasoning, 0
	case rsReasoning, rsContent, rsRefusal:
		text := e.Reasoning
		switch r.state {
		case rsContent:
			text = e.Content
		case rsRefusal:
			text = e.Refusal
		}
		if r.pos >= len(text) {
			r.state, r.pos = r.state+1, 0
			return
		}
		end := nextPiece(text, r.pos)
		piece := text[r.pos:end]
		r.pos = end
		switch r.state {
		case rsReasoning:
			r.out = append(r.out, r.cw.Reasoning(piece)...)
		case rsContent:
			r.out = append(r.out, r.cw.Content(piece)...)
		default:
			r.out = r.appendRefusal(r.out, piece)
		}
	case rsTools:
		if r.tool >= len(e.ToolCalls) {
			r.state = rsFinish
			return
		}
		tc := &e.ToolCalls[r.tool]
		args := unsafeconv.Bytes(tc.Arguments)
		if r.pos == 0 {
			end := nextPiece(args, 0)
			r.out = append(r.out, r.cw.ToolCallStart(r.tool, tc.ID, tc.Name, args[:end])...)
			r.pos = end
		} else {
			end := nextPiece(args, r.pos)
			r.out = append(r.out, r.cw.ToolCallArgs(r.tool, args[r.pos:end])...)
			r.pos = end
		}
		if r.pos >= len(args) {
			r.tool, r.pos = r.tool+1, 0
		}
	case rsFinish:
		finish := e.Finish
		if finish == "" {
			finish = "stop"
		}
		r.out = append(r.out, r.cw.Finish(finish)...)
		r.state = rsEnd
	case rsEnd:
		r.out = append(r.out, r.cw.End(e.Usage, r.includeUsage)...)
		r.state = rsEOF
	}
}

// appendRefusal appends a refusal delta chunk in ChunkWriter's format.
func (r *Replay) appendRefusal(dst, text []byte) []byte {
	dst = append(dst, `data: {"id":`...)
	dst = jsonscan.AppendQuote(dst, r.cw.ID)
	dst = append(dst, `,"object":"chat.completion.chunk","created":`...)
	dst = strconv.AppendInt(dst, r.cw.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = jsonscan.AppendQuote(dst, r.cw.Model)
	dst = append(dst, `,"choices":[{"index":0,"delta":{"refusal":`...)
	dst = jsonscan.AppendQuoteBytes(dst, text)
	return append(dst, "},\"logprobs\":null,\"finish_reason\":null}]}\n\n"...)
}

// Usage returns the entry's usage.
func (r *Replay) Usage() providers.Usage {
	if r.e == nil {
		return providers.Usage{}
	}
	return r.e.Usage
}

// Close stops the replay.
func (r *Replay) Close() error {
	r.closed.Store(true)
	return nil
}
