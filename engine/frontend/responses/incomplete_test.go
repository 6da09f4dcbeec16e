package responses

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestIncomplete: an answer cut by the output limit (chat finish_reason
// "length") or a content filter is an incomplete response whose last output
// item — the one the stop cut — is incomplete too, streamed and not; the
// stream ends with response.incomplete and its output_item.done carries the
// incomplete item. The item status values are those of the response object
// reference (https://platform.openai.com/docs/api-reference/responses/object:
// output message and function call status "in_progress", "completed" or
// "incomplete"); the terminal event of
// https://platform.openai.com/docs/api-reference/responses-streaming/response/incomplete.
func TestIncomplete(t *testing.T) {
	t.Parallel()
	type resp struct {
		Status            string `json:"status"`
		IncompleteDetails *struct {
			Reason string `json:"reason"`
		} `json:"incomplete_details"`
		Output []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"output"`
	}
	chunk := func(delta, finish string) string {
		f := "null"
		if finish != "" {
			f = `"` + finish + `"`
		}
		return `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":` + delta + `,"finish_reason":` + f + `}]}` + "\n\n"
	}
	for _, tc := range []struct {
		name, finish, reason string
		message              string // the completion's message
		deltas               []string
		want                 []string // item statuses
	}{
		{"length", "length", "max_output_tokens", `{"role":"assistant","content":"Once upon a"}`,
			[]string{`{"content":"Once"}`, `{"content":" upon a"}`}, []string{"incomplete"}},
		{"content filter", "content_filter", "content_filter", `{"role":"assistant","content":"I cannot"}`,
			[]string{`{"content":"I cannot"}`}, []string{"incomplete"}},
		{"length in a call", "length", "max_output_tokens",
			`{"role":"assistant","content":"Let me look.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}`,
			[]string{`{"content":"Let me look."}`, `{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}`},
			[]string{"completed", "incomplete"}},
		{"stop", "stop", "", `{"role":"assistant","content":"Done."}`, []string{`{"content":"Done."}`}, []string{"completed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			check := func(how string, b []byte) {
				t.Helper()
				var r resp
				if err := json.Unmarshal(b, &r); err != nil {
					t.Fatalf("%s: %v: %s", how, err, b)
				}
				wantStatus := "completed"
				if tc.reason != "" {
					wantStatus = "incomplete"
				}
				if r.Status != wantStatus || (tc.reason == "") != (r.IncompleteDetails == nil) ||
					(r.IncompleteDetails != nil && r.IncompleteDetails.Reason != tc.reason) || len(r.Output) != len(tc.want) {
					t.Fatalf("%s: %s", how, b)
				}
				for i, it := range r.Output {
					if it.Status != tc.want[i] {
						t.Fatalf("%s: item %d (%s) status %q, want %q: %s", how, i, it.Type, it.Status, tc.want[i], b)
					}
				}
			}
			completion := `{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":` + tc.message + `,"finish_reason":"` + tc.finish + `"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`
			b, err := FromCompletion(nil, []byte(completion), testMeta(t))
			if err != nil {
				t.Fatal(err)
			}
			check("body", b)

			sse := chunk(`{"role":"assistant","content":""}`, "")
			for _, d := range tc.deltas {
				sse += chunk(d, "")
			}
			sse += chunk(`{}`, tc.finish) + "data: [DONE]\n\n"
			s := NewStream(newEventStream([]byte(sse)), testMeta(t))
			var final []byte
			s.OnComplete = func(r []byte) { final = append([]byte(nil), r...) }
			var last string
			var doneItems []string
			for {
				ev, err := s.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range strings.Split(strings.TrimSuffix(string(ev), "\n\n"), "\n\n") {
					name, data, _ := strings.Cut(e, "\n")
					last = strings.TrimPrefix(name, "event: ")
					if last == "response.output_item.done" {
						var v struct {
							Item struct {
								Status string `json:"status"`
							} `json:"item"`
						}
						_ = json.Unmarshal([]byte(strings.TrimPrefix(data, "data: ")), &v)
						doneItems = append(doneItems, v.Item.Status)
					}
				}
			}
			wantLast := "response.completed"
			if tc.reason != "" {
				wantLast = "response.incomplete"
			}
			if last != wantLast {
				t.Fatalf("stream ends with %s, want %s", last, wantLast)
			}
			if strings.Join(doneItems, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("output_item.done statuses %v, want %v", doneItems, tc.want)
			}
			check("stream", final)
		})
	}
}
