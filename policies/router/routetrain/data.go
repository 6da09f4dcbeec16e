// Package routetrain trains and evaluates the built-in router's model
// (package routemodel) on labelled prompts: `gateway router train` and
// `gateway router eval`, and `make bench-routing`.
//
// # Labelled format (JSON Lines)
//
// One prompt per line:
//
//	{"id": "optional, stable: decides the split",
//	 "messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}],
//	 "tools": [ ... optional, as in a chat request; only counted ... ],
//	 "strong": 0.9, "weak": 0.4}
//
// strong and weak are the judged quality, in [0, 1], of the strong tier's
// and the weak tier's answer to this prompt (a judge's score / 10, a
// pass/fail, a preference against a common reference). Instead of them a
// line may give a pairwise preference, "preference": P, the probability
// that the strong answer is better (1 strong, 0 weak, 0.5 tie); it is read
// as strong = P, weak = 1 - P. content may be a string or OpenAI content
// parts (text parts are read; an image part sets the images feature).
//
// The training label is y = (1 + strong - weak) / 2: the probability that
// the strong answer is preferred, soft where the judge was unsure.
package routetrain

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"

	"github.com/aigateway/gateway/policies/router/routemodel"
)

// Record is one labelled prompt.
type Record struct {
	ID           string
	Input        routemodel.Input
	Strong, Weak float64
	// WeakAnswer is the weak model's answer when the data has it (the
	// cascade is measured on it).
	WeakAnswer string
	// Request is the prompt as a chat-completions body (messages and
	// tools), for the policies the evaluation runs (the cascade's judge).
	Request []byte
}

// Label is the training target, P(strong preferred).
func (r *Record) Label() float64 { return (1 + r.Strong - r.Weak) / 2 }

type line struct {
	ID       string            `json:"id"`
	Messages []message         `json:"messages"`
	Tools    []json.RawMessage `json:"tools"`
	Strong   *float64          `json:"strong"`
	Weak     *float64          `json:"weak"`
	Pref     *float64          `json:"preference"`
	Answer   string            `json:"weak_answer"`
}

type message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	// ToolCallID marks a tool result.
	ToolCallID string `json:"tool_call_id,omitempty"`
}

// text returns the message's text and whether it has an image part.
func (m *message) text() (string, bool, error) {
	if len(m.Content) == 0 || string(m.Content) == "null" {
		return "", false, nil
	}
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s, false, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(m.Content, &parts); err != nil {
		return "", false, errors.New("content must be a string or an array of parts")
	}
	var b strings.Builder
	images := false
	for _, p := range parts {
		switch p.Type {
		case "text":
			b.WriteString(p.Text)
		case "image_url", "image":
			images = true
		}
	}
	return b.String(), images, nil
}

// ideMarkers are the router's IDE system-prompt words.
var ideMarkers = []string{"cursor", "continue", "coding agent", "ide assistant", "code editor"}

// IsIDESystem reports whether a system prompt reads like a coding agent's
// (over 1,000 characters and naming one), the router's rule: like the
// learned router's guest, it reads the prompt's excerpt (its first
// routemodel.HeadBytes and last routemodel.TailBytes bytes), not the middle
// of a long one. (The guest also skips ``` code blocks.)
func IsIDESystem(system []byte) bool {
	if len(system) <= 1000 {
		return false
	}
	h, t := routemodel.HeadBytes, routemodel.TailBytes
	parts := [][]byte{system}
	if len(system) > h+t {
		parts = [][]byte{system[:h], system[len(system)-t:]}
	}
	for _, p := range parts {
		s := strings.ToLower(string(p))
		for _, w := range ideMarkers {
			if strings.Contains(s, w) {
				return true
			}
		}
	}
	return false
}

// Read parses labelled JSON Lines.
func Read(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var out []Record
	n := 0
	for sc.Scan() {
		n++
		raw := strings.TrimSpace(sc.Text())
		if raw == "" {
			continue
		}
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		rec, err := l.record()
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no labelled prompts")
	}
	return out, nil
}

func unit(p *float64, name string) (float64, error) {
	if *p < 0 || *p > 1 {
		return 0, fmt.Errorf("%s must be in [0, 1], got %g", name, *p)
	}
	return *p, nil
}

func (l *line) record() (Record, error) {
	var r Record
	var err error
	switch {
	case l.Strong != nil && l.Weak != nil:
		if r.Strong, err = unit(l.Strong, "strong"); err != nil {
			return r, err
		}
		if r.Weak, err = unit(l.Weak, "weak"); err != nil {
			return r, err
		}
	case l.Pref != nil:
		p, err := unit(l.Pref, "preference")
		if err != nil {
			return r, err
		}
		r.Strong, r.Weak = p, 1-p
	default:
		return r, errors.New(`want "strong" and "weak" qualities, or "preference"`)
	}
	if len(l.Messages) == 0 {
		return r, errors.New("messages is empty")
	}
	in := &r.Input
	last, lastUser := "", -1
	for i := range l.Messages {
		m := &l.Messages[i]
		t, img, err := m.text()
		if err != nil {
			return r, fmt.Errorf("messages[%d]: %w", i, err)
		}
		in.Images = in.Images || img
		in.TotalChars += len(t)
		in.Messages++
		switch m.Role {
		case "user":
			in.UserTurns++
			lastUser = i
			last = t
		case "system", "developer":
			if in.System == nil {
				in.System = []byte(t)
			}
		}
		if i == len(l.Messages)-1 {
			in.ToolLoop = m.Role == "tool" || m.ToolCallID != ""
			if lastUser < 0 {
				last = t
			}
		}
	}
	in.Intent = []byte(last)
	in.Tools = len(l.Tools)
	in.IDE = IsIDESystem(in.System)
	r.ID = l.ID
	if r.ID == "" {
		h := fnv.New64a()
		for _, m := range l.Messages {
			h.Write([]byte(m.Role))
			h.Write(m.Content)
		}
		r.ID = fmt.Sprintf("%016x", h.Sum64())
	}
	r.WeakAnswer = l.Answer
	req := struct {
		Model    string            `json:"model"`
		Messages []message         `json:"messages"`
		Tools    []json.RawMessage `json:"tools,omitempty"`
	}{"router-eval", l.Messages, l.Tools}
	if r.Request, err = json.Marshal(req); err != nil {
		return r, err
	}
	return r, nil
}

// Split divides records into training and held-out sets: a record is
// held out when the FNV-1a hash of its id, salted with seed, falls in the
// first holdout fraction. The split depends on the ids only, so adding
// prompts never moves an old one across it.
func Split(recs []Record, holdout float64, seed uint64) (train, test []Record) {
	for _, r := range recs {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/", seed)
		h.Write([]byte(r.ID))
		if float64(h.Sum64()%10000) < holdout*10000 {
			test = append(test, r)
		} else {
			train = append(train, r)
		}
	}
	return train, test
}
