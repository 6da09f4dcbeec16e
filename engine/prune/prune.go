// Package prune shortens a conversation that exceeds a project's context
// budget or the model's context window (issue 14, the seed's "context
// pruning"): it replaces the output of old tool calls with a one-line stub,
// the calls superseded by a later identical call first, then the oldest.
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
// every later turn: the provider's cached prefix moves once per pruning
// event, not once per turn. Pruning goes below the limit, to Target × limit,
// so that the next turns fit without pruning again (hysteresis).
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
type candidate struct {
	index, tokens int
	superseded    bool
}

// Plan decides what to prune in r for model m; dst is reused for Edits.
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
	case window > 0 && res.Before > window:
		res.Limit, res.Reason = window, "window"
	case cfg.Mode == Budget && cfg.BudgetTokens > 0 && res.Before > cfg.BudgetTokens:
		res.Limit, res.Reason = cfg.BudgetTokens, "budget"
	default:
		res.After = res.Before
		return res
	}
	target := int(float64(res.Limit) * cfg.Target)
	if cfg.Target <= 0 || cfg.Target > 1 {
		target = res.Limit
	}
	cands := candidates(r, cfg)
	// Superseded outputs first (a later identical call replaced them), then
	// the oldest; each group in message order.
	excess := res.Before - target
	removed, first := 0, len(r.Messages)
	picked := make([]bool, len(cands))
	for pass := 0; pass < 2 && removed < excess; pass++ {
		for i := range cands {
			c := &cands[i]
			if picked[i] || (pass == 0) != c.superseded || removed >= excess {
				continue
			}
			picked[i] = true
			removed += c.tokens - Tokens(len(stub(r, c.index)))
			first = min(first, c.index)
		}
	}
	if removed <= 0 {
		res.After, res.Reason = res.Before, "short"
		return res
	}
	if res.Reason == "budget" && cfg.CostAware && !worthIt(r, first, removed, cfg.Horizon, m.Prices) {
		res.After, res.Reason = res.Before, "cost"
		return res
	}
	for i := range cands {
		if picked[i] {
			res.Edits = append(res.Edits, Edit{Index: cands[i].index, Text: stub(r, cands[i].index)})
		}
	}
	res.Removed = removed
	res.After = res.Before - removed
	return res
}

// worthIt weighs the pruning's expected saving against its one-off cost.
// Without pruning, the removed tokens would be read from the provider's
// cache on this turn and on the next horizon turns; with it, everything
// after the first pruned message is re-sent once uncached (and written to
// the cache where the provider charges for writes).
func worthIt(r *providers.Request, first, removed, horizon int, p Prices) bool {
	tail := Tokens(len(r.Body)-r.Messages[first].Span.Start) - removed
	if tail < 0 {
		tail = 0
	}
	missCost := float64(tail) * (p.Input - p.Cached)
	if p.Write > p.Input {
		missCost += float64(tail) * (p.Write - p.Input)
	}
	saving := float64(removed) * p.Cached * float64(1+max(horizon, 0))
	return saving > missCost
}

// candidates lists the tool results Plan may prune, in message order.
func candidates(r *providers.Request, cfg Config) []candidate {
	msgs := r.Messages
	// The tool results after the KeepTurns-th last assistant turn with tool
	// calls are protected.
	protect, turns := len(msgs), 0
	for i := len(msgs) - 1; i >= 0 && turns < max(cfg.KeepTurns, 1); i-- {
		if msgs[i].Role == "assistant" && len(msgs[i].ToolCalls) > 0 {
			protect, turns = i, turns+1
		}
	}
	refs := referencedFrom(msgs)
	var out []candidate
	for i := 0; i < protect; i++ {
		m := &msgs[i]
		if m.Role != "tool" && m.Role != "function" || hasNonText(m) {
			continue
		}
		n := Tokens(len(m.Text()))
		if n < cfg.MinTokens || n <= Tokens(len(stub(r, i)))+8 || refs[i] > i {
			continue
		}
		out = append(out, candidate{index: i, tokens: n, superseded: superseded(msgs, i)})
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

// superseded reports whether a later assistant turn made the same call
// (same function, same arguments) whose result the request also carries:
// a re-read file, a re-run test, a repeated search.
func superseded(msgs []providers.Message, i int) bool {
	c := callOf(msgs, i)
	if c == nil {
		return false
	}
	for j := i + 1; j < len(msgs); j++ {
		for k := range msgs[j].ToolCalls {
			tc := &msgs[j].ToolCalls[k]
			if tc.Name == c.Name && tc.Arguments == c.Arguments && answered(msgs[j+1:], tc.ID) {
				return true
			}
		}
	}
	return false
}

func answered(msgs []providers.Message, id string) bool {
	for i := range msgs {
		if msgs[i].ToolCallID == id {
			return true
		}
	}
	return false
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
