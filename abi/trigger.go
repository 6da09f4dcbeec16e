package abi

// Limits of a set_trigger spec (ABI v1.2). They are part of the ABI.
const (
	MaxTriggerLen     = 64 << 10 // bytes of the JSON spec
	MaxTriggerRules   = 64       // rules in "any"
	MaxTriggerStrings = 256      // strings in one rule's roles, contains or prefix
	MaxTriggerString  = 256      // bytes of one such string
)

// Trigger is a parsed set_trigger spec: the requests a request-stage policy
// can act on. The host calls the policy for a request when at least one rule
// matches it; a Trigger without rules matches no request.
type Trigger struct {
	Rules []TriggerRule
}

// TriggerRule matches a request when every condition it sets holds. The
// message conditions (Contains, Prefix, MinBytes, and Roles alone) look at
// the messages whose role is in Roles (every message when Roles is empty),
// with their text as message_text returns it when the policy would be
// called (earlier policies' edits applied).
type TriggerRule struct {
	// Header: a request header of this name is present (ASCII case ignored).
	Header string
	// Skill: the body's "skill" field is not empty.
	Skill bool
	// Flags: the request's flags() has one of these bits.
	Flags uint64
	// Roles selects the messages; alone, at least one such message exists.
	Roles []string
	// Contains: the selected texts hold, in all, at least MinCount
	// positions where one of these strings starts (a position counts once,
	// whichever strings start there; occurrences may overlap). MinCount is
	// 1 when not given.
	Contains []string
	MinCount int
	// Prefix: a selected text starts with one of these strings.
	Prefix []string
	// MinBytes: the selected texts are at least this many bytes in all.
	MinBytes int
}

// ParseTrigger parses a set_trigger spec:
//
//	{"any": [{"roles": ["system", "user"], "contains": ["<|im_start|>"]},
//	         {"header": "x-gateway-skill"}, {"skill": true},
//	         {"contains": ["```"], "min_count": 4, "min_bytes": 1024}]}
//
// It returns the reason a spec is refused, or "". Unknown keys, empty
// rules, empty or over-long strings and negative numbers are refused; the
// host answers them with -4 (INVALID).
func ParseTrigger(spec []byte) (Trigger, string) {
	var t Trigger
	if len(spec) > MaxTriggerLen {
		return t, "trigger: longer than 64 KiB"
	}
	if !JSONValid(spec) {
		return t, "trigger: not JSON"
	}
	msg := ""
	seenAny := false
	ok := JSONObjectEach(spec, func(k, v []byte) bool {
		if string(k) != "any" {
			msg = "trigger: unknown key \"" + string(k) + "\" (known: any)"
			return false
		}
		seenAny = true
		t.Rules = []TriggerRule{}
		return JSONArrayEach(v, func(e []byte) bool {
			if len(t.Rules) == MaxTriggerRules {
				msg = "trigger: more than 64 rules"
				return false
			}
			r, m := parseRule(e)
			if m != "" {
				msg = m
				return false
			}
			t.Rules = append(t.Rules, r)
			return true
		})
	})
	switch {
	case msg != "":
		return Trigger{}, msg
	case !ok:
		return Trigger{}, "trigger: must be {\"any\": [rule, ...]}"
	case !seenAny:
		return Trigger{}, "trigger: \"any\" is missing"
	}
	return t, ""
}

func parseRule(e []byte) (TriggerRule, string) {
	var r TriggerRule
	msg := ""
	n := 0
	count := false
	ok := JSONObjectEach(e, func(k, v []byte) bool {
		n++
		switch string(k) {
		case "header":
			s, _, ok := JSONUnquote(v, nil)
			if !ok || len(s) == 0 || len(s) > MaxTriggerString {
				msg = "trigger: header must be a name of 1 to 256 bytes"
				return false
			}
			r.Header = string(s)
		case "skill":
			b, ok := JSONBool(v)
			if !ok || !b {
				msg = "trigger: skill must be true"
				return false
			}
			r.Skill = true
		case "flags":
			f, ok := JSONInt(v)
			if !ok || f <= 0 {
				msg = "trigger: flags must be a positive integer"
				return false
			}
			r.Flags = uint64(f)
		case "min_count", "min_bytes":
			f, ok := JSONInt(v)
			if !ok || f < 0 || f > 1<<31-1 {
				msg = "trigger: " + string(k) + " must be an integer from 0 to 2147483647"
				return false
			}
			if string(k) == "min_count" {
				r.MinCount, count = int(f), true
			} else {
				r.MinBytes = int(f)
			}
		case "roles", "contains", "prefix":
			list, m := stringList(k, v)
			if m != "" {
				msg = m
				return false
			}
			switch string(k) {
			case "roles":
				r.Roles = list
			case "contains":
				r.Contains = list
			default:
				r.Prefix = list
			}
		default:
			msg = "trigger: unknown rule key \"" + string(k) + "\" (known: header, skill, flags, roles, contains, min_count, prefix, min_bytes)"
			return false
		}
		return true
	})
	switch {
	case msg != "":
		return r, msg
	case !ok:
		return r, "trigger: a rule must be an object"
	case n == 0:
		return r, "trigger: an empty rule would match every request (set no trigger instead)"
	case count && r.Contains == nil:
		return r, "trigger: min_count needs contains"
	}
	if r.Contains != nil && !count {
		r.MinCount = 1
	}
	return r, ""
}

func stringList(k, v []byte) ([]string, string) {
	var list []string
	msg := ""
	ok := JSONArrayEach(v, func(e []byte) bool {
		s, _, ok := JSONUnquote(e, nil)
		if !ok || len(s) == 0 || len(s) > MaxTriggerString {
			msg = "trigger: " + string(k) + " must hold strings of 1 to 256 bytes"
			return false
		}
		if len(list) == MaxTriggerStrings {
			msg = "trigger: more than 256 strings in " + string(k)
			return false
		}
		list = append(list, string(s))
		return true
	})
	if msg != "" {
		return nil, msg
	}
	if !ok || len(list) == 0 {
		return nil, "trigger: " + string(k) + " must be a non-empty array of strings"
	}
	return list, ""
}
