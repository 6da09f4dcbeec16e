package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"object", `{"a":[1,2.5e-3,-0,true,false,null,"x\u00e9"]}`, true},
		{"spaces", " \n\t{ \"a\" : 1 } \r\n", true},
		{"empty", ``, false},
		{"leading zero", `01`, false},
		{"bare minus", `-`, false},
		{"dot without digits", `1.`, false},
		{"exp without digits", `1e+`, false},
		{"unterminated string", `"abc`, false},
		{"bad escape", `"\q"`, false},
		{"short unicode", `"\u12"`, false},
		{"control char", "\"a\x01\"", false},
		{"trailing comma", `[1,]`, false},
		{"missing colon", `{"a" 1}`, false},
		{"trailing data", `{} {}`, false},
		{"too deep", strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), false},
		{"deep ok", strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth), true},
		{"bad literal", `tru`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := Validate([]byte(tc.in)); (err == nil) != tc.ok {
				t.Fatalf("Validate(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}

func TestObjectEachGetUnquote(t *testing.T) {
	t.Parallel()
	v := []byte(`{"a": 1, "b" : {"c":[1,2]}, "s":"x\ny\"z"}`)
	var keys []string
	if err := ObjectEach(v, func(k, val []byte) error { keys = append(keys, string(k)+"="+string(val)); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(keys, "|") != `a=1|b={"c":[1,2]}|s="x\ny\"z"` {
		t.Fatalf("keys %q", keys)
	}
	if string(Get(v, "b")) != `{"c":[1,2]}` || Get(v, "nope") != nil {
		t.Fatal("Get")
	}
	s, _, err := Unquote(Get(v, "s"), nil)
	if err != nil || string(s) != "x\ny\"z" {
		t.Fatalf("Unquote %q %v", s, err)
	}
	var n []string
	_ = ArrayEach([]byte(`[ 1 , "a" ,{}]`), func(i int, e []byte) error { n = append(n, string(e)); return nil })
	if strings.Join(n, "|") != `1|"a"|{}` {
		t.Fatalf("ArrayEach %q", n)
	}
}

func TestAppendQuoteRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t cr\r ctl\x01\x1f", "héllo 🌍", "</script>"} {
		q := AppendQuote(nil, s)
		var got string
		if err := json.Unmarshal(q, &got); err != nil || got != s {
			t.Fatalf("AppendQuote(%q) = %s (%v)", s, q, err)
		}
	}
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\ud83d\ude00"`, `-1.5e10`, `[`, `{"a":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Validate(b)
		if std := json.Valid(b); (err == nil) != std {
			// The only intended difference is the depth limit.
			if !(std && err == ErrDepth) {
				t.Fatalf("Validate(%q) = %v, encoding/json says valid=%v", b, err, std)
			}
		}
		if err == nil {
			i := SkipSpace(b, 0)
			switch KindOf(b[i:]) {
			case Object:
				_ = ObjectEach(b[i:], func(k, v []byte) error { return nil })
			case Array:
				_ = ArrayEach(b[i:], func(int, []byte) error { return nil })
			case String:
				end, _ := Skip(b, i)
				s, _, err := Unquote(b[i:end], nil)
				var want string
				if json.Unmarshal(b[i:end], &want) == nil && err == nil && string(s) != want && !strings.ContainsRune(want, '\uFFFD') {
					t.Fatalf("Unquote(%q) = %q, want %q", b[i:end], s, want)
				}
			}
		}
		// The iterators must never panic on unvalidated input either.
		_ = ObjectEach(b, func(k, v []byte) error { return nil })
		_ = ArrayEach(b, func(int, []byte) error { return nil })
		_, _, _ = Unquote(b, nil)
	})
}

func BenchmarkValidate(b *testing.B) {
	doc := []byte(`{"model":"gpt-4o","messages":[` + strings.Repeat(`{"role":"user","content":"func main() { fmt.Println(\"hi\") }\n"},`, 100) + `{"role":"user","content":"x"}]}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if err := Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzUnquoteAt checks the one-pass UnquoteAt against Validate's string
// scan followed by Unquote: same end, same text, same verdict.
func FuzzUnquoteAt(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\nb\tc\"d\\e\/f\bg\fh\ri"`, `"\ud83d\ude00\ud800x\udc00\u00e9"`, `"` + strings.Repeat(`abcdefg\n`, 40) + `"`, `"x\u12"`, `"x\q"`, "\"ctl\x01\"", `"unterminated`, `"a\`} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, pre int) {
		scratch := make([]byte, pre&63, pre&63+(pre>>6&255))
		end, s, grown, err := UnquoteAt(b, 0, scratch)
		vend, verr := Skip(b, 0)
		if len(b) == 0 || b[0] != '"' {
			if err == nil {
				t.Fatalf("UnquoteAt(%q) accepted a non-string", b)
			}
			return
		}
		if (err == nil) != (verr == nil) {
			t.Fatalf("UnquoteAt(%q): %v, Skip: %v", b, err, verr)
		}
		if err != nil {
			return
		}
		if end != vend {
			t.Fatalf("UnquoteAt(%q) ends at %d, Skip at %d", b, end, vend)
		}
		want, _, werr := Unquote(b[:end], nil)
		if werr != nil || string(s) != string(want) {
			t.Fatalf("UnquoteAt(%q) = %q, Unquote = %q (%v)", b, s, want, werr)
		}
		if len(grown) < len(scratch) {
			t.Fatalf("UnquoteAt dropped scratch bytes")
		}
	})
}

// unquoteImpls are the ways UnquoteAt can decode from a string's first
// escape: the portable block loop, and the run loop with the assembly
// kernel (where there is one) and with the portable one.
var unquoteImpls = []struct {
	name string
	fn   func(b []byte, i, j int, scratch []byte) (int, []byte, []byte, error)
}{
	{"blocks", unquoteBlocks},
	{"runs", func(b []byte, i, j int, scratch []byte) (int, []byte, []byte, error) {
		return unquoteRuns(b, i, j, scratch, scanRun)
	}},
	{"runs-generic", func(b []byte, i, j int, scratch []byte) (int, []byte, []byte, error) {
		return unquoteRuns(b, i, j, scratch, scanRunGeneric)
	}},
}

// sameUnquote fails t unless every decoder of unquoteImpls decodes the
// string at b[0] exactly as unquoteBlocks does: same end, text, scratch
// prefix and error (offset included).
func sameUnquote(t *testing.T, b []byte, pre []byte) {
	t.Helper()
	if len(b) == 0 || b[0] != '"' {
		return
	}
	end, esc, err := scanString(b, 0)
	wend, wesc, werr := scanStringOracle(b, 0)
	if end != wend || esc != wesc || (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("scanString(%q) = %d %v %v, byte loop %d %v %v", b, end, esc, err, wend, wesc, werr)
	}
	j := nextSpecial(b, 1)
	if j >= len(b) || b[j] != '\\' {
		return // no escape before the end: the decoders are not called
	}
	type result struct {
		end     int
		s, head string
		err     string
	}
	var want result
	for k, impl := range unquoteImpls {
		scratch := append(make([]byte, 0, len(pre)+k*7), pre...)
		end, s, grown, err := impl.fn(b, 0, j, scratch)
		got := result{end: end, s: string(s), head: string(grown[:min(len(pre), len(grown))])}
		if err != nil {
			got.err, got.s = err.Error(), ""
		}
		if k == 0 {
			want = got
			continue
		}
		if got != want {
			t.Fatalf("%s(%q) = %+v, blocks = %+v", impl.name, b, got, want)
		}
	}
}

// FuzzUnquoteImpls checks that the decoders behind UnquoteAt agree on
// every input, faults included.
func FuzzUnquoteImpls(f *testing.F) {
	for _, s := range []string{`"a\nb\tc\"d\\e\/f\bg\fh\ri"`, `"\ud83d\ude00\ud800x\udc00\u00e9"`, `"\t` + strings.Repeat(`abcdefg\n`, 40) + `"`, `"\nx\u12"`, `"\nx\q"`, "\"\\nctl\x01\"", `"\nunterminated`, `"\na\`, `"\u4e2d\u6587\u00e9\u0041\uFFFF"`, `"\u00zz"`} {
		f.Add([]byte(s), []byte("pre"))
	}
	f.Fuzz(func(t *testing.T, b, pre []byte) { sameUnquote(t, b, pre) })
}

// TestUnquoteImplsAgree runs sameUnquote over every escape, fault and end
// at every offset around the 16-byte steps of scanRun and the 64-byte
// blocks of unquoteBlocks, and over a run of each two-byte escape.
func TestUnquoteImplsAgree(t *testing.T) {
	t.Parallel()
	for _, esc := range []string{`\n`, `\"`, `\\`, `\/`, `\u00e9`, `\ud83d\ude00`, `\ud800`, `\udc00x`, "\x01", "\x1f", `\q`, `\u12"`, "\x7f", "\xc3\xa9", `\n\t\r\b\f`,
		`\u0041`, `\u0000`, `\u007f\u0080`, `\u07FF\u0800`, `\u4e2d\u6587\n`, `\uD7FF\uE000\uFFFF`, `\u00C9`, `\u00g0`, `\uDBFF\uDFFF`, `\ud83d\u0041`, `\u`, `\u00e`} {
		for at := 0; at < 150; at++ {
			for _, tail := range []string{`"`, `abc"`, ``, `\`, `\n"`, `\u00e9"`} {
				sameUnquote(t, []byte(`"\t`+strings.Repeat("x", at)+esc+strings.Repeat("y", 70-at%70)+tail), nil)
				sameUnquote(t, []byte(`"\t`+strings.Repeat("x", at)+esc+tail), []byte("scratch"))
			}
		}
	}
	var b strings.Builder
	b.WriteString(`"`)
	for range 40 {
		b.WriteString(`\n\t\"\\\/\b\f\r` + "plain")
	}
	sameUnquote(t, []byte(b.String()+`"`), nil)
}

// TestUnquoteAtBlockEdges puts each kind of escape, a closing quote and a
// control byte at every offset around the 64-byte blocks UnquoteAt reads,
// after a first escape (the copying path), and compares with Unquote.
func TestUnquoteAtBlockEdges(t *testing.T) {
	for _, esc := range []string{`\n`, `\"`, `\\`, `\u00e9`, `\ud83d\ude00`, `\ud800`, "\x01", `\q`} {
		for at := 0; at < 200; at++ {
			for _, tail := range []string{`"`, `abc"`, ``, `\`} {
				doc := []byte(`"\t` + strings.Repeat("x", at) + esc + strings.Repeat("y", 130-at%130) + tail)
				end, s, _, err := UnquoteAt(doc, 0, nil)
				vend, verr := Skip(doc, 0)
				if (err == nil) != (verr == nil) {
					t.Fatalf("%q: UnquoteAt %v, Skip %v", doc, err, verr)
				}
				if err != nil {
					continue
				}
				want, _, _ := Unquote(doc[:vend], nil)
				if end != vend || string(s) != string(want) {
					t.Fatalf("%q: UnquoteAt = %d %q, want %d %q", doc, end, s, vend, want)
				}
			}
		}
	}
}

// unquoteOracle is Unquote as it was before it used scanRun: a byte loop
// around bytes.IndexByte and appendEscape.
func unquoteOracle(v []byte, scratch []byte) (s, grown []byte, err error) {
	if KindOf(v) != String || len(v) < 2 {
		return nil, scratch, syntaxErr(0, "expected string")
	}
	inner := v[1 : len(v)-1]
	esc := bytes.IndexByte(inner, '\\')
	if esc < 0 {
		return inner, scratch, nil
	}
	start := len(scratch)
	scratch = append(scratch, inner[:esc]...)
	for i := esc; i < len(inner); {
		if inner[i] != '\\' {
			k := bytes.IndexByte(inner[i:], '\\')
			if k < 0 {
				scratch = append(scratch, inner[i:]...)
				break
			}
			scratch = append(scratch, inner[i:i+k]...)
			i += k
			continue
		}
		var err error
		if scratch, i, err = appendEscape(scratch, inner, i); err != nil {
			return nil, scratch, err
		}
	}
	return scratch[start:], scratch, nil
}

// sameAsOracle fails t unless Unquote decodes v as unquoteOracle does:
// same text, same scratch prefix, same error.
func sameAsOracle(t *testing.T, v, pre []byte) {
	t.Helper()
	s, grown, err := Unquote(v, append([]byte(nil), pre...))
	ws, wgrown, werr := unquoteOracle(v, append([]byte(nil), pre...))
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("Unquote(%q): error %v, oracle %v", v, err, werr)
	}
	if err == nil && (string(s) != string(ws) || string(grown[:len(pre)]) != string(wgrown[:len(pre)])) {
		t.Fatalf("Unquote(%q) = %q, oracle %q", v, s, ws)
	}
}

// FuzzUnquote checks Unquote against the byte loop it replaced, on any
// input (Unquote does not validate: quotes and control bytes inside pass).
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\nb\tc\"d\\e\/f\bg\fh\ri"`, `"\ud83d\ude00\ud800x\udc00\u00e9\u4e2d"`, `"` + strings.Repeat(`abcdefg\n`, 40) + `"`, `"x\u12"`, `"x\q"`, "\"\\nctl\x01\"", `"a\"`, `"in"side\n"`} {
		f.Add([]byte(s), []byte("pre"))
	}
	f.Fuzz(func(t *testing.T, v, pre []byte) { sameAsOracle(t, v, pre) })
}

// TestUnquoteLongStrings runs sameAsOracle over each escape and fault at
// every offset of strings long enough for scanRun's blocks.
func TestUnquoteLongStrings(t *testing.T) {
	t.Parallel()
	for _, esc := range []string{`\n`, `\"`, `\\`, `\u00e9`, `\u4e2d\u6587`, `\ud83d\ude00`, `\ud800`, "\x01", `"`, `\q`, `\u12`, `\`} {
		for at := 0; at < 150; at++ {
			sameAsOracle(t, []byte(`"\t`+strings.Repeat("x", at)+esc+strings.Repeat("y", 90-at%90)+`"`), []byte("pre"))
			sameAsOracle(t, []byte(`"\t`+strings.Repeat("x", at)+esc+`"`), nil)
		}
	}
}

// scanStringOracle is scanString without skipRun: the word loop alone.
func scanStringOracle(b []byte, i int) (int, bool, error) {
	start := i
	escaped := false
	for i = nextSpecial(b, i+1); i < len(b); i = nextSpecial(b, i) {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			n, err := escapeLen(b, i)
			if err != nil {
				return i, false, err
			}
			i += n
		default:
			return i, false, syntaxErr(i, "control character in string")
		}
	}
	return i, false, syntaxErr(start, "unterminated string")
}

// TestUnexpectedByteQuoted: the error names a stray byte as a client can
// read it, a UTF-8 lead byte as its hex escape (not a Latin-1 letter).
func TestUnexpectedByteQuoted(t *testing.T) {
	for body, want := range map[string]string{
		"\xef\xbb\xbf{}": `unexpected character '\xef'`,
		"\x1f":           `unexpected character '\x1f'`,
		"x":              `unexpected character 'x'`,
		"'":              `unexpected character '\''`,
	} {
		err := Validate([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", body, err, want)
		}
	}
}
