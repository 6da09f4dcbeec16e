package wasm

import "github.com/aigateway/gateway/abi"

// Message is one chat message as policies see it.
type Message struct {
	Role []byte
	// Text is the string content, or the text parts joined by "\n".
	Text  []byte
	Flags uint64 // abi.Msg* bits
}

// Header is one request header.
type Header struct{ Name, Value []byte }

// Input is the normalised view of one request that the engine fills once and
// every policy of every stage reads through the ABI's getters.
//
// # Notes
//
// Input copies only what JoinText builds: every other []byte aliases memory
// the caller owns (the body, the engine's decoded request, the fasthttp
// header buffer), which must stay unchanged until the last Run that uses it
// returns. Reset keeps the slices' capacity for reuse.
type Input struct {
	Model   []byte
	Project []byte
	// Skill is the skill named in the body's "skill" field. The
	// X-Gateway-Skill header travels in Headers.
	Skill    []byte
	Messages []Message
	// Tools holds the function names of the tool definitions.
	Tools   [][]byte
	Headers []Header
	// Body is the raw request body as the client sent it.
	Body []byte
	// Response is the complete response body, for the response stage only.
	Response []byte
	Flags    uint64 // abi.Flag* bits
	// RequestID names the request in failure reports (Info.RecentFailures,
	// OnFailure); policies do not see it.
	RequestID []byte
	// Skip names policies this request does not run (a project's
	// overrides); Run passes over them as if they were not configured.
	Skip []string

	joined []byte // texts built by JoinText
}

// Reset empties in, keeping its buffers.
func (in *Input) Reset() {
	msgs, tools, hdrs, joined := in.Messages[:0], in.Tools[:0], in.Headers[:0], in.joined[:0]
	clear(msgs[:cap(msgs)])
	clear(tools[:cap(tools)])
	clear(hdrs[:cap(hdrs)])
	*in = Input{Messages: msgs, Tools: tools, Headers: hdrs, joined: joined}
}

// JoinText returns text, then sep unless text is empty, then s, built in a
// buffer the Input owns: it is how a filler makes one message text out of
// several content parts without allocating in steady state. Start with a nil
// text and pass each result back in; the result is valid until Reset.
//
// # Notes
//
// Earlier results stay valid while the buffer grows: each is capped at its
// own length, so a later append never writes into it, and a move leaves the
// old array (and the slices into it) intact. Passing a text that is not the
// latest result is allowed and costs a copy of it.
func (in *Input) JoinText(text []byte, sep byte, s string) []byte {
	start := len(in.joined) - len(text)
	if len(text) == 0 || start < 0 || &in.joined[start] != &text[0] {
		start = len(in.joined)
		in.joined = append(in.joined, text...)
	}
	if len(text) > 0 {
		in.joined = append(in.joined, sep)
	}
	in.joined = append(in.joined, s...)
	return in.joined[start:len(in.joined):len(in.joined)]
}

// AddMessage appends a message.
func (in *Input) AddMessage(role, text []byte, flags uint64) {
	in.Messages = append(in.Messages, Message{Role: role, Text: text, Flags: flags})
}

// AddHeader appends a request header.
func (in *Input) AddHeader(name, value []byte) {
	in.Headers = append(in.Headers, Header{Name: name, Value: value})
}

// AddTool appends a tool's function name.
func (in *Input) AddTool(name []byte) {
	in.Tools = append(in.Tools, name)
	in.Flags |= abi.FlagTools
}
