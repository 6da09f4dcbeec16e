package wasm

import (
	"errors"
	"fmt"

	"github.com/aigateway/gateway/abi"
	"github.com/aigateway/gateway/providers/jsonscan"
)

// ErrRequest wraps InputFromOpenAI's errors.
var ErrRequest = errors.New("invalid chat completion request")

func reqErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRequest, fmt.Sprintf(format, args...))
}

// InputFromOpenAI fills in (after resetting it) from an OpenAI chat
// completion request body: model, skill ("skill", else "gateway_skill"),
// messages (role and text; the text parts of array contents joined by "\n"),
// tool names ("tools" or legacy "functions"), and the flags stream, tools,
// images, json and smart_routing. Headers and Project are the caller's to
// add. The body is validated as it is walked, once: every value is skipped
// or decoded a single time; a second, non-validating pass refuses, as the
// engine does, a member read here that appears twice in one object or is
// spelled with escapes or in another case (jsonscan.Names.Check). Strings
// alias body unless they hold escapes, which are decoded into in's scratch
// buffer; nothing is allocated in steady state.
func InputFromOpenAI(body []byte, in *Input) error {
	in.Reset()
	in.Body = body
	start := jsonscan.SkipSpace(body, 0)
	if jsonscan.KindOf(body[start:]) != jsonscan.Object {
		if err := jsonscan.Validate(body); err != nil {
			return reqErr("%v", err)
		}
		return reqErr("body must be a JSON object")
	}
	var skill, gatewaySkill []byte
	end, err := members(body, start, func(key []byte, v int) (int, error) {
		var err error
		var s []byte
		switch string(key) {
		case "model":
			s, v, err = in.strAt(body, v, "model")
			in.Model = s
			return v, err
		case "skill":
			skill, v, err = in.strAt(body, v, "skill")
			return v, err
		case "gateway_skill":
			gatewaySkill, v, err = in.strAt(body, v, "gateway_skill")
			return v, err
		case "stream", "smart_routing":
			end, err := jsonscan.Skip(body, v)
			if err == nil && string(body[v:end]) == "true" {
				if key[1] == 't' {
					in.Flags |= abi.FlagStream
				} else {
					in.Flags |= abi.FlagSmartRouting
				}
			}
			return end, err
		case "response_format":
			end, err := jsonscan.Skip(body, v)
			if err == nil && jsonscan.KindOf(body[v:]) == jsonscan.Object {
				if t := string(jsonscan.Get(body[v:end], "type")); t == `"json_object"` || t == `"json_schema"` {
					in.Flags |= abi.FlagJSON
				}
			}
			return end, err
		case "messages":
			if jsonscan.KindOf(body[v:]) != jsonscan.Array {
				return v, reqErr("messages must be an array")
			}
			return elements(body, v, in.addMessage)
		case "tools", "functions":
			if jsonscan.KindOf(body[v:]) != jsonscan.Array {
				return jsonscan.Skip(body, v)
			}
			return elements(body, v, in.addToolAt)
		}
		return jsonscan.Skip(body, v)
	})
	if err != nil {
		return err
	}
	if j := jsonscan.SkipSpace(body, end); j != len(body) {
		return reqErr("unexpected data after the request object at offset %d", j)
	}
	// The walk validated the object. Like the engine's decoder, refuse a
	// member read above that is repeated or spelled with escapes or in
	// another case: a policy must see what the upstream will run.
	if err := jsonscan.CheckNames(body[start:end], inputNames); err != nil {
		return reqErr("%v", err)
	}
	in.Skill = skill
	if len(in.Skill) == 0 {
		in.Skill = gatewaySkill
	}
	return nil
}

// inputNames describes the members InputFromOpenAI, addMessage, partsText
// and addToolAt read (TestInputNamesCoverReads keeps it in step).
var inputNames = func() *jsonscan.Schema {
	tool := jsonscan.NewSchema("name", "function").Descend("function", jsonscan.NewSchema("name"))
	return jsonscan.NewSchema("model", "skill", "gateway_skill", "stream", "smart_routing",
		"response_format", "messages", "tools", "functions").
		Descend("response_format", jsonscan.NewSchema("type")).
		Descend("messages", jsonscan.NewSchema("role", "content", "tool_calls", "function_call").
			Descend("content", jsonscan.NewSchema("type", "text"))).
		Descend("tools", tool).
		Descend("functions", tool)
}()

func syntaxAt(b []byte, i int, what string) error {
	if i >= len(b) {
		return reqErr("unexpected end of JSON input, expected %s", what)
	}
	return reqErr("invalid JSON at offset %d: expected %s", i, what)
}

// members walks the object that starts at b[i] ('{'): fn gets each key
// (raw, without quotes) and the offset of its value, and returns the offset
// just past the value, which it consumed itself. It returns the offset just
// past the object.
func members(b []byte, i int, fn func(key []byte, v int) (int, error)) (int, error) {
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, syntaxAt(b, i, "an object key")
		}
		kend, err := jsonscan.Skip(b, i)
		if err != nil {
			return i, reqErr("%v", err)
		}
		key := b[i+1 : kend-1]
		i = jsonscan.SkipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return i, syntaxAt(b, i, "':'")
		}
		v := jsonscan.SkipSpace(b, i+1)
		if v >= len(b) {
			return v, syntaxAt(b, v, "a value")
		}
		if i, err = fn(key, v); err != nil {
			return i, err
		}
		i = jsonscan.SkipSpace(b, i)
		if i >= len(b) {
			return i, syntaxAt(b, i, "',' or '}'")
		}
		switch b[i] {
		case '}':
			return i + 1, nil
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		default:
			return i, syntaxAt(b, i, "',' or '}'")
		}
	}
}

// elements walks the array that starts at b[i] ('['), like members.
func elements(b []byte, i int, fn func(idx, v int) (int, error)) (int, error) {
	i = jsonscan.SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		if i >= len(b) {
			return i, syntaxAt(b, i, "a value")
		}
		var err error
		if i, err = fn(n, i); err != nil {
			return i, err
		}
		i = jsonscan.SkipSpace(b, i)
		if i >= len(b) {
			return i, syntaxAt(b, i, "',' or ']'")
		}
		switch b[i] {
		case ']':
			return i + 1, nil
		case ',':
			i = jsonscan.SkipSpace(b, i+1)
		default:
			return i, syntaxAt(b, i, "',' or ']'")
		}
	}
}

// strAt decodes the string (or null) value at b[v], returning it and the
// offset past it.
func (in *Input) strAt(b []byte, v int, field string) ([]byte, int, error) {
	end, err := jsonscan.Skip(b, v)
	if err != nil {
		return nil, v, reqErr("%v", err)
	}
	s, err := in.str(b[v:end], field)
	return s, end, err
}

// str decodes a JSON string value; null is empty.
func (in *Input) str(val []byte, field string) ([]byte, error) {
	switch jsonscan.KindOf(val) {
	case jsonscan.String:
		s, grown, err := jsonscan.Unquote(val, in.scratch)
		in.scratch = grown
		return s, err
	case jsonscan.Null:
		return nil, nil
	}
	return nil, reqErr("%s must be a string", field)
}

func (in *Input) addToolAt(_ int, v int) (int, error) {
	b := in.Body
	end, err := jsonscan.Skip(b, v)
	if err != nil {
		return v, reqErr("%v", err)
	}
	tool := b[v:end]
	if jsonscan.KindOf(tool) != jsonscan.Object {
		return end, reqErr("tools must hold objects")
	}
	name := jsonscan.Get(tool, "name") // legacy functions
	if fn := jsonscan.Get(tool, "function"); jsonscan.KindOf(fn) == jsonscan.Object {
		name = jsonscan.Get(fn, "name")
	}
	n, err := in.str(name, "tools[].function.name")
	if err != nil {
		return end, err
	}
	in.AddTool(n)
	return end, nil
}

func (in *Input) addMessage(i int, v int) (int, error) {
	b := in.Body
	if jsonscan.KindOf(b[v:]) != jsonscan.Object {
		return v, reqErr("messages[%d] must be an object", i)
	}
	var m Message
	end, err := members(b, v, func(key []byte, v int) (int, error) {
		switch string(key) {
		case "role":
			var err error
			m.Role, v, err = in.strAt(b, v, "role")
			return v, err
		case "content":
			switch jsonscan.KindOf(b[v:]) {
			case jsonscan.String:
				var err error
				m.Text, v, err = in.strAt(b, v, "content")
				return v, err
			case jsonscan.Array:
				m.Flags |= abi.MsgParts
				return in.partsText(b, v, &m)
			case jsonscan.Null:
				return jsonscan.Skip(b, v)
			}
			return v, reqErr("messages[%d].content must be a string, an array or null", i)
		case "tool_calls":
			end, err := jsonscan.Skip(b, v)
			if err == nil && jsonscan.KindOf(b[v:]) == jsonscan.Array && jsonscan.SkipSpace(b, v+1) < end-1 {
				m.Flags |= abi.MsgToolCalls
			}
			return end, err
		case "function_call":
			if jsonscan.KindOf(b[v:]) == jsonscan.Object {
				m.Flags |= abi.MsgToolCalls
			}
		}
		return jsonscan.Skip(b, v)
	})
	if err != nil {
		return end, err
	}
	if r := string(m.Role); r == "tool" || r == "function" {
		m.Flags |= abi.MsgToolResult
	}
	if m.Flags&abi.MsgImage != 0 {
		in.Flags |= abi.FlagImages
	}
	in.Messages = append(in.Messages, m)
	return end, nil
}

// partsText sets m.Text to the text parts of the array at b[v] joined by
// "\n": aliasing the body when there is exactly one unescaped text part,
// else built in a buffer of in. It returns the offset past the array.
func (in *Input) partsText(b []byte, v int, m *Message) (int, error) {
	var first []byte
	n, start := 0, -1
	end, err := elements(b, v, func(_ int, p int) (int, error) {
		pend, err := jsonscan.Skip(b, p)
		if err != nil || jsonscan.KindOf(b[p:]) != jsonscan.Object {
			return pend, err
		}
		part := b[p:pend]
		switch string(jsonscan.Get(part, "type")) {
		case `"text"`, `"input_text"`:
		case `"image_url"`, `"input_image"`, `"image"`:
			m.Flags |= abi.MsgImage
			return pend, nil
		default:
			return pend, nil
		}
		t, err := in.str(jsonscan.Get(part, "text"), "content[].text")
		if err != nil {
			return pend, err
		}
		// Joined texts go to their own buffer: in.str may append unescaped
		// strings to scratch while a join is in progress.
		switch n {
		case 0:
			first = t
		case 1:
			start = len(in.joined)
			in.joined = append(in.joined, first...)
			fallthrough
		default:
			in.joined = append(in.joined, '\n')
			in.joined = append(in.joined, t...)
		}
		n++
		return pend, nil
	})
	if n > 1 {
		m.Text = in.joined[start:len(in.joined):len(in.joined)]
	} else {
		m.Text = first
	}
	return end, err
}
