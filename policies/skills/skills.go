package main

import (
	_ "embed"

	"github.com/aigateway/gateway/abi"
)

//go:embed defaults.json
var defaultsJSON []byte

type skill struct {
	id, template, tier []byte
}

var (
	skills []skill
	// known is "id1, id2, ..." for the unknown-skill error.
	known []byte
	// separator goes between the template and the client's system prompt.
	separator = []byte("\n\n" + "================================================================================" + "\n\n")
)

// parseSkills appends the skills of a {"skills": [...]} document to dst.
func parseSkills(doc []byte, dst []skill) ([]skill, string) {
	list := abi.JSONGet(doc, "skills")
	if list == nil {
		return dst, ""
	}
	msg := ""
	ok := abi.JSONArrayEach(list, func(e []byte) bool {
		var s skill
		if !abi.JSONObjectEach(e, func(k, v []byte) bool {
			str, _, ok := abi.JSONUnquote(v, nil)
			if !ok && string(v) != "null" {
				msg = "skills[]." + string(k) + " must be a string"
				return false
			}
			switch string(k) {
			case "id":
				s.id = lower(str)
			case "template":
				s.template = str
			case "tier":
				s.tier = str
			}
			return true
		}) {
			if msg == "" {
				msg = "skills[] must hold objects"
			}
			return false
		}
		if msg != "" {
			return false
		}
		if !validID(s.id) {
			msg = "skill id " + string(s.id) + " must match [a-z0-9_-]+"
			return false
		}
		if len(s.template) == 0 || len(s.template) > 64<<10 {
			msg = "skill " + string(s.id) + ": template must be 1 byte to 64 KiB"
			return false
		}
		for i := range dst {
			if string(dst[i].id) == string(s.id) {
				dst[i] = s
				return true
			}
		}
		dst = append(dst, s)
		return true
	})
	if !ok && msg == "" {
		msg = "skills must be an array"
	}
	return dst, msg
}

func lower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = abi.Lower(c)
	}
	return out
}

func validID(id []byte) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// configure is the self-check: it accepts an empty config (the defaults) or
// {"skills": [...], "defaults": bool}.
func configure(cfg []byte) string {
	useDefaults := true
	if len(cfg) > 0 && string(cfg) != "null" {
		if !abi.JSONValid(cfg) || cfg[0] != '{' {
			return "config must be a JSON object"
		}
		if d := abi.JSONGet(cfg, "defaults"); d != nil {
			v, ok := abi.JSONBool(d)
			if !ok {
				return "defaults must be a boolean"
			}
			useDefaults = v
		}
	}
	var list []skill
	var msg string
	if useDefaults {
		if list, msg = parseSkills(defaultsJSON, nil); msg != "" {
			return "defaults.json: " + msg
		}
	}
	if list, msg = parseSkills(cfg, list); msg != "" {
		return msg
	}
	skills = list
	known = known[:0]
	for i, s := range skills {
		if i > 0 {
			known = append(known, ", "...)
		}
		known = append(known, s.id...)
	}
	return ""
}

// trigger is the skills policy's trigger (ABI v1.2): the X-Gateway-Skill
// header, the body's "skill" field, or a message text that starts with "@"
// (a system prompt or last user message "@ID"). A request with none of them
// selects no skill, and the host does not call the policy for it.
var triggerSpec = []byte(`{"any":[{"header":"x-gateway-skill"},{"skill":true},{"prefix":["@"]}]}`)

// configureCall is the self-check export's handler: configure, then the
// trigger.
func configureCall(c *abi.Call) abi.Status {
	if msg := configure(c.Config()); msg != "" {
		return c.Fail(msg)
	}
	if st := c.SetTrigger(triggerSpec); st != abi.StatusOK {
		return c.Fail("skills: trigger refused")
	}
	return abi.StatusOK
}

func find(id []byte) *skill {
	for i := range skills {
		if abi.EqualFold(id, string(skills[i].id)) {
			return &skills[i]
		}
	}
	return nil
}

// trigger parses a leading "@ID" followed by whitespace or the end of text,
// returning the id and the length of the trigger with its whitespace.
func trigger(text []byte) (id []byte, n int) {
	if len(text) < 2 || text[0] != '@' {
		return nil, 0
	}
	i := 1
	for i < len(text) {
		c := abi.Lower(text[i])
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			break
		}
		i++
	}
	if i == 1 || (i < len(text) && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
		return nil, 0
	}
	id, n = text[1:i], i
	for n < len(text) && (text[n] == ' ' || text[n] == '\t' || text[n] == '\n' || text[n] == '\r') {
		n++
	}
	return id, n
}

var (
	tagSkill     = []byte("skill")
	tagSource    = []byte("skill.source")
	tagTier      = []byte("skill.tier")
	roleSystem   = []byte("system")
	errType      = []byte("invalid_request_error")
	errCode      = []byte("unknown_skill")
	srcHeader    = []byte("header")
	srcBody      = []byte("body")
	srcSystem    = []byte("system")
	srcMessage   = []byte("message")
	msgPrefix    = []byte("unknown skill \"")
	msgKnown     = []byte("\"; known skills: ")
	headerName   = "x-gateway-skill"
	scratchBytes []byte
)

func onRequest(c *abi.Call) abi.Status {
	var id, source []byte
	explicit := false
	if v, ok := c.Header(headerName); ok && len(trim(v)) > 0 {
		id, source, explicit = trim(v), srcHeader, true
	} else if v := c.Skill(); len(v) > 0 {
		id, source, explicit = v, srcBody, true
	}
	sys := c.SystemIndex()
	stripTrigger := 0
	if id == nil && sys >= 0 {
		if t, n := trigger(c.Text(sys)); t != nil && find(t) != nil {
			id, source, stripTrigger = t, srcSystem, n
		}
	}
	if id == nil {
		if last := c.LastIndex("user"); last >= 0 {
			if t, _ := trigger(c.Text(last)); t != nil && find(t) != nil {
				id, source = t, srcMessage
			}
		}
	}
	if id == nil {
		return abi.StatusOK
	}
	s := find(id)
	if s == nil {
		if !explicit {
			return abi.StatusOK
		}
		msg := append(scratchBytes[:0], msgPrefix...)
		msg = append(msg, id...)
		msg = append(msg, msgKnown...)
		msg = append(msg, known...)
		scratchBytes = msg
		c.Tag(tagSkill, id[:min(len(id), 64)])
		return c.RespondError(400, msg, errType, errCode)
	}
	var st abi.Status
	if sys >= 0 {
		text := append(c.Scratch[:0], s.template...)
		text = append(text, separator...)
		c.Scratch = text
		st = c.Replace(sys, 0, stripTrigger, text)
	} else {
		st = c.Insert(0, roleSystem, s.template)
	}
	if st != abi.StatusOK {
		return c.Fail("skills: could not apply the template")
	}
	c.Tag(tagSkill, s.id)
	c.Tag(tagSource, source)
	if len(s.tier) > 0 {
		c.Tag(tagTier, s.tier)
	}
	return abi.StatusOK
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
