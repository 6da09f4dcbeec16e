// Command diff-first is the built-in "diff-first" policy (request stage,
// ENFORCE_DIFF_FIRST): once a conversation asks for a code change, it adds a
// rule to the system prompt asking the model to answer with unified diffs
// instead of whole files.
//
// The trigger is monotone (any user message so far asked for an edit), so
// from the first edit request on the system prompt is the same on every
// turn and provider prompt caches keep hitting; the rule is appended at the
// end of the first system message, leaving the client's prefix
// byte-identical. Requests that ask for JSON output are left alone.
//
// Config: {"rule": "..."} replaces the default rule text.
package main

func main() {}
