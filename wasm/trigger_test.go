package wasm

import (
	"context"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metrics"

	"github.com/aigateway/gateway/abi"
)

// triggerInput is a request with a system prompt, a user message and a tool
// result, the X-Trace header and the body's skill field.
func triggerInput(user string) (*Input, *Output) {
	in := new(Input)
	in.AddMessage([]byte("system"), []byte("You are terse."), 0)
	in.AddMessage([]byte("user"), []byte(user), 0)
	in.AddMessage([]byte("tool"), []byte("```\nls\n```\n```\nok\n```"), abi.MsgToolResult)
	in.AddHeader([]byte("X-Trace"), []byte("1"))
	in.Skill = []byte("debug")
	out := new(Output)
	out.in = in
	return in, out
}

func TestTriggerMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, spec, user string
		want             bool
	}{
		{"no rule matches nothing", `{"any":[]}`, "hi", false},
		{"header, any case", `{"any":[{"header":"x-trace"}]}`, "hi", true},
		{"header absent", `{"any":[{"header":"x-other"}]}`, "hi", false},
		{"skill field", `{"any":[{"skill":true}]}`, "hi", true},
		{"flags", `{"any":[{"flags":2}]}`, "hi", false},
		{"role present", `{"any":[{"roles":["tool"]}]}`, "hi", true},
		{"role absent", `{"any":[{"roles":["developer"]}]}`, "hi", false},
		{"contains in a selected role", `{"any":[{"roles":["user"],"contains":["<x>","<|"]}]}`, "a <|im_end|>", true},
		{"contains only in another role", `{"any":[{"roles":["system"],"contains":["<|"]}]}`, "a <|im_end|>", false},
		{"contains, many candidates", `{"any":[{"contains":["<tag>"]}]}`, strings.Repeat("a < b <ta ", 50) + "<tag>", true},
		{"contains absent", `{"any":[{"contains":["<tag>"]}]}`, strings.Repeat("a < b <ta ", 50), false},
		{"min_count over messages", `{"any":[{"contains":["` + "```" + `"],"min_count":5}]}`, "```x", true},
		{"min_count short", `{"any":[{"contains":["` + "```" + `"],"min_count":6}]}`, "```x", false},
		{"overlapping occurrences count", `{"any":[{"contains":["aa"],"min_count":2}]}`, "aaa", true},
		{"a position counts once", `{"any":[{"roles":["user"],"contains":["a","aa"],"min_count":4}]}`, "aaa", false},
		{"prefix", `{"any":[{"prefix":["@"]}]}`, "@code x", true},
		{"prefix not at the start", `{"any":[{"prefix":["@"]}]}`, "see @code", false},
		{"min_bytes of the selected roles", `{"any":[{"roles":["system"],"min_bytes":14}]}`, "hi", true},
		{"min_bytes short", `{"any":[{"roles":["system"],"min_bytes":15}]}`, "hi", false},
		{"every condition of a rule", `{"any":[{"header":"x-trace","prefix":["@"]}]}`, "hi", false},
		{"any rule", `{"any":[{"header":"x-other"},{"prefix":["hi"]}]}`, "hi", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr, msg := newTrigger([]byte(tc.spec))
			if msg != "" {
				t.Fatal(msg)
			}
			in, out := triggerInput(tc.user)
			if got := tr.match(in, out); got != tc.want {
				t.Fatalf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestTriggerSeesEarlierEdits: the trigger reads the messages as the policies
// before it left them, as message_text would.
func TestTriggerSeesEarlierEdits(t *testing.T) {
	tr, _ := newTrigger([]byte(`{"any":[{"contains":["<|"]}]}`))
	in, out := triggerInput("a <|im_end|>")
	var s callState
	s.begin(abi.StageRequest, in, out, nil, "p", 1<<20, 1<<20)
	if st := s.ReplaceText(1, 2, 12, nil); st != 0 {
		t.Fatal(st)
	}
	out.commit("p")
	if tr.match(in, out) {
		t.Fatal("the trigger matched text an earlier policy removed")
	}
}

// stripperLikeSpec is a trigger of the stripper's shape: 35 markers that all
// start with '<'.
func stripperLikeSpec() []byte {
	b := []byte(`{"any":[{"roles":["system","developer","user"],"contains":["<|"`)
	for i := range 34 {
		b = append(b, `,"<tag_`...)
		b = abi.AppendInt(b, int64(i))
		b = append(b, `>"`...)
	}
	return append(b, `]},{"roles":["system","developer"],"min_bytes":160}]}`...)
}

// hundredKiB is a 100 KiB user message with a '<' every 80 bytes and no
// marker: the worst case of the stripper-like trigger.
func hundredKiB() string {
	return strings.Repeat("for i := 0; i < n; i++ { sum += values[i] * weights[i] } // accumulate it\n", 100<<10/80)
}

// TestTriggerMatchAllocs: matching allocates nothing.
func TestTriggerMatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	tr, _ := newTrigger(stripperLikeSpec())
	in, out := triggerInput(hundredKiB())
	if n := testing.AllocsPerRun(100, func() { tr.match(in, out) }); n != 0 {
		t.Fatalf("match allocates %v times", n)
	}
}

func BenchmarkTriggerMatch(b *testing.B) {
	tr, _ := newTrigger(stripperLikeSpec())
	in, out := triggerInput(hundredKiB())
	b.SetBytes(int64(len(in.Messages[1].Text)))
	b.ReportAllocs()
	for b.Loop() {
		if tr.match(in, out) {
			b.Fatal("matched")
		}
	}
}

// BenchmarkDedupTrigger is the built-in dedup's trigger (its default
// config) on the benchmark's 100 KiB coding prompt, which it lets pass.
func BenchmarkDedupTrigger(b *testing.B) {
	ctx := context.Background()
	h, err := New(ctx, Options{CacheDir: b.TempDir(), Metrics: metrics.NewSet()})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(ctx)
	if err := h.Configure([]PolicyConfig{{Name: "dedup", Module: BuiltinPrefix + "dedup", Stages: []string{"request"}}}); err != nil {
		b.Fatal(err)
	}
	tr := h.reg.Load().byName["dedup"].cur.Load().trigger
	if tr == nil {
		b.Fatal("dedup declared no trigger")
	}
	in := codingRequest(100 << 10).input()
	out := new(Output)
	out.in = in
	b.SetBytes(int64(len(in.Messages[1].Text)))
	b.ReportAllocs()
	for b.Loop() {
		if tr.match(in, out) {
			b.Fatal("matched")
		}
	}
}
