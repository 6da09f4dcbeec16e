package cache

import (
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
}

const contentChunk = `data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" token \"quoted\""},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n"

const argsChunk = `data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"pa"}}]},"logprobs":null,"finish_reason":null}]}` + "\n\n"

// TestAssemblerAllocs: assembling a stream allocates nothing per chunk once
// the buffers have grown (Entry itself allocates once, at the end).
func TestAssemblerAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	var a Assembler
	head := strings.SplitAfter(openAIStream, "\n\n")
	role, toolStart, content, args := []byte(head[0]), []byte(head[3]), []byte(contentChunk), []byte(argsChunk)
	run := func() {
		a.Reset()
		a.Write(role)
		for range 100 {
			a.Write(content)
		}
		a.Write(toolStart)
		for range 100 {
			a.Write(args)
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Fatalf("assembling 200 chunks allocates %.1f times", n)
	}
}

func TestCompletionRenderAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	e := rebuild(t, wantOpenAIEntry())
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = e.AppendCompletion(buf[:0], "chatcmpl-123") }); n != 0 {
		t.Fatalf("rendering allocates %.1f times", n)
	}
}

func TestReplayAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	e := rebuild(t, goldenEntries()["text"])
	var r Replay
	run := func() {
		r.Reset(e, "chatcmpl-123", true)
		for {
			if _, err := r.Next(); err == io.EOF {
				return
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Fatalf("replaying allocates %.1f times", n)
	}
}

// TestL1HitAllocs: the steady-state memory hit, lookup and rendering of the
// chat.completion body into the caller's buffer, allocates nothing.
func TestL1HitAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	c := newCache(t, Config{})
	k := keyOf(t, baseReq, "acme", "openai", "gpt-4o")
	if err := c.Set(&k, textEntry(t), time.Minute); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 8192)
	hit := func() {
		e, tier := c.Get(&k)
		if tier != TierMemory {
			t.Fatal("miss")
		}
		buf = e.AppendCompletion(buf[:0], "chatcmpl-123")
	}
	hit()
	if n := testing.AllocsPerRun(100, hit); n != 0 {
		t.Fatalf("an L1 hit allocates %.1f times", n)
	}
	r := Result{}
	if n := testing.AllocsPerRun(100, func() {
		r = c.Begin(k, cacheable, Use)
		buf = r.Entry.AppendCompletion(buf[:0], "chatcmpl-123")
	}); n != 0 || r.Header() != "hit-memory" {
		t.Fatalf("Begin on an L1 hit allocates %.1f times (%s)", n, r.Header())
	}
}

// TestEmptyMemoryTierAllocs: an empty in-process tier at the default size
// (256 MB) preallocates little; its shards grow as entries arrive. It used to
// preallocate 8.5 MB (64 entries of 2 KiB per shard).
func TestEmptyMemoryTierAllocs(t *testing.T) {
	skipAllocsUnderRace(t)
	const budget = 512 << 10
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m, err := newMemory(256, DefaultHotEntries, DefaultHotMaxBytes, 1<<20, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	defer m.close()
	if got := after.TotalAlloc - before.TotalAlloc; got > budget {
		t.Fatalf("an empty 256 MB memory tier allocates %d bytes, budget %d", got, budget)
	}
	// It still holds what it is given: the queues grow on demand.
	value := make([]byte, 4096)
	for i := range 2000 {
		key := strconv.Itoa(i)
		if err := m.bc.Set(key, value); err != nil {
			t.Fatalf("set %d: %v", i, err)
		}
	}
	if n := m.bc.Len(); n != 2000 {
		t.Fatalf("the tier holds %d of 2000 entries of 4 KiB", n)
	}
}
