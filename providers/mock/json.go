package mock

import (
	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/providers"
)

// jsonAnswer makes a text answer honour response_format
// (https://platform.openai.com/docs/api-reference/chat/create#chat-create-response_format),
// so that a client's JSON.parse, or its SDK's parse helper, works on the
// mock as on a model: an answer that is already a JSON object stays as it
// is; otherwise json_object wraps it as {"text":…} and json_schema answers
// an instance of the schema, each string holding the text.
func jsonAnswer(r *providers.Request, text string) string {
	rf := r.ResponseFormat
	var schema []byte
	switch string(jsonscan.Get(rf, "type")) {
	case `"json_object"`:
	case `"json_schema"`:
		schema = jsonscan.Get(jsonscan.Get(rf, "json_schema"), "schema")
	default:
		return text
	}
	if jsonscan.KindOf([]byte(text)) == jsonscan.Object && jsonscan.Validate([]byte(text)) == nil {
		return text
	}
	if jsonscan.KindOf(schema) != jsonscan.Object {
		return string(jsonscan.AppendQuote(append([]byte(nil), `{"text":`...), text)) + "}"
	}
	return string(instance(nil, schema, text, 0))
}

// maxInstanceBytes is the size past which instance adds no more array
// elements.
const maxInstanceBytes = 64 << 10

// maxSchemaDepth bounds instance's recursion on deep or cyclic schemas.
const maxSchemaDepth = 16

// instance appends a value that the JSON Schema s accepts, as far as the
// subset structured outputs allow (type, properties, items, enum, const,
// anyOf): every property present, strings holding text, numbers 0,
// arrays with minItems elements.
func instance(dst, s []byte, text string, depth int) []byte {
	if depth > maxSchemaDepth || jsonscan.KindOf(s) != jsonscan.Object {
		return append(dst, "null"...)
	}
	if c := jsonscan.Get(s, "const"); c != nil {
		return append(dst, c...)
	}
	var first []byte
	for _, key := range [...]string{"enum", "anyOf", "oneOf"} {
		_ = jsonscan.ArrayEach(jsonscan.Get(s, key), func(i int, el []byte) error {
			if i == 0 {
				first = el
			}
			return nil
		})
		if first != nil {
			if key == "enum" {
				return append(dst, first...)
			}
			return instance(dst, first, text, depth+1)
		}
	}
	typ := jsonscan.Get(s, "type")
	if jsonscan.KindOf(typ) == jsonscan.Array {
		_ = jsonscan.ArrayEach(typ, func(i int, el []byte) error {
			if first == nil && string(el) != `"null"` {
				first = el
			}
			return nil
		})
		typ = first
	}
	switch string(typ) {
	case `"object"`:
		dst = append(dst, '{')
		n := 0
		_ = jsonscan.ObjectEach(jsonscan.Get(s, "properties"), func(key, val []byte) error {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = append(dst, '"') // the key as written, escapes and all
			dst = append(dst, key...)
			dst = append(dst, '"', ':')
			dst = instance(dst, val, text, depth+1)
			return nil
		})
		return append(dst, '}')
	case `"array"`:
		dst = append(dst, '[')
		if min, err := jsonscan.ParseInt(jsonscan.Get(s, "minItems")); err == nil {
			// Nested minItems multiply: the budget keeps a hostile schema
			// from making gigabytes.
			for i := int64(0); i < min && i < 16 && len(dst) < maxInstanceBytes; i++ {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = instance(dst, jsonscan.Get(s, "items"), text, depth+1)
			}
		}
		return append(dst, ']')
	case `"string"`:
		return jsonscan.AppendQuote(dst, text)
	case `"integer"`, `"number"`:
		return append(dst, '0')
	case `"boolean"`:
		return append(dst, "false"...)
	}
	return append(dst, "null"...)
}
