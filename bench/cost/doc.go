// Package cost is the cost benchmark: a deterministic trace of
// coding-assistant traffic (Generate), token-counting fake OpenAI and
// Anthropic upstreams that simulate each provider's prompt cache
// (Upstreams, OpenAICache, AnthropicCache) and answer with a deterministic
// function of the request's meaning (AnswerFor, Meaning), a replay that
// sends the trace directly or through a gateway (Replay), and the
// accounting and report (Summarize, Account, Report). The command is
// bench/cost/cmd/costbench; README.md documents the trace, the fakes and
// what counts as a differing answer.
package cost
