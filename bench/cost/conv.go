package cost

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Conv is what a request means to the fake model: the system prompt, the
// tools and the conversation, independent of the wire format that carried
// them. The fakes answer with a deterministic function of a Conv's Digest,
// so a request the gateway rewrote without changing its meaning gets the
// answer the original would have got, and one whose meaning changed does
// not.
type Conv struct {
	System      string
	Tools       []Tool
	Items       []Item
	MaxTokens   int
	Temperature string // "" when absent, else the value
}

// Tool is a tool definition.
type Tool struct {
	Name, Description string
	Schema            string // canonical JSON
}

// Item is one conversation element, in order. Kind is "text", "tool_use"
// (ID, Name, Text = canonical JSON input), "tool_result" (ID, Text) or
// "image" (Text = source).
type Item struct {
	Role, Kind, ID, Name, Text string
}

// canonicalJSON re-encodes raw with sorted keys and no insignificant space
// ("" for absent or null).
func canonicalJSON(raw []byte) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	b, err := json.Marshal(v)
	return string(b), err
}

type oaRequest struct {
	Model               string          `json:"model"`
	Messages            []oaMessage     `json:"messages"`
	Tools               []oaTool        `json:"tools"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	Stream              bool            `json:"stream"`
	StreamOptions       json.RawMessage `json:"stream_options"`
	// PromptCacheKey routes the request for OpenAI's prompt cache; it does
	// not change the answer.
	PromptCacheKey string `json:"prompt_cache_key"`
}

type oaMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []oaToolCall    `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type oaToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type oaPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

// oaContent returns a message's content as text parts and image URLs.
func oaContent(raw json.RawMessage) (texts []string, images []string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, nil
	}
	if raw[0] == '"' {
		var s string
		err = json.Unmarshal(raw, &s)
		return []string{s}, nil, err
	}
	var parts []oaPart
	if err = json.Unmarshal(raw, &parts); err != nil {
		return nil, nil, err
	}
	for _, p := range parts {
		switch p.Type {
		case "text":
			texts = append(texts, p.Text)
		case "image_url":
			images = append(images, p.ImageURL.URL)
		}
	}
	return texts, images, nil
}

func tempString(t *float64) string {
	if t == nil {
		return ""
	}
	return strconv.FormatFloat(*t, 'g', -1, 64)
}

// ConvFromOpenAI reads a Chat Completions request body.
func ConvFromOpenAI(body []byte) (*Conv, error) {
	var r oaRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("chat request: %w", err)
	}
	c := &Conv{Temperature: tempString(r.Temperature)}
	if r.MaxCompletionTokens != nil {
		c.MaxTokens = *r.MaxCompletionTokens
	} else if r.MaxTokens != nil {
		c.MaxTokens = *r.MaxTokens
	}
	for _, t := range r.Tools {
		s, err := canonicalJSON(t.Function.Parameters)
		if err != nil {
			return nil, fmt.Errorf("tool %s: %w", t.Function.Name, err)
		}
		c.Tools = append(c.Tools, Tool{Name: t.Function.Name, Description: t.Function.Description, Schema: s})
	}
	var system []string
	for i, m := range r.Messages {
		texts, images, err := oaContent(m.Content)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		switch m.Role {
		case "system", "developer":
			system = append(system, strings.Join(texts, "\n"))
		case "user":
			for _, t := range texts {
				c.Items = append(c.Items, Item{Role: "user", Kind: "text", Text: t})
			}
			for _, u := range images {
				c.Items = append(c.Items, Item{Role: "user", Kind: "image", Text: u})
			}
		case "assistant":
			for _, t := range texts {
				c.Items = append(c.Items, Item{Role: "assistant", Kind: "text", Text: t})
			}
			for _, tc := range m.ToolCalls {
				args := tc.Function.Arguments
				if strings.TrimSpace(args) == "" {
					args = "{}"
				}
				in, err := canonicalJSON([]byte(args))
				if err != nil {
					return nil, fmt.Errorf("message %d tool call %s: %w", i, tc.ID, err)
				}
				c.Items = append(c.Items, Item{Role: "assistant", Kind: "tool_use", ID: tc.ID, Name: tc.Function.Name, Text: in})
			}
		case "tool", "function":
			c.Items = append(c.Items, Item{Role: "user", Kind: "tool_result", ID: m.ToolCallID, Text: strings.Join(texts, "\n")})
		default:
			return nil, fmt.Errorf("message %d: unknown role %q", i, m.Role)
		}
	}
	c.System = strings.Join(system, "\n\n")
	return c, nil
}

type anRequest struct {
	Model       string          `json:"model"`
	System      json.RawMessage `json:"system"`
	Tools       []anTool        `json:"tools"`
	Messages    []anMessage     `json:"messages"`
	MaxTokens   int             `json:"max_tokens"`
	Temperature *float64        `json:"temperature"`
	Stream      bool            `json:"stream"`
}

type anTool struct {
	Name         string          `json:"name"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	CacheControl json.RawMessage `json:"cache_control"`
}

type anMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      json.RawMessage `json:"content"`
	Source       json.RawMessage `json:"source"`
	CacheControl json.RawMessage `json:"cache_control"`
}

// anBlocks reads a string-or-blocks content (a string is one text block).
func anBlocks(raw json.RawMessage) ([]anBlock, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []anBlock{{Type: "text", Text: s}}, nil
	}
	var bs []anBlock
	err := json.Unmarshal(raw, &bs)
	return bs, err
}

func hasCacheControl(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// hourTTL reports whether a cache_control object asks for the 1-hour TTL
// ({"type": "ephemeral", "ttl": "1h"}; "5m" or no ttl is the default).
func hourTTL(raw json.RawMessage) bool {
	if !hasCacheControl(raw) {
		return false
	}
	var cc struct {
		TTL string `json:"ttl"`
	}
	return json.Unmarshal(raw, &cc) == nil && cc.TTL == "1h"
}

// anText joins the text of a tool_result's content.
func anText(raw json.RawMessage) (string, error) {
	bs, err := anBlocks(raw)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, b := range bs {
		if b.Type == "text" {
			parts = append(parts, b.Text)
		}
	}
	return strings.Join(parts, "\n"), nil
}

// ConvFromAnthropic reads a Messages API request body.
func ConvFromAnthropic(body []byte) (*Conv, error) {
	var r anRequest
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("messages request: %w", err)
	}
	c := &Conv{MaxTokens: r.MaxTokens, Temperature: tempString(r.Temperature)}
	for _, t := range r.Tools {
		s, err := canonicalJSON(t.InputSchema)
		if err != nil {
			return nil, fmt.Errorf("tool %s: %w", t.Name, err)
		}
		c.Tools = append(c.Tools, Tool{Name: t.Name, Description: t.Description, Schema: s})
	}
	sys, err := anBlocks(r.System)
	if err != nil {
		return nil, fmt.Errorf("system: %w", err)
	}
	var system []string
	for _, b := range sys {
		system = append(system, b.Text)
	}
	c.System = strings.Join(system, "\n\n")
	for i, m := range r.Messages {
		bs, err := anBlocks(m.Content)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		for _, b := range bs {
			switch b.Type {
			case "text":
				c.Items = append(c.Items, Item{Role: m.Role, Kind: "text", Text: b.Text})
			case "image", "document":
				src, _ := canonicalJSON(b.Source)
				c.Items = append(c.Items, Item{Role: m.Role, Kind: "image", Text: src})
			case "tool_use":
				in, err := canonicalJSON(b.Input)
				if err != nil {
					return nil, fmt.Errorf("message %d tool_use %s: %w", i, b.ID, err)
				}
				if in == "" {
					in = "{}"
				}
				c.Items = append(c.Items, Item{Role: m.Role, Kind: "tool_use", ID: b.ID, Name: b.Name, Text: in})
			case "tool_result":
				t, err := anText(b.Content)
				if err != nil {
					return nil, fmt.Errorf("message %d tool_result %s: %w", i, b.ToolUseID, err)
				}
				c.Items = append(c.Items, Item{Role: m.Role, Kind: "tool_result", ID: b.ToolUseID, Text: t})
			case "thinking", "redacted_thinking":
				// Not part of what the answer depends on here.
			default:
				return nil, fmt.Errorf("message %d: unknown block type %q", i, b.Type)
			}
		}
	}
	return c, nil
}

// The noise the trace generator inserts, which a model reads past: the
// fake's understanding ignores it, so removing it is not a change of
// meaning, and removing anything else is.
var (
	// Chat-template special tokens (ChatML, Llama 3, Phi), with the role
	// word and line break that follow an opening marker.
	markerRE = regexp.MustCompile(`<\|im_start\|>[a-z]*\n?|<\|start_header_id\|>[a-z]*<\|end_header_id\|>\n*|<\|[a-z_]+\|>\n?`)
	// IDE context tags that carry nothing when empty.
	emptyTags = []string{"linter_errors", "open_files", "recently_viewed_files", "git_status", "terminal_output", "diagnostics", "additional_data", "attached_files", "selection", "context"}
	// IDE instruction blocks that IDEs repeat verbatim in every message: a
	// verbatim repeat (64 bytes or more) says nothing new.
	repeatTags = []string{"custom_instructions", "user_rules", "cursor_rules", "project_rules", "rules", "memories", "user_info", "instructions", "reminder"}
	emptyTagRE = func() []*regexp.Regexp {
		out := make([]*regexp.Regexp, len(emptyTags))
		for i, t := range emptyTags {
			out[i] = regexp.MustCompile(`<` + t + `>\s*</` + t + `>`)
		}
		return out
	}()
	repeatTagRE = func() []*regexp.Regexp {
		out := make([]*regexp.Regexp, len(repeatTags))
		for i, t := range repeatTags {
			out[i] = regexp.MustCompile(`(?s)<` + t + `>.*?</` + t + `>`)
		}
		return out
	}()
	// A file dedup reference (docs/policies-judge-dedup.md): resolved to the
	// earlier copy it names by hash, when the request still carries it.
	dedupRefRE = regexp.MustCompile(`\[unchanged: [^\]\n]*?\(sha256 ([0-9a-f]{8})(?:…|\.\.\.)?\)[^\]\n]*\]`)
)

// copies indexes content a later dedup reference may name: whole tool
// results and fenced code blocks, by the first 8 hex digits of their
// SHA-256 (trailing line breaks excluded). A fenced block is kept both as
// its contents and whole (fence lines included): the reference may replace
// either.
type copies map[string]copyOf

type copyOf struct{ content, block string }

func (cp copies) add(s, block string) {
	s = strings.TrimRight(s, "\r\n")
	if len(s) == 0 {
		return
	}
	h := sha256.Sum256([]byte(s))
	k := hex.EncodeToString(h[:4])
	if _, ok := cp[k]; !ok {
		if block == "" {
			block = s
		}
		cp[k] = copyOf{s, strings.TrimRight(block, "\r\n")}
	}
}

// fenceLine reports whether l opens or closes a fence, and with what.
func fenceLine(l string) string {
	t := strings.TrimLeft(l, " ")
	if len(l)-len(t) > 3 {
		return ""
	}
	switch {
	case strings.HasPrefix(t, "```"):
		return "```"
	case strings.HasPrefix(t, "~~~"):
		return "~~~"
	}
	return ""
}

// blockTagRE finds the block tags whose contents file dedup may reference
// (docs/policies-judge-dedup.md): the tag on a line of its own, its
// contents up to the closing tag.
var blockTagRE = func() []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, t := range []string{"file_content", "final_file_content", "file", "document"} {
		out = append(out, regexp.MustCompile(`(?s)<`+t+`(?: [^>\n]*)?>\n(.*?)</`+t+`>`))
	}
	return out
}()

func (cp copies) addTags(text string) {
	if !strings.Contains(text, "<") {
		return
	}
	for _, re := range blockTagRE {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			cp.add(m[1], "")
		}
	}
}

func (cp copies) addFences(text string) {
	lines := strings.SplitAfter(text, "\n")
	open := -1
	var marker string
	for i, l := range lines {
		m := fenceLine(l)
		if m == "" {
			continue
		}
		if open < 0 {
			open, marker = i, m
		} else if m == marker {
			cp.add(strings.Join(lines[open+1:i], ""), strings.Join(lines[open:i+1], ""))
			open = -1
		}
	}
}

// resolve replaces each reference by the copy it names: by the copy's
// contents when the reference sits alone inside a fence, else by the whole
// block.
func (cp copies) resolve(s string) string {
	if !strings.Contains(s, "[unchanged: ") {
		return s
	}
	var b strings.Builder
	pos := 0
	for _, m := range dedupRefRE.FindAllStringSubmatchIndex(s, -1) {
		c, ok := cp[s[m[2]:m[3]]]
		if !ok {
			continue
		}
		b.WriteString(s[pos:m[0]])
		before := strings.TrimSuffix(s[:m[0]], "\n")
		prev := before[strings.LastIndexByte(before, '\n')+1:]
		if fenceLine(prev) != "" {
			b.WriteString(c.content)
		} else {
			b.WriteString(c.block)
		}
		pos = m[1]
	}
	b.WriteString(s[pos:])
	return b.String()
}

// Normalized returns the Conv as the fake model understands it: dedup
// references resolved to the copies they name, chat-template markers and
// empty IDE context tags dropped, verbatim repeats of IDE instruction blocks
// and of system-prompt paragraphs (80 bytes or more) dropped, white space
// collapsed, empty text dropped, and adjacent text of one role joined.
func (c *Conv) Normalized() *Conv {
	out := &Conv{Tools: c.Tools, MaxTokens: c.MaxTokens, Temperature: c.Temperature}
	seenBlocks := map[string]bool{}
	clean := func(s string) string {
		if !strings.Contains(s, "<") {
			return s
		}
		if strings.Contains(s, "<|") {
			s = markerRE.ReplaceAllString(s, "")
		}
		for i, re := range emptyTagRE {
			if strings.Contains(s, "<"+emptyTags[i]+">") {
				s = re.ReplaceAllString(s, "")
			}
		}
		for i, re := range repeatTagRE {
			if !strings.Contains(s, "<"+repeatTags[i]+">") {
				continue
			}
			s = re.ReplaceAllStringFunc(s, func(b string) string {
				if len(b) < 64 {
					return b
				}
				if seenBlocks[b] {
					return ""
				}
				seenBlocks[b] = true
				return b
			})
		}
		return s
	}
	// System: repeated paragraphs first (on the raw text), then the rest.
	var paras []string
	seenParas := map[string]bool{}
	for _, p := range strings.Split(c.System, "\n\n") {
		k := strings.TrimSpace(p)
		if len(k) >= 80 {
			if seenParas[k] {
				continue
			}
			seenParas[k] = true
		}
		paras = append(paras, p)
	}
	cp := copies{}
	cp.addFences(c.System)
	cp.addTags(c.System)
	out.System = collapse(clean(strings.Join(paras, "\n\n")))
	for _, it := range c.Items {
		switch it.Kind {
		case "text", "tool_result":
			raw := cp.resolve(it.Text)
			if it.Kind == "tool_result" {
				cp.add(raw, "")
			}
			cp.addFences(raw)
			cp.addTags(raw)
			it.Text = collapse(clean(raw))
			if it.Kind == "text" && it.Text == "" {
				continue
			}
			if n := len(out.Items); it.Kind == "text" && n > 0 && out.Items[n-1].Kind == "text" && out.Items[n-1].Role == it.Role {
				out.Items[n-1].Text += " " + it.Text
				continue
			}
		}
		out.Items = append(out.Items, it)
	}
	return out
}

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// Digest hashes a (normalized) Conv.
func (c *Conv) Digest() [32]byte {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.LittleEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put("conv-v1")
	put(c.System)
	put(strconv.Itoa(len(c.Tools)))
	for _, t := range c.Tools {
		put(t.Name)
		put(t.Description)
		put(t.Schema)
	}
	put(strconv.Itoa(len(c.Items)))
	for _, it := range c.Items {
		put(it.Role)
		put(it.Kind)
		put(it.ID)
		put(it.Name)
		put(it.Text)
	}
	put(strconv.Itoa(c.MaxTokens))
	put(c.Temperature)
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d
}

// Meaning parses body (format "openai" or "anthropic") and returns its
// normalized Conv and digest.
func Meaning(format string, body []byte) (*Conv, [32]byte, error) {
	var c *Conv
	var err error
	switch format {
	case FormatOpenAI:
		c, err = ConvFromOpenAI(body)
	case FormatAnthropic:
		c, err = ConvFromAnthropic(body)
	case FormatGemini:
		c, err = ConvFromGemini(body)
	default:
		err = errors.New("unknown format " + format)
	}
	if err != nil {
		return nil, [32]byte{}, err
	}
	n := c.Normalized()
	return n, n.Digest(), nil
}

// ConvDiff describes the first difference between two normalized Convs
// ("" when they mean the same), with the text around it.
func ConvDiff(want, got *Conv) string {
	if want.System != got.System {
		return "system: " + textDiff(want.System, got.System)
	}
	if len(want.Tools) != len(got.Tools) {
		return fmt.Sprintf("%d tools, want %d", len(got.Tools), len(want.Tools))
	}
	for i := range want.Tools {
		if want.Tools[i] != got.Tools[i] {
			return fmt.Sprintf("tool %d (%s) differs", i, want.Tools[i].Name)
		}
	}
	if want.MaxTokens != got.MaxTokens || want.Temperature != got.Temperature {
		return fmt.Sprintf("max_tokens %d temperature %q, want %d %q", got.MaxTokens, got.Temperature, want.MaxTokens, want.Temperature)
	}
	for i := 0; i < len(want.Items) || i < len(got.Items); i++ {
		if i >= len(got.Items) {
			return fmt.Sprintf("item %d (%s %s) missing", i, want.Items[i].Role, want.Items[i].Kind)
		}
		if i >= len(want.Items) {
			return fmt.Sprintf("extra item %d (%s %s): %s", i, got.Items[i].Role, got.Items[i].Kind, clip(got.Items[i].Text))
		}
		w, g := want.Items[i], got.Items[i]
		if w.Role != g.Role || w.Kind != g.Kind || w.ID != g.ID || w.Name != g.Name {
			return fmt.Sprintf("item %d is %s %s %s %s, want %s %s %s %s", i, g.Role, g.Kind, g.ID, g.Name, w.Role, w.Kind, w.ID, w.Name)
		}
		if w.Text != g.Text {
			return fmt.Sprintf("item %d (%s %s): %s", i, w.Role, w.Kind, textDiff(w.Text, g.Text))
		}
	}
	return ""
}

func textDiff(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	lo := max(0, i-40)
	return fmt.Sprintf("at byte %d: got %q, want %q", i, got[lo:min(len(got), i+80)], want[lo:min(len(want), i+80)])
}
