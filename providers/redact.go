package providers

import (
	"encoding/base64"
	"errors"
	"net/url"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/aigateway/gateway/internal/unsafeconv"
)

// MinSecretLen is the shortest secret a Redactor removes wherever it occurs.
// A shorter one (1 to 3 bytes) is removed only in its "Bearer <key>" form:
// everywhere else it would also match ordinary text ("a", "ok", "the") and
// mangle every message, and a key that short is a placeholder, not a
// credential.
const MinSecretLen = 4

// Redacted is what replaces a removed secret.
const Redacted = "[REDACTED]"

// Redactor removes one provider's own credentials from upstream error text
// before it is relayed to a client or returned in an error: an upstream may
// echo the key it refused (a proxy, vLLM, an Azure-style deployment), and
// the prefix masking of well-known key formats cannot recognise a 32-hex or
// custom key. It removes each secret and its usual encodings: JSON-escaped
// (minimal, HTML-safe as Go writes it, ASCII-only as Python writes it, with
// escaped slashes as PHP writes it), percent-encoded (query, path and
// component escaping, either hex case), base64 and base64url (padded or not,
// and at every alignment, so the key is also found inside the base64 of a
// longer text such as "user:key" basic auth, for keys of 5 bytes or more:
// a shorter key leaves fewer than 6 characters that depend on it alone,
// too few to tell from other base64). The "Bearer <key>" form is
// covered by the key itself. Keys of other providers are then masked by
// prefix (sk-, sk-ant-, AIza, gsk_) as a second net.
//
// # Notes
//
// Immutable after NewRedactor and safe for concurrent use. Text that holds
// no secret costs one substring search per needle (a few dozen bytes of
// needles for an ordinary key) and is returned as it is, without a copy or
// an allocation; only text that holds a secret is copied. A nil *Redactor
// masks by prefix only.
type Redactor struct {
	needles []needle // longest first: at one position the longest wins
}

type needle struct {
	s string
	// bounded needles match only when no key byte follows: the Bearer form
	// of a secret shorter than MinSecretLen must not match a longer token.
	bounded bool
	// lead bytes of the needle are context, kept in the text ("Bearer ").
	lead int
}

// NewRedactor returns a Redactor for secrets (the provider's API key, the
// values of its credential headers). Empty secrets are ignored.
func NewRedactor(secrets ...string) *Redactor {
	seen := map[string]bool{}
	r := &Redactor{}
	add := func(s string, bounded bool, lead int) {
		if s == "" || seen[s] {
			return
		}
		seen[s] = true
		r.needles = append(r.needles, needle{s: s, bounded: bounded, lead: lead})
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if len(s) < MinSecretLen {
			add("Bearer "+s, true, len("Bearer "))
			continue
		}
		for _, form := range encodings(s) {
			for _, j := range jsonForms(form) {
				add(j, false, 0)
			}
		}
	}
	sort.SliceStable(r.needles, func(i, j int) bool { return len(r.needles[i].s) > len(r.needles[j].s) })
	return r
}

// minEncoded is the shortest base64 fragment kept as a needle: shorter
// fragments of short keys would match unrelated text.
const minEncoded = 6

// encodings returns s and the encodings of s an upstream may echo.
func encodings(s string) []string {
	out := []string{s}
	for _, e := range []string{url.QueryEscape(s), url.PathEscape(s), componentEscape(s)} {
		out = append(out, e, lowerHexEscapes(e))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if e := enc.EncodeToString([]byte(s)); len(e) >= minEncoded {
			out = append(out, e)
		}
	}
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for align := 0; align < 3; align++ {
			if c := base64Core(enc, s, align); len(c) >= minEncoded {
				out = append(out, c)
			}
		}
	}
	return out
}

// base64Core returns the characters of the base64 of a longer text, in
// which s starts align bytes into a 3-byte group, that depend on s alone:
// wherever s sits inside base64-encoded data ("user:key" basic auth, a JSON
// document), one of the three alignments appears verbatim.
func base64Core(enc *base64.Encoding, s string, align int) string {
	b := make([]byte, align, align+len(s))
	b = append(b, s...)
	e := enc.EncodeToString(b)
	// Character i holds bits [6i, 6i+6) of the input; keep those that lie
	// within s's bits [8*align, 8*(align+len(s))).
	first := (8*align + 5) / 6
	last := (8*(align+len(s)))/6 - 1
	if last < first || last >= len(e) {
		return ""
	}
	return e[first : last+1]
}

// componentEscape percent-encodes like JavaScript's encodeURIComponent:
// everything but letters, digits and -_.!~*'().
func componentEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// lowerHexEscapes lowercases the hex digits of every %XX escape.
func lowerHexEscapes(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lower(b[i+1]), lower(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// jsonForms returns s as the contents of a JSON string, written by the
// encoders upstreams use: minimal (only what JSON requires), HTML-safe
// (Go's encoding/json: <, >, & and U+2028/9 as \u escapes), ASCII-only
// (Python's json.dumps: every non-ASCII character as \u escapes), slashes
// escaped (PHP's json_encode), and combinations, with lower- and
// upper-case hex; and s itself, unescaped. For an ordinary key they are all
// s itself.
func jsonForms(s string) []string {
	out := []string{s}
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c >= 0x20 && c < utf8.RuneSelf && strings.IndexByte(`"\/<>&`, c) < 0
	}
	if plain {
		return out
	}
	for opt := 0; opt < 1<<4; opt++ {
		f := jsonEscape(s, opt&1 != 0, opt&2 != 0, opt&4 != 0, opt&8 != 0)
		dup := false
		for _, o := range out {
			dup = dup || o == f
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}

func jsonEscape(s string, html, ascii, slash, upper bool) string {
	hex := "0123456789abcdef"
	if upper {
		hex = "0123456789ABCDEF"
	}
	var b strings.Builder
	u := func(r rune) {
		b.WriteString(`\u`)
		b.WriteByte(hex[r>>12&0xf])
		b.WriteByte(hex[r>>8&0xf])
		b.WriteByte(hex[r>>4&0xf])
		b.WriteByte(hex[r&0xf])
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case (html || ascii) && c == '\b':
				b.WriteString(`\b`) // Go and Python; minimal encoders write \u0008
			case (html || ascii) && c == '\f':
				b.WriteString(`\f`)
			case c < 0x20, html && (c == '<' || c == '>' || c == '&'):
				u(rune(c))
			case slash && c == '/':
				b.WriteString(`\/`)
			default:
				b.WriteByte(c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1 && html:
			b.WriteString(`\ufffd`) // not UTF-8: Go's encoder writes U+FFFD
		case r == utf8.RuneError && size == 1:
			b.WriteByte(c)
		case ascii && r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			u(r1)
			u(r2)
		case ascii, html && (r == '\u2028' || r == '\u2029'):
			u(r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// String returns s without the secrets, with other providers' keys masked.
// It returns s itself when there is nothing to remove.
func (r *Redactor) String(s string) string {
	i, j := r.find(s)
	if i < 0 {
		return maskPrefixes(s)
	}
	b := r.appendRedacted(make([]byte, 0, len(s)), s, i, j)
	maskPrefixesInPlace(b)
	return string(b)
}

// Bytes returns b without the secrets, with other providers' keys masked:
// b itself when there is nothing to remove, otherwise a new slice (b is
// never written to).
func (r *Redactor) Bytes(b []byte) []byte {
	s := unsafeconv.String(b)
	i, j := r.find(s)
	if i < 0 {
		if !hasPrefixedKey(s) {
			return b
		}
		out := append([]byte(nil), b...)
		maskPrefixesInPlace(out)
		return out
	}
	out := r.appendRedacted(make([]byte, 0, len(b)), s, i, j)
	maskPrefixesInPlace(out)
	return out
}

// appendRedacted appends s with every secret replaced, [i, j) being the
// first. Occurrences that overlap (or touch) are replaced as one, so that
// no remnant of a secret is left between two replacements.
func (r *Redactor) appendRedacted(dst []byte, s string, i, j int) []byte {
	for i >= 0 {
		for p := i + 1; p < j; {
			k, l := r.find(s[p:])
			if k < 0 || p+k > j {
				break
			}
			j = max(j, p+l)
			p += k + 1
		}
		dst = append(dst, s[:i]...)
		dst = append(dst, Redacted...)
		s = s[j:]
		i, j = r.find(s)
	}
	return append(dst, s...)
}

// Error redacts every text field of e (Message, Type, Code, Param) in place,
// and replaces e.Err when its text holds a secret, and returns e.
func (r *Redactor) Error(e *UpstreamError) *UpstreamError {
	if e == nil {
		return nil
	}
	e.Message, e.Type, e.Code, e.Param = r.String(e.Message), r.String(e.Type), r.String(e.Code), r.String(e.Param)
	e.Err = r.Err(e.Err)
	return e
}

// Err returns err, or when its text holds a secret an error with the text
// redacted that still matches err's chain for errors.Is (not errors.As:
// the original could be printed).
func (r *Redactor) Err(err error) error {
	if err == nil {
		return nil
	}
	if s := err.Error(); r.String(s) != s {
		return &redactedError{msg: r.String(s), err: err}
	}
	return err
}

// redactedError stands for an error whose text held a secret: it keeps the
// error's identity for errors.Is but neither its text nor its chain, which
// could be printed.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Is reports whether the hidden error is target (ErrTimeout, ErrUnavailable).
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// find returns the span of the leftmost secret in s (the longest at that
// position), or -1, -1.
func (r *Redactor) find(s string) (int, int) {
	if r == nil {
		return -1, -1
	}
	best, end := -1, -1
	for _, n := range r.needles {
		hay := s
		if best >= 0 && !n.bounded {
			// Only a match that starts before best can win (needles come
			// longest first).
			hay = s[:min(len(s), best-1+len(n.s))]
		}
		i := index(hay, n)
		if i >= 0 && (best < 0 || i+n.lead < best) {
			best, end = i+n.lead, i+len(n.s)
		}
	}
	return best, end
}

func index(s string, n needle) int {
	if !n.bounded {
		return strings.Index(s, n.s)
	}
	for from := 0; ; {
		i := strings.Index(s[from:], n.s)
		if i < 0 {
			return -1
		}
		i += from
		if k := i + len(n.s); k == len(s) || !isKeyByte(s[k]) {
			return i
		}
		from = i + 1
	}
}

// keyPrefixes start the keys of the providers the gateway knows; a key of
// another provider that an upstream echoes is masked after its prefix.
var keyPrefixes = [...]string{"sk-ant-", "sk-", "AIza", "gsk_"}

// nextPrefixedKey returns the span of the key bytes that follow a key
// prefix at or after from, the prefix starting a token (not preceded by a
// key byte: "task-force" holds no key), or -1, -1.
func nextPrefixedKey(s string, from int) (int, int) {
	best, end := -1, -1
	for _, p := range keyPrefixes {
		for i := from; ; {
			j := strings.Index(s[i:], p)
			if j < 0 {
				break
			}
			j += i
			k := j + len(p)
			if j > 0 && isKeyByte(s[j-1]) {
				i = j + 1
				continue
			}
			e := k
			for e < len(s) && isKeyByte(s[e]) {
				e++
			}
			if e == k {
				i = k
				continue
			}
			if best < 0 || k < best {
				best, end = k, e
			}
			break
		}
	}
	return best, end
}

func hasPrefixedKey(s string) bool {
	i, _ := nextPrefixedKey(s, 0)
	return i >= 0
}

// maskPrefixes masks the keys of other providers in s by prefix.
func maskPrefixes(s string) string {
	if !hasPrefixedKey(s) {
		return s
	}
	b := []byte(s)
	maskPrefixesInPlace(b)
	return string(b)
}

// maskPrefixesInPlace replaces the key bytes after each key prefix with '*'.
func maskPrefixesInPlace(b []byte) {
	s := unsafeconv.String(b) // b changes under s, one masked byte at a time: the prefixes contain no '*'
	for from := 0; ; {
		i, e := nextPrefixedKey(s, from)
		if i < 0 {
			return
		}
		for k := i; k < e; k++ {
			b[k] = '*'
		}
		from = e
	}
}

// MaskKeys masks anything that looks like a known provider's API key in an
// upstream message (a redacted prefix is kept): providers echo a masked
// prefix of a refused key, and the gateway never lets even that reach a
// client. A provider removes its own key, whatever its shape, with its
// Redactor.
func MaskKeys(msg string) string { return maskPrefixes(msg) }

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// SecretHeaders returns the values of the headers in h whose names say they
// carry a credential (containing key, secret, token, auth, pass, sig, cred
// or cookie, as Authorization, api-key, X-Auth-Token and
// CF-Access-Client-Secret do). A value with an auth scheme ("Bearer t",
// "Basic dXNlcjpwYXNz") also yields its token, and a Basic token the
// password and the "user:password" it encodes.
func SecretHeaders(h map[string]string) []string {
	var out []string
	for name, v := range h {
		n := strings.ToLower(name)
		secret := false
		for _, w := range [...]string{"key", "secret", "token", "auth", "pass", "sig", "cred", "cookie"} {
			secret = secret || strings.Contains(n, w)
		}
		if !secret || v == "" {
			continue
		}
		out = append(out, v)
		scheme, tok, ok := strings.Cut(strings.TrimSpace(v), " ")
		if !ok {
			continue
		}
		tok = strings.TrimSpace(tok)
		out = append(out, tok)
		if strings.EqualFold(scheme, "basic") {
			if dec, err := base64.StdEncoding.DecodeString(tok); err == nil {
				out = append(out, string(dec))
				if _, pass, ok := strings.Cut(string(dec), ":"); ok {
					out = append(out, pass)
				}
			}
		}
	}
	return out
}

// SecretQuery returns the values of the parameters of the query string q
// (as configured for Azure-style deployments) whose names say they carry a
// credential (key, code, token, sig, secret, auth).
func SecretQuery(q string) []string {
	vals, err := url.ParseQuery(q)
	if err != nil {
		return nil
	}
	var out []string
	for name, vs := range vals {
		n := strings.ToLower(name)
		secret := n == "code"
		for _, w := range [...]string{"key", "token", "sig", "secret", "auth"} {
			secret = secret || strings.Contains(n, w)
		}
		if secret {
			out = append(out, vs...)
		}
	}
	return out
}
