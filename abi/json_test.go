package abi

import (
	"encoding/json"
	"testing"
)

func TestJSONValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"object", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, true},
		{"spaces", " \n{ \"a\" : [ 1 , 2 ] }\t", true},
		{"empty containers", `{"a":{},"b":[]}`, true},
		{"numbers", `[0,-1,1.5,1e9,-2.5E-3]`, true},
		{"escapes", `"a\"b\\c\/\n\u00e9\ud83d\ude00"`, true},
		{"trailing comma", `{"a":1,}`, false},
		{"leading zero", `[01]`, false},
		{"bad escape", `"\x"`, false},
		{"short unicode", `"\u12"`, false},
		{"control char", "\"a\x01\"", false},
		{"unterminated", `{"a":"b`, false},
		{"two values", `1 2`, false},
		{"bare word", `hello`, false},
		{"empty", ``, false},
		{"missing colon", `{"a" 1}`, false},
		{"deep", string(make([]byte, 0)) + deep(200), false},
		{"moderate depth", deep(100), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := JSONValid([]byte(tt.in)); got != tt.want {
				t.Fatalf("JSONValid(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func deep(n int) string {
	b := make([]byte, 0, 2*n)
	for i := 0; i < n; i++ {
		b = append(b, '[')
	}
	for i := 0; i < n; i++ {
		b = append(b, ']')
	}
	return string(b)
}

func TestJSONObjectEachAndGet(t *testing.T) {
	t.Parallel()
	v := []byte(`{"mode":"balanced","tiers":{"local":{"model":"m"}},"n":3}`)
	var keys []string
	if !JSONObjectEach(v, func(k, _ []byte) bool { keys = append(keys, string(k)); return true }) {
		t.Fatal("valid object reported invalid")
	}
	if got, want := len(keys), 3; got != want {
		t.Fatalf("got %d keys %v, want %d", got, keys, want)
	}
	if got := string(JSONGet(v, "mode")); got != `"balanced"` {
		t.Fatalf("JSONGet(mode) = %s", got)
	}
	if got := JSONGet(v, "missing"); got != nil {
		t.Fatalf("JSONGet(missing) = %s, want nil", got)
	}
	if n, ok := JSONInt(JSONGet(v, "n")); !ok || n != 3 {
		t.Fatalf("JSONInt = %d, %v", n, ok)
	}
	if JSONObjectEach([]byte(`{"a":1`), func(_, _ []byte) bool { return true }) {
		t.Fatal("truncated object reported valid")
	}
	var elems int
	if !JSONArrayEach([]byte(`[1, "two", {"three":3}]`), func([]byte) bool { elems++; return true }) || elems != 3 {
		t.Fatalf("JSONArrayEach: %d elems", elems)
	}
}

func TestJSONUnquote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain", `"hello"`, "hello"},
		{"escapes", `"a\"b\\c\/d\n\t\r\b\f"`, "a\"b\\c/d\n\t\r\b\f"},
		{"unicode", `"caf\u00e9 \u20ac"`, "café €"},
		{"surrogate pair", `"\ud83d\ude00"`, "😀"},
		{"lone surrogate", `"\ud83d x"`, "\uFFFD x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _, ok := JSONUnquote([]byte(tt.in), nil)
			if !ok || string(got) != tt.want {
				t.Fatalf("JSONUnquote(%s) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t", "ctl\x01\x1f", "utf8 é €"} {
		enc := AppendJSONString(nil, []byte(s))
		var back string
		if err := json.Unmarshal(enc, &back); err != nil || back != s {
			t.Fatalf("round trip of %q via %s: %q, %v", s, enc, back, err)
		}
	}
}

// FuzzJSON checks the guest reader against encoding/json: it must agree on
// validity and on the decoded value of strings, and never panic.
func FuzzJSON(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `[1,2,{"c":null}]`, `"\u00e9\ud83d\ude00"`, `{"a":`, `-0.5e3`, `"\x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := JSONValid(b)
		want := json.Valid(b)
		if got != want && !tooDeep(b) {
			t.Fatalf("JSONValid(%q) = %v, encoding/json says %v", b, got, want)
		}
		if got && len(b) > 0 {
			i := jsonSpace(b, 0)
			end, _ := JSONSkip(b, i)
			if b[i] == '"' {
				s, _, ok := JSONUnquote(b[i:end], nil)
				var ref string
				if err := json.Unmarshal(b[i:end], &ref); err == nil && (!ok || string(s) != ref) && validUTF8(b) {
					t.Fatalf("JSONUnquote(%q) = %q, want %q", b[i:end], s, ref)
				}
			}
		}
	})
}

func tooDeep(b []byte) bool {
	d, max := 0, 0
	for _, c := range b {
		switch c {
		case '[', '{':
			d++
			if d > max {
				max = d
			}
		case ']', '}':
			d--
		}
	}
	return max >= maxJSONDepth
}

func validUTF8(b []byte) bool {
	for _, r := range string(b) {
		if r == 0xFFFD {
			return false
		}
	}
	return true
}
