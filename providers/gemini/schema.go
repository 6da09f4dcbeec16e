package gemini

import (
	"strings"

	"github.com/aigateway/gateway/internal/jsonscan"
	"github.com/aigateway/gateway/internal/unsafeconv"
	"github.com/aigateway/gateway/internal/wire"
)

// maxSchemaDepth bounds schema nesting, $ref expansion included, so that a
// recursive definition cannot expand forever.
const maxSchemaDepth = 32

// maxSchemaNodes bounds the schemas written for one document, so that
// $refs fanning out cannot expand exponentially.
const maxSchemaNodes = 4096

// schemaKeys are the JSON Schema keywords Gemini's Schema object accepts
// (https://ai.google.dev/api/caching#Schema) and that pass unchanged.
var schemaKeys = [...]string{
	"description", "title", "nullable", "minItems", "maxItems", "minLength", "maxLength",
	"pattern", "minimum", "maximum", "minProperties", "maxProperties", "propertyOrdering",
	"example", "default",
}

func keptKey(k string) bool {
	for _, s := range schemaKeys {
		if s == k {
			return true
		}
	}
	return false
}

// schemaWriter reduces a JSON Schema to the OpenAPI 3.0 subset Gemini
// accepts. The reduction:
//   - keeps type, format (only "enum" and "date-time" on strings, int32/
//     int64 on integers, float/double on numbers), description, title,
//     nullable, enum (when every value is a string), properties, required,
//     items, anyOf, min/max bounds, pattern, example, default and
//     propertyOrdering;
//   - rewrites a type array such as ["string","null"] as the first non-null
//     type plus nullable: true; oneOf as anyOf (with a {"type":"null"}
//     member as nullable: true); a string const as a one-value enum; a
//     tuple items array as its first schema;
//   - inlines $ref to #/$defs/… and #/definitions/…, and allOf with a
//     single member; a recursive $ref becomes {"type":"object"}, as does
//     anything past a depth of 32 or beyond 4096 schemas in one document;
//   - drops everything else: $schema, $id, $defs, definitions, $comment,
//     additionalProperties, patternProperties, unevaluatedProperties,
//     dependentRequired, dependentSchemas, not, if/then/else, allOf with
//     several members, exclusiveMinimum, exclusiveMaximum, multipleOf,
//     uniqueItems, contains, const of other types, examples, readOnly,
//     writeOnly, deprecated, contentEncoding, contentMediaType and strict.
type schemaWriter struct {
	root   []byte
	nodes  int
	active []string // $refs being expanded on the current path
}

func (w *schemaWriter) append(dst, s []byte, depth int) []byte {
	w.nodes++
	if jsonscan.KindOf(s) != jsonscan.Object || depth > maxSchemaDepth || w.nodes > maxSchemaNodes {
		return append(dst, `{"type":"object"}`...)
	}
	if ref := jsonscan.Get(s, "$ref"); ref != nil {
		name := wire.Str(ref)
		for _, a := range w.active {
			if a == name { // recursion: Gemini schemas cannot express it
				return append(dst, `{"type":"object"}`...)
			}
		}
		if target := w.resolve(name); target != nil {
			w.active = append(w.active, name)
			dst = w.append(dst, target, depth+1)
			w.active = w.active[:len(w.active)-1]
			return dst
		}
		return append(dst, `{"type":"object"}`...)
	}
	if all := jsonscan.Get(s, "allOf"); jsonscan.KindOf(all) == jsonscan.Array && jsonscan.Get(s, "type") == nil {
		var only []byte
		n := 0
		_ = jsonscan.ArrayEach(all, func(_ int, e []byte) error {
			only = e
			n++
			return nil
		})
		if n == 1 {
			return w.append(dst, only, depth+1)
		}
	}
	dst = append(dst, '{')
	first := true
	key := func(k string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
	}
	typ := ""
	nullable := false
	anyOfDone := false
	_ = jsonscan.ObjectEach(s, func(k, v []byte) error {
		ks := string(k)
		switch ks {
		case "type":
			switch jsonscan.KindOf(v) {
			case jsonscan.String:
				typ = wire.Str(v)
			case jsonscan.Array:
				_ = jsonscan.ArrayEach(v, func(_ int, e []byte) error {
					t := wire.Str(e)
					if t == "null" {
						nullable = true
					} else if typ == "" {
						typ = t
					}
					return nil
				})
			}
			if typ == "null" {
				typ, nullable = "", true
			}
			if typ != "" {
				key("type")
				dst = jsonscan.AppendQuote(dst, typ)
			}
		case "format":
			f := wire.Str(v)
			if formatOK(unsafeconv.String(trimQuotes(jsonscan.Get(s, "type"))), f) {
				key("format")
				dst = jsonscan.AppendQuote(dst, f)
			}
		case "nullable":
			if string(v) == "true" {
				nullable = true
			}
		case "enum":
			if allStrings(v) {
				key("enum")
				dst = append(dst, v...)
			}
		case "const":
			if jsonscan.KindOf(v) == jsonscan.String && jsonscan.Get(s, "enum") == nil {
				key("enum")
				dst = append(dst, '[')
				dst = append(dst, v...)
				dst = append(dst, ']')
			}
		case "properties":
			if jsonscan.KindOf(v) != jsonscan.Object {
				return nil
			}
			key("properties")
			dst = append(dst, '{')
			n := 0
			_ = jsonscan.ObjectEach(v, func(pk, pv []byte) error {
				if n > 0 {
					dst = append(dst, ',')
				}
				n++
				dst = append(dst, '"')
				dst = append(dst, pk...)
				dst = append(dst, '"', ':')
				dst = w.append(dst, pv, depth+1)
				return nil
			})
			dst = append(dst, '}')
		case "required":
			if allStrings(v) {
				key("required")
				dst = append(dst, v...)
			}
		case "items":
			switch jsonscan.KindOf(v) {
			case jsonscan.Object:
				key("items")
				dst = w.append(dst, v, depth+1)
			case jsonscan.Array:
				var firstItem []byte
				_ = jsonscan.ArrayEach(v, func(i int, e []byte) error {
					if i == 0 {
						firstItem = e
					}
					return nil
				})
				if firstItem != nil {
					key("items")
					dst = w.append(dst, firstItem, depth+1)
				}
			}
		case "anyOf", "oneOf":
			if anyOfDone || jsonscan.KindOf(v) != jsonscan.Array {
				return nil
			}
			anyOfDone = true
			n := 0
			_ = jsonscan.ArrayEach(v, func(_ int, e []byte) error {
				if string(jsonscan.Get(e, "type")) == `"null"` {
					nullable = true
					return nil
				}
				if n == 0 {
					key("anyOf")
					dst = append(dst, '[')
				} else {
					dst = append(dst, ',')
				}
				n++
				dst = w.append(dst, e, depth+1)
				return nil
			})
			if n > 0 {
				dst = append(dst, ']')
			}
		default:
			if keptKey(ks) {
				key(ks)
				dst = append(dst, v...)
			}
		}
		return nil
	})
	if nullable {
		key("nullable")
		dst = append(dst, "true"...)
	}
	return append(dst, '}')
}

// resolve finds a local $ref target in the root schema.
func (w *schemaWriter) resolve(ref string) []byte {
	for _, prefix := range [...]string{"#/$defs/", "#/definitions/"} {
		if name, ok := strings.CutPrefix(ref, prefix); ok && !strings.Contains(name, "/") {
			defs := jsonscan.Get(w.root, prefix[2:len(prefix)-1])
			if t := jsonscan.Get(defs, name); jsonscan.KindOf(t) == jsonscan.Object {
				return t
			}
		}
	}
	if ref == "#" {
		return w.root
	}
	return nil
}

func formatOK(typ, f string) bool {
	switch typ {
	case "string":
		return f == "enum" || f == "date-time"
	case "integer":
		return f == "int32" || f == "int64"
	case "number":
		return f == "float" || f == "double"
	}
	return false
}

func allStrings(v []byte) bool {
	if jsonscan.KindOf(v) != jsonscan.Array {
		return false
	}
	ok := true
	_ = jsonscan.ArrayEach(v, func(_ int, e []byte) error {
		ok = ok && jsonscan.KindOf(e) == jsonscan.String
		return nil
	})
	return ok
}

func trimQuotes(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' {
		return v[1 : len(v)-1]
	}
	return nil
}

// appendSchema appends schema reduced for Gemini.
func appendSchema(dst, schema []byte) []byte {
	w := schemaWriter{root: schema}
	return w.append(dst, schema, 0)
}

// hasProperties reports whether the reduced schema s is an object with at
// least one property: Gemini refuses function parameters of type object
// with empty properties, so such declarations omit parameters.
func hasProperties(s []byte) bool {
	p := jsonscan.Get(s, "properties")
	return jsonscan.KindOf(p) == jsonscan.Object && len(wire.TrimSpace(p[1:len(p)-1])) > 0
}
