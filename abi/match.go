package abi

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

// Matcher finds which of a fixed list of lower-case patterns occur in a text,
// ignoring ASCII case, in one pass. Build it once (at init) and reuse it.
type Matcher struct {
	pats  []string
	first [256]uint16 // 1 + index into order of the first pattern starting with byte c
	count [256]uint16
	order []uint16
}

// NewMatcher builds a Matcher; pattern ids are the indices into pats. It
// panics on an empty or upper-case pattern or on more than MaxPatterns, which
// are programming errors in a policy.
func NewMatcher(pats ...string) *Matcher {
	if len(pats) > MaxPatterns {
		panic("abi: too many patterns")
	}
	m := &Matcher{pats: pats}
	for c := 0; c < 256; c++ {
		for id, p := range pats {
			if p == "" {
				panic("abi: empty pattern")
			}
			for i := 0; i < len(p); i++ {
				if p[i] >= 'A' && p[i] <= 'Z' {
					panic("abi: pattern must be lower-case: " + p)
				}
			}
			if int(p[0]) == c {
				if m.count[c] == 0 {
					m.first[c] = uint16(len(m.order)) + 1
				}
				m.count[c]++
				m.order = append(m.order, uint16(id))
			}
		}
	}
	// Upper-case letters share the lower-case buckets.
	for c := 'A'; c <= 'Z'; c++ {
		m.first[c], m.count[c] = m.first[c+'a'-'A'], m.count[c+'a'-'A']
	}
	return m
}

// Len returns the number of patterns.
func (m *Matcher) Len() int { return len(m.pats) }

// Pattern returns pattern id.
func (m *Matcher) Pattern(id int) string { return m.pats[id] }

// Scan adds to set the id of every pattern that occurs in text.
func (m *Matcher) Scan(text []byte, set *Set) {
	for i := 0; i < len(text); i++ {
		n := m.count[text[i]]
		if n == 0 {
			continue
		}
		start := int(m.first[text[i]]) - 1
		rest := text[i:]
		for _, id := range m.order[start : start+int(n)] {
			p := m.pats[id]
			if len(rest) >= len(p) && HasPrefixFold(rest, p) {
				set.add(int(id))
			}
		}
	}
}

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
