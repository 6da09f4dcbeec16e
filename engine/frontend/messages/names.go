package messages

import (
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// requestNames describes every object of a Messages (or count_tokens)
// request body in which the gateway reads members: the engine (model,
// stream), RequestToOpenAI and the passthrough's breakpoint placement
// (providers/anthropic/cachecontrol.go).
// TestRequestNamesCoverReads keeps it in step with their code.
var requestNames = func() *jsonscan.Schema {
	cacheControl := jsonscan.NewSchema("type", "ttl")
	source := jsonscan.NewSchema("type", "media_type", "data", "url")
	// One schema for every kind of content block (text, image, document,
	// tool_use, tool_result and the blocks inside a tool_result): the union
	// of the names read in any of them.
	block := jsonscan.NewSchema("type", "text", "cache_control", "source", "content",
		"id", "name", "input", "tool_use_id", "is_error", "tool_name").
		Descend("cache_control", cacheControl).
		Descend("source", source)
	block.Descend("content", block)
	return jsonscan.NewSchema("model", "messages", "system", "max_tokens", "temperature", "top_p",
		"stop_sequences", "stream", "tools", "tool_choice", "metadata", "cache_control",
		"thinking", "output_config", "output_format").
		Descend("messages", jsonscan.NewSchema("role", "content").Descend("content", block)).
		Descend("system", block).
		Descend("thinking", jsonscan.NewSchema("type", "budget_tokens")).
		Descend("output_config", jsonscan.NewSchema("effort", "format").
			Descend("format", jsonscan.NewSchema("type", "schema"))).
		Descend("output_format", jsonscan.NewSchema("type", "schema")).
		Descend("tools", jsonscan.NewSchema("type", "name", "description", "input_schema", "cache_control", "defer_loading").
			Descend("cache_control", cacheControl)).
		Descend("tool_choice", jsonscan.NewSchema("type", "name", "disable_parallel_tool_use")).
		Descend("metadata", jsonscan.NewSchema("user_id")).
		Descend("cache_control", cacheControl)
}()

// CheckNames refuses a validated Messages or count_tokens request body in
// which a member the gateway reads appears twice in one object, or spelled
// with escapes or in another case (jsonscan.Names.Check; docs/requests.md):
// on the passthrough Anthropic reads the client's bytes itself, so the
// gateway must not route, price or stream by another member than the one
// Anthropic uses. The error is a *providers.RequestError with code
// providers.CodeDuplicateMember or providers.CodeAmbiguousMember. It
// allocates only for the error.
func CheckNames(body []byte) error {
	if err := jsonscan.CheckNames(body[jsonscan.SkipSpace(body, 0):], requestNames); err != nil {
		return providers.NameErr("", err)
	}
	return nil
}
