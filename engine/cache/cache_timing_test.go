package cache

import (
	"io"
	"testing"
	"time"
)

func BenchmarkKeyFor16KiB(b *testing.B) {
	body := bigRequest(16 << 10)
	req := decode(b, body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		KeyFor(req, "acme", "openai", "gpt-4o")
	}
}

// BenchmarkL1HitRender is the cache's share of serving a memory hit: the
// lookup and the chat.completion body rendered into a reused buffer.
func BenchmarkL1HitRender(b *testing.B) {
	c := newCache(b, Config{})
	k := keyOf(b, baseReq, "acme", "openai", "gpt-4o")
	e := textEntry(b)
	if err := c.Set(&k, e, time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(e.AppendCompletion(nil, "chatcmpl-123"))))
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 8192)
		for pb.Next() {
			e, _ := c.Get(&k)
			buf = e.AppendCompletion(buf[:0], "chatcmpl-123")
		}
	})
}

// BenchmarkBigcacheHit is a memory hit without the hot set: bigcache's copy
// and a decode.
func BenchmarkBigcacheHit(b *testing.B) {
	c := newCache(b, Config{HotEntries: -1})
	k := keyOf(b, baseReq, "acme", "openai", "gpt-4o")
	if err := c.Set(&k, textEntry(b), time.Hour); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	buf := make([]byte, 0, 8192)
	for b.Loop() {
		e, _ := c.Get(&k)
		buf = e.AppendCompletion(buf[:0], "chatcmpl-123")
	}
}

func BenchmarkRedisHit(b *testing.B) {
	r := startRedis(b)
	c := newCache(b, Config{RedisURL: r.url(), MemoryMB: -1})
	k := keyOf(b, baseReq, "acme", "openai", "gpt-4o")
	if err := c.Set(&k, textEntry(b), time.Hour); err != nil {
		b.Fatal(err)
	}
	flush(b, c)
	b.ReportAllocs()
	buf := make([]byte, 0, 8192)
	for b.Loop() {
		e, tier := c.Get(&k)
		if tier != TierRedis {
			b.Fatal("miss")
		}
		buf = e.AppendCompletion(buf[:0], "chatcmpl-123")
	}
}

func BenchmarkAssemblerChunk(b *testing.B) {
	var a Assembler
	chunk := []byte(contentChunk)
	b.ReportAllocs()
	b.SetBytes(int64(len(chunk)))
	i := 0
	for b.Loop() {
		if i%4096 == 0 {
			a.Reset()
		}
		i++
		a.Write(chunk)
	}
}

func BenchmarkReplay(b *testing.B) {
	e := textEntry(b)
	var r Replay
	r.Reset(e, "chatcmpl-1", true)
	n := 0
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		n += len(p)
	}
	b.ReportAllocs()
	b.SetBytes(int64(n))
	for b.Loop() {
		r.Reset(e, "chatcmpl-1", true)
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			}
		}
	}
}

func BenchmarkParseCompletion(b *testing.B) {
	body := []byte(openAICompletion)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseCompletion(body, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	c := newCache(b, Config{})
	k := keyOf(b, baseReq, "acme", "openai", "gpt-4o")
	e := textEntry(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Set(&k, e, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
