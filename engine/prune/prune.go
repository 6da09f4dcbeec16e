// Package prune shortens a conversation that exceeds a project's context
// budget or the model's context window (issue 14, the seed's "context
// pruning"): it replaces the output of old tool calls with a one-line stub,
// oldest first, in steps that keep the provider's cached prefix still
// between them (Plan).
//
// What it never does:
//   - delete a message: every assistant tool call keeps its result message
//     (same tool_call_id, same position) and every tool result keeps its
//     call, so no provider sees an orphan on either side;
//   - touch system, user or assistant messages, or the tool results of the
//     last KeepTurns assistant turns (the model is working on them);
//   - prune a message that a later message references (the dedup policy's
//     "[unchanged: …, identical to the copy in message N]"), which would
//     leave the reference pointing at nothing.
//
// The stub depends on the pruned message and its call alone, never on what
// follows, so a message pruned on one turn is pruned to the same bytes on
// every later turn; and the set of pruned outputs changes only when the
// conversation crosses a step (Plan), so the provider's cached prefix moves
// once per step, not once per turn.
//
// Pruning changes what the model reads, so it is off unless configured
// (Mode); the exact duplicates that can be removed without changing an
// answer are the dedup policy's job, which references the later copy to the
// first and keeps the prefix stable.
//
// # Notes
//
// Plan reads the request and allocates only when it prunes; token counts
// are estimates from byte lengths (BytesPerToken), cheap enough for the
// request path, where a real tokenizer costs milliseconds per thousand
// tokens.
package prune

import (
	"strconv"
	"strings"

	"github.com/aigateway/gateway/providers"
)

// Mode says when the gateway prunes.
type Mode string

// The modes.
const (
	// Off never prunes (the default).
	Off Mode = "off"
	// Window prunes only a request that would not fit the model's context
	// window with its max_tokens: the alternative is an error.
	Window Mode = "window"
	// Budget prunes a request above BudgetTokens (or the window), when its
	// expected saving is positive (CostAware).
	Budget Mode = "budget"
)

// BytesPerToken is the estimate's ratio: code and JSON tokenise at about 3.5
// bytes a token with o200k_base; a lower ratio would overcount prose, a
// higher one undercount code, and the window check must not undercount.
const BytesPerToken = 3.5

// Tokens estimates the tokens of n bytes.
func Tokens(n int) int { return int(float64(n)/BytesPerToken + 0.999) }

// Config is one project's pruning configuration; the zero value is Off.
type Config struct {
	Mode Mode
	// BudgetTokens is the project's prompt budget (Mode Budget).
	BudgetTokens int
	// Target is the fraction of the limit pruning aims at (0 < Target ≤ 1).
	Target float64
	// KeepTurns protects the tool results of the last KeepTurns assistant
	// turns that called tools.
	KeepTurns int
	// MinTokens: smaller tool results are kept (their stub saves little).
	MinTokens int
	// CostAware (Mode Budget) prunes only when the expected saving over
	// Horizon further turns beats the cost of re-sending, uncached, what
	// follows the first pruned message.
	CostAware bool
	// Horizon is the number of further turns of the conversation the
	// cost-aware decision expects to profit from the pruning.
	Horizon int
	// Summarize asks the engine to put a cheap model's summary of each
	// pruned output into its stub (the engine makes the call).
	Summarize bool
}

// Prices are the model's per-token prices (any unit, the same for all).
type Prices struct {
	Input, Cached float64
	// Write is the price of a token written to the provider's cache (0:
	// the provider charges no premium, as OpenAI).
	Write float64
}

// Model is what Plan needs to know of the model.
type Model struct {
	Window    int // context window, tokens; 0: unknown
	MaxOutput int // tokens reserved for the answer when the request sets no max_tokens
	Prices    Prices
}

// Edit replaces message Index's content with Text.
type Edit struct {
	Index int
	Text  string
}

// Result is Plan's decision.
type Result struct {
	// Edits are the messages to shorten, in message order; empty when
	// nothing is pruned.
	Edits []Edit
	// Before and After are the estimated prompt tokens; Removed their
	// difference.
	Before, After, Removed int
	// Limit is the limit that was exceeded (0: none).
	Limit int
	// Reason: "window", "budget", "cost" (over budget, but pruning would
	// cost more than it saves), "short" (over the limit, nothing left to
	// prune that fits the rules), or "" (under every limit).
	Reason string
}

// candidate is a tool result that may be pruned.
type candidate struct{ index, tokens int }

// Plan decides what to prune in r for model m; dst is reused for Edits.
//
// The decision must not drift from turn to turn, or the provider's cached
// prefix moves every turn (measured on the cost bench: a pruning recomputed
// per turn re-sent the conversation uncached turn after turn). So it moves
// in steps: past the limit L, step k covers totals up to L + (k+1)·S with
// S = (1 − Target)·L, and everything about step k (which outputs go, and
// whether pruning pays) is decided on the conversation's prefix that first
// crossed L + k·S — the same messages on every turn of that step. The
// pruned set only grows (oldest first), at step boundaries.
func Plan(r *providers.Request, cfg Config, m Model, dst []Edit) Result {
	res := Result{Edits: dst[:0]}
	if cfg.Mode != Window && cfg.Mode != Budget || len(r.Messages) == 0 {
		return res
	}
	res.Before = Tokens(len(r.Body))
	window := 0
	if m.Window > 0 {
		out := r.MaxTokens
		if out <= 0 {
			out = min(m.MaxOutput, m.Window/4)
		}
		window = m.Window - out
	}
	switch {
	case window > 0 && res.Before > window && (cfg.Mode != Budget || cfg.BudgetTokens <= 0 || window < cfg.BudgetTokens):
		res.Limit, res.Reason = window, "window"
	case cfg.Mode == Budget && cfg.BudgetTokens > 0 && res.Before > cfg.BudgetTokens:
		res.Limit, res.Reason = cfg.BudgetTokens, "budget"
	default:
		res.After = res.Before
		return res
	}
	target := cfg.Target
	if target <= 0 || target > 1 {
		target = 1
	}
	step := max(int(float64(res.Limit)*(1-target)), 1)
	k := (res.Before - res.Limit - 1) / step
	cum := cumulative(r)
	var picked []candidate
	possible := false
	started := res.Reason == "window" || !cfg.CostAware
	for j := 0; j <= k; j++ {
		if started && j < k {
			continue // only the current step's plan is needed
		}
		n := prefixCrossing(cum, res.Limit+j*step)
		var first, removed int
		picked, first, removed = choose(r, cfg, n, cum[n-1]-int(float64(res.Limit)*target), picked[:0])
		if removed <= 0 {
			continue
		}
		possible = true
		if !started {
			sp := r.Messages[first].Span
			tail := cum[n-1] - cum[first] + Tokens(sp.End-sp.Start) - removed
			started = worthIt(tail, removed, cfg.Horizon, m.Prices)
		}
		if started && j == k {
			res.Removed = removed
		}
	}
	switch {
	case !possible:
		res.After, res.Reason = res.Before, "short"
		return res
	case !started || res.Removed <= 0:
		res.After, res.Reason, res.Removed = res.Before, "cost", 0
		return res
	}
	for _, c := range picked {
		res.Edits = append(res.Edits, Edit{Index: c.index, Text: stub(r, c.index)})
	}
	res.After = res.Before - res.Removed
	return res
}

// cumulative returns, for each message i, the estimated prompt tokens of
// the request without the messages after i: whatever the member order,
// the count of the conversation up to i.
func cumulative(r *providers.Request) []int {
	end := r.Messages[len(r.Messages)-1].Span.End
	out := make([]int, len(r.Messages))
	for i := range r.Messages {
		out[i] = Tokens(len(r.Body) - (end - r.Messages[i].Span.End))
	}
	return out
}

// prefixCrossing is the length of the shortest message prefix whose count
// exceeds limit (all messages when none does).
func prefixCrossing(cum []int, limit int) int {
	for i, c := range cum {
		if c > limit {
			return i + 1
		}
	}
	return len(cum)
}

// choose picks the oldest candidates among the first n messages until
// need tokens are removed; it returns them, the first one's index and the
// tokens removed.
func choose(r *providers.Request, cfg Config, n, need int, dst []candidate) ([]candidate, int, int) {
	removed, first := 0, -1
	for _, c := range candidates(r, cfg, n) {
		if removed >= need {
			break
		}
		if first < 0 {
			first = c.index
		}
		dst = append(dst, c)
		removed += c.tokens - Tokens(len(stub(r, c.index)))
	}
	return dst, max(first, 0), removed
}

// worthIt weighs the pruning's expected saving against its one-off cost.
// Without pruning, the removed tokens would be read from the provider's
// cache on this turn and on the next horizon turns; with it, the tail
// after the first pruned message is re-sent once uncached, and where the
// provider charges for cache writes (Anthropic) it is written again too:
// on the cost bench the gateway's breakpoints write the new tail on the
// turn after the pruning, so the tail is paid uncached once and written
// once, both instead of a cache read.
func worthIt(tail, removed, horizon int, p Prices) bool {
	tail = max(tail, 0)
	missCost := float64(tail) * (p.Input - p.Cached)
	if p.Write > p.Input {
		missCost += float64(tail) * (p.Write - p.Cached)
	}
	saving := float64(removed) * p.Cached * float64(1+max(horizon, 0))
	return saving > missCost
}

// candidates lists the tool results among the first n messages that Plan
// may prune, in message order.
func candidates(r *providers.Request, cfg Config, n int) []candidate {
	msgs := r.Messages[:n]
	// The tool results after the KeepTurns-th last assistant turn with tool
	// calls are protected.
	protect, turns := len(msgs), 0
	for i := len(msgs) - 1; i >= 0 && turns < max(cfg.KeepTurns, 1); i-- {
		if msgs[i].Role == "assistant" && len(msgs[i].ToolCalls) > 0 {
			protect, turns = i, turns+1
		}
	}
	refs := referencedFrom(r.Messages)
	var out []candidate
	for i := 0; i < protect; i++ {
		m := &msgs[i]
		if m.Role != "tool" && m.Role != "function" || hasNonText(m) {
			continue
		}
		t := Tokens(len(m.Text()))
		if t < cfg.MinTokens || t <= Tokens(len(stub(r, i)))+8 || refs[i] > i {
			continue
		}
		out = append(out, candidate{index: i, tokens: t})
	}
	return out
}

func hasNonText(m *providers.Message) bool {
	for i := range m.Parts {
		if m.Parts[i].Type != "text" {
			return true
		}
	}
	return false
}

// referencedFrom returns, for each message, the index of the last message
// that refers to it by its number, as the dedup policy's references do
// ("[unchanged: …, identical to … in message N]", counted from 1); -1 for
// none. One pass over the texts.
func referencedFrom(msgs []providers.Message) []int {
	out := make([]int, len(msgs))
	for i := range out {
		out[i] = -1
	}
	const ref, tail = "[unchanged: ", "in message "
	for j := range msgs {
		t := msgs[j].Text()
		for {
			k := strings.Index(t, ref)
			if k < 0 {
				break
			}
			t = t[k+len(ref):]
			end := strings.IndexByte(t, ']')
			if end < 0 {
				break
			}
			if m := strings.LastIndex(t[:end], tail); m >= 0 {
				if n, err := strconv.Atoi(t[m+len(tail) : end]); err == nil && n >= 1 && n <= len(msgs) {
					out[n-1] = max(out[n-1], j)
				}
			}
			t = t[end:]
		}
	}
	return out
}

// callOf finds the assistant tool call that message i answers.
func callOf(msgs []providers.Message, i int) *providers.ToolCall {
	id := msgs[i].ToolCallID
	for j := i - 1; j >= 0 && id != ""; j-- {
		for k := range msgs[j].ToolCalls {
			if msgs[j].ToolCalls[k].ID == id {
				return &msgs[j].ToolCalls[k]
			}
		}
	}
	return nil
}

// maxStubArgs bounds the call arguments a stub repeats.
const maxStubArgs = 160

// stub is what replaces message i's content. It names the call, so the
// model can make it again, and depends on nothing after message i.
func stub(r *providers.Request, i int) string { return Stub(r, i, "") }

// Call describes the tool call message i answers ("read_file {…}"), for a
// summariser's prompt.
func Call(r *providers.Request, i int) string {
	if c := callOf(r.Messages, i); c != nil {
		return c.Name + " " + c.Arguments
	}
	return r.Messages[i].Name
}

// Stub is the text that replaces message i's content, with summary (a
// summariser's digest of it; "" for none) inside.
func Stub(r *providers.Request, i int, summary string) string {
	m := &r.Messages[i]
	var b strings.Builder
	b.WriteString("[output pruned by the gateway to fit the context window: ")
	if c := callOf(r.Messages, i); c != nil {
		b.WriteString(c.Name)
		args := c.Arguments
		if len(args) > maxStubArgs {
			cut := maxStubArgs
			for cut > 0 && args[cut]&0xc0 == 0x80 { // not inside a UTF-8 sequence
				cut--
			}
			args = args[:cut] + "…"
		}
		if args != "" {
			b.WriteByte(' ')
			b.WriteString(args)
		}
		b.WriteString(", ")
	} else if m.Name != "" {
		b.WriteString(m.Name)
		b.WriteString(", ")
	}
	b.WriteString("about ")
	b.WriteString(strconv.Itoa(Tokens(len(m.Text()))))
	b.WriteString(" tokens; call the tool again if it is needed")
	if summary != "" {
		b.WriteString(". Summary: ")
		b.WriteString(summary)
	}
	b.WriteByte(']')
	return b.String()
}
