// Command judge is the built-in "judge" policy (response stage, the
// cascade's quality check, ENABLE_CASCADE_ROUTING): it reads the request's
// last user message and the complete upstream answer and gives a verdict —
// escalate (retry on a stronger model) or accept — with a score from 0 to
// 1000 and a short reason.
//
// It keeps the seed's heuristics (docs/policies-judge-dedup.md) without their
// false positives. In order:
//
//   - an answer that calls a tool is accepted;
//   - a truncated answer (finish_reason "length", stop_reason "max_tokens",
//     finishReason "MAX_TOKENS", done_reason "length") escalates, and so does
//     one the upstream flagged as a refusal or filtered;
//   - an empty answer, or one shorter than min_chars, escalates;
//   - a refusal phrase in the prose of the first 200 characters escalates;
//     hedges ("I'm not sure", "I don't have access") only in a short answer
//     without code that asks nothing back;
//   - a word or phrase looping back to back, or a sentence repeated three
//     times, escalates — in prose only: fenced code is skipped, since
//     repeated lines are normal in code;
//   - a clear code-writing request ("write a function…", not "why does this
//     function fail?") answered without code escalates, unless the answer is
//     a clarifying question; skipped when tools are defined (an agent writes
//     code through its tools) and in JSON mode;
//   - everything else is accepted, scoring 700 plus 100 each for length,
//     code for a code request, and a list.
//
// It tags judge.rule with the rule that decided.
//
// Config: {"min_chars": 1, "require_code_for_code_requests": true,
// "extra_refusals": ["…"]}.
package main

func main() {}
