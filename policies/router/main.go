// Command router is the built-in "router" policy (route stage): phase 1 of
// smart routing for model "auto" (and X-Gateway-Smart-Routing: 1). It
// applies the seed's heuristics in the seed's order (see decide) to put the
// request in a band (local, claude or ambiguous), maps the band to a tier
// (local, fast, strong, reasoning) according to the mode, and routes to the
// model configured for that tier, or the nearest tier whose model has every
// capability the request needs (tools, vision, JSON output, context length
// estimated as characters/4 within 80% of the window). The reason lands in
// X-Gateway-Route-Reason. Ambiguous requests are handed to the second-phase
// classifier with a fallback model.
//
// One deliberate difference from the seed: keywords, phrases and
// source-file mentions are matched in prose only, outside ``` code fences.
// Identifiers and includes in pasted code are not the user's intent (a
// pasted migration script is not a "migration" task, #include <stdio.h> is
// not a file the user wants edited), and skipping code keeps a 16 KiB coding
// request within microseconds. Lengths (the 500, 3000, 5000 and 30,000
// character limits, the token estimate) still count every byte.
//
// Config (the engine derives it from gateway.toml and SMART_ROUTING_MODE):
//
//	{"mode": "local_first" | "balanced" | "quality" | "keyword",
//	 "tiers": {"local": {"model": "ollama/qwen2.5-coder", "context_window": 32768,
//	                     "tools": false, "vision": false, "json": false},
//	           "fast": {...}, "strong": {...}, "reasoning": {...}},
//	 "reasoning_threshold": 0.5, "local_context_chars": 30000}
//
// Unknown top-level keys are ignored, so that a replacement router uploaded
// under the same policy name can keep its own settings in the same config.
package main

func main() {}
