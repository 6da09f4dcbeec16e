package jsonscan

import "testing"

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
