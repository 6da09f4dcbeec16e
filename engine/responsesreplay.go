package engine

import (
	"strconv"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// A stored response retrieved with ?stream=true
// (https://platform.openai.com/docs/api-reference/responses/get: stream,
// starting_after) is replayed as the event stream that would have made it:
// response.created and response.in_progress (the response in progress, no
// output), per output item output_item.added, its content as one delta
// (output_text for a message's text parts, function_call_arguments for a
// call) with the matching .done events, output_item.done, then the
// terminal event of its status (response.completed, response.incomplete or
// response.failed) carrying the stored response. starting_after skips the
// events up to that sequence number, as a client resuming a stream asks.
// Every gateway response is complete when stored (background is refused),
// so the replay is one body.

// replayResponse appends the event stream of the stored response to dst,
// from sequence number from.
func replayResponse(dst, resp []byte, from int) []byte {
	seq := 0
	ev := func(name string, members ...[]byte) {
		if seq >= from {
			dst = append(dst, "event: "...)
			dst = append(dst, name...)
			dst = append(dst, "\ndata: {\"type\":\""...)
			dst = append(dst, name...)
			dst = append(dst, `","sequence_number":`...)
			dst = strconv.AppendInt(dst, int64(seq), 10)
			for i := 0; i+1 < len(members); i += 2 {
				dst = append(dst, ',', '"')
				dst = append(dst, members[i]...)
				dst = append(dst, '"', ':')
				dst = append(dst, members[i+1]...)
			}
			dst = append(dst, "}\n\n"...)
		}
		seq++
	}
	b := func(s string) []byte { return []byte(s) }
	num := func(n int) []byte { return strconv.AppendInt(nil, int64(n), 10) }
	start := jsonscan.AppendReplaced(nil, resp, "status", b(`"in_progress"`))
	start = jsonscan.AppendReplaced(nil, start, "output", b(`[]`))
	start = jsonscan.AppendReplaced(nil, start, "usage", b(`null`))
	ev("response.created", b("response"), start)
	ev("response.in_progress", b("response"), start)
	_ = jsonscan.ArrayEach(jsonscan.Get(resp, "output"), func(i int, it []byte) error {
		id := jsonscan.Get(it, "id")
		if id == nil {
			id = b(`""`)
		}
		ref := func(name string, members ...[]byte) {
			ev(name, append([][]byte{b("item_id"), id, b("output_index"), num(i)}, members...)...)
		}
		added := jsonscan.AppendReplaced(nil, it, "status", b(`"in_progress"`))
		switch string(jsonscan.Get(it, "type")) {
		case `"message"`:
			added = jsonscan.AppendReplaced(nil, added, "content", b(`[]`))
		case `"function_call"`:
			added = jsonscan.AppendReplaced(nil, added, "arguments", b(`""`))
		}
		ev("response.output_item.added", b("output_index"), num(i), b("item"), added)
		switch string(jsonscan.Get(it, "type")) {
		case `"message"`:
			_ = jsonscan.ArrayEach(jsonscan.Get(it, "content"), func(j int, part []byte) error {
				empty := b(`{"type":"refusal","refusal":""}`)
				if string(jsonscan.Get(part, "type")) == `"output_text"` {
					empty = b(`{"type":"output_text","text":"","annotations":[],"logprobs":[]}`)
				}
				ref("response.content_part.added", b("content_index"), num(j), b("part"), empty)
				if text := jsonscan.Get(part, "text"); string(jsonscan.Get(part, "type")) == `"output_text"` {
					ref("response.output_text.delta", b("content_index"), num(j), b("delta"), text, b("logprobs"), b("[]"))
					ref("response.output_text.done", b("content_index"), num(j), b("text"), text, b("logprobs"), b("[]"))
				}
				ref("response.content_part.done", b("content_index"), num(j), b("part"), part)
				return nil
			})
		case `"function_call"`:
			args := jsonscan.Get(it, "arguments")
			ref("response.function_call_arguments.delta", b("delta"), args)
			ref("response.function_call_arguments.done", b("name"), jsonscan.Get(it, "name"), b("arguments"), args)
		}
		ev("response.output_item.done", b("output_index"), num(i), b("item"), it)
		return nil
	})
	name := "response.completed"
	switch string(jsonscan.Get(resp, "status")) {
	case `"incomplete"`:
		name = "response.incomplete"
	case `"failed"`:
		name = "response.failed"
	}
	ev(name, b("response"), resp)
	return dst
}

// writeReplay answers GET /v1/responses/{id}?stream=true with the stored
// response resp replayed; it writes the error itself.
func writeReplay(ctx *fasthttp.RequestCtx, resp []byte) {
	from := 0
	if v := ctx.QueryArgs().Peek("starting_after"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 {
			writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request", Param: "starting_after",
				Msg: "starting_after must be a non-negative integer (an event's sequence_number)"})
			return
		}
		from = n + 1
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.SetBody(replayResponse(nil, resp, from))
}

// handleCancelResponse serves POST /v1/responses/{id}/cancel. Only a
// background response can be cancelled
// (https://platform.openai.com/docs/api-reference/responses/cancel), and the
// gateway makes none: a stored response of the caller's project is a 400,
// as OpenAI answers for a synchronous one ("Cannot cancel a synchronous
// response."); another id is a 404.
func (s *Server) handleCancelResponse(ctx *fasthttp.RequestCtx) {
	project, id, ok := s.responseTarget(ctx)
	if !ok {
		return
	}
	if _, ok := s.storedResponse(ctx, project, id); !ok {
		return
	}
	writeError(ctx, &apiError{Status: 400, Type: typeInvalidRequest, Code: "invalid_request",
		Msg: "Cannot cancel a synchronous response. Only responses created with background=true can be cancelled, and the gateway does not run background responses."})
}
