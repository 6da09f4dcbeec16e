package routetrain

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// AlpacaEvalExcluded are AlpacaEval subsets left out of the data: the
// Vicuna questions are the forerunner of MT-Bench, an evaluation set that
// must stay out of training.
var AlpacaEvalExcluded = map[string]bool{"vicuna": true}

type annotation struct {
	Instruction string          `json:"instruction"`
	Dataset     string          `json:"dataset"`
	Output2     string          `json:"output_2"`
	Preference  json.RawMessage `json:"preference"`
}

func readAnnotations(dir, model, annotator string) (map[string]annotation, error) {
	path := filepath.Join(dir, "results", model, annotator, "annotations.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var list []annotation
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make(map[string]annotation, len(list))
	for _, a := range list {
		out[a.Instruction] = a
	}
	return out, nil
}

// preference reads AlpacaEval's preference (1: the reference's answer is
// better, 2: the model's; weighted annotators give values between; a
// string or a number) as P(model better than the reference).
func preference(raw json.RawMessage) (float64, bool) {
	s := string(raw)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	p, err := strconv.ParseFloat(s, 64)
	if err != nil || p < 1 || p > 2 {
		return 0, false
	}
	return p - 1, true
}

// AlpacaEval writes labelled JSON Lines from an AlpacaEval checkout
// (github.com/tatsu-lab/alpaca_eval): for each instruction both models
// were annotated on by annotator, strong and weak are each model's
// preference against the annotator's common reference answer, and
// weak_answer is the weak model's answer. Excluded subsets are left out.
// It returns the number of prompts written.
func AlpacaEval(dir, annotator, strong, weak string, w io.Writer) (int, error) {
	sa, err := readAnnotations(dir, strong, annotator)
	if err != nil {
		return 0, err
	}
	wa, err := readAnnotations(dir, weak, annotator)
	if err != nil {
		return 0, err
	}
	keys := make([]string, 0, len(sa))
	for k := range sa {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	enc := json.NewEncoder(w)
	n := 0
	for _, k := range keys {
		s, wk := sa[k], wa[k]
		if wk.Instruction == "" || AlpacaEvalExcluded[s.Dataset] {
			continue
		}
		ps, ok1 := preference(s.Preference)
		pw, ok2 := preference(wk.Preference)
		if !ok1 || !ok2 {
			continue
		}
		h := fnv.New64a()
		h.Write([]byte(k))
		line := map[string]any{
			"id":          fmt.Sprintf("alpaca_eval/%s/%016x", s.Dataset, h.Sum64()),
			"messages":    []map[string]string{{"role": "user", "content": k}},
			"strong":      ps,
			"weak":        pw,
			"weak_answer": wk.Output2,
		}
		if err := enc.Encode(line); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
