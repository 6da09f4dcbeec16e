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
// add. Strings alias body unless they hold escapes, which are decoded into
// in's scratch buffer; nothing is allocated in steady state.
func InputFromOpenAI(body []byte, in *Input) error {
	in.Reset()
	in.Body = body
	if err := jsonscan.Validate(body); err != nil {
		return reqErr("%v", err)
	}
	start := jsonscan.SkipSpace(body, 0)
	if jsonscan.KindOf(body[start:]) != jsonscan.Object {
		return reqErr("body must be a JSON object")
	}
	var skill, gatewaySkill []byte
	err := jsonscan.ObjectEach(body[start:], func(key, val []byte) error {
		var err error
		switch string(key) {
		case "model":
			in.Model, err = in.str(val, "model")
		case "skill":
			skill, err = in.str(val, "skill")
		case "gateway_skill":
			gatewaySkill, err = in.str(val, "gateway_skill")
		case "stream":
			if string(val) == "true" {
				in.Flags |= abi.FlagStream
			}
		case "smart_routing":
			if string(val) == "true" {
				in.Flags |= abi.FlagSmartRouting
			}
		case "response_format":
			if jsonscan.KindOf(val) == jsonscan.Object {
				if t := string(jsonscan.Get(val, "type")); t == `"json_object"` || t == `"json_schema"` {
					in.Flags |= abi.FlagJSON
				}
			}
		case "messages":
			if jsonscan.KindOf(val) != jsonscan.Array {
				return reqErr("messages must be an array")
			}
			err = jsonscan.ArrayEach(val, in.addMessage)
		case "tools", "functions":
			if jsonscan.KindOf(val) == jsonscan.Array {
				err = jsonscan.ArrayEach(val, in.addToolJSON)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	in.Skill = skill
	if len(in.Skill) == 0 {
		in.Skill = gatewaySkill
	}
	return nil
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

func (in *Input) addToolJSON(_ int, tool []byte) error {
	if jsonscan.KindOf(tool) != jsonscan.Object {
		return reqErr("tools must hold objects")
	}
	name := jsonscan.Get(tool, "name") // legacy functions
	if fn := jsonscan.Get(tool, "function"); jsonscan.KindOf(fn) == jsonscan.Object {
		name = jsonscan.Get(fn, "name")
	}
	n, err := in.str(name, "tools[].function.name")
	if err != nil {
		return err
	}
	in.AddTool(n)
	return nil
}

func (in *Input) addMessage(i int, msg []byte) error {
	if jsonscan.KindOf(msg) != jsonscan.Object {
		return reqErr("messages[%d] must be an object", i)
	}
	var m Message
	var content []byte
	err := jsonscan.ObjectEach(msg, func(key, val []byte) error {
		var err error
		switch string(key) {
		case "role":
			m.Role, err = in.str(val, "role")
		case "content":
			content = val
		case "tool_calls":
			if jsonscan.KindOf(val) == jsonscan.Array && len(val) > 2 && jsonscan.SkipSpace(val, 1) < len(val)-1 {
				m.Flags |= abi.MsgToolCalls
			}
		case "function_call":
			if jsonscan.KindOf(val) == jsonscan.Object {
				m.Flags |= abi.MsgToolCalls
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	if r := string(m.Role); r == "tool" || r == "function" {
		m.Flags |= abi.MsgToolResult
	}
	switch jsonscan.KindOf(content) {
	case jsonscan.String:
		m.Text, err = in.str(content, "content")
	case jsonscan.Array:
		m.Flags |= abi.MsgParts
		m.Text, err = in.partsText(content, &m.Flags)
	case jsonscan.Null, jsonscan.Invalid:
	default:
		err = reqErr("messages[%d].content must be a string, an array or null", i)
	}
	if err != nil {
		return err
	}
	if m.Flags&abi.MsgImage != 0 {
		in.Flags |= abi.FlagImages
	}
	in.Messages = append(in.Messages, m)
	return nil
}

// partsText returns the text parts of content joined by "\n": aliasing the
// body when there is exactly one unescaped text part, else built in a buffer
// of in.
func (in *Input) partsText(content []byte, flags *uint64) ([]byte, error) {
	var first []byte
	n, start := 0, -1
	err := jsonscan.ArrayEach(content, func(_ int, part []byte) error {
		if jsonscan.KindOf(part) != jsonscan.Object {
			return nil
		}
		switch string(jsonscan.Get(part, "type")) {
		case `"text"`, `"input_text"`:
		case `"image_url"`, `"input_image"`, `"image"`:
			*flags |= abi.MsgImage
			return nil
		default:
			return nil
		}
		t, err := in.str(jsonscan.Get(part, "text"), "content[].text")
		if err != nil {
			return err
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
		return nil
	})
	if n > 1 {
		return in.joined[start:len(in.joined):len(in.joined)], err
	}
	return first, err
}
