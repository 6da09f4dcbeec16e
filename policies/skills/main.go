// Command skills is the built-in "skills" policy (request stage): it
// prepends a prompt template to the system prompt when the request selects a
// skill, by the X-Gateway-Skill header, the "skill" body
// field, a system prompt that starts with "@ID", or a last user message that
// starts with "@ID", in that order of precedence. An unknown skill named by
// the header or the body is answered locally with a 400 in the OpenAI error
// envelope that lists the known skills.
//
// Config: {"skills": [{"id", "description", "template", "tier"}...],
// "defaults": true}. The eight defaults (defaults.json) are kept unless
// "defaults" is false; a configured skill replaces a default of the same id.
package main

func main() {}
