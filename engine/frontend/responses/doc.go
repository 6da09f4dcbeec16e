// Package responses is the gateway's OpenAI Responses API front-end
// (POST /v1/responses, https://platform.openai.com/docs/api-reference/responses):
// it lets clients that speak the Responses API (the OpenAI SDKs'
// client.responses, the Agents SDK, Codex CLI) use any provider. Like
// engine/frontend/messages it knows only the two formats, not the engine:
// dependencies point engine → engine/frontend/responses → providers.
//
// The engine parses the request, prefixes the conversation of a
// previous_response_id it loaded from its store, translates the whole to the
// canonical chat completion request, and turns the provider's answer back:
//
//	func Parse(body []byte) (*Request, error)                       // validate, read, normalise input items
//	func (r *Request) AppendChat(dst []byte, items [][]byte) ([]byte, error) // then providers.Request.Decode
//	func FromCompletion(dst, completion []byte, m *Meta) ([]byte, error)     // Response.Body → response object
//	func NewStream(src providers.Stream, m *Meta) *Stream                      // Response.Stream → Responses events
//
// Input items are kept normalised (every item has an id and a type, message
// content is an array of parts), so that what the store keeps and what
// GET /v1/responses/{id}/input_items lists is what the next turn of a
// previous_response_id chain translates. A *providers.RequestError is a 400
// naming the parameter.
package responses
