package jsonscan

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Member names and the parsers behind the gateway.
//
// JSON lets an object repeat a name and lets a name be written with escapes
// ("mod\u0065l" is "model"); parsers disagree on both. Most keep the last
// of two members, this package's Get keeps the first, and Go's encoding/json
// also matches names regardless of case, U+017F (ſ) matching s and U+212A
// (the Kelvin sign) k. A gateway that reads one member while the upstream
// reads another routes, prices, caches and filters a request that is not
// the one that runs. So a decoder lists the names it reads in each kind of
// object (Names) and refuses an object in which one of them appears twice,
// or appears spelled any other way than plainly: with escapes, or in
// another case. Names it does not read pass as they are, escaped or
// repeated: no reading of the gateway's depends on them.

// maxNameLen bounds the names of a Names set, and so the stack buffer that
// an escaped or re-cased member name is folded into.
const maxNameLen = 64

// Names is the set of member names a decoder reads in one kind of object,
// each with its index: the decoder switches on the index that Check
// returns, so the names it reads and the names it checks are one list.
//
// # Notes
//
// Built once with NewNames and shared; read-only afterwards, so safe for
// concurrent use.
type Names struct {
	list  []string
	byLen [][]nameWords // by name length
}

// nameWords is a listed name as the two words nameLoad reads from it.
type nameWords struct {
	lo, hi uint64
	i      uint8 // index in list
}

// nameLoad reads a name of at least one byte as two words that determine it
// entirely when it is at most 16 bytes long: overlapping loads from both
// ends, so that comparing a name costs two word comparisons instead of a
// call to memequal.
func nameLoad(b []byte) (lo, hi uint64) {
	switch n := len(b); {
	case n >= 8:
		return binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		return uint64(binary.LittleEndian.Uint32(b)), uint64(binary.LittleEndian.Uint32(b[n-4:]))
	default:
		return uint64(b[0]) | uint64(b[n/2])<<8 | uint64(b[n-1])<<16, 0
	}
}

// NewNames returns the set of names, in order (Check returns the position).
// Names must be distinct, non-empty, at most 64 bytes of printable ASCII
// without upper-case letters, quotes or backslashes, and at most 64 of them;
// anything else is a programming error and panics.
func NewNames(names ...string) *Names {
	if len(names) > 64 {
		panic("BUG: jsonscan.NewNames: more than 64 names")
	}
	n := &Names{list: names}
	longest := 0
	for i, s := range names {
		if s == "" || len(s) > maxNameLen {
			panic("BUG: jsonscan.NewNames: name " + strconv.Itoa(i) + " is empty or longer than 64 bytes")
		}
		for j := 0; j < len(s); j++ {
			if c := s[j]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c >= 'A' && c <= 'Z' {
				panic("BUG: jsonscan.NewNames: name " + strconv.Quote(s) + " is not lower-case printable ASCII")
			}
		}
		for _, t := range names[:i] {
			if s == t {
				panic("BUG: jsonscan.NewNames: name " + strconv.Quote(s) + " is listed twice")
			}
		}
		longest = max(longest, len(s))
	}
	n.byLen = make([][]nameWords, longest+1)
	for i, s := range names {
		lo, hi := nameLoad([]byte(s))
		n.byLen[len(s)] = append(n.byLen[len(s)], nameWords{lo, hi, uint8(i)})
	}
	return n
}

// Len returns the number of names.
func (n *Names) Len() int { return len(n.list) }

// Name returns the i-th name.
func (n *Names) Name(i int) string { return n.list[i] }

// Index returns the position of the name spelled exactly as name, or -1.
func (n *Names) Index(name []byte) int {
	if len(name) >= len(n.byLen) || len(n.byLen[len(name)]) == 0 {
		return -1
	}
	lo, hi := nameLoad(name)
	for _, w := range n.byLen[len(name)] {
		if w.lo == lo && w.hi == hi && (len(name) <= 16 || n.list[w.i] == string(name)) {
			return int(w.i)
		}
	}
	return -1
}

// Seen records which names of a Names set one object has shown so far; the
// zero value has seen none. Use one per object.
type Seen uint64

// Check classifies the member whose raw name (the bytes between its quotes,
// escapes as sent) is key, in an object whose members so far seen records.
// It returns the name's index in n, or -1 for a name the decoder does not
// read. A *NameError means the object must be refused: a name in n appears
// a second time, or key is a name in n spelled with escapes or in another
// case.
//
// A plain name costs a length-bucketed comparison and no allocation; only
// names not in n are unescaped and case-folded, into a stack buffer.
func (n *Names) Check(seen *Seen, key []byte) (int, error) {
	// Small enough to inline: the common case is a listed name, first seen.
	if i := n.Index(key); i >= 0 && *seen&(1<<uint(i)) == 0 {
		*seen |= 1 << uint(i)
		return i, nil
	}
	return n.checkSlow(*seen, key)
}

// checkSlow is Check for a name that is listed and repeated, or not listed.
func (n *Names) checkSlow(seen Seen, key []byte) (int, error) {
	if i := n.Index(key); i >= 0 {
		return -1, &NameError{Name: n.list[i], Raw: string(key), Repeated: true}
	}
	// Without escapes, upper case or non-ASCII bytes a name is its own
	// folded form, which Index did not find.
	plain := true
	for _, c := range key {
		if c == '\\' || c >= utf8.RuneSelf || c-'A' < 26 {
			plain = false
			break
		}
	}
	if plain {
		return -1, nil
	}
	var buf [maxNameLen]byte
	k, ok := foldName(&buf, key)
	if !ok {
		return -1, nil
	}
	i := n.Index(buf[:k])
	if i < 0 {
		return -1, nil
	}
	return -1, &NameError{Name: n.list[i], Raw: string(key), Repeated: seen&(Seen(1)<<uint(i)) != 0}
}

// foldName writes into buf the member name key (validated, without quotes)
// with its escapes decoded, ASCII upper case lowered, and the two non-ASCII
// runes that case-fold to ASCII letters (U+017F, U+212A) replaced by them.
// It reports false when the result could not be a Names entry: some other
// non-ASCII rune, or longer than buf.
func foldName(buf *[maxNameLen]byte, key []byte) (int, bool) {
	k := 0
	for i := 0; i < len(key); {
		c := key[i]
		var r rune
		switch {
		case c == '\\':
			if i+1 >= len(key) {
				return 0, false
			}
			switch key[i+1] {
			case '"', '\\', '/':
				r = rune(key[i+1])
			case 'b':
				r = '\b'
			case 'f':
				r = '\f'
			case 'n':
				r = '\n'
			case 'r':
				r = '\r'
			case 't':
				r = '\t'
			case 'u':
				if i+6 > len(key) || !isHex4(key[i+2:i+6]) {
					return 0, false
				}
				r = rune(hex4(key[i+2 : i+6]))
				if utf16.IsSurrogate(r) {
					// A pair decodes to a rune above U+FFFF, a lone half to
					// U+FFFD: neither is ASCII.
					return 0, false
				}
				i += 4 // and 2 below
			default:
				return 0, false
			}
			i += 2
		case c < utf8.RuneSelf:
			r = rune(c)
			i++
		default:
			var size int
			r, size = utf8.DecodeRune(key[i:])
			i += size
		}
		switch {
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		case r == '\u017f': // LATIN SMALL LETTER LONG S
			r = 's'
		case r == '\u212a': // KELVIN SIGN
			r = 'k'
		case r >= utf8.RuneSelf:
			return 0, false
		}
		if k == len(buf) {
			return 0, false
		}
		buf[k] = byte(r)
		k++
	}
	return k, true
}

// NameError reports an object that shows a name its decoder reads twice, or
// spelled otherwise than plainly (escapes, another case): the decoder and the
// upstream could read different members.
type NameError struct {
	// Path locates the object ("messages[2]", "" for the outermost one);
	// CheckNames fills it in, decoders that call Check do it themselves.
	Path string
	// Name is the name the decoder reads; Raw the member name as sent,
	// escapes included.
	Name, Raw string
	// Repeated reports that Name had already appeared in the object.
	Repeated bool
}

// Param returns the member's location: Path and Name joined by a dot.
func (e *NameError) Param() string {
	if e.Path == "" {
		return e.Name
	}
	return e.Path + "." + e.Name
}

func (e *NameError) Error() string {
	where := "the request body"
	if e.Path != "" {
		where = e.Path
	}
	if e.Repeated {
		msg := "duplicate member `" + e.Name + "` in " + where
		if e.Raw != e.Name {
			msg += " (also sent as `" + e.Raw + "`)"
		}
		return msg
	}
	return "member `" + e.Raw + "` in " + where + " is `" + e.Name + "` spelled with escapes or in another case; send it as `" + e.Name + "`"
}

// Schema describes the objects of a document that a decoder reads: the
// names it reads in one kind of object and, for a member whose value holds
// objects it reads too (the value itself, or the elements of an array
// value), the schema of those. Schemas may refer to themselves.
type Schema struct {
	Names *Names
	sub   []*Schema
}

// NewSchema returns the schema of objects in which a decoder reads names.
func NewSchema(names ...string) *Schema {
	n := NewNames(names...)
	return &Schema{Names: n, sub: make([]*Schema, n.Len())}
}

// Descend sets the schema of the objects in member name's value and returns
// s. Naming a member s does not list is a programming error and panics.
func (s *Schema) Descend(name string, sub *Schema) *Schema {
	i := s.Names.Index([]byte(name))
	if i < 0 {
		panic("BUG: jsonscan.Schema.Descend: " + strconv.Quote(name) + " is not one of the schema's names")
	}
	s.sub[i] = sub
	return s
}

// Sub returns the schema set by Descend for the i-th name, or nil.
func (s *Schema) Sub(i int) *Schema { return s.sub[i] }

// CheckNames checks, with Names.Check, every object of the validated value v
// that s describes (v itself when it is an object, or its elements when it
// is an array), and returns the first *NameError, its Path filled in.
// Values of other kinds pass. It allocates only for the error.
func CheckNames(v []byte, s *Schema) error {
	switch KindOf(v) {
	case Object:
		return checkObject(v, s)
	case Array:
		return ArrayEachTrusted(v, func(i int, e []byte) error {
			if KindOf(e) != Object {
				return nil
			}
			if err := checkObject(e, s); err != nil {
				return within("["+strconv.Itoa(i)+"]", err)
			}
			return nil
		})
	}
	return nil
}

func checkObject(v []byte, s *Schema) error {
	var seen Seen
	return ObjectEachTrusted(v, func(key, val []byte) error {
		i, err := s.Names.Check(&seen, key)
		if err != nil || i < 0 || s.sub[i] == nil {
			return err
		}
		if err := CheckNames(val, s.sub[i]); err != nil {
			return within(s.Names.list[i], err)
		}
		return nil
	})
}

// within prefixes the path of a NameError found inside member (or element)
// seg of the current object.
func within(seg string, err error) error {
	e, ok := err.(*NameError)
	if !ok {
		return err
	}
	switch {
	case e.Path == "":
		e.Path = seg
	case e.Path[0] == '[':
		e.Path = seg + e.Path
	default:
		e.Path = seg + "." + e.Path
	}
	return e
}
