// Command dedup is the built-in "dedup" policy (request stage,
// ENABLE_FILE_HASH_CACHE): within one request, a file or tool output that
// the conversation carries again unchanged is replaced at its later
// occurrences by a short reference to the first copy, which the model still
// sees:
//
//	[unchanged: src/cart.ts (sha256 1a2b3c4d…), identical to the copy in message 3]
//
// Files are fenced code blocks with a path hint (```ts src/x.ts,
// ```ts:src/x.ts, ```path=src/x.ts, "File: src/x.ts" or "### src/x.ts" or a
// bare path on the line before, // filepath: on the first line) and
// <file_content path="…"> style blocks; tool outputs are whole tool results.
// Both must be at least min_bytes long (default 512) and byte-identical to
// the earlier copy.
//
// It never looks across requests, never edits a first copy or an assistant
// message, and touches a user's own words only inside a repeated file block.
// Each message's result depends only on the messages up to it, so the prefix
// a provider cached on the previous turn stays byte-identical. It reports
// dedup.removed_chars (characters removed, net of the references) and
// dedup.files (blocks replaced) as tags.
//
// Config: {"min_bytes": 512, "files": true, "tool_results": true}.
package main

func main() {}
