package semantic

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// turn500 is a 500-character final user turn.
var turn500 = func() string {
	s := "I have a CSV export with columns for the customer, the order date and the amount. " +
		"How do I read it line by line in Go, skip the header, parse the amounts as decimals, " +
		"group the totals by month and print them sorted by month? It should stay fast on large " +
		"files and use little memory, and I would like to avoid third-party packages if possible. " +
		"Please also show how to handle malformed rows without stopping, and how to test it."
	for len(s) < 500 {
		s += " Thanks."
	}
	return s[:500]
}()

// BenchmarkLocalEmbed500 embeds a 500-character turn through the exported
// API (the vector is allocated for the caller).
func BenchmarkLocalEmbed500(b *testing.B) {
	l := NewLocal(0)
	ctx := context.Background()
	texts := []string{turn500}
	b.ReportAllocs()
	b.SetBytes(int64(len(turn500)))
	for b.Loop() {
		if _, err := l.Embed(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAnalyseEmbed500 is the lookup's share: analysis (for the guards
// too) and embedding into a reused vector.
func BenchmarkAnalyseEmbed500(b *testing.B) {
	l := NewLocal(0)
	v := make([]float32, l.dims)
	b.ReportAllocs()
	b.SetBytes(int64(len(turn500)))
	for b.Loop() {
		a := acquireAnalysis(turn500)
		clear(v)
		l.embed(v, a)
		releaseAnalysis(a)
	}
}

// scope1000 fills one scope with 1,000 stored turns and returns the cache
// and a request in that scope with the given final turn.
func scope1000(b *testing.B, cfg Config, final func(i int) string) *Cache {
	c := newTestCache(b, cfg)
	ctx := context.Background()
	for i := range 1000 {
		if err := c.Store(ctx, turn(b, "You are a helpful assistant.", final(i)), "acme", "openai", "gpt-4o", answer(b, "x")); err != nil {
			b.Fatal(err)
		}
	}
	if st := c.Stats(); st.Entries != 1000 || st.Scopes != 1 {
		b.Fatalf("stats %+v", st)
	}
	return c
}

var topics = strings.Fields("goroutines channels mutexes slices maps interfaces generics closures defer panics " +
	"contexts timers tickers pointers structs embedding methods errors modules vendoring")

// distinct is a different question for each i, without numbers or names,
// so that every record shares the query's strict guard hash.
func distinct(i int) string {
	return "How should I think about " + topics[i%len(topics)] + " when " + topics[(i/len(topics))%len(topics)] +
		" and " + topics[(i/400+3)%len(topics)] + " interact in a large service?"
}

// BenchmarkLookup1000 looks up in a scope of 1,000 records with the
// defaults: the prefilter (guard hashes) leaves no or one candidate, so a
// miss costs the analysis and a scan of 1,000 hashes, and a hit one
// embedding and one dot product.
func BenchmarkLookup1000(b *testing.B) {
	ctx := context.Background()
	c := scope1000(b, Config{}, distinct)
	for _, tc := range []struct{ name, text string }{
		{"hit", "how should I think about slices when maps and slices interact in a large service"}, // distinct(83)
		{"miss", "How should I think about goroutines when timers and tickers collide in a small service?"},
	} {
		req := turn(b, "You are a helpful assistant.", tc.text)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _, ok := c.Lookup(ctx, req, "acme", "openai", "gpt-4o")
				if ok != (tc.name == "hit") {
					b.Fatalf("ok=%v", ok)
				}
			}
		})
	}
}

// BenchmarkLookup1000Scan is the worst case: max_word_diff = -1, so every
// one of the 1,000 records passes the prefilter and is compared by cosine
// (1,000 dot products of 1,024 dimensions).
func BenchmarkLookup1000Scan(b *testing.B) {
	ctx := context.Background()
	c := scope1000(b, Config{MaxWordDiff: -1}, distinct)
	req := turn(b, "You are a helpful assistant.", "How should I think about goroutines when timers and tickers collide in a small service?")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := c.Lookup(ctx, req, "acme", "openai", "gpt-4o"); ok {
			b.Fatal("hit")
		}
	}
	if c.Stats().BelowThreshold < 1000 {
		b.Fatal("the records were not compared")
	}
}

// BenchmarkLookupParallel: concurrent hits on one shared cache.
func BenchmarkLookupParallel(b *testing.B) {
	ctx := context.Background()
	c := scope1000(b, Config{}, distinct)
	req := turn(b, "You are a helpful assistant.", "how should I think about slices when maps and slices interact in a large service")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, ok := c.Lookup(ctx, req, "acme", "openai", "gpt-4o"); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkStore stores into a bounded index (evicting as it goes).
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	c := newTestCache(b, Config{MaxEntries: 4096})
	reqs := make([]*providers.Request, 0, 256)
	for i := range 256 {
		reqs = append(reqs, turn(b, "s", fmt.Sprintf("question %d about %s", i, topics[i%len(topics)])))
	}
	e := answer(b, "x")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := reqs[i%len(reqs)]
		i++
		if err := c.Store(ctx, r, "acme", "openai", "gpt-4o", e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDot1024(b *testing.B) {
	x, y := make([]float32, 1024), make([]float32, 1024)
	for i := range x {
		x[i], y[i] = float32(i%7), float32(i%5)
	}
	b.ReportAllocs()
	b.SetBytes(2 * 4 * 1024)
	var s float64
	for b.Loop() {
		s += dot(x, y)
	}
	_ = s
}
