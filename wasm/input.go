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
// Input never copies: every []byte aliases memory the caller owns (the body,
// the engine's decoded request, the fasthttp header buffer) or the Input's own
// scratch, and must stay unchanged until the last Run that uses it returns.
// Reset keeps the slices' capacity for reuse.
type Input struct {
	Model   []byte
	Project []byte
	// Skill is the skill named in the body ("skill", else "gateway_skill").
	// The X-Gateway-Skill header travels in Headers.
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
	// Skip names policies this request does not run (a project's
	// overrides); Run passes over them as if they were not configured.
	Skip []string

	scratch []byte // unescaped strings
	joined  []byte // text parts joined
}

// Reset empties in, keeping its buffers.
func (in *Input) Reset() {
	msgs, tools, hdrs, scratch, joined := in.Messages[:0], in.Tools[:0], in.Headers[:0], in.scratch[:0], in.joined[:0]
	clear(msgs[:cap(msgs)])
	clear(tools[:cap(tools)])
	clear(hdrs[:cap(hdrs)])
	*in = Input{Messages: msgs, Tools: tools, Headers: hdrs, scratch: scratch, joined: joined}
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
