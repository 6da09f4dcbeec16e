package providertest

import (
	"bufio"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/valyala/fasthttp"
)

// responses answers POST /responses as OpenAI's Responses API does
// (https://platform.openai.com/docs/api-reference/responses/create, the
// response object https://platform.openai.com/docs/api-reference/responses/object
// and the stream https://platform.openai.com/docs/api-reference/responses-streaming):
// "event: NAME\ndata: JSON\n\n" events, each with its type and a
// sequence_number from 0 — response.created, response.in_progress, then per
// output item response.output_item.added, (response.content_part.added,
// response.output_text.delta…, response.output_text.done,
// response.content_part.done) or (response.function_call_arguments.delta…,
// response.function_call_arguments.done), response.output_item.done, and
// last response.completed with the whole response and its usage; no
// [DONE]. Like OpenAI it stores responses (unless store is false) so that
// previous_response_id continues one, and answers 400
// previous_response_not_found for an id it does not know.
//
// Status (not 0 or 200) makes every answer that error, as on the chat
// fake. The answer is a call of ToolCall unless the last input item is a
// function_call_output (as on the chat fake); usage reports PromptTokens,
// CachedTokens and ReasoningTokens.
func (o *OpenAI) responses(ctx *fasthttp.RequestCtx) {
	if o.Status != 0 && o.Status != 200 {
		ctx.SetStatusCode(o.Status)
		ctx.SetContentType("application/json")
		if o.ErrorBody != "" {
			ctx.SetBodyString(o.ErrorBody)
		} else {
			ctx.SetBodyString(`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`)
		}
		return
	}
	body := ctx.PostBody()
	model := "gpt-4o-2024-08-06"
	if v := jsonscan.Get(body, "model"); jsonscan.KindOf(v) == jsonscan.String {
		model = string(v[1 : len(v)-1])
	}
	prev := jsonscan.Get(body, "previous_response_id")
	if jsonscan.KindOf(prev) == jsonscan.String {
		if _, ok := o.stored.Load(string(prev[1 : len(prev)-1])); !ok {
			ctx.SetStatusCode(400)
			ctx.SetContentType("application/json")
			ctx.SetBodyString(`{"error":{"message":"Previous response with id ` + string(prev[1:len(prev)-1]) + ` not found.","type":"invalid_request_error","param":"previous_response_id","code":"previous_response_not_found"}}`)
			return
		}
	} else {
		prev = []byte("null")
	}
	toolTurn := o.ToolCall != "" && !lastIsCallOutput(jsonscan.Get(body, "input"))
	n := strconv.FormatInt(o.n.Add(1), 10)
	id, itemID := "resp_fake"+n, "msg_fake"+n
	if toolTurn {
		itemID = "fc_fake" + n
	}
	words := strings.SplitAfter(o.Reply, " ")
	completion := len(words)
	usage := `{"input_tokens":` + strconv.Itoa(o.PromptTokens) + `,"input_tokens_details":{"cached_tokens":` + strconv.Itoa(o.CachedTokens) +
		`},"output_tokens":` + strconv.Itoa(completion+o.ReasoningTokens) + `,"output_tokens_details":{"reasoning_tokens":` + strconv.Itoa(o.ReasoningTokens) +
		`},"total_tokens":` + strconv.Itoa(o.PromptTokens+completion+o.ReasoningTokens) + `}`
	store := string(jsonscan.Get(body, "store")) != "false"
	instructions, tools := orNull(jsonscan.Get(body, "instructions")), jsonscan.Get(body, "tools")
	if tools == nil {
		tools = []byte("[]")
	}
	object := func(status, output, usage string) string {
		return `{"id":"` + id + `","object":"response","created_at":1741476542,"status":"` + status + `","background":false,"error":null,"incomplete_details":null,"instructions":` +
			instructions + `,"max_output_tokens":null,"model":"` + model + `","output":[` + output + `],"parallel_tool_calls":true,"previous_response_id":` + string(prev) +
			`,"reasoning":{"effort":null,"summary":null},"service_tier":"default","store":` + strconv.FormatBool(store) + `,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":` +
			string(tools) + `,"top_p":1.0,"truncation":"disabled","usage":` + usage + `,"user":null,"metadata":{}}`
	}
	var item, itemOpen string
	if toolTurn {
		item = `{"id":"` + itemID + `","type":"function_call","status":"completed","arguments":` + quote(o.ToolArgs) + `,"call_id":"call_abc123","name":` + quote(o.ToolCall) + `}`
		itemOpen = `{"id":"` + itemID + `","type":"function_call","status":"in_progress","arguments":"","call_id":"call_abc123","name":` + quote(o.ToolCall) + `}`
	} else {
		item = `{"id":"` + itemID + `","type":"message","status":"completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":` + quote(o.Reply) + `}],"role":"assistant"}`
		itemOpen = `{"id":"` + itemID + `","type":"message","status":"in_progress","content":[],"role":"assistant"}`
	}
	final := object("completed", item, usage)
	if store {
		o.stored.Store(id, true)
	}
	if string(jsonscan.Get(body, "stream")) != "true" {
		ctx.SetContentType("application/json")
		ctx.SetBodyString(final)
		return
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	srv := o.srv
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		if srv != nil {
			srv.Active.Add(1)
			defer srv.Active.Add(-1)
		}
		seq := 0
		send := func(name, rest string) bool {
			s := "event: " + name + "\ndata: {\"type\":\"" + name + "\",\"sequence_number\":" + strconv.Itoa(seq) + "," + rest + "}\n\n"
			seq++
			if _, err := w.WriteString(s); err != nil {
				return false
			}
			return w.Flush() == nil
		}
		at := `"item_id":"` + itemID + `","output_index":0`
		steps := []func() bool{
			func() bool { return send("response.created", `"response":`+object("in_progress", "", "null")) },
			func() bool { return send("response.in_progress", `"response":`+object("in_progress", "", "null")) },
			func() bool { return send("response.output_item.added", `"output_index":0,"item":`+itemOpen) },
		}
		if toolTurn {
			for _, part := range splitN(o.ToolArgs, max(o.ArgChunks, 1)) {
				steps = append(steps, func() bool { return send("response.function_call_arguments.delta", at+`,"delta":`+quote(part)) })
			}
			steps = append(steps, func() bool {
				return send("response.function_call_arguments.done", at+`,"arguments":`+quote(o.ToolArgs))
			})
		} else {
			steps = append(steps, func() bool {
				return send("response.content_part.added", at+`,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}`)
			})
			for _, word := range words {
				steps = append(steps, func() bool {
					if o.Pace > 0 {
						time.Sleep(o.Pace)
					}
					return send("response.output_text.delta", at+`,"content_index":0,"delta":`+quote(word)+`,"logprobs":[]`)
				})
			}
			steps = append(steps,
				func() bool {
					return send("response.output_text.done", at+`,"content_index":0,"text":`+quote(o.Reply)+`,"logprobs":[]`)
				},
				func() bool {
					return send("response.content_part.done", at+`,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":`+quote(o.Reply)+`}`)
				})
		}
		steps = append(steps,
			func() bool { return send("response.output_item.done", `"output_index":0,"item":`+item) },
			func() bool { return send("response.completed", `"response":`+final) })
		for _, step := range steps {
			if !step() {
				if srv != nil {
					srv.Closed.Add(1)
				}
				return
			}
		}
	})
}

// deleteResponse answers DELETE /responses/{id}
// (https://platform.openai.com/docs/api-reference/responses/delete):
// {"id","object":"response","deleted":true}, or a 404 for an id it does
// not hold.
func (o *OpenAI) deleteResponse(ctx *fasthttp.RequestCtx, id string) {
	ctx.SetContentType("application/json")
	if _, ok := o.stored.LoadAndDelete(id); !ok {
		ctx.SetStatusCode(404)
		ctx.SetBodyString(`{"error":{"message":"Response with id '` + id + `' not found.","type":"invalid_request_error","param":null,"code":null}}`)
		return
	}
	ctx.SetBodyString(`{"id":"` + id + `","object":"response","deleted":true}`)
}

// Stored reports whether the fake holds a stored response.
func (o *OpenAI) Stored(id string) bool {
	_, ok := o.stored.Load(id)
	return ok
}

// responsesState is what the fake keeps of the responses it stored.
type responsesState = sync.Map

// lastIsCallOutput reports whether a Responses input's last item is a
// function_call_output.
func lastIsCallOutput(input []byte) bool {
	last := []byte(nil)
	_ = jsonscan.ArrayEach(input, func(_ int, it []byte) error {
		last = it
		return nil
	})
	return string(jsonscan.Get(last, "type")) == `"function_call_output"`
}

func orNull(v []byte) string {
	if v == nil {
		return "null"
	}
	return string(v)
}

// inputTokens answers POST /responses/input_tokens
// (https://platform.openai.com/docs/api-reference/responses/input-tokens):
// {"object":"response.input_tokens","input_tokens":N}, N being
// PromptTokens (or 11 when unset). Like OpenAI it refuses parameters the
// count does not take (stream, store, temperature, max_output_tokens).
func (o *OpenAI) inputTokens(ctx *fasthttp.RequestCtx) {
	body := ctx.PostBody()
	ctx.SetContentType("application/json")
	for _, k := range []string{"stream", "store", "temperature", "max_output_tokens"} {
		if jsonscan.Get(body, k) != nil {
			ctx.SetStatusCode(400)
			ctx.SetBodyString(`{"error":{"message":"Unknown parameter: '` + k + `'.","type":"invalid_request_error","param":"` + k + `","code":"unknown_parameter"}}`)
			return
		}
	}
	n := o.PromptTokens
	if n == 0 {
		n = 11
	}
	ctx.SetBodyString(`{"object":"response.input_tokens","input_tokens":` + strconv.Itoa(n) + `}`)
}
