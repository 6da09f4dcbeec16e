// Package messages is the gateway's Anthropic Messages API front-end
// (POST /v1/messages, https://docs.anthropic.com/en/api/messages): it lets
// clients that speak Anthropic's API (Claude Code with ANTHROPIC_BASE_URL
// pointed at the gateway) use any provider. It sits next to the OpenAI chat
// front-end (engine/chat.go); the engine serves both, and this package knows
// only the two formats, not the engine. Dependencies point one way: engine →
// engine/frontend/messages → providers (and internal/); the Anthropic
// upstream (providers/anthropic) knows nothing of this package.
//
// For an Anthropic model the engine passes the client's bytes through
// (anthropic.Provider.Messages) after CheckNames; for any other upstream it
// translates in, calls Chat, and translates back:
//
//	func CheckNames(body []byte) error                              // one reading of every member read, or a 400
//	func RequestToOpenAI(dst, body []byte, t Target) ([]byte, error) // then providers.Request.Decode
//	func IgnoredMembers(dst []string, body []byte) []string         // what it dropped, for a log
//	func FromCompletion(dst, completion []byte) ([]byte, error)     // Response.Body → message
//	func NewStream(src providers.Stream, model string) *Stream      // Response.Stream → events
//
// RequestToOpenAI documents what maps and what is refused (what Claude Code
// sends, and why each piece maps as it does, is in
// testdata/claudecode/README.md); a non-streaming answer becomes an
// Anthropic message (FromCompletion), a stream the exact Anthropic event
// sequence (Stream). A RequestError from RequestToOpenAI is a 400; an
// UpstreamError keeps its status; anthropic.AppendError renders either for
// the client.
package messages
