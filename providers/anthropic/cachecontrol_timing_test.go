package anthropic

import (
	"strconv"
	"strings"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// agentRequest64K is an OpenAI-format agent session of about 64 KiB: a long
// system prompt, a dozen tools and a tool loop whose results carry files.
func agentRequest64K(tb testing.TB) []byte {
	tb.Helper()
	var b strings.Builder
	b.WriteString(`{"model":"claude-sonnet-4-20250514","messages":[{"role":"system","content":"`)
	b.WriteString(strings.Repeat("Follow the house style and explain each change. ", 160))
	b.WriteString(`"},{"role":"user","content":"The engine tests fail; find out why and fix them."}`)
	for turn := 0; b.Len() < 60<<10; turn++ {
		id := "call_" + strconv.Itoa(turn)
		b.WriteString(`,{"role":"assistant","content":"Reading the next file.","tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"engine/f` + strconv.Itoa(turn) + `.go\"}"}}]}`)
		b.WriteString(`,{"role":"tool","tool_call_id":"` + id + `","content":"package engine\n\n`)
		b.WriteString(strings.Repeat(`func f() error { return fmt.Errorf(\"x: %w\", err) }\n`, 60))
		b.WriteString(`"}`)
	}
	b.WriteString(`],"tools":[`)
	for i := range 12 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"function","function":{"name":"tool_` + strconv.Itoa(i) + `","description":"` + strings.Repeat("Does one thing well. ", 20) + `","parameters":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// translated64K is agentRequest64K translated to a Messages body.
func translated64K(tb testing.TB) []byte {
	r := decode(tb, agentRequest64K(tb))
	defer providers.ReleaseRequest(r)
	out, _, err := appendRequest(nil, testCall(r))
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestCacheControlAllocs proves placement allocates nothing once the
// buffer has grown.
func TestCacheControlAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	plain := translated64K(t)
	tbl := newMinTable(nil)
	buf := make([]byte, 0, 2*len(plain))
	n := testing.AllocsPerRun(100, func() {
		buf, _ = addBreakpoints(append(buf[:0], plain...), "claude-sonnet-4-20250514", tbl, false)
	})
	if n != 0 {
		t.Errorf("%v allocations per placement, want 0", n)
	}
	if _, added := addBreakpoints(append(buf[:0], plain...), "claude-sonnet-4-20250514", tbl, false); added != 4 {
		t.Errorf("added %d breakpoints to the 64 KiB agent request, want 4", added)
	}
}

// BenchmarkCacheControl: placement on a 64 KiB agent request. "copy" is the
// memmove every iteration needs to restore the body, the baseline to
// subtract; "translated" and "passthrough" place four breakpoints.
func BenchmarkCacheControl(b *testing.B) {
	plain := translated64K(b)
	tbl := newMinTable(nil)
	buf := make([]byte, 0, 2*len(plain))
	b.Run("copy", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			buf = append(buf[:0], plain...)
		}
	})
	b.Run("translated", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			buf, _ = addBreakpoints(append(buf[:0], plain...), "claude-sonnet-4-20250514", tbl, false)
		}
	})
	b.Run("translated-ledger", func(b *testing.B) {
		// With the prefix ledger, as the provider places by default: the
		// same request again (a retry), so the ledger's maps hold steady.
		led := newPrefixLedger(nil)
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			buf, _ = addBreakpointsWith(append(buf[:0], plain...), "claude-sonnet-4-20250514", tbl, false, led)
		}
	})
	b.Run("passthrough", func(b *testing.B) {
		// AppendWithModel (validation and model swap) then placement, as
		// Provider.Messages does.
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			var err error
			if buf, err = AppendWithModel(buf[:0], plain, "claude-sonnet-4-5"); err != nil {
				b.Fatal(err)
			}
			buf, _ = addBreakpoints(buf, "claude-sonnet-4-5", tbl, true)
		}
	})
	b.Run("passthrough-without", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			var err error
			if buf, err = AppendWithModel(buf[:0], plain, "claude-sonnet-4-5"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
