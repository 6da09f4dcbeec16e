package wasm

import (
	"bytes"

	"github.com/aigateway/gateway/abi"
)

// trigger is a policy's set_trigger spec (ABI v1.2) prepared for matching:
// Run checks it before it acquires an instance, so a request the policy
// cannot act on costs a native scan and never compiles, instantiates or
// copies anything into the guest.
//
// # Notes
//
// A trigger is immutable once built and shared by every Run of its version.
// match allocates nothing.
type trigger struct {
	rules []triggerRule
}

type triggerRule struct {
	abi.TriggerRule
	header   []byte
	roles    [][]byte
	prefix   [][]byte
	contains [][]byte
	// firsts are the distinct first bytes of contains; byFirst[i] the
	// strings that start with firsts[i]: one IndexByte pass per first byte
	// finds every candidate (the stripper's 35 markers all start with '<').
	firsts  []byte
	byFirst [][][]byte
	// seconds[i] is the set of second bytes of byFirst[i] (bit c of word
	// c/64), with every bit set when one of them is a single byte: most
	// candidates ('<' followed by a space in code) fail this one test.
	seconds [][4]uint64
}

// newTrigger parses spec; it returns the reason a spec is refused.
func newTrigger(spec []byte) (*trigger, string) {
	t, msg := abi.ParseTrigger(spec)
	if msg != "" {
		return nil, msg
	}
	out := &trigger{rules: make([]triggerRule, len(t.Rules))}
	for i, r := range t.Rules {
		tr := &out.rules[i]
		tr.TriggerRule = r
		tr.header = []byte(r.Header)
		tr.roles = byteSlices(r.Roles)
		tr.prefix = byteSlices(r.Prefix)
		tr.contains = byteSlices(r.Contains)
		for _, s := range tr.contains {
			k := bytes.IndexByte(tr.firsts, s[0])
			if k < 0 {
				k = len(tr.firsts)
				tr.firsts = append(tr.firsts, s[0])
				tr.byFirst = append(tr.byFirst, nil)
			}
			tr.byFirst[k] = append(tr.byFirst[k], s)
		}
		tr.seconds = make([][4]uint64, len(tr.firsts))
		for k, group := range tr.byFirst {
			for _, s := range group {
				if len(s) == 1 {
					tr.seconds[k] = [4]uint64{^uint64(0), ^uint64(0), ^uint64(0), ^uint64(0)}
					break
				}
				tr.seconds[k][s[1]>>6] |= 1 << (s[1] & 63)
			}
		}
	}
	return out, ""
}

func byteSlices(list []string) [][]byte {
	if list == nil {
		return nil
	}
	out := make([][]byte, len(list))
	for i, s := range list {
		out[i] = []byte(s)
	}
	return out
}

// match reports whether a request-stage call of the policy could act on
// the request: in holds the request, out the messages as earlier policies
// of the chain left them (what message_text would return).
func (t *trigger) match(in *Input, out *Output) bool {
	for i := range t.rules {
		if t.rules[i].match(in, out) {
			return true
		}
	}
	return false
}

func (r *triggerRule) match(in *Input, out *Output) bool {
	if r.Skill && len(in.Skill) == 0 {
		return false
	}
	if r.Flags != 0 && in.Flags&r.Flags == 0 {
		return false
	}
	if len(r.header) > 0 && !hasHeader(in, r.header) {
		return false
	}
	if r.roles == nil && r.prefix == nil && r.contains == nil && r.MinBytes == 0 {
		return true // no message condition
	}
	// One pass over the selected messages: each condition is settled as
	// soon as it holds, and the rule as soon as all of them do.
	selected := false
	prefix := r.prefix == nil
	count := 0
	bytesSeen := 0
	n := out.messageCount()
	for i := 0; i < n; i++ {
		role, text, _ := out.message(i)
		if r.roles != nil && !oneOf(r.roles, role) {
			continue
		}
		selected = true
		bytesSeen += len(text)
		if !prefix {
			for _, p := range r.prefix {
				if bytes.HasPrefix(text, p) {
					prefix = true
					break
				}
			}
		}
		if count < r.MinCount {
			count += r.occurrences(text, r.MinCount-count)
		}
		if prefix && count >= r.MinCount && bytesSeen >= r.MinBytes {
			return true
		}
	}
	return selected && prefix && count >= r.MinCount && bytesSeen >= r.MinBytes
}

// occurrences counts the positions of text where one of r.contains starts
// (each position once), stopping once it reaches need: one IndexByte pass
// per distinct first byte, each candidate tested against its second byte
// before the strings themselves.
func (r *triggerRule) occurrences(text []byte, need int) int {
	n := 0
	for k, c := range r.firsts {
		group, second := r.byFirst[k], &r.seconds[k]
		for at := 0; at < len(text); at++ {
			j := bytes.IndexByte(text[at:], c)
			if j < 0 {
				break
			}
			at += j
			if at+1 < len(text) && second[text[at+1]>>6]&(1<<(text[at+1]&63)) == 0 {
				continue
			}
			for _, s := range group {
				if bytes.HasPrefix(text[at:], s) {
					if n++; n >= need {
						return n
					}
					break
				}
			}
		}
	}
	return n
}

func oneOf(list [][]byte, b []byte) bool {
	for _, s := range list {
		if bytes.Equal(s, b) {
			return true
		}
	}
	return false
}

func hasHeader(in *Input, name []byte) bool {
	for i := range in.Headers {
		if equalFoldASCII(in.Headers[i].Name, name) {
			return true
		}
	}
	return false
}
