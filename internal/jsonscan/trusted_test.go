package jsonscan

import (
	"strings"
	"testing"
)

// FuzzTrusted checks that the trusted walkers agree with the validating ones
// on every document Validate accepts.
func FuzzTrusted(f *testing.F) {
	for _, s := range []string{`{"a":"x\"y\\\\","b":[1,{"c":"\\"}],"d":null}`, `[ "a" , 1.5e3 , true ]`, `{"k":"\u0022"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if Validate(b) != nil {
			// Must not panic on anything else either.
			_ = SkipTrusted(b, 0)
			_ = ObjectEachTrusted(b, func(k, v []byte) error { return nil })
			_ = ArrayEachTrusted(b, func(int, []byte) error { return nil })
			return
		}
		i := SkipSpace(b, 0)
		end, _ := Skip(b, i)
		if got := SkipTrusted(b, i); got != end {
			t.Fatalf("SkipTrusted = %d, Skip = %d on %q", got, end, b)
		}
		v := b[i:end]
		var a, c []string
		switch KindOf(v) {
		case Object:
			_ = ObjectEach(v, func(k, val []byte) error { a = append(a, string(k)+"="+string(val)); return nil })
			_ = ObjectEachTrusted(v, func(k, val []byte) error { c = append(c, string(k)+"="+string(val)); return nil })
		case Array:
			_ = ArrayEach(v, func(_ int, e []byte) error { a = append(a, string(e)); return nil })
			_ = ArrayEachTrusted(v, func(_ int, e []byte) error { c = append(c, string(e)); return nil })
		}
		if len(a) != len(c) {
			t.Fatalf("validating %q vs trusted %q", a, c)
		}
		for j := range a {
			if a[j] != c[j] {
				t.Fatalf("validating %q vs trusted %q", a, c)
			}
		}
	})
}

func TestAppendWithout(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, key, want string }{
		{`{"a":1,"b":2,"c":3}`, "b", `{"a":1,"c":3}`},
		{`{"a":1, "b":2}`, "a", `{"b":2}`},
		{`{"a":1, "b" : {"x":[1]} }`, "b", `{"a":1 }`},
		{`{"a":1}`, "a", `{}`},
		{`{"a":1}`, "z", `{"a":1}`},
	}
	for _, tc := range tests {
		if got := string(AppendWithout(nil, []byte(tc.in), tc.key)); got != tc.want {
			t.Errorf("AppendWithout(%s, %s) = %s, want %s", tc.in, tc.key, got, tc.want)
		}
		if Validate([]byte(tc.want)) != nil {
			t.Errorf("invalid want %s", tc.want)
		}
	}
}

// TestSkipStringTrusted puts each escape at every offset of strings long
// enough for skipRun's blocks, in a document whose end is the end of the
// string's bytes, and compares SkipTrusted with Skip.
func TestSkipStringTrusted(t *testing.T) {
	t.Parallel()
	for _, esc := range []string{`\n`, `\"`, `\\`, `\\\"`, `\u0022`, `\u005c`, `\ud83d\ude00`} {
		for at := 0; at < 150; at++ {
			for _, tail := range []string{``, `\"\"`, `xyz`} {
				doc := []byte(`"\t` + strings.Repeat("x", at) + esc + strings.Repeat("y", 70-at%70) + tail + `"`)
				want, err := Skip(doc, 0)
				if err != nil {
					t.Fatalf("%q: %v", doc, err)
				}
				if got := SkipTrusted(doc, 0); got != want {
					t.Fatalf("%q: SkipTrusted = %d, Skip = %d", doc, got, want)
				}
				arr := append(append([]byte("["), doc...), `,1]`...)
				var n int
				_ = ArrayEachTrusted(arr, func(int, []byte) error { n++; return nil })
				if n != 2 {
					t.Fatalf("%s: %d elements, want 2", arr, n)
				}
			}
		}
	}
}
