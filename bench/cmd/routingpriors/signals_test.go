package main

import (
	"strings"
	"testing"
)

func TestCountWords(t *testing.T) {
	t.Parallel()
	// Ranks 1..4 are common; "ribosome" ranks past 5k, "xylem" past
	// 20k; anything absent is past 50k.
	ranks := map[string]int{"the": 1, "is": 2, "what": 3, "of": 4, "ribosome": 9000, "xylem": 30000, "don't": 5}
	tests := []struct {
		name string
		text string
		want wordStats
	}{
		{name: "common", text: "What is the", want: wordStats{words: 3}},
		{name: "ranks", text: "the ribosome of the xylem", want: wordStats{words: 5, over5k: 2, over20k: 1}},
		{name: "absent", text: "the phloem", want: wordStats{words: 2, over5k: 1, over20k: 1, over50k: 1}},
		{name: "lower-cased-lookup", text: "THE Ribosome", want: wordStats{words: 2, over5k: 1, midCaps: 1}},
		{name: "mid-caps-not-after-full-stop", text: "the xylem. The Krebs cycle", want: wordStats{words: 5, over5k: 3, over20k: 3, over50k: 2, midCaps: 1}},
		{name: "new-line-starts-a-sentence", text: "of\nParis", want: wordStats{words: 2, over5k: 1, over20k: 1, over50k: 1}},
		{name: "apostrophe", text: "don't the'", want: wordStats{words: 2}},
		{name: "one-letter-and-digits-skipped", text: "a 42 b x2", want: wordStats{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := countWords([]byte(tc.text), ranks); got != tc.want {
				t.Errorf("countWords(%q) = %+v, want %+v", tc.text, got, tc.want)
			}
		})
	}
}

func TestSignals(t *testing.T) {
	t.Parallel()
	sigs := signals(map[string]int{"the": 1})
	tests := []struct {
		signal string
		text   string
		want   float64
	}{
		{signal: "options", text: "Q?\nA. one\nB. two\nC. three\nAnswer:", want: 1},
		{signal: "options", text: "Q?\nA. one\nB. two", want: 0},
		{signal: "which-of-the-following", text: "Which of the following is true?", want: 1},
		{signal: "log2-units", text: "3 km in 20 minutes costs $5", want: 2},   // log2(1+3)
		{signal: "log2-reasoning", text: "Explain why, step by step", want: 2}, // log2(1+3)
		{signal: "log2-over-50k+mid-caps", text: "the Krebs", want: 2},         // log2(2) + log2(2)
		{signal: "digit-share", text: "a1b2", want: 4},                         // 10 × 2/5
	}
	for _, tc := range tests {
		t.Run(tc.signal+"/"+strings.Fields(tc.text)[0], func(t *testing.T) {
			t.Parallel()
			sig, ok := find(sigs, tc.signal)
			if !ok {
				t.Fatalf("no signal %q", tc.signal)
			}
			if got := sig.f([]byte(tc.text)); got != tc.want {
				t.Errorf("%s(%q) = %v, want %v", tc.signal, tc.text, got, tc.want)
			}
		})
	}
}

func TestReadRanks(t *testing.T) {
	t.Parallel()
	ranks, err := readRanks(strings.NewReader("you 100\nThe 90\n\nthe 80\nxylem 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"you": 1, "the": 2, "xylem": 4}
	if len(ranks) != len(want) {
		t.Fatalf("got %v, want %v", ranks, want)
	}
	for w, r := range want {
		if ranks[w] != r {
			t.Errorf("rank of %q = %d, want %d", w, ranks[w], r)
		}
	}
	if _, err := readRanks(strings.NewReader("\n\n")); err == nil {
		t.Error("an empty list: no error")
	}
}
