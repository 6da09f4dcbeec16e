package cost

import (
	"fmt"
	"strings"
	"time"
)

// Aider-style edit sessions and plain chat (issue 14): the two kinds of
// coding-assistant traffic the first trace lacked.

// setupLater draws the prompts of the kinds added by issue 14, after the
// first trace's sessions, so those keep their bytes: Aider's system prompts
// (edit-format rules and worked examples: about 1.1k tokens for "whole",
// 2.3k for "diff") and reminders, and the plain chat's system prompt.
func (g *gen) setupLater() {
	rng := g.rng
	g.aiderSys = map[string]string{
		"whole": "Act as an expert software developer.\nTake requests for changes to the supplied code.\nIf the request is ambiguous, ask questions.\n\nAlways reply to the user in English.\n\n" +
			document(rng, "Whole file edit format", 1100),
		"diff": "Act as an expert software developer.\nAlways use best practices when coding.\nRespect and use existing conventions, libraries, etc that are already present in the code base.\n\nAlways reply to the user in English.\n\n" +
			document(rng, "SEARCH/REPLACE block rules and examples", 2300),
	}
	g.aiderReminder = map[string]string{
		"whole": "To suggest changes to a file you MUST return the entire content of the updated file. " + paragraph(rng, 4),
		"diff":  "# *SEARCH/REPLACE block* Rules:\n\nEvery *SEARCH/REPLACE block* must use this format: the file path alone on a line, the opening fence, <<<<<<< SEARCH, the lines to find, =======, the lines to replace them with, >>>>>>> REPLACE, the closing fence. " + paragraph(rng, 8),
	}
	g.plainSys = "You are a helpful assistant for software engineers. " + paragraph(rng, 2)
}

// repoMap is an Aider repository map: for every file not in the chat, its
// path and the signature lines of its definitions, with Aider's "⋮" and "│"
// markers.
func repoMap(rp *repo, exclude map[string]bool) string {
	var b strings.Builder
	b.WriteString("Here are summaries of some files present in my git repository.\nDo not propose changes to these files, treat them as *read-only*.\nIf you need to edit any of these files, ask me to *add them to the chat* first.\n\n")
	for _, p := range rp.paths {
		if exclude[p] {
			continue
		}
		b.WriteString(p + ":\n⋮\n")
		for _, l := range strings.Split(rp.files[p], "\n") {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "func ") || strings.HasPrefix(t, "type ") || strings.HasPrefix(t, "export ") || strings.HasPrefix(t, "def ") || strings.HasPrefix(t, "class ") {
				b.WriteString("│" + l + "\n⋮\n")
			}
		}
	}
	return b.String()
}

// aiderFiles is Aider's chat-files message: every file added to the chat,
// whole, as it is now.
func aiderFiles(paths []string, files map[string]string) string {
	var b strings.Builder
	b.WriteString("I have *added these files to the chat* so you can go ahead and edit them.\n\n*Trust this message as the true contents of these files!*\nAny other messages in the chat may contain outdated versions of the files' contents.\n\n")
	for _, p := range paths {
		b.WriteString(p + "\n```\n" + files[p] + "\n```\n\n")
	}
	return b.String()
}

// aider is an Aider session (OpenAI format, streaming, temperature 0), laid
// out as Aider's ChatChunks are: the system prompt (edit-format rules and
// examples), the repository map and its "Ok" answer, the finished
// exchanges (done), the files in the chat (whole, current content) and
// their "Ok", then the current request, and for GPT models the system
// reminder as a final system message (Claude models get it appended to the
// request). Answers in the "whole" format return every edited file whole;
// in the "diff" format SEARCH/REPLACE blocks. The files message changes after
// every edit, so everything after the done exchanges is new each turn.
func (g *gen) aider(sess string, start time.Duration, rp *repo, model, format string) []*Request {
	rng := g.rng
	files := map[string]string{}
	for k, v := range rp.files {
		files[k] = v
	}
	sys := g.aiderSys[format]
	reminder := g.aiderReminder[format]
	gpt := strings.HasPrefix(model, "gpt-")
	inChat := []string{pick(rng, rp.paths)}
	if rng.IntN(2) == 0 {
		inChat = append(inChat, pick(rng, rp.paths))
	}
	chatSet := map[string]bool{}
	for _, p := range inChat {
		chatSet[p] = true
	}
	rmap := repoMap(rp, chatSet)
	var done []gmsg
	zero := 0.0
	n := 4 + rng.IntN(9)
	t := start
	var out []*Request
	reflect := ""
	for i := 0; i < n; i++ {
		if i > 0 && rng.IntN(6) == 0 { // /add another file: the map loses it
			p := pick(rng, rp.paths)
			if !chatSet[p] {
				inChat = append(inChat, p)
				chatSet[p] = true
				rmap = repoMap(rp, chatSet)
			}
		}
		target := pick(rng, inChat)
		q := reflect
		if q == "" {
			q = fmt.Sprintf(pick(rng, questions), funcName(rng, files[target])) + " " + sentence(rng, 6+rng.IntN(10))
		}
		reflect = ""
		cur := q
		if !gpt {
			cur += "\n\n" + reminder
		}
		msgs := []gmsg{{role: "system", text: sys},
			{role: "user", text: rmap}, {role: "assistant", text: "Ok, I won't try and edit those files without asking first."}}
		msgs = append(msgs, done...)
		msgs = append(msgs, gmsg{role: "user", text: aiderFiles(inChat, files)}, gmsg{role: "assistant", text: "Ok, any changes I propose will be to those files."},
			gmsg{role: "user", text: cur})
		if gpt {
			msgs = append(msgs, gmsg{role: "system", text: reminder})
		}
		out = append(out, &Request{At: t, Session: sess, Kind: "aider", Client: format, Format: FormatOpenAI, Model: model, Stream: true, Temp0: true,
			Body: renderOpenAI(model, msgs, nil, &zero, 8192, true)})
		// The answer, and the files it changes.
		lang := langOf(target)
		var ans string
		if rng.IntN(5) == 0 { // a question answered without an edit
			ans = reply(rng, lang, files[target])
		} else if format == "whole" {
			files[target] = edit(rng, files[target])
			ans = sentence(rng, 10+rng.IntN(12)) + "\n\n" + target + "\n```" + lang + "\n" + files[target] + "\n```"
		} else {
			before := files[target]
			files[target] = edit(rng, before)
			ans = sentence(rng, 10+rng.IntN(12)) + "\n\n" + searchReplace(target, lang, before, files[target])
			if rng.IntN(4) == 0 {
				reflect = "# Fix any errors below, if possible.\n\n## Running: go vet ./...\n\n" + target + ":" + fmt.Sprint(10+rng.IntN(200)) + ":2: " + sentence(rng, 8) + "\n"
			}
		}
		done = append(done, gmsg{role: "user", text: q}, gmsg{role: "assistant", text: ans})
		t += time.Duration(25+rng.IntN(200)) * time.Second
	}
	return out
}

// searchReplace renders the SEARCH/REPLACE blocks that turn before into
// after: the changed lines with two lines of context.
func searchReplace(path, lang, before, after string) string {
	a, b := strings.Split(before, "\n"), strings.Split(after, "\n")
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	lo := max(0, p-2)
	ea, eb := min(len(a), len(a)-s+2), min(len(b), len(b)-s+2)
	return path + "\n```" + lang + "\n<<<<<<< SEARCH\n" + strings.Join(a[lo:ea], "\n") + "\n=======\n" + strings.Join(b[lo:eb], "\n") + "\n>>>>>>> REPLACE\n```"
}

// plainChat is a chat without tools or IDE context (a chat UI or a script
// on the OpenAI SDK): a short system prompt, questions with pasted code or
// logs now and then, long answers; streaming, temperature unset.
func (g *gen) plainChat(sess string, start time.Duration, rp *repo, model string) []*Request {
	rng := g.rng
	msgs := []gmsg{{role: "system", text: g.plainSys}}
	n := 3 + rng.IntN(10)
	t := start
	var out []*Request
	for i := 0; i < n; i++ {
		p := pick(rng, rp.paths)
		q := fmt.Sprintf(pick(rng, questions), funcName(rng, rp.files[p]))
		switch x := rng.IntN(10); {
		case x < 3: // a pasted excerpt
			lines := strings.Split(rp.files[p], "\n")
			a := rng.IntN(max(1, len(lines)-40))
			q += "\n\n```" + langOf(p) + "\n" + strings.Join(lines[a:min(len(lines), a+20+rng.IntN(80))], "\n") + "\n```"
		case x < 4: // a pasted log
			q = "I get this when I run the tests:\n\n```\n" + testOutput(rng, rp, false) + "```\n\n" + q
		case x < 6:
			q = sentence(rng, 6+rng.IntN(20))
		}
		msgs = append(msgs, gmsg{role: "user", text: q})
		out = append(out, &Request{At: t, Session: sess, Kind: "chat", Client: "plain", Format: FormatOpenAI, Model: model, Stream: true,
			Body: renderOpenAI(model, msgs, nil, nil, 4096, true)})
		msgs = append(msgs, gmsg{role: "assistant", text: reply(rng, langOf(p), rp.files[p]) + "\n\n" + paragraph(rng, 2+rng.IntN(4))})
		t += time.Duration(30+rng.IntN(400)) * time.Second
	}
	return out
}
