package routetrain

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// RouteLLM's evaluation data (github.com/lm-sys/RouteLLM, Apache-2.0,
// routellm/evals): MMLU and GSM8K answers of GPT-4 (gpt-4-1106-preview)
// and Mixtral-8x7B-Instruct graded right or wrong, and MT-Bench answers of
// the same two models scored 1-10 by a GPT-4 judge. These are evaluation
// benchmarks: they measure a router, they never train the shipped one
// (issue 17 keeps MT-Bench, GSM8K and MMLU prompts out of training).
const (
	RouteLLMStrong = "gpt-4-1106-preview"
	RouteLLMWeak   = "mistralai/Mixtral-8x7B-Instruct-v0.1"
)

// RouteLLMBenchmarks are the benchmarks RouteLLM writes, in output order.
var RouteLLMBenchmarks = []string{"mmlu", "gsm8k", "mt_bench"}

// RouteLLM writes labelled JSON Lines from a RouteLLM checkout (dir holds
// routellm/evals): one line per MMLU question, GSM8K problem and MT-Bench
// turn, with id "<benchmark>/<subset>/<hash of the prompt>", strong and
// weak the two models' quality (1/0 correctness; the judge's score / 10),
// and weak_answer Mixtral's answer where the data has it. Prompts RouteLLM
// lists as contaminated (too close to its own training data) are left
// out, as RouteLLM's evaluation does. It returns the count per benchmark.
func RouteLLM(dir string, w io.Writer) (map[string]int, error) {
	evals := filepath.Join(dir, "routellm", "evals")
	counts := map[string]int{}
	enc := json.NewEncoder(w)
	emit := func(bench, subset string, msgs []map[string]string, strong, weak float64, answer string) error {
		h := fnv.New64a()
		for _, m := range msgs {
			h.Write([]byte(m["role"]))
			h.Write([]byte(m["content"]))
		}
		line := map[string]any{
			"id":       fmt.Sprintf("%s/%s/%016x", bench, subset, h.Sum64()),
			"messages": msgs,
			"strong":   strong,
			"weak":     weak,
		}
		if answer != "" {
			line["weak_answer"] = answer
		}
		counts[bench]++
		return enc.Encode(line)
	}
	user := func(s string) []map[string]string { return []map[string]string{{"role": "user", "content": s}} }

	// MMLU: one CSV per subject, columns prompt, Mixtral, GPT-4.
	bad, err := contaminated(filepath.Join(evals, "mmlu", "contaminated_prompts.jsonl"))
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(evals, "mmlu", "responses", "mmlu_*.csv"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no MMLU responses under %s", evals)
	}
	sort.Strings(files)
	for _, f := range files {
		subject := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "mmlu_"), ".csv")
		rows, err := readCSV(f)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if bad[strings.TrimSpace(r["prompt"])] {
				continue
			}
			if err := emit("mmlu", subject, user(r["prompt"]), truth(r[RouteLLMStrong]), truth(r[RouteLLMWeak]), ""); err != nil {
				return nil, err
			}
		}
	}

	// GSM8K: prompt, the two models' correctness and answers.
	if bad, err = contaminated(filepath.Join(evals, "gsm8k", "contaminated_prompts.jsonl")); err != nil {
		return nil, err
	}
	rows, err := readCSV(filepath.Join(evals, "gsm8k", "gsm8k_responses.csv"))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if bad[strings.TrimSpace(r["prompt"])] {
			continue
		}
		if err := emit("gsm8k", "test", user(r["prompt"]), truth(r[RouteLLMStrong]), truth(r[RouteLLMWeak]), r[RouteLLMWeak+"_response"]); err != nil {
			return nil, err
		}
	}

	// MT-Bench: questions with two turns; the judge scores each model's
	// answer to each turn. A second turn is routed with the first one and
	// a placeholder for the answer the conversation would hold.
	if bad, err = contaminated(filepath.Join(evals, "mt_bench", "contaminated_prompts.jsonl")); err != nil {
		return nil, err
	}
	type question struct {
		ID       int      `json:"question_id"`
		Category string   `json:"category"`
		Turns    []string `json:"turns"`
	}
	var qs []question
	if err := eachJSON(filepath.Join(evals, "mt_bench", "question.jsonl"), func(b []byte) error {
		var q question
		err := json.Unmarshal(b, &q)
		qs = append(qs, q)
		return err
	}); err != nil {
		return nil, err
	}
	type key struct {
		q, turn int
		model   string
	}
	scores := map[key]float64{}
	if err := eachJSON(filepath.Join(evals, "mt_bench", "judgements.jsonl"), func(b []byte) error {
		var j struct {
			Q     int     `json:"question_id"`
			Model string  `json:"model"`
			Score float64 `json:"score"`
			Turn  int     `json:"turn"`
		}
		if err := json.Unmarshal(b, &j); err != nil {
			return err
		}
		if j.Score >= 1 && j.Score <= 10 {
			scores[key{j.Q, j.Turn, j.Model}] = j.Score / 10
		}
		return nil
	}); err != nil {
		return nil, err
	}
	for _, q := range qs {
		if len(q.Turns) == 0 || bad[strings.TrimSpace(q.Turns[0])] {
			continue
		}
		var msgs []map[string]string
		for t, text := range q.Turns {
			if t > 0 {
				msgs = append(msgs, map[string]string{"role": "assistant", "content": "(the answer to the previous turn)"})
			}
			msgs = append(msgs, map[string]string{"role": "user", "content": text})
			s, ok1 := scores[key{q.ID, t + 1, RouteLLMStrong}]
			wk, ok2 := scores[key{q.ID, t + 1, RouteLLMWeak}]
			if !ok1 || !ok2 {
				continue
			}
			if err := emit("mt_bench", fmt.Sprintf("%s-turn%d", q.Category, t+1), append([]map[string]string(nil), msgs...), s, wk, ""); err != nil {
				return nil, err
			}
		}
	}
	return counts, nil
}

func truth(s string) float64 {
	if strings.EqualFold(strings.TrimSpace(s), "true") {
		return 1
	}
	return 0
}

// readCSV reads a CSV file with a header row into maps by column name.
func readCSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReader(f))
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []map[string]string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		m := make(map[string]string, len(head))
		for i, h := range head {
			if i < len(rec) {
				m[h] = rec[i]
			}
		}
		out = append(out, m)
	}
}

func eachJSON(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for n := 1; sc.Scan(); n++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}

// contaminated reads RouteLLM's contaminated_prompts.jsonl: the eval
// prompts (trimmed) to leave out.
func contaminated(path string) (map[string]bool, error) {
	out := map[string]bool{}
	err := eachJSON(path, func(b []byte) error {
		var c struct {
			Eval string `json:"eval_prompt"`
		}
		if err := json.Unmarshal(b, &c); err != nil {
			return err
		}
		out[strings.TrimSpace(c.Eval)] = true
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	return out, err
}
