// Package policyinput builds the policies' view of a request (a wasm.Input)
// from the gateway's one decode of it (a providers.Request) and its headers.
// It is the only way requests reach policies: the engine's pipeline, the
// `gateway policy run` command and the built-in policies' golden tests all go
// through Fill, so what a test feeds a policy is what production feeds it.
//
// It lives apart from package wasm because the Wasm host knows no HTTP and
// no provider types (wasm → abi), and apart from the engine's pipeline so
// that tests and tools can use it without a server.
package policyinput

import (
	"strings"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/wasm"
	"github.com/valyala/fasthttp"
)

// headerPrefix marks the request headers policies may read.
const headerPrefix = "x-gateway-"

// Fill resets in and fills it from r, the request's project and its headers
// h (nil for none): model, the "skill" body field, the messages (role, text,
// flags), the tool names, the body, the request flags, and every
// X-Gateway-* header. It allocates nothing in steady state.
//
// Message text is the string content, or the "text" parts joined by "\n"
// (built in in's own buffer). Flags: STREAM for "stream": true, TOOLS when
// tools are defined, IMAGES and a message's IMAGE for "image_url" parts, JSON
// when response_format asks for JSON, SMART_ROUTING for
// X-Gateway-Smart-Routing: 1; PARTS, TOOL_CALLS and TOOL_RESULT per message.
//
// # Notes
//
// in aliases r, project and h: all three must stay unchanged until the last
// policy call that reads in returns. Fill again after r is re-decoded (a
// request policy's edits rebuild the body): spans into the old body die with
// it.
func Fill(in *wasm.Input, r *providers.Request, project string, h *fasthttp.RequestHeader) {
	in.Reset()
	in.Model = unsafeconv.Bytes(r.Model)
	in.Project = unsafeconv.Bytes(project)
	in.Skill = unsafeconv.Bytes(r.Skill)
	in.Body = r.Body
	for i := range r.Messages {
		m := &r.Messages[i]
		var flags uint64
		text := unsafeconv.Bytes(m.Content)
		if len(m.Parts) > 0 {
			flags |= abi.MsgParts
			text = nil
			n := 0
			for j := range m.Parts {
				p := &m.Parts[j]
				switch p.Type {
				case "image_url":
					flags |= abi.MsgImage
				case "text":
					if n == 0 {
						text = unsafeconv.Bytes(p.Text) // a single part is aliased
					} else {
						text = in.JoinText(text, '\n', p.Text)
					}
					n++
				}
			}
		}
		if len(m.ToolCalls) > 0 {
			flags |= abi.MsgToolCalls
		}
		if m.Role == "tool" || m.Role == "function" {
			flags |= abi.MsgToolResult
		}
		if flags&abi.MsgImage != 0 {
			in.Flags |= abi.FlagImages
		}
		in.AddMessage(unsafeconv.Bytes(m.Role), text, flags)
	}
	for i := range r.Tools {
		in.AddTool(unsafeconv.Bytes(r.Tools[i].Name))
	}
	if r.Stream {
		in.Flags |= abi.FlagStream
	}
	if r.WantsJSON() {
		in.Flags |= abi.FlagJSON
	}
	if h == nil {
		return
	}
	for k, v := range h.All() {
		if len(k) > len(headerPrefix) && strings.EqualFold(unsafeconv.String(k[:len(headerPrefix)]), headerPrefix) {
			in.AddHeader(k, v)
		}
	}
	if string(h.Peek("X-Gateway-Smart-Routing")) == "1" {
		in.Flags |= abi.FlagSmartRouting
	}
}
