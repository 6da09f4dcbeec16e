package messages

import (
	"bytes"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/wire"
)

// appendUserIn writes a user turn given as blocks: its tool results as tool
// messages, then one user message with the other blocks. Tool names that
// tool_reference blocks load are added to refs.
func appendUserIn(dst []byte, n *int, i int, content []byte, pending *[]byte, refs *[][]byte, noFiles bool) ([]byte, error) {
	sep := func() {
		if *n > 0 {
			dst = append(dst, ',')
		}
		*n++
	}
	err := jsonscan.ArrayEach(content, func(j int, b []byte) error {
		if string(jsonscan.Get(b, "type")) != `"tool_result"` {
			return nil
		}
		param := idx("messages", i, idx(".content", j, ""))
		id := jsonscan.Get(b, "tool_use_id")
		if jsonscan.KindOf(id) != jsonscan.String {
			return inErr(param+".tool_use_id", "is required")
		}
		isErr := string(jsonscan.Get(b, "is_error")) == "true"
		sep()
		dst = append(dst, `{"role":"tool","tool_call_id":`...)
		dst = append(dst, id...)
		dst = append(dst, `,"content":`...)
		rc := jsonscan.Get(b, "content")
		switch jsonscan.KindOf(rc) {
		case jsonscan.String:
			if isErr {
				dst = jsonscan.AppendQuote(dst, "Error: "+wire.Str(rc))
			} else {
				dst = append(dst, rc...)
			}
		case jsonscan.Array:
			dst = append(dst, '[')
			k := 0
			if isErr {
				dst = append(dst, `{"type":"text","text":"Error:"}`...)
				k++
			}
			err := jsonscan.ArrayEach(rc, func(x int, rb []byte) error {
				switch string(jsonscan.Get(rb, "type")) {
				case `"text"`:
					t := jsonscan.Get(rb, "text")
					if jsonscan.KindOf(t) != jsonscan.String {
						return inErr(param+idx(".content", x, ".text"), "is required")
					}
					if k > 0 {
						dst = append(dst, ',')
					}
					k++
					dst = append(dst, `{"type":"text","text":`...)
					dst = append(dst, t...)
					dst = append(dst, '}')
					return nil
				case `"tool_reference"`:
					// A tool search result: the named deferred tool is
					// sent from now on (appendToolsIn); the model is told.
					name := jsonscan.Get(rb, "tool_name")
					if jsonscan.KindOf(name) != jsonscan.String {
						return inErr(param+idx(".content", x, ".tool_name"), "is required")
					}
					*refs = append(*refs, name)
					if k > 0 {
						dst = append(dst, ',')
					}
					k++
					dst = append(dst, `{"type":"text","text":"Tool `...)
					dst = append(dst, name[1:len(name)-1]...)
					dst = append(dst, ` is now available."}`...)
					return nil
				case `"image"`, `"document"`:
					// OpenAI tool messages hold text only: the image or
					// document goes to the user message that follows.
					var err error
					if len(*pending) > 0 {
						*pending = append(*pending, ',')
					}
					if string(jsonscan.Get(rb, "type")) == `"image"` {
						*pending, err = appendImageIn(*pending, param+idx(".content", x, ""), rb)
					} else {
						*pending, err = appendDocumentIn(*pending, param+idx(".content", x, ""), rb, noFiles)
					}
					return err
				}
				return inErr(param+idx(".content", x, ".type"), "tool results may hold text, image, document and tool_reference blocks")
			})
			if err != nil {
				return err
			}
			if k == 0 {
				dst = append(dst, `{"type":"text","text":""}`...)
			}
			dst = append(dst, ']')
		default:
			if isErr {
				dst = append(dst, `"Error"`...)
			} else {
				dst = append(dst, `""`...)
			}
		}
		dst = append(dst, '}')
		return nil
	})
	if err != nil {
		return dst, err
	}
	k := 0
	open := func() {
		if k == 0 {
			sep()
			dst = append(dst, `{"role":"user","content":[`...)
		} else {
			dst = append(dst, ',')
		}
		k++
	}
	if len(*pending) > 0 {
		open()
		dst = append(dst, *pending...)
		*pending = (*pending)[:0]
	}
	err = jsonscan.ArrayEach(content, func(j int, b []byte) error {
		param := idx("messages", i, idx(".content", j, ""))
		switch string(jsonscan.Get(b, "type")) {
		case `"tool_result"`:
			return nil
		case `"text"`:
			t := jsonscan.Get(b, "text")
			if jsonscan.KindOf(t) != jsonscan.String {
				return inErr(param+".text", "is required")
			}
			open()
			dst = append(dst, `{"type":"text","text":`...)
			dst = append(dst, t...)
			dst = append(dst, '}')
		case `"image"`:
			open()
			var err error
			dst, err = appendImageIn(dst, param, b)
			return err
		case `"document"`:
			open()
			var err error
			dst, err = appendDocumentIn(dst, param, b, noFiles)
			return err
		default:
			return inErr(param+".type", "content block type "+string(jsonscan.Get(b, "type"))+" can only be sent to an anthropic upstream")
		}
		return nil
	})
	if k > 0 {
		dst = append(dst, "]}"...)
	}
	return dst, err
}

// appendDocumentIn writes a document block as a content part: a base64
// source (a PDF) as a file part (with noFiles, a note that it was left
// out), a plain-text source as text.
func appendDocumentIn(dst []byte, param string, b []byte, noFiles bool) ([]byte, error) {
	src := jsonscan.Get(b, "source")
	switch string(jsonscan.Get(src, "type")) {
	case `"base64"`:
		mt, data := jsonscan.Get(src, "media_type"), jsonscan.Get(src, "data")
		if jsonscan.KindOf(mt) != jsonscan.String || jsonscan.KindOf(data) != jsonscan.String {
			return dst, inErr(param+".source", "base64 sources need media_type and data")
		}
		if noFiles {
			dst = append(dst, `{"type":"text","text":"[A `...)
			dst = append(dst, mt[1:len(mt)-1]...)
			dst = append(dst, ` document was left out: this model cannot read files.]"}`...)
			return dst, nil
		}
		dst = append(dst, `{"type":"file","file":{"filename":"document.pdf","file_data":`...)
		dst = jsonscan.AppendQuote(dst, "data:"+wire.Str(mt)+";base64,"+wire.Str(data))
		return append(dst, "}}"...), nil
	case `"text"`:
		data := jsonscan.Get(src, "data")
		if jsonscan.KindOf(data) != jsonscan.String {
			return dst, inErr(param+".source.data", "is required")
		}
		dst = append(dst, `{"type":"text","text":`...)
		dst = append(dst, data...)
		return append(dst, '}'), nil
	}
	return dst, inErr(param+".source.type", "only base64 and text document sources can be sent to this provider")
}

func appendImageIn(dst []byte, param string, b []byte) ([]byte, error) {
	src := jsonscan.Get(b, "source")
	switch string(jsonscan.Get(src, "type")) {
	case `"base64"`:
		mt, data := jsonscan.Get(src, "media_type"), jsonscan.Get(src, "data")
		if jsonscan.KindOf(mt) != jsonscan.String || jsonscan.KindOf(data) != jsonscan.String {
			return dst, inErr(param+".source", "base64 sources need media_type and data")
		}
		dst = append(dst, `{"type":"image_url","image_url":{"url":`...)
		dst = jsonscan.AppendQuote(dst, "data:"+wire.Str(mt)+";base64,"+wire.Str(data))
		return append(dst, "}}"...), nil
	case `"url"`:
		u := jsonscan.Get(src, "url")
		if jsonscan.KindOf(u) != jsonscan.String {
			return dst, inErr(param+".source.url", "is required")
		}
		dst = append(dst, `{"type":"image_url","image_url":{"url":`...)
		dst = append(dst, u...)
		return append(dst, "}}"...), nil
	}
	return dst, inErr(param+".source.type", "image sources must be base64 or url")
}

func appendAssistantIn(dst []byte, i int, content []byte) ([]byte, error) {
	dst = append(dst, `{"role":"assistant","content":`...)
	var texts [][]byte
	_ = jsonscan.ArrayEach(content, func(_ int, b []byte) error {
		if string(jsonscan.Get(b, "type")) == `"text"` {
			if t := jsonscan.Get(b, "text"); jsonscan.KindOf(t) == jsonscan.String {
				texts = append(texts, t)
			}
		}
		return nil
	})
	switch len(texts) {
	case 0:
		dst = append(dst, "null"...)
	case 1:
		dst = append(dst, texts[0]...)
	default:
		dst = append(dst, '[')
		for k, t := range texts {
			if k > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"type":"text","text":`...)
			dst = append(dst, t...)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	k := 0
	err := jsonscan.ArrayEach(content, func(j int, b []byte) error {
		if string(jsonscan.Get(b, "type")) != `"tool_use"` {
			return nil
		}
		param := idx("messages", i, idx(".content", j, ""))
		id, name, input := jsonscan.Get(b, "id"), jsonscan.Get(b, "name"), jsonscan.Get(b, "input")
		if jsonscan.KindOf(id) != jsonscan.String || jsonscan.KindOf(name) != jsonscan.String {
			return inErr(param, "tool_use blocks need an id and a name")
		}
		if jsonscan.KindOf(input) != jsonscan.Object {
			input = emptyObject
		}
		if k == 0 {
			dst = append(dst, `,"tool_calls":[`...)
		} else {
			dst = append(dst, ',')
		}
		k++
		dst = append(dst, `{"id":`...)
		dst = append(dst, id...)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = append(dst, name...)
		dst = append(dst, `,"arguments":`...)
		dst = jsonscan.AppendQuoteBytes(dst, input)
		dst = append(dst, "}}"...)
		return nil
	})
	if k > 0 {
		dst = append(dst, ']')
	}
	if len(texts) == 0 && k == 0 {
		// Only thinking or server-tool blocks: an empty answer.
		dst = append(dst[:len(dst)-len("null")], `""`...)
	}
	return append(dst, '}'), err
}

// appendToolsIn writes the tools and tool_choice. A deferred tool
// (defer_loading: true) is written only when refs names it.
func appendToolsIn(dst, tools, choice []byte, refs [][]byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, `,"tools":[`...)
	k := 0
	err := jsonscan.ArrayEach(tools, func(i int, t []byte) error {
		if typ := jsonscan.Get(t, "type"); typ != nil && string(typ) != `"custom"` {
			return inErr(idx("tools", i, ".type"), "server tool "+string(typ)+" can only be used with an anthropic upstream")
		}
		name := jsonscan.Get(t, "name")
		if jsonscan.KindOf(name) != jsonscan.String {
			return inErr(idx("tools", i, ".name"), "is required")
		}
		if string(jsonscan.Get(t, "defer_loading")) == "true" && !named(refs, name) {
			return nil
		}
		if k > 0 {
			dst = append(dst, ',')
		}
		k++
		dst = append(dst, `{"type":"function","function":{"name":`...)
		dst = append(dst, name...)
		if d := jsonscan.Get(t, "description"); jsonscan.KindOf(d) == jsonscan.String {
			dst = append(dst, `,"description":`...)
			dst = append(dst, d...)
		}
		if s := jsonscan.Get(t, "input_schema"); jsonscan.KindOf(s) == jsonscan.Object {
			dst = append(dst, `,"parameters":`...)
			dst = append(dst, s...)
		}
		dst = append(dst, "}}"...)
		return nil
	})
	if err != nil {
		return dst, err
	}
	if k == 0 {
		// Only deferred tools: the model has none to call yet.
		return dst[:start], nil
	}
	dst = append(dst, ']')
	if jsonscan.KindOf(choice) != jsonscan.Object {
		return dst, nil
	}
	switch string(jsonscan.Get(choice, "type")) {
	case `"auto"`:
		dst = append(dst, `,"tool_choice":"auto"`...)
	case `"any"`:
		dst = append(dst, `,"tool_choice":"required"`...)
	case `"none"`:
		dst = append(dst, `,"tool_choice":"none"`...)
	case `"tool"`:
		name := jsonscan.Get(choice, "name")
		if jsonscan.KindOf(name) != jsonscan.String {
			return dst, inErr("tool_choice.name", "is required")
		}
		dst = append(dst, `,"tool_choice":{"type":"function","function":{"name":`...)
		dst = append(dst, name...)
		dst = append(dst, "}}"...)
	default:
		return dst, inErr("tool_choice.type", "must be auto, any, tool or none")
	}
	if string(jsonscan.Get(choice, "disable_parallel_tool_use")) == "true" {
		dst = append(dst, `,"parallel_tool_calls":false`...)
	}
	return dst, nil
}

// named reports whether names holds name (both JSON strings as sent).
func named(names [][]byte, name []byte) bool {
	for _, n := range names {
		if bytes.Equal(n, name) {
			return true
		}
	}
	return false
}
