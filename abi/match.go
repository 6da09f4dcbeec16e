package abi

import "bytes"

// bytesIndex is bytes.Index (assembly-backed memchr on wasm).
func bytesIndex(s, sep []byte) int { return bytes.Index(s, sep) }

// Text helpers for policies: ASCII case-insensitive matching without
// allocation, and a multi-pattern matcher that finds every pattern of a set in
// one pass. Non-ASCII bytes compare exactly.

var lowerTab = func() (t [256]byte) {
	for i := range t {
		c := byte(i)
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		t[i] = c
	}
	return t
}()

// Lower returns c lower-cased if it is an ASCII capital.
func Lower(c byte) byte { return lowerTab[c] }

// HasPrefixFold reports whether s starts with prefix, ignoring ASCII case;
// prefix must be lower-case.
func HasPrefixFold(s []byte, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		if lowerTab[s[i]] != prefix[i] {
			return false
		}
	}
	return true
}

// EqualFold reports whether s equals t ignoring ASCII case; t must be
// lower-case.
func EqualFold(s []byte, t string) bool { return len(s) == len(t) && HasPrefixFold(s, t) }

// IndexFold returns the index of the first occurrence of sub in s ignoring
// ASCII case, or -1; sub must be lower-case and non-empty.
func IndexFold(s []byte, sub string) int {
	if len(sub) == 0 {
		return 0
	}
	c0 := sub[0]
	for i := 0; i+len(sub) <= len(s); i++ {
		if lowerTab[s[i]] == c0 && HasPrefixFold(s[i:], sub) {
			return i
		}
	}
	return -1
}

// ContainsFold reports whether sub occurs in s ignoring ASCII case.
func ContainsFold(s []byte, sub string) bool { return IndexFold(s, sub) >= 0 }

// MaxPatterns bounds the size of a Matcher.
const MaxPatterns = 256

// Set is a set of pattern ids of a Matcher.
type Set [MaxPatterns / 64]uint64

// Has reports whether id is in the set.
func (s *Set) Has(id int) bool { return s[id>>6]&(1<<(id&63)) != 0 }

func (s *Set) add(id int) { s[id>>6] |= 1 << (id & 63) }

// Clear empties the set.
func (s *Set) Clear() { *s = Set{} }

// CountIn returns how many of the ids in [lo, hi) are in set.
func (s *Set) CountIn(lo, hi int) int {
	n := 0
	for id := lo; id < hi; id++ {
		if s.Has(id) {
			n++
		}
	}
	return n
}

// Matcher finds which of a fixed list of lower-case patterns occur in a
// text, ignoring ASCII case, in one pass: an Aho-Corasick automaton compiled
// to a DFA over byte classes, so each byte costs one table lookup whatever
// the number of patterns. Build it once (at init) and reuse it; it is safe
// for concurrent use.
type Matcher struct {
	pats  []string
	class [256]uint8
	shift uint
	// next[state<<shift|class] is the next state, with outFlag set when
	// some pattern ends there.
	next     []uint16
	outStart []uint16 // outs[outStart[s]:outStart[s+1]] end at state s
	outs     []uint16
}

const outFlag = 0x8000

// NewMatcher builds a Matcher; pattern ids are the indices into pats. It
// panics on an empty or upper-case pattern, on more than MaxPatterns, or on
// more than 32767 automaton states: programming errors in a policy.
func NewMatcher(pats ...string) *Matcher {
	if len(pats) > MaxPatterns {
		panic("abi: too many patterns")
	}
	m := &Matcher{pats: pats}
	// Byte classes: one per byte that occurs in a pattern (both cases of a
	// letter share it), class 0 for every other byte.
	nclass := 1
	for _, p := range pats {
		if p == "" {
			panic("abi: empty pattern")
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c >= 'A' && c <= 'Z' {
				panic("abi: pattern must be lower-case: " + p)
			}
			if m.class[c] == 0 {
				m.class[c] = uint8(nclass)
				if c >= 'a' && c <= 'z' {
					m.class[c-'a'+'A'] = uint8(nclass)
				}
				nclass++
			}
		}
	}
	for 1<<m.shift < nclass {
		m.shift++
	}
	width := 1 << m.shift
	// Trie.
	type node struct {
		child []int32
		fail  int32
		out   []uint16
	}
	newNode := func() node {
		n := node{child: make([]int32, width)}
		for i := range n.child {
			n.child[i] = -1
		}
		return n
	}
	nodes := []node{newNode()}
	for id, p := range pats {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := m.class[p[i]]
			if nodes[s].child[c] < 0 {
				nodes = append(nodes, newNode())
				nodes[s].child[c] = int32(len(nodes) - 1)
			}
			s = nodes[s].child[c]
		}
		nodes[s].out = append(nodes[s].out, uint16(id))
	}
	if len(nodes) >= outFlag {
		panic("abi: too many matcher states")
	}
	// Failure links in breadth-first order turn the trie into a DFA.
	queue := make([]int32, 0, len(nodes))
	for c := 0; c < width; c++ {
		if ch := nodes[0].child[c]; ch >= 0 {
			nodes[ch].fail = 0
			queue = append(queue, ch)
		} else {
			nodes[0].child[c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		f := nodes[s].fail
		nodes[s].out = append(nodes[s].out, nodes[f].out...)
		for c := 0; c < width; c++ {
			if ch := nodes[s].child[c]; ch >= 0 {
				nodes[ch].fail = nodes[f].child[c]
				queue = append(queue, ch)
			} else {
				nodes[s].child[c] = nodes[f].child[c]
			}
		}
	}
	m.next = make([]uint16, len(nodes)*width)
	m.outStart = make([]uint16, len(nodes)+1)
	for s := range nodes {
		m.outStart[s] = uint16(len(m.outs))
		m.outs = append(m.outs, nodes[s].out...)
		for c := 0; c < width; c++ {
			t := nodes[s].child[c]
			v := uint16(t)
			if len(nodes[t].out) > 0 {
				v |= outFlag
			}
			m.next[s<<m.shift|c] = v
		}
	}
	m.outStart[len(nodes)] = uint16(len(m.outs))
	return m
}

// Len returns the number of patterns.
func (m *Matcher) Len() int { return len(m.pats) }

// Pattern returns pattern id.
func (m *Matcher) Pattern(id int) string { return m.pats[id] }

// Scan adds to set the id of every pattern that occurs in text.
func (m *Matcher) Scan(text []byte, set *Set) {
	next, class, shift := m.next, &m.class, m.shift
	s := uint16(0)
	for _, c := range text {
		s = next[uint(s&^outFlag)<<shift|uint(class[c])]
		if s&outFlag != 0 {
			st := s &^ outFlag
			for _, id := range m.outs[m.outStart[st]:m.outStart[st+1]] {
				set.add(int(id))
			}
		}
	}
}

var fence = []byte("```")

// Prose calls fn with each part of text outside ``` code fences, in order,
// and returns the number of fence markers. Heuristics that judge what the
// user asks for read prose only: pasted code is not intent, and it is most
// of a coding request's bytes.
func Prose(text []byte, fn func(prose []byte)) int {
	fences := 0
	for {
		k := bytesIndex(text, fence)
		if k < 0 {
			if fences%2 == 0 {
				fn(text)
			}
			return fences
		}
		if fences%2 == 0 {
			fn(text[:k])
		}
		fences++
		text = text[k+len(fence):]
	}
}
