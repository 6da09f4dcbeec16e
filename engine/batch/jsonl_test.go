package batch

import (
	"encoding/json"
	"testing"

	"github.com/aigateway/gateway/engine/store"
)

func TestParseItems(t *testing.T) {
	t.Parallel()
	const ep = "/v1/chat/completions"
	line := func(id, url, body string) string {
		return `{"custom_id":"` + id + `","method":"POST","url":"` + url + `","body":` + body + "}\n"
	}
	tests := []struct {
		name    string
		in      string
		pending int
		failed  int
		errs    []string // codes of the batch's errors
	}{
		{name: "good", in: line("a", ep, `{"model":"m"}`) + "\r\n" + line("b", ep, `{"model":"m"}`), pending: 2},
		{name: "wrong url is an error line", in: line("a", "/v1/embeddings", `{}`), failed: 1},
		{name: "body not an object", in: line("a", ep, `[1]`), failed: 1},
		{name: "stream refused", in: line("a", ep, `{"stream":true}`), failed: 1},
		{name: "GET refused", in: `{"custom_id":"a","method":"GET","url":"` + ep + `","body":{}}`, failed: 1},
		{name: "duplicate custom_id", in: line("a", ep, `{}`) + line("a", ep, `{}`), errs: []string{"duplicate_custom_id"}},
		{name: "no custom_id", in: `{"method":"POST","url":"` + ep + `","body":{}}`, errs: []string{"missing_required_parameter"}},
		{name: "not JSON", in: "{nope\n", errs: []string{"invalid_json_line"}},
		{name: "not an object", in: "[1,2]\n", errs: []string{"invalid_json_line"}},
		{name: "empty", in: "\n \n", errs: []string{"empty_file"}},
		{name: "too many", in: line("a", ep, `{}`) + line("b", ep, `{}`) + line("c", ep, `{}`), errs: []string{"too_many_requests"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			items, errs := parseItems([]byte(tc.in), ep, 2)
			var codes []string
			for _, e := range errs {
				codes = append(codes, e.Code)
			}
			if len(codes) != len(tc.errs) || (len(codes) > 0 && codes[0] != tc.errs[0]) {
				t.Fatalf("errors %v, want %v", codes, tc.errs)
			}
			if len(tc.errs) > 0 {
				return
			}
			pending, failed := 0, 0
			for _, it := range items {
				switch it.State {
				case store.ItemPending:
					pending++
				case store.ItemFailed:
					failed++
					var l outputLine
					if err := json.Unmarshal(it.Result, &l); err != nil || l.Error == nil || l.CustomID != it.CustomID {
						t.Fatalf("error line %s", it.Result)
					}
				}
			}
			if pending != tc.pending || failed != tc.failed {
				t.Fatalf("pending %d failed %d", pending, failed)
			}
		})
	}
}

// FuzzParseItems: any input file parses without panicking into items with
// distinct custom_ids and JSON bodies, or into errors; the upload check
// accepts every file that parses into items.
func FuzzParseItems(f *testing.F) {
	f.Add([]byte(`{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}` + "\n"))
	f.Add([]byte("{\"custom_id\":\"a\"}\r\n\n[1]\n{"))
	f.Fuzz(func(t *testing.T, content []byte) {
		items, errs := parseItems(content, "/v1/chat/completions", 100)
		if len(errs) > 0 {
			return
		}
		seen := map[string]bool{}
		for _, it := range items {
			if seen[it.CustomID] || it.CustomID == "" {
				t.Fatalf("custom_id %q twice or empty", it.CustomID)
			}
			seen[it.CustomID] = true
			if !json.Valid(it.Body) {
				t.Fatalf("body %q", it.Body)
			}
			if it.State == store.ItemFailed && !json.Valid(it.Result) {
				t.Fatalf("result %q", it.Result)
			}
		}
		if checkUpload(content, 100) != nil {
			t.Fatalf("items parsed from a file the upload refuses: %q", content)
		}
	})
}
