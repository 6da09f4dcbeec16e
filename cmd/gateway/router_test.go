package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRouterTrainAndEvalWithCascade runs `gateway router train` and
// `gateway router eval` on a small labelled file whose prompts carry the
// weak model's answers: eval prints the RouteLLM table and the cascade
// measured with the built-in judge, which escalates the empty and the
// truncated-looking answers of the hard prompts.
func TestRouterTrainAndEvalWithCascade(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "labelled.jsonl")
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range 80 {
		hard := i%2 == 0
		prompt := fmt.Sprintf("What is %d plus %d?", i, i)
		answer := fmt.Sprintf("%d.", 2*i)
		strong, weak := 1.0, 1.0
		if hard {
			prompt = fmt.Sprintf("Design a distributed, fault-tolerant consensus protocol for %d replicas and prove its safety under partitions.", i+3)
			answer, weak = "", 0 // the weak model gave up
		}
		if err := enc.Encode(map[string]any{"id": fmt.Sprintf("p%d", i), "messages": []map[string]string{{"role": "user", "content": prompt}},
			"strong": strong, "weak": weak, "weak_answer": answer}); err != nil {
			t.Fatal(err)
		}
	}
	// An empty weak answer is no answer to learn from, but the record
	// needs one to be measured: give it a space the judge still rejects.
	if err := os.WriteFile(data, bytes.ReplaceAll(b.Bytes(), []byte(`"weak_answer":""`), []byte(`"weak_answer":" "`)), 0o644); err != nil {
		t.Fatal(err)
	}
	weights := filepath.Join(dir, "w.bin")
	var out, errb bytes.Buffer
	if code := routerMain([]string{"train", "-data", data, "-out", weights, "-holdout", "0.5", "-epochs", "20"}, &out, &errb); code != 0 {
		t.Fatalf("train: exit %d: %s%s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := routerMain([]string{"eval", "-data", data, "-weights", weights, "-holdout", "0.5", "-trials", "200"}, &out, &errb); code != 0 {
		t.Fatalf("eval: exit %d: %s%s", code, out.String(), errb.String())
	}
	s := out.String()
	if !strings.Contains(s, "| held-out prompts |") || !strings.Contains(s, "Cascade on ") {
		t.Fatalf("eval output lacks a table:\n%s", s)
	}
	// The judge escalates exactly the hard prompts' blank answers: all of
	// its escalations are where the strong answer is better.
	if !strings.Contains(s, "100% of them where the strong answer is better; it catches 100% of those prompts") {
		t.Fatalf("the judge did not escalate exactly the blank answers:\n%s", s)
	}
	if !strings.Contains(s, "| cascade alone (weak first, judge escalates) | 0.0% |") {
		t.Fatalf("cascade row:\n%s", s)
	}

	out.Reset()
	if code := routerMain([]string{"eval", "-data", data, "-weights", weights, "-holdout", "0.5", "-trials", "200", "-judge", "off"}, &out, &errb); code != 0 || strings.Contains(out.String(), "Cascade on ") {
		t.Fatalf("-judge off: exit %d:\n%s", code, out.String())
	}
}
