package routetrain

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aigateway/gateway/policies/router/routemodel"
)

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// RouteLLM's files, in their layouts: quoted multi-line CSV prompts, the
// contaminated prompts left out, MT-Bench's two turns scored per model.
func TestRouteLLM(t *testing.T) {
	dir := t.TempDir()
	ev := filepath.Join(dir, "routellm", "evals")
	writeFile(t, filepath.Join(ev, "mmlu", "responses", "mmlu_anatomy.csv"),
		"prompt,mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview\n"+
			"\"Which bone?\nA. a\nB. \"\"b\"\"\nAnswer:\",False,True\n"+
			"\"Seen in training?\nAnswer:\",True,True\n")
	writeFile(t, filepath.Join(ev, "mmlu", "contaminated_prompts.jsonl"), `{"train_prompt":"x","eval_prompt":"Seen in training?\nAnswer:"}`+"\n")
	writeFile(t, filepath.Join(ev, "gsm8k", "gsm8k_responses.csv"),
		"prompt,mistralai/Mixtral-8x7B-Instruct-v0.1,gpt-4-1106-preview,mistralai/Mixtral-8x7B-Instruct-v0.1_response,gpt-4-1106-preview_response\n"+
			"How many eggs?,True,False,\"9 eggs\n#### 9\",ten\n")
	writeFile(t, filepath.Join(ev, "mt_bench", "question.jsonl"), `{"question_id": 81, "category": "writing", "turns": ["Write a poem.", "Shorter."]}`+"\n")
	var j strings.Builder
	for _, m := range []struct {
		model       string
		turn, score int
	}{{RouteLLMStrong, 1, 9}, {RouteLLMWeak, 1, 6}, {RouteLLMStrong, 2, 8}, {RouteLLMWeak, 2, -1}} {
		fmt.Fprintf(&j, `{"question_id": 81, "model": %q, "score": %d, "turn": %d}`+"\n", m.model, m.score, m.turn)
	}
	writeFile(t, filepath.Join(ev, "mt_bench", "judgements.jsonl"), j.String())

	var out bytes.Buffer
	counts, err := RouteLLM(dir, &out)
	if err != nil {
		t.Fatal(err)
	}
	// The second MMLU prompt is contaminated; MT-Bench's second turn has
	// no valid score for the weak model.
	if counts["mmlu"] != 1 || counts["gsm8k"] != 1 || counts["mt_bench"] != 1 {
		t.Fatalf("counts %v", counts)
	}
	recs, err := Read(&out)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		idPrefix     string
		intent       string
		strong, weak float64
		answer       string
	}{
		{"mmlu", "mmlu/anatomy/", "Which bone?\nA. a\nB. \"b\"\nAnswer:", 1, 0, ""},
		{"gsm8k", "gsm8k/test/", "How many eggs?", 0, 1, "9 eggs\n#### 9"},
		{"mt_bench", "mt_bench/writing-turn1/", "Write a poem.", 0.9, 0.6, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := recs[i]
			if !strings.HasPrefix(r.ID, tt.idPrefix) || string(r.Input.Intent) != tt.intent || r.Strong != tt.strong || r.Weak != tt.weak || r.WeakAnswer != tt.answer {
				t.Fatalf("got id %q intent %q strong %g weak %g answer %q", r.ID, r.Input.Intent, r.Strong, r.Weak, r.WeakAnswer)
			}
		})
	}
}

// When only the length of a prompt tells the outcome (every word is new),
// cross-validation picks a length prior.
func TestCrossValidatePicksLengthPrior(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for i := 0; i < 300; i++ {
		n := 1 + rng.IntN(60)
		var p strings.Builder
		for w := 0; w < n; w++ {
			fmt.Fprintf(&p, "w%dx%d ", i, w)
		}
		strong := 0.0
		if n > 30 {
			strong = 1
		}
		fmt.Fprintf(&b, `{"id":"q%d","messages":[{"role":"user","content":%q}],"strong":%g,"weak":0}`+"\n", i, p.String(), strong)
	}
	recs, err := Read(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	o, grid, err := CrossValidate(recs, 3, Options{Seed: 1}, DefaultGrid())
	if err != nil {
		t.Fatal(err)
	}
	if len(grid) != len(DefaultGrid()) || o.LengthPrior == 0 {
		t.Fatalf("chose %+v from %+v", o, grid)
	}
}

// The mixed threshold weighs each set the same, however many prompts
// each has.
func TestSetThresholdMixed(t *testing.T) {
	recs := func(n, words int) []Record {
		out := make([]Record, n)
		for i := range out {
			out[i].Input.Intent = []byte(strings.Repeat("word ", words))
		}
		return out
	}
	m := &routemodel.Model{Bits: 8, W: make([]float32, 256)}
	for b := 0; b < routemodel.LengthBuckets; b++ {
		m.W[routemodel.LengthBucketBin(b, 255)] = float32(b-28) / 4
	}
	short, long := recs(1000, 2), recs(10, 200)
	SetThresholdMixed(m, [][]Record{short, long}, 0.5)
	ps, pl := Scores(m, short)[0], Scores(m, long)[0]
	if !(ps < float64(m.Threshold) && float64(m.Threshold) <= pl) {
		t.Fatalf("threshold %g: short %g, long %g; want long (half the sets) strong", m.Threshold, ps, pl)
	}
}

func TestLengthBucketIsMonotone(t *testing.T) {
	prev := -1
	for n := 0; n < 1<<18; n++ {
		b := routemodel.LengthBucket(n)
		if b < prev || b >= routemodel.LengthBuckets {
			t.Fatalf("LengthBucket(%d) = %d after %d", n, b, prev)
		}
		prev = b
	}
}

// A one-sided length prior (LengthPriorFrom) leaves every length up to
// its start where the training put it and adds LengthPrior per octave
// beyond; the two-sided one lowers the short ones too.
func TestLengthPriorFrom(t *testing.T) {
	recs, err := Read(strings.NewReader(`{"id":"a","messages":[{"role":"user","content":"hello there"}],"strong":1,"weak":0}
{"id":"b","messages":[{"role":"user","content":"hi"}],"strong":0,"weak":1}
`))
	if err != nil {
		t.Fatal(err)
	}
	base := Options{Seed: 1, Bits: 10}
	plain, err := Train(recs, base)
	if err != nil {
		t.Fatal(err)
	}
	mask := uint32(1<<10 - 1)
	prior := func(o Options, n int) float64 {
		m, err := Train(recs, o)
		if err != nil {
			t.Fatal(err)
		}
		i := routemodel.LengthBin(n, mask)
		return float64(m.W[i] - plain.W[i])
	}
	one := base
	one.LengthPrior, one.LengthPriorFrom = 2, 128
	two := base
	two.LengthPrior = 2
	tests := []struct {
		name  string
		o     Options
		bytes int
		want  float64
	}{
		{"one-sided below its start", one, 40, 0},
		{"one-sided at its start", one, 127, 0},
		{"one-sided two octaves beyond", one, 511, 4},
		{"two-sided below 128 bytes", two, 31, -4},
		{"two-sided two octaves beyond", two, 511, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := prior(tt.o, tt.bytes); math.Abs(got-tt.want) > 1e-5 {
				t.Fatalf("prior at %d bytes = %g, want %g", tt.bytes, got, tt.want)
			}
		})
	}
}
