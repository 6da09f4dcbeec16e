package semantic

import (
	"strings"
	"testing"
)

// TestGuards checks each guard on its own: the first guard that refuses a
// pair is the one named, and each pair differs in one thing only.
func TestGuards(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		a, b string
		want Guard
	}{
		{"identical", "What is a goroutine?", "What is a goroutine?", GuardNone},
		{"normalised", "What's a goroutine?", "  what is  the goroutine", GuardNone},
		{"script", "What is a goroutine?", "Что такое goroutine?", GuardLanguage},
		{"script, shared identifier", "explain goroutine", "解释 goroutine", GuardLanguage},
		{"language", "Where is the file?", "Où est le fichier ?", GuardLanguage},
		{"language unknown is compatible", "explain CAP theorem", "Explain the CAP theorem", GuardNone},
		{"not", "Is it thread safe?", "Is it not thread safe?", GuardPolarity},
		{"n't", "Why does it work?", "Why doesn't it work?", GuardPolarity},
		{"without", "Build with cgo", "Build without cgo", GuardPolarity},
		{"enable/disable", "enable the cache", "disable the cache", GuardPolarity},
		{"inflections share a lemma", "enabling the cache", "enabled the cache", GuardWords},
		{"polarity order", "convert from UTC to local", "convert to UTC from local", GuardPolarity},
		{"french ne pas", "Comment activer le cache ?", "Comment ne pas activer le cache ?", GuardPolarity},
		{"german nicht", "Wie aktiviere ich den Cache?", "Wie aktiviere ich den Cache nicht?", GuardPolarity},
		{"chinese 不", "删除这个文件", "不删除这个文件", GuardPolarity},
		{"digits", "top 5 users", "top 10 users", GuardNumbers},
		{"number word equals digits", "top five users", "top 5 users", GuardNone},
		{"number inside a word", "what is new in utf8", "what is new in utf16", GuardNumbers},
		{"versions", "upgrade to 1.21.3", "upgrade to 1.21.4", GuardNumbers},
		{"unicode digits", "row ٣", "row ٤", GuardNumbers},
		{"backticks", "what does `a.b` do", "what does `a_b` do", GuardQuotes},
		{"double quotes", `rename "foo" please`, `rename "Foo" please`, GuardQuotes},
		{"curly quotes", "rename “foo”", "rename “bar”", GuardQuotes},
		{"apostrophe is not a quote", "it's the users' files", "it is the users' files", GuardNone},
		{"quoted vs bare", "rename 'foo'", "rename foo", GuardQuotes},
		{"file name", "open main.go", "open main.py", GuardIdentifiers},
		{"camel", "call fetchUser", "call fetchUsers", GuardIdentifiers},
		{"camel case-sensitive", "call fetchUser", "call fetchuser", GuardIdentifiers},
		{"acronym camel", "use HTTPServer", "use HTTPClient", GuardIdentifiers},
		{"snake", "set max_conns", "set max_idle", GuardIdentifiers},
		{"path", "cat /var/log/syslog", "cat /var/log/messages", GuardIdentifiers},
		{"url", "fetch https://example.com/a", "fetch https://example.com/b", GuardIdentifiers},
		{"flag", "what does -v do", "what does -x do", GuardIdentifiers},
		{"env var", "print $HOME", "print $PATH", GuardIdentifiers},
		{"scope operator", "what is std::vector", "what is std::list", GuardIdentifiers},
		{"call", "what does close() do", "what does open() do", GuardPolarity},
		{"abbreviation is not a name", "use a map, e.g. a dict", "use a map, eg a dict", GuardWords},
		{"words", "explain goroutines", "explain channels", GuardWords},
		{"extra word", "sort a slice", "sort a slice quickly", GuardWords},
		{"order", "is Go faster than Rust", "is Rust faster than Go", GuardOrder},
		{"order with repeats", "go vet before go test", "go test before go vet", GuardOrder},
		{"stopwords only", "What is the purpose of a mutex", "What purpose of mutex", GuardNone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, b := acquireAnalysis(tc.a), acquireAnalysis(tc.b)
			defer releaseAnalysis(a)
			defer releaseAnalysis(b)
			if g := check(&a.sig, &b.sig, 0); g != tc.want {
				t.Errorf("check(%q, %q) = %v, want %v\n a: %+v\n b: %+v", tc.a, tc.b, g, tc.want, a.sig, b.sig)
			}
			if g := check(&b.sig, &a.sig, 0); g != tc.want {
				t.Errorf("check is not symmetric: %v", g)
			}
			if tc.want == GuardNone && (a.sig.strict != b.sig.strict || a.sig.exact != b.sig.exact) {
				t.Error("passing pair with different prefilter hashes")
			}
		})
	}
}

func TestWordGuardTolerance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		max  int
		want Guard
	}{
		{"sort a slice", "sort a slice quickly", 0, GuardWords},
		{"sort a slice", "sort a slice quickly", 1, GuardNone},
		{"explain goroutines", "explain channels", 1, GuardWords},
		{"explain goroutines", "explain channels", 2, GuardNone},
		{"explain goroutines", "explain channels", -1, GuardNone},
		{"is Go faster than Rust", "is Rust faster than Go", -1, GuardOrder},
		{"why go faster rust", "go faster than rust today", -1, GuardNone},
	} {
		a, b := acquireAnalysis(tc.a), acquireAnalysis(tc.b)
		if g := check(&a.sig, &b.sig, tc.max); g != tc.want {
			t.Errorf("check(%q, %q, %d) = %v, want %v", tc.a, tc.b, tc.max, g, tc.want)
		}
		releaseAnalysis(a)
		releaseAnalysis(b)
	}
}

func TestAnalysis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text                         string
		words, neg, nums, idents, qs string
		lang                         string
	}{
		{text: "Hi! Can you tell me what's a goroutine, please?", words: "what goroutine", lang: "en"},
		{text: "Why won't it build? I can't see why.", words: "why will not it build i can not see why", neg: "not not", lang: "en"},
		{text: "Show the top five rows of users.csv", words: "show top 5 rows of users csv", neg: "show top", nums: "5", idents: "users.csv", lang: "en"},
		{text: "Run `go test ./...` with -race", words: "run go test with race", neg: "with", idents: "-race", qs: "go test ./...", lang: "en"},
		{text: "Qu'est-ce qu'une goroutine ?", words: "qu est ce qu une goroutine", lang: "fr"},
		{text: "Was ist eine Goroutine?", words: "was ist eine goroutine", lang: "de"},
		{text: "Что такое горутина?", words: "что такое горутина", lang: "cyrl"},
		{text: "ゴルーチンとは何ですか", words: "ゴ ル ー チ ン と は 何 で す か", lang: "jpan"},
		{text: "1,000 or 1000?", words: "1 000 or 1000", nums: "1 000 1000", lang: "latn"},
	} {
		a := acquireAnalysis(tc.text)
		got := map[string]string{
			"words": strings.Join(a.sig.words, " "), "neg": strings.Join(a.sig.neg, " "),
			"nums": strings.Join(a.sig.nums, " "), "idents": strings.Join(a.sig.idents, " "),
			"quotes": strings.Join(a.sig.quotes, " "), "lang": a.sig.lang,
		}
		want := map[string]string{"words": tc.words, "neg": tc.neg, "nums": tc.nums, "idents": tc.idents, "quotes": tc.qs, "lang": tc.lang}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%q: %s = %q, want %q", tc.text, k, got[k], w)
			}
		}
		releaseAnalysis(a)
	}
}

// TestAnalysisReuse: a pooled analysis must not carry anything over.
func TestAnalysisReuse(t *testing.T) {
	t.Parallel()
	first := acquireAnalysis("enable `x` in main.go on port 80")
	want := first.sig.own()
	releaseAnalysis(first)
	for range 3 {
		a := acquireAnalysis("hello")
		releaseAnalysis(a)
		b := acquireAnalysis("enable `x` in main.go on port 80")
		if check(&b.sig, &want, 0) != GuardNone || b.sig.exact != want.exact {
			t.Fatalf("re-analysis differs: %+v vs %+v", b.sig, want)
		}
		releaseAnalysis(b)
	}
}
