// Command pii-redactor is an example request-stage policy: before a request
// leaves the gateway it replaces, in user and system messages, e-mail
// addresses, phone numbers, payment card numbers (Luhn-checked), US social
// security numbers and API keys (sk-…, AKIA…, ghp_…) with placeholders such
// as [EMAIL]. Each message gets one edit per finding, all in the
// coordinates of the text as the policy read it. It reports the number of
// redactions as the tag pii.redacted. No config.
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o pii-redactor.wasm .
package main

import "github.com/aigateway/gateway/abi"

type finding struct {
	start, end int
	label      []byte
}

var (
	found     []finding
	tagKey    = []byte("pii.redacted")
	lblEmail  = []byte("[EMAIL]")
	lblPhone  = []byte("[PHONE]")
	lblCard   = []byte("[CARD]")
	lblSSN    = []byte("[SSN]")
	lblSecret = []byte("[SECRET]")
)

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlnum(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') }
func isLocal(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

// email finds local@domain.tld around the '@' at i.
func email(t []byte, i int) (int, int, bool) {
	s := i
	for s > 0 && isLocal(t[s-1]) {
		s--
	}
	e, dots := i+1, 0
	for e < len(t) && (isAlnum(t[e]) || t[e] == '-' || (t[e] == '.' && e+1 < len(t) && isAlnum(t[e+1]))) {
		if t[e] == '.' {
			dots++
		}
		e++
	}
	return s, e, s < i && dots > 0
}

func isSep(c byte) bool { return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' }

// digits scans a run of digits joined by at most two separators in a row
// (space, dash, dot, parentheses: "(415) 555-0132"), returning its end and
// the digit count.
func digits(t []byte, i int) (end, n int) {
	end = i
	for j := i; j < len(t); j++ {
		c := t[j]
		if isDigit(c) {
			n++
			end = j + 1
			continue
		}
		if !isSep(c) {
			break
		}
		k := j + 1
		if k < len(t) && isSep(t[k]) {
			k++
		}
		if k >= len(t) || !isDigit(t[k]) {
			break
		}
		j = k - 1
	}
	return end, n
}

func luhn(t []byte) bool {
	sum, double := 0, false
	for i := len(t) - 1; i >= 0; i-- {
		if !isDigit(t[i]) {
			continue
		}
		d := int(t[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

func ssn(t []byte, i int) bool {
	// ddd-dd-dddd
	if i+11 > len(t) {
		return false
	}
	for k, c := range t[i : i+11] {
		if (k == 3 || k == 6) != (c == '-') || (k != 3 && k != 6 && !isDigit(c)) {
			return false
		}
	}
	return i+11 == len(t) || !isDigit(t[i+11])
}

var secretPrefixes = []string{"sk-", "sk_live_", "akia", "ghp_", "xoxb-"}

func scan(t []byte) {
	found = found[:0]
	for i := 0; i < len(t); {
		c := t[i]
		if c == '@' {
			if s, e, ok := email(t, i); ok && (len(found) == 0 || found[len(found)-1].end <= s) {
				found = append(found, finding{s, e, lblEmail})
				i = e
				continue
			}
		}
		if i > 0 && (isAlnum(t[i-1]) || t[i-1] == '_' || t[i-1] == '-') {
			i++
			continue
		}
		if isDigit(c) || c == '+' || c == '(' {
			start := i
			if ssn(t, i) {
				found = append(found, finding{i, i + 11, lblSSN})
				i += 11
				continue
			}
			end, n := digits(t, i+boolInt(!isDigit(c)))
			switch {
			case n >= 13 && n <= 19 && luhn(t[start:end]):
				found = append(found, finding{start, end, lblCard})
				i = end
				continue
			case n >= 10 && n <= 15 && (end-start > n || c == '+'):
				found = append(found, finding{start, end, lblPhone})
				i = end
				continue
			}
		}
		for _, p := range secretPrefixes {
			if abi.HasPrefixFold(t[i:], p) {
				e := i + len(p)
				for e < len(t) && (isAlnum(t[e]) || t[e] == '_' || t[e] == '-') {
					e++
				}
				if e-i >= len(p)+16 {
					found = append(found, finding{i, e, lblSecret})
					i = e
					goto next
				}
			}
		}
		i++
	next:
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func redact(c *abi.Call) abi.Status {
	total := 0
	for i, n := 0, c.MessageCount(); i < n; i++ {
		if r := c.Role(i); string(r) != "user" && string(r) != "system" && string(r) != "developer" {
			continue
		}
		scan(c.Text(i))
		for _, f := range found {
			if c.Replace(i, f.start, f.end, f.label) == abi.StatusOK {
				total++
			}
		}
	}
	if total > 0 {
		c.TagInt(tagKey, int64(total))
	}
	return abi.StatusOK
}
