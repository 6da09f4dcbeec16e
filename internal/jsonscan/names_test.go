package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

var testNames = NewNames("model", "messages", "stream", "stream_options", "kind")

func TestNamesCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		keys     []string // raw member names of one object, in order
		idx      int      // Check's answer for the last key
		err      bool
		repeated bool
	}{
		{name: "plain", keys: []string{"model"}, idx: 0},
		{name: "two plain names", keys: []string{"model", "stream"}, idx: 2},
		{name: "unknown", keys: []string{"logit_bias"}, idx: -1},
		{name: "unknown escaped", keys: []string{`logit\u005fbias`}, idx: -1},
		{name: "unknown repeated", keys: []string{"x", "x"}, idx: -1},
		{name: "unknown, a known name's prefix", keys: []string{`mode`}, idx: -1},
		{name: "unknown escaped, a known name plus one", keys: []string{`model\u0073`}, idx: -1},
		{name: "unknown with a non-ASCII rune", keys: []string{"mödel"}, idx: -1},
		{name: "unknown surrogate pair", keys: []string{`model\ud83d\ude00`}, idx: -1},
		{name: "unknown lone surrogate", keys: []string{`mod\ud800l`}, idx: -1},
		{name: "unknown longer than any name", keys: []string{string(bytes.Repeat([]byte(`\u0061`), 100))}, idx: -1},
		{name: "repeated", keys: []string{"model", "model"}, idx: -1, err: true, repeated: true},
		{name: "repeated after others", keys: []string{"model", "stream", "kind", "model"}, idx: -1, err: true, repeated: true},
		{name: "escaped", keys: []string{`mod\u0065l`}, idx: -1, err: true},
		{name: "escaped upper-case hex", keys: []string{`mod\u0065\u006C`}, idx: -1, err: true},
		{name: "escaped underscore", keys: []string{`stream\u005foptions`}, idx: -1, err: true},
		{name: "escaped solidus never matches", keys: []string{`mod\/el`}, idx: -1},
		{name: "escaped after plain", keys: []string{"model", `mod\u0065l`}, idx: -1, err: true, repeated: true},
		{name: "escaped before plain", keys: []string{`mod\u0065l`}, idx: -1, err: true},
		{name: "upper case", keys: []string{"Model"}, idx: -1, err: true},
		{name: "upper case after plain", keys: []string{"model", "MODEL"}, idx: -1, err: true, repeated: true},
		{name: "long s folds to s", keys: []string{"ſtream"}, idx: -1, err: true},
		{name: "escaped long s", keys: []string{`\u017ftream`}, idx: -1, err: true},
		{name: "Kelvin sign folds to k", keys: []string{"\u212aind"}, idx: -1, err: true},
		{name: "escaped and upper case", keys: []string{`MOD\u0045L`}, idx: -1, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen Seen
			var idx int
			var err error
			for _, k := range tc.keys {
				if idx, err = testNames.Check(&seen, []byte(k)); err != nil {
					break
				}
			}
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if idx != tc.idx {
				t.Fatalf("idx = %d, want %d", idx, tc.idx)
			}
			var ne *NameError
			if tc.err && (!errors.As(err, &ne) || ne.Repeated != tc.repeated || ne.Raw != tc.keys[len(tc.keys)-1]) {
				t.Fatalf("err = %#v, want Repeated %v and Raw %q", err, tc.repeated, tc.keys[len(tc.keys)-1])
			}
		})
	}
}

// TestNamesIndex covers every branch of the word comparison: names of 1 to
// 3, 4 to 7, 8 to 16 and more bytes, and keys that differ only in the
// middle of a long name.
func TestNamesIndex(t *testing.T) {
	t.Parallel()
	n := NewNames("n", "ab", "abc", "stop", "model", "messages", "stream_options", "max_completion_tokens", "abcdefgh_x_ijklmnop")
	for i := 0; i < n.Len(); i++ {
		if got := n.Index([]byte(n.Name(i))); got != i {
			t.Errorf("Index(%q) = %d, want %d", n.Name(i), got, i)
		}
	}
	for _, k := range []string{"", "m", "ba", "abd", "acc", "stoq", "mod_l", "messagez", "stream-options", "max_completion_tokenz",
		"abcdefgh_y_ijklmnop", "abcdefgh_xx_jklmnop", "max_complet1on_tokens", string(bytes.Repeat([]byte("a"), 200))} {
		if got := n.Index([]byte(k)); got != -1 {
			t.Errorf("Index(%q) = %d, want -1", k, got)
		}
	}
}

func TestNameErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		err   NameError
		param string
		msg   string
	}{
		{"repeated", NameError{Name: "model", Raw: "model", Repeated: true}, "model",
			"duplicate member `model` in the request body"},
		{"repeated, escaped", NameError{Name: "model", Raw: `mod\u0065l`, Repeated: true}, "model",
			"duplicate member `model` in the request body (also sent as `mod\\u0065l`)"},
		{"escaped, nested", NameError{Path: "messages[1]", Name: "content", Raw: `cont\u0065nt`}, "messages[1].content",
			"member `cont\\u0065nt` in messages[1] is `content` spelled with escapes or in another case; send it as `content`"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.err.Param(); got != tc.param {
				t.Errorf("Param = %q, want %q", got, tc.param)
			}
			if got := tc.err.Error(); got != tc.msg {
				t.Errorf("Error = %q, want %q", got, tc.msg)
			}
		})
	}
}

var (
	testBlock = NewSchema("type", "text", "content")
	testDoc   = NewSchema("model", "messages", "meta").
			Descend("messages", NewSchema("role", "content").Descend("content", testBlock)).
			Descend("meta", NewSchema("user_id"))
)

func init() { testBlock.Descend("content", testBlock) }

func TestCheckNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc string
		param     string // "" when the document passes
	}{
		{"plain", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"meta":{"user_id":"u"}}`, ""},
		{"unknown names repeated and escaped", `{"x":1,"x":2,"\u0078y":3,"messages":[{"role":"user","extra":1,"extra":2}]}`, ""},
		{"names inside undescribed values", `{"other":{"model":1,"model":2},"messages":[{"role":"u","tool_input":{"role":1,"r\u006fle":2}}]}`, ""},
		{"scalars where objects are described", `{"messages":[1,"x",null,[{"role":1,"role":2}]],"meta":"s"}`, ""},
		{"top-level repeat", `{"model":"a","model":"b"}`, "model"},
		{"top-level escape", `{"model":"a","mod\u0065l":"b"}`, "model"},
		{"member of an object value", `{"meta":{"user_id":"a","user\u005fid":"b"}}`, "meta.user_id"},
		{"member of an array element", `{"messages":[{"role":"user"},{"role":"user","ROLE":"system"}]}`, "messages[1].role"},
		{"recursive schema", `{"messages":[{"role":"user","content":[{"type":"x","content":[{"text":"a","text":"b"}]}]}]}`, "messages[0].content[0].content[0].text"},
		{"array at the top", `[{"model":"a"},{"model":"a","model":"b"}]`, "[1].model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := Validate([]byte(tc.doc)); err != nil {
				t.Fatal(err)
			}
			err := CheckNames([]byte(tc.doc), testDoc)
			if tc.param == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ne *NameError
			if !errors.As(err, &ne) {
				t.Fatalf("err = %v, want a *NameError", err)
			}
			if ne.Param() != tc.param {
				t.Fatalf("Param = %q, want %q (%v)", ne.Param(), tc.param, err)
			}
		})
	}
}

func TestNewNamesRefusesBadLists(t *testing.T) {
	t.Parallel()
	for _, names := range [][]string{{"a", "a"}, {""}, {"Model"}, {`a"b`}, {`a\b`}, {"a b"}, {string(bytes.Repeat([]byte("a"), 65))}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewNames(%q) did not panic", names)
				}
			}()
			NewNames(names...)
		}()
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	keys := [][]byte{[]byte("model"), []byte("messages"), []byte(`logit\u005fbias`), []byte("unknown"), []byte("stream")}
	n := testing.AllocsPerRun(1000, func() {
		var seen Seen
		for _, k := range keys {
			if _, err := testNames.Check(&seen, k); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n != 0 {
		t.Fatalf("Check allocates %.1f times per object", n)
	}
	doc := []byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"meta":{"user_id":"u"},"x\u0078":1}`)
	if n := testing.AllocsPerRun(1000, func() {
		if err := CheckNames(doc, testDoc); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("CheckNames allocates %.1f times per document", n)
	}
}

// FuzzNamesCheck cross-checks Check against the standard library: a raw
// member name is accepted as names[i] exactly when it is names[i] as
// written, and refused exactly when encoding/json decodes it to a string
// that bytes.EqualFold (the matching of Go's encoding/json) finds equal to
// one of the names.
func FuzzNamesCheck(f *testing.F) {
	for _, s := range []string{"model", `mod\u0065l`, "MODEL", "ſtream", "\u212aind", `\ud83d\ude00`, `x\\y`, "stream_options"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		quoted := append(append([]byte{'"'}, key...), '"')
		if Validate(quoted) != nil || KindOf(quoted) != String || SkipTrusted(quoted, 0) != len(quoted) {
			return
		}
		var s string
		if err := json.Unmarshal(quoted, &s); err != nil {
			t.Fatalf("json.Unmarshal(%q): %v", quoted, err)
		}
		want := -1
		for i := 0; i < testNames.Len(); i++ {
			if bytes.EqualFold([]byte(s), []byte(testNames.Name(i))) {
				want = i
			}
		}
		var seen Seen
		i, err := testNames.Check(&seen, key)
		switch {
		case want < 0 && (i >= 0 || err != nil):
			t.Fatalf("Check(%q) = %d, %v; %q is no name of the set", key, i, err, s)
		case want >= 0 && string(key) == testNames.Name(want) && (i != want || err != nil):
			t.Fatalf("Check(%q) = %d, %v; want %d", key, i, err, want)
		case want >= 0 && string(key) != testNames.Name(want) && err == nil:
			t.Fatalf("Check(%q) accepted another spelling of %q", key, testNames.Name(want))
		}
		// Seen once, the name is refused the second time in any spelling.
		if want >= 0 {
			seen = 0
			if _, err := testNames.Check(&seen, []byte(testNames.Name(want))); err != nil {
				t.Fatal(err)
			}
			if _, err := testNames.Check(&seen, key); err == nil {
				t.Fatalf("Check accepted %q after %q", key, testNames.Name(want))
			}
		}
	})
}
