// Package anthropic is the provider for Anthropic's Messages API
// (https://docs.anthropic.com/en/api/messages), translating exactly between
// it and OpenAI's Chat Completions format in both directions.
//
// # Outbound: OpenAI request → Anthropic
//
// Provider.Chat sends POST {BaseURL}/v1/messages with x-api-key,
// anthropic-version: 2023-06-01, and the client's anthropic-beta header when
// it sent one (Call.Header). The request maps as follows:
//   - system and developer messages, wherever they appear, become the
//     top-level system content blocks in their order; text parts keep a
//     cache_control marker;
//   - consecutive messages that map to the same role merge into one turn;
//     empty text is dropped, and a turn left empty disappears;
//   - max_tokens is the client's max_completion_tokens / max_tokens, else
//     Call.MaxOutputTokens (the catalog's default), else DefaultMaxTokens;
//   - temperature is clamped to Anthropic's 0–1 range; top_p passes; stop
//     becomes stop_sequences; user becomes metadata.user_id; seed has no
//     Anthropic equivalent and is dropped; n > 1 is a 400;
//   - tools become tools with input_schema (the parameters object verbatim);
//     tool_choice auto/none/required/named becomes auto/none/any/tool;
//     parallel_tool_calls: false becomes disable_parallel_tool_use;
//   - assistant tool_calls become tool_use blocks, the arguments string
//     parsed as the input object (empty means {}; anything that is not a JSON
//     object is a 400 naming the message); tool messages become tool_result
//     blocks, and consecutive ones (with any user message that follows)
//     share one user turn, in order. Tool ids keep [A-Za-z0-9_-] and map
//     every other byte to '_', the id alphabet Anthropic accepts;
//   - image parts: data URLs become base64 sources, http(s) URLs url
//     sources; file parts with inline data become document blocks; audio
//     and file ids are a 400.
//
// response_format: json_object and json_schema (with an object schema) on a
// request without tools become a forced tool named JSONToolName whose
// input_schema is the schema; the tool's input is returned as the message
// content with finish_reason "stop", streaming included. With client tools
// (which a forced tool would disable), or a non-object schema, an
// instruction to answer only with JSON (quoting the schema) is appended to
// the system blocks instead. Anthropic's beta structured-output parameter
// is not used, so the strategy works on every model.
//
// # Inbound: Anthropic response → OpenAI
//
// Text blocks are joined in order; tool_use blocks become tool_calls with
// their ids kept and the input object, byte for byte, as the arguments
// string. stop_reason end_turn, stop_sequence and pause_turn become "stop",
// max_tokens (and model_context_window_exceeded) "length", tool_use
// "tool_calls", refusal "content_filter". Usage: prompt_tokens is
// input_tokens + cache_creation_input_tokens + cache_read_input_tokens
// (Anthropic's input_tokens exclude the cached prefix);
// prompt_tokens_details.cached_tokens is cache_read_input_tokens.
//
// Thinking: the gateway never enables extended thinking, but a client may
// through anthropic-beta or a model that thinks by default. Thinking blocks
// are never merged into the answer's content: their text is returned as
// reasoning_content (the field OpenAI-compatible servers use for it), their
// signatures are dropped, and redacted_thinking blocks are dropped whole.
// Server-tool blocks (web search and the like) are dropped too.
//
// Streams are translated event by event by a Translator; see its
// documentation for the event mapping. Errors follow ParseError.
//
// # Passthrough (POST /v1/messages to an Anthropic model)
//
// The engine's Messages front-end (engine/frontend/messages, which
// translates Anthropic-format clients' requests for every other provider)
// sends a request for an Anthropic model here, untranslated:
//
//	func (p *Provider) Messages(ctx context.Context, body []byte, model string, h providers.HeaderGetter, query []byte, stream bool) (*providers.Response, error)
//	func (p *Provider) CountTokens(ctx context.Context, body []byte, model string, h providers.HeaderGetter, query []byte) (*providers.Response, error)
//	func AppendWithModel(dst, body []byte, model string) ([]byte, error)
//
//	// Errors in Anthropic's format, for the relay and the front-end.
//	func AppendError(dst []byte, status int, msg string) []byte
//	func AppendErrorEvent(dst []byte, status int, msg string) []byte
//
// The passthrough forwards the client's body with only the model value
// replaced (never reordered or re-serialised: Anthropic's prompt cache keys
// on the exact bytes), the client's query string (?beta=true), the
// gateway's key, and the client's anthropic-version and anthropic-beta
// headers. With Config.CacheControl, a
// body that carries no cache_control breakpoint of its own also gets the
// gateway's, inserted as members into its existing blocks (a string system
// or content becomes a one-block array); translated requests get them too,
// counting the client's toward Anthropic's four. Placement is documented in
// docs/prompt-caching.md. Streams are relayed event by
// event (Relay) with usage recorded from message_start and message_delta.
// AppendError renders an error as {"type":"error","error":{"type","message"}}
// with the type for the status (ErrorType).
package anthropic
