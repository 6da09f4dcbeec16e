package cost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Request is one client request of a trace, as the client sends it.
type Request struct {
	// ID is the request's position in the trace (time order).
	ID int `json:"id"`
	// At is the time since the trace's start.
	At time.Duration `json:"at"`
	// Session names the session ("agent-03"); Kind is agent, claude-code,
	// chat or autocomplete; Client the client it imitates.
	Session string `json:"session"`
	Kind    string `json:"kind"`
	Client  string `json:"client"`
	// Format is FormatOpenAI (POST /v1/chat/completions) or FormatAnthropic
	// (POST /v1/messages).
	Format string `json:"format"`
	// Model is the model as the client writes it ("auto" included).
	Model  string `json:"model"`
	Stream bool   `json:"stream"`
	// Temp0 is set when the request has temperature 0.
	Temp0 bool `json:"temp0"`
	// Repeat is "" for an original request, "retry" for a client retry and
	// "revisit" for an autocomplete request sent again; Of is the ID of the
	// request it repeats (-1 when none). Repeats are byte-identical.
	Repeat string `json:"repeat,omitempty"`
	Of     int    `json:"of"`
	Body   []byte `json:"-"`

	of *Request
}

// Category is the kind of traffic and the client that sent it
// ("agent/cline", "chat/cursor", "aider/diff"), or the kind alone when the
// client is the kind.
func (r *Request) Category() string {
	if r.Client == "" || r.Client == r.Kind {
		return r.Kind
	}
	return r.Kind + "/" + r.Client
}

// Trace is a generated workload.
type Trace struct {
	Seed     uint64
	Mix      Mix
	Requests []*Request
}

// Mix sets a trace's size and shape. DefaultMix documents the defaults.
type Mix struct {
	// Duration is the span over which sessions start.
	Duration time.Duration
	// AgentSessions are OpenAI-format coding-agent tool loops (Cline-like):
	// AgentAuto of them with model "auto", AgentGPT with gpt-4.1, the rest
	// with claude-sonnet-4-5.
	AgentSessions, AgentAuto, AgentGPT int
	// AgentTurns bounds the requests per agent session.
	AgentTurnsMin, AgentTurnsMax int
	// ClaudeCodeSessions are Anthropic-format agent sessions that place their
	// own cache_control breakpoints.
	ClaudeCodeSessions int
	// ChatSessions are IDE chats (Cursor- and Continue-style boilerplate):
	// ChatAuto with model "auto", ChatGPT with gpt-4o, the rest with
	// claude-sonnet-4-5.
	ChatSessions, ChatAuto, ChatGPT int
	// AutocompleteUsers each type for Duration, AutocompleteBursts bursts of
	// completions with gpt-4o-mini.
	AutocompleteUsers, AutocompleteBursts int
	// AgentGPT4o are further OpenAI-format agent sessions with gpt-4o
	// (generated after the others, so adding them keeps the rest's bytes).
	AgentGPT4o int
	// AiderSessions are Aider edit sessions: the i-th uses
	// AiderModels[i%len] and AiderFormats[i%len] ("whole" or "diff").
	AiderSessions int
	AiderModels   []string
	AiderFormats  []string
	// PlainChatSessions are chats without tools or IDE context, with
	// PlainChatModels[i%len].
	PlainChatSessions int
	PlainChatModels   []string
	// OtherAgents, OtherAiders and OtherChats are further agent (Cline- and
	// opencode-like, OpenAI format), Aider ("diff") and plain-chat sessions,
	// one per model listed, on providers with automatic prefix caching:
	// Gemini (implicit caching) and DeepSeek (context caching on disk).
	// They draw from their own random stream, so adding them keeps every
	// other request's bytes.
	OtherAgents, OtherAiders, OtherChats []string
	// RetryRate is the share of temperature-0 requests that the client sends
	// again after a timeout; RevisitRate the share of autocomplete requests
	// sent again unchanged (the cursor came back).
	RetryRate, RevisitRate float64
}

// DefaultMix is about an hour of a small team's coding-assistant traffic:
// ten agent sessions (two "auto", two gpt-4.1, six claude-sonnet-4-5; 6–24
// requests each), four Claude Code sessions (6–24 requests), sixteen IDE
// chats (five "auto", five gpt-4o, six claude-sonnet-4-5; 2–7 turns), six
// developers' autocomplete (gpt-4o-mini, five bursts of 4–14 completions
// each), 4% of temperature-0 requests retried and 10% of autocomplete
// requests revisited.
func DefaultMix() Mix {
	return Mix{
		Duration:      time.Hour,
		AgentSessions: 10, AgentAuto: 2, AgentGPT: 2, AgentTurnsMin: 6, AgentTurnsMax: 24,
		ClaudeCodeSessions: 4,
		ChatSessions:       16, ChatAuto: 5, ChatGPT: 5,
		AutocompleteUsers: 6, AutocompleteBursts: 5,
		AgentGPT4o:    2,
		AiderSessions: 6, AiderModels: []string{"claude-sonnet-4-5", "gpt-4.1", "claude-sonnet-4-5", "gpt-4o", "claude-sonnet-4-5", "gpt-4.1"},
		AiderFormats:      []string{"diff", "whole", "whole", "diff", "diff", "diff"},
		PlainChatSessions: 8, PlainChatModels: []string{"gpt-4o", "claude-sonnet-4-5", "gpt-4.1", "gpt-4o", "auto", "claude-sonnet-4-5", "gpt-4o", "gpt-4.1"},
		OtherAgents: []string{"gemini-2.5-pro", "gemini-2.5-flash", "deepseek-chat", "deepseek-chat"},
		OtherAiders: []string{"deepseek-chat", "gemini-2.5-pro"},
		OtherChats:  []string{"gemini-2.5-flash", "deepseek-chat", "gemini-2.5-pro"},
		RetryRate:   0.04, RevisitRate: 0.10,
	}
}

// SmallMix is a few sessions of each kind, for tests.
func SmallMix() Mix {
	return Mix{
		Duration:      20 * time.Minute,
		AgentSessions: 3, AgentAuto: 1, AgentGPT: 1, AgentTurnsMin: 4, AgentTurnsMax: 7,
		ClaudeCodeSessions: 1,
		ChatSessions:       2, ChatAuto: 1,
		AutocompleteUsers: 1, AutocompleteBursts: 2,
		AgentGPT4o:    1,
		AiderSessions: 2, AiderModels: []string{"claude-sonnet-4-5", "gpt-4.1"}, AiderFormats: []string{"diff", "whole"},
		PlainChatSessions: 2, PlainChatModels: []string{"gpt-4o", "claude-sonnet-4-5"},
		OtherAgents: []string{"gemini-2.5-flash", "deepseek-chat"}, OtherChats: []string{"gemini-2.5-pro"},
		RetryRate: 0.2, RevisitRate: 0.2,
	}
}

// Generate builds a trace from seed; the same seed and mix give the same
// bytes.
func Generate(seed uint64, m Mix) *Trace {
	rng := rand.New(rand.NewPCG(seed, 0x636f737462656e63))
	g := &gen{rng: rng, mix: m}
	g.setup()
	var reqs []*Request
	for i := 0; i < m.AgentSessions; i++ {
		model := "claude-sonnet-4-5"
		switch {
		case i < m.AgentAuto:
			model = "auto"
		case i < m.AgentAuto+m.AgentGPT:
			model = "gpt-4.1"
		}
		fam := g.families[i%2]
		start := g.startTime(0.8)
		reqs = append(reqs, g.agent(fmt.Sprintf("agent-%02d", i), start, fam, g.repos[i%len(g.repos)], model, FormatOpenAI, rng.IntN(2) == 0)...)
	}
	for i := 0; i < m.ClaudeCodeSessions; i++ {
		start := g.startTime(0.8)
		reqs = append(reqs, g.agent(fmt.Sprintf("claude-code-%02d", i), start, g.claudeCode, g.repos[(i+1)%len(g.repos)], "claude-sonnet-4-5", FormatAnthropic, false)...)
	}
	for i := 0; i < m.ChatSessions; i++ {
		model := "claude-sonnet-4-5"
		switch {
		case i < m.ChatAuto:
			model = "auto"
		case i < m.ChatAuto+m.ChatGPT:
			model = "gpt-4o"
		}
		style := "cursor"
		if i%5 >= 3 {
			style = "continue"
		}
		reqs = append(reqs, g.chat(fmt.Sprintf("chat-%02d", i), g.startTime(0.9), style, g.repos[(i+2)%len(g.repos)], model)...)
	}
	for i := 0; i < m.AutocompleteUsers; i++ {
		reqs = append(reqs, g.autocomplete(fmt.Sprintf("complete-%02d", i), g.repos[i%len(g.repos)])...)
	}
	g.setupLater()
	for i := 0; i < m.AgentGPT4o; i++ {
		j := m.AgentSessions + i
		reqs = append(reqs, g.agent(fmt.Sprintf("agent-%02d", j), g.startTime(0.8), g.families[j%2], g.repos[j%len(g.repos)], "gpt-4o", FormatOpenAI, rng.IntN(2) == 0)...)
	}
	for i := 0; i < m.AiderSessions; i++ {
		reqs = append(reqs, g.aider(fmt.Sprintf("aider-%02d", i), g.startTime(0.8), g.repos[i%len(g.repos)], m.AiderModels[i%len(m.AiderModels)], m.AiderFormats[i%len(m.AiderFormats)])...)
	}
	for i := 0; i < m.PlainChatSessions; i++ {
		reqs = append(reqs, g.plainChat(fmt.Sprintf("plain-%02d", i), g.startTime(0.9), g.repos[(i+1)%len(g.repos)], m.PlainChatModels[i%len(m.PlainChatModels)])...)
	}
	reqs = append(reqs, g.otherSessions(seed, m)...)
	// Client retries of temperature-0 requests.
	var retries []*Request
	for _, r := range reqs {
		if r.Temp0 && r.Repeat == "" && rng.Float64() < m.RetryRate {
			c := *r
			c.At += time.Duration(1000+rng.IntN(3000)) * time.Millisecond
			c.Repeat, c.of = "retry", r
			retries = append(retries, &c)
		}
	}
	reqs = append(reqs, retries...)
	sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].At < reqs[j].At })
	for i, r := range reqs {
		r.ID = i
	}
	for _, r := range reqs {
		r.Of = -1
		if r.of != nil {
			r.Of = r.of.ID
		}
	}
	return &Trace{Seed: seed, Mix: m, Requests: reqs}
}

type gen struct {
	rng        *rand.Rand
	mix        Mix
	repos      []*repo
	families   [2]*family
	claudeCode *family
	cursorSys  string
	contSys    string
	contRules  string
	rules      string
	userInfo   []string
	acSys      string
	// Set up after the first trace's content, so that its bytes do not
	// change: Aider's system prompts and reminders by edit format, the
	// plain chat's system prompt.
	aiderSys, aiderReminder map[string]string
	plainSys                string
}

// family is an agent client: its system prompt (blocks) and tools.
type family struct {
	client string
	system []string
	tools  []gtool
	names  map[string]string // action → tool name
}

type gtool struct{ name, desc, schema string }

func (g *gen) startTime(frac float64) time.Duration {
	return time.Duration(g.rng.Int64N(int64(float64(g.mix.Duration) * frac)))
}

func schema(props ...string) string {
	var b strings.Builder
	b.WriteString(`{"type":"object","properties":{`)
	for i, p := range props {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + p + `":{"type":"string","description":"The ` + p + ` to use; see the tool description for the accepted forms."}`)
	}
	b.WriteString(`},"required":["` + props[0] + `"]}`)
	return b.String()
}

func (g *gen) tools(names []string, propsOf map[string][]string, descTokens int) []gtool {
	var out []gtool
	for _, n := range names {
		out = append(out, gtool{name: n, desc: paragraph(g.rng, descTokens/25+g.rng.IntN(3)), schema: schema(propsOf[n]...)})
	}
	return out
}

func (g *gen) setup() {
	rng := g.rng
	g.repos = []*repo{
		newRepo(rng, "github.com/acme/shop", "go", 30),
		newRepo(rng, "webapp", "typescript", 30),
		newRepo(rng, "pipeline", "python", 25),
	}
	clineTools := []string{"read_file", "write_to_file", "replace_in_file", "execute_command", "search_files", "list_files", "list_code_definition_names", "ask_followup_question", "attempt_completion", "new_task"}
	props := map[string][]string{
		"read_file": {"path"}, "write_to_file": {"path", "content"}, "replace_in_file": {"path", "diff"}, "execute_command": {"command", "requires_approval"},
		"search_files": {"path", "regex", "file_pattern"}, "list_files": {"path", "recursive"}, "list_code_definition_names": {"path"},
		"ask_followup_question": {"question", "options"}, "attempt_completion": {"result", "command"}, "new_task": {"context"},
		"view": {"path"}, "edit": {"path", "old_text", "new_text"}, "bash": {"command"}, "grep": {"pattern", "path"}, "glob": {"pattern"}, "todo": {"todos"}, "fetch": {"url"}, "ls": {"path"},
		"Read": {"file_path", "offset", "limit"}, "Edit": {"file_path", "old_string", "new_string"}, "Write": {"file_path", "content"}, "Bash": {"command", "description", "timeout"},
		"Grep": {"pattern", "path", "glob", "output_mode"}, "Glob": {"pattern", "path"}, "LS": {"path", "ignore"}, "TodoWrite": {"todos"}, "Task": {"description", "prompt", "subagent_type"},
		"WebFetch": {"url", "prompt"}, "MultiEdit": {"file_path", "edits"}, "NotebookEdit": {"notebook_path", "new_source"},
	}
	g.families[0] = &family{client: "cline", system: []string{document(rng, "You are Cline, a highly skilled software engineer", 5000)},
		tools: g.tools(clineTools, props, 220),
		names: map[string]string{"read": "read_file", "edit": "replace_in_file", "test": "execute_command", "search": "search_files", "list": "list_files"}}
	g.families[1] = &family{client: "opencode", system: []string{document(rng, "You are an interactive CLI coding agent", 3000)},
		tools: g.tools([]string{"view", "edit", "bash", "grep", "glob", "ls", "todo", "fetch"}, props, 180),
		names: map[string]string{"read": "view", "edit": "edit", "test": "bash", "search": "grep", "list": "ls"}}
	g.claudeCode = &family{client: "claude-code", system: []string{"You are Claude Code, Anthropic's official CLI for Claude.", document(rng, "Claude Code instructions", 4000)},
		tools: g.tools([]string{"Task", "Bash", "Glob", "Grep", "LS", "Read", "Edit", "MultiEdit", "Write", "NotebookEdit", "WebFetch", "TodoWrite"}, props, 400),
		names: map[string]string{"read": "Read", "edit": "Edit", "test": "Bash", "search": "Grep", "list": "LS"}}
	g.cursorSys = document(rng, "You are a powerful agentic AI coding assistant working in the user's IDE", 1200)
	g.contSys = document(rng, "You are a helpful coding assistant inside the editor", 500)
	g.contRules = paragraph(rng, 4)
	g.rules = "Always answer in English. " + paragraph(rng, 3)
	for _, r := range g.repos {
		g.userInfo = append(g.userInfo, "The user's OS version is linux 6.8.0. The absolute path of the user's workspace is /home/dev/"+r.name+". The user's shell is /usr/bin/bash.")
	}
	g.acSys = "You are a code completion engine. You receive a file with a <CURSOR> marker and reply with the code to insert at the cursor, nothing else: no explanation, no markdown fences, no repetition of the surrounding code. " + paragraph(rng, 6)
}

// gmsg is a conversation message before rendering to a wire format.
type gmsg struct {
	role   string // system, user, assistant, tool
	text   string
	calls  []gcall
	callID string
}

type gcall struct{ id, name, args string }

func (g *gen) id(prefix string, n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte(prefix)
	for range n {
		b = append(b, alnum[g.rng.IntN(len(alnum))])
	}
	return string(b)
}

func marshal(v any) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false) // clients do not escape <, > and &
	if err := e.Encode(v); err != nil {
		panic("BUG: trace body: " + err.Error())
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

type oaOutMsg struct {
	Role       string          `json:"role"`
	Content    *string         `json:"content"`
	ToolCalls  []oaOutToolCall `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

type oaOutToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaOutTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type oaOutReq struct {
	Model         string      `json:"model"`
	Messages      []oaOutMsg  `json:"messages"`
	Tools         []oaOutTool `json:"tools,omitempty"`
	Temperature   *float64    `json:"temperature,omitempty"`
	MaxTokens     int         `json:"max_tokens,omitempty"`
	Stream        bool        `json:"stream,omitempty"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
}

func renderOpenAI(model string, msgs []gmsg, tools []gtool, temp *float64, maxTokens int, stream bool) []byte {
	r := oaOutReq{Model: model, Temperature: temp, MaxTokens: maxTokens, Stream: stream}
	if stream {
		r.StreamOptions = &struct {
			IncludeUsage bool `json:"include_usage"`
		}{true}
	}
	for _, t := range tools {
		var ot oaOutTool
		ot.Type = "function"
		ot.Function.Name, ot.Function.Description, ot.Function.Parameters = t.name, t.desc, json.RawMessage(t.schema)
		r.Tools = append(r.Tools, ot)
	}
	for _, m := range msgs {
		om := oaOutMsg{Role: m.role, ToolCallID: m.callID}
		if m.text != "" || m.role != "assistant" {
			s := m.text
			om.Content = &s
		}
		for _, c := range m.calls {
			var tc oaOutToolCall
			tc.ID, tc.Type = c.id, "function"
			tc.Function.Name, tc.Function.Arguments = c.name, c.args
			om.ToolCalls = append(om.ToolCalls, tc)
		}
		r.Messages = append(r.Messages, om)
	}
	return marshal(r)
}

var ephemeral = map[string]string{"type": "ephemeral"}

// renderAnthropic renders a Messages request the way Claude Code does:
// breakpoints on the last system block and on the last block of each of
// the last two user turns.
func renderAnthropic(model string, system []string, msgs []gmsg, tools []gtool, temp *float64, maxTokens int) []byte {
	type turn struct {
		role   string
		blocks []map[string]any
	}
	var turns []*turn
	add := func(role string, b map[string]any) {
		if n := len(turns); n > 0 && turns[n-1].role == role {
			turns[n-1].blocks = append(turns[n-1].blocks, b)
			return
		}
		turns = append(turns, &turn{role: role, blocks: []map[string]any{b}})
	}
	for _, m := range msgs {
		switch m.role {
		case "user":
			add("user", map[string]any{"type": "text", "text": m.text})
		case "tool":
			add("user", map[string]any{"type": "tool_result", "tool_use_id": m.callID, "content": m.text})
		case "assistant":
			if m.text != "" {
				add("assistant", map[string]any{"type": "text", "text": m.text})
			}
			for _, c := range m.calls {
				add("assistant", map[string]any{"type": "tool_use", "id": c.id, "name": c.name, "input": json.RawMessage(c.args)})
			}
		}
	}
	marked := 0
	for i := len(turns) - 1; i >= 0 && marked < 2; i-- {
		if turns[i].role == "user" {
			turns[i].blocks[len(turns[i].blocks)-1]["cache_control"] = ephemeral
			marked++
		}
	}
	var sys []map[string]any
	for i, s := range system {
		b := map[string]any{"type": "text", "text": s}
		if i == len(system)-1 {
			b["cache_control"] = ephemeral
		}
		sys = append(sys, b)
	}
	var ts []map[string]any
	for _, t := range tools {
		ts = append(ts, map[string]any{"name": t.name, "description": t.desc, "input_schema": json.RawMessage(t.schema)})
	}
	var ms []map[string]any
	for _, t := range turns {
		ms = append(ms, map[string]any{"role": t.role, "content": t.blocks})
	}
	body := map[string]any{"model": model, "max_tokens": maxTokens, "system": sys, "tools": ts, "messages": ms}
	if temp != nil {
		body["temperature"] = *temp
	}
	return marshal(body)
}

// agent is a coding-agent session: each request re-sends the system prompt,
// the tools and the whole tool loop so far.
func (g *gen) agent(sess string, start time.Duration, fam *family, rp *repo, model, format string, temp0 bool) []*Request {
	rng := g.rng
	files := map[string]string{}
	for k, v := range rp.files {
		files[k] = v
	}
	var temp *float64
	if format == FormatAnthropic {
		one := 1.0
		temp = &one
	} else if temp0 {
		zero := 0.0
		temp = &zero
	}
	target := rp.paths[rng.IntN(len(rp.paths))]
	task := "<task>\n" + fmt.Sprintf(pick(rng, questions), funcName(rng, files[target])) + " The code is in " + target + ". " + sentence(rng, 12) + "\n</task>"
	var msgs []gmsg
	if format == FormatOpenAI {
		msgs = append(msgs, gmsg{role: "system", text: fam.system[0]})
	}
	msgs = append(msgs, gmsg{role: "user", text: task})
	n := g.mix.AgentTurnsMin + rng.IntN(g.mix.AgentTurnsMax-g.mix.AgentTurnsMin+1)
	var read []string
	edited, lastTest := true, ""
	t := start
	var out []*Request
	for i := 0; i < n; i++ {
		r := &Request{At: t, Session: sess, Kind: "agent", Client: fam.client, Format: format, Model: model, Temp0: temp != nil && *temp == 0}
		if format == FormatAnthropic {
			r.Kind = "claude-code"
			r.Body = renderAnthropic(model, fam.system, msgs, fam.tools, temp, 4096)
		} else {
			r.Body = renderOpenAI(model, msgs, fam.tools, temp, 4096, false)
		}
		out = append(out, r)
		if i == n-1 {
			break
		}
		var thought string
		if rng.IntN(10) < 7 {
			thought = sentence(rng, 8+rng.IntN(14))
		}
		var calls []gcall
		var results []string
		callID := func() string {
			if format == FormatAnthropic {
				return g.id("toolu_01", 22)
			}
			return g.id("call_", 24)
		}
		args := func(kv ...string) string {
			m := map[string]string{}
			for j := 0; j+1 < len(kv); j += 2 {
				m[kv[j]] = kv[j+1]
			}
			return string(marshal(m))
		}
		pathKey := "path"
		if fam.client == "claude-code" {
			pathKey = "file_path"
		}
		switch a := rng.IntN(20); {
		case a < 8 || i == 0: // read one or two files, sometimes again
			k := 1
			if rng.IntN(4) == 0 {
				k = 2
			}
			for range k {
				p := target
				switch {
				case len(read) > 0 && rng.IntN(10) < 3:
					p = pick(rng, read)
				case i > 0:
					p = pick(rng, rp.paths)
				}
				read = append(read, p)
				calls = append(calls, gcall{callID(), fam.names["read"], args(pathKey, p)})
				results = append(results, files[p])
			}
		case a < 12: // edit a file read before
			p := target
			if len(read) > 0 {
				p = pick(rng, read)
			}
			files[p] = edit(rng, files[p])
			edited = true
			calls = append(calls, gcall{callID(), fam.names["edit"], args(pathKey, p, "diff", "<<<<<<< SEARCH\n"+sentence(rng, 6)+"\n=======\n"+sentence(rng, 7)+"\n>>>>>>> REPLACE")})
			res := "The content was successfully saved to " + p + "."
			if fam.client == "cline" {
				res += "\n\nHere is the full, updated content of the file that was saved:\n\n<final_file_content path=\"" + p + "\">\n" + files[p] + "\n</final_file_content>\n\nIMPORTANT: For any future changes to this file, use the final_file_content shown above as your reference."
			}
			results = append(results, res)
		case a < 15: // run the tests: identical output when nothing changed
			if edited || lastTest == "" {
				lastTest = testOutput(rng, rp, rng.IntN(3) == 0)
				edited = false
			}
			calls = append(calls, gcall{callID(), fam.names["test"], args("command", "go test ./...")})
			results = append(results, lastTest)
		case a < 18:
			calls = append(calls, gcall{callID(), fam.names["search"], args("pattern", pick(rng, verbs)+title(pick(rng, nouns)))})
			results = append(results, searchOutput(rng, rp))
		default:
			calls = append(calls, gcall{callID(), fam.names["list"], args("path", ".")})
			results = append(results, listOutput(rng, rp))
		}
		msgs = append(msgs, gmsg{role: "assistant", text: thought, calls: calls})
		for j, c := range calls {
			msgs = append(msgs, gmsg{role: "tool", callID: c.id, text: results[j]})
		}
		if rng.IntN(100) < 7 {
			msgs = append(msgs, gmsg{role: "user", text: sentence(rng, 10+rng.IntN(10))})
		}
		t += time.Duration(4000+rng.IntN(21000)) * time.Millisecond
		if rng.IntN(100) < 5 {
			t += time.Duration(3+rng.IntN(6)) * time.Minute // the developer reviews, then continues
		}
	}
	return out
}

// chat is an IDE chat: Cursor-style (user_info and custom_instructions
// blocks repeated in every user message, the open file attached, an empty
// linter_errors block) or Continue-style (ChatML markers leaked into the
// messages, the rules paragraph repeated in a second system message).
func (g *gen) chat(sess string, start time.Duration, style string, rp *repo, model string) []*Request {
	rng := g.rng
	files := map[string]string{}
	for k, v := range rp.files {
		files[k] = v
	}
	var msgs []gmsg
	if style == "cursor" {
		msgs = append(msgs, gmsg{role: "system", text: g.cursorSys})
	} else {
		msgs = append(msgs, gmsg{role: "system", text: g.contSys + "\n\n" + g.contRules},
			gmsg{role: "system", text: "Project rules:\n\n" + g.contRules + "\n\n" + paragraph(rng, 2)})
	}
	info := g.userInfo[rng.IntN(len(g.userInfo))]
	p := pick(rng, rp.paths)
	n := 2 + rng.IntN(6)
	t := start
	var out []*Request
	for i := 0; i < n; i++ {
		switch x := rng.IntN(20); {
		case i == 0 || x < 14: // same file
		case x < 17:
			files[p] = edit(rng, files[p])
		default:
			p = pick(rng, rp.paths)
		}
		content, lang := files[p], langOf(p)
		q := fmt.Sprintf(pick(rng, questions), funcName(rng, content))
		var text string
		if style == "cursor" {
			text = "<user_info>\n" + info + "\n</user_info>\n\n<custom_instructions>\n" + g.rules + "\n</custom_instructions>\n\n<attached_files>\n```" + lang + " path=" + p +
				", lines=1-" + strconv.Itoa(strings.Count(content, "\n")) + "\n" + content + "```\n</attached_files>\n<linter_errors>\n</linter_errors>\n\n<user_query>\n" + q + "\n</user_query>"
		} else {
			text = "<|im_start|>user\n```" + lang + " " + p + "\n" + content + "```\n\n" + q + "<|im_end|>\n<|im_start|>assistant\n"
		}
		msgs = append(msgs, gmsg{role: "user", text: text})
		out = append(out, &Request{At: t, Session: sess, Kind: "chat", Client: style, Format: FormatOpenAI, Model: model, Stream: true,
			Body: renderOpenAI(model, msgs, nil, nil, 2048, true)})
		msgs = append(msgs, gmsg{role: "assistant", text: reply(rng, lang, content)})
		t += time.Duration(20+rng.IntN(340)) * time.Second
	}
	return out
}

// autocomplete is one developer's completions over the trace: bursts of
// completions while typing in a file, the prefix growing by a word or two
// between completions.
func (g *gen) autocomplete(sess string, rp *repo) []*Request {
	rng := g.rng
	zero := 0.0
	var out []*Request
	t := time.Duration(rng.Int64N(int64(5 * time.Minute)))
	for b := 0; b < g.mix.AutocompleteBursts; b++ {
		p := pick(rng, rp.paths)
		lines := strings.Split(rp.files[p], "\n")
		at := rng.IntN(len(lines))
		prefix := strings.Join(lines[:at], "\n") + "\n"
		suffix := strings.Join(lines[at:min(len(lines), at+30)], "\n")
		typed := "\t"
		for range 4 + rng.IntN(11) {
			typed += pick(rng, fields)
			if rng.IntN(3) == 0 {
				typed += "."
			} else {
				typed += " "
			}
			msgs := []gmsg{{role: "system", text: g.acSys},
				{role: "user", text: "<file path=\"" + p + "\">\n" + prefix + typed + "<CURSOR>\n" + suffix + "\n</file>\nInsert the code at <CURSOR>."}}
			r := &Request{At: t, Session: sess, Kind: "autocomplete", Client: "autocomplete", Format: FormatOpenAI, Model: "gpt-4o-mini", Temp0: true,
				Body: renderOpenAI("gpt-4o-mini", msgs, nil, &zero, 128, false)}
			out = append(out, r)
			if rng.Float64() < g.mix.RevisitRate {
				c := *r
				c.At += time.Duration(1500+rng.IntN(3000)) * time.Millisecond
				c.Repeat, c.of = "revisit", r
				out = append(out, &c)
			}
			t += time.Duration(1500+rng.IntN(8500)) * time.Millisecond
		}
		t += g.mix.Duration / time.Duration(g.mix.AutocompleteBursts+1)
	}
	return out
}
