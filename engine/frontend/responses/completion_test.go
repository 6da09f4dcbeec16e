package responses

import (
	"encoding/json"
	"testing"

	"github.com/aigateway/gateway/internal/jsonscan"
)

// TestToCompletion: an upstream Responses object becomes the chat
// completion the cache stores, or is refused when it carries what a chat
// completion cannot.
func TestToCompletion(t *testing.T) {
	t.Parallel()
	usage := `"usage":{"input_tokens":100,"input_tokens_details":{"cached_tokens":40},"output_tokens":20,"output_tokens_details":{"reasoning_tokens":5},"total_tokens":120}`
	for _, tc := range []struct {
		name, in string
		ok       bool
		content  string // the message content, JSON
		finish   string
		calls    int
	}{
		{"text", `{"id":"resp_1","created_at":7,"model":"gpt-4o","status":"completed","output":[{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Hi \u00e9","annotations":[]}]}],` + usage + `}`,
			true, `"Hi é"`, "stop", 0},
		{"reasoning and a call", `{"status":"completed","output":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"think"}]},{"type":"function_call","id":"fc_1","call_id":"call_1","name":"f","arguments":"{\"a\":1}"}],` + usage + `}`,
			true, `null`, "tool_calls", 1},
		{"cut at max_output_tokens", `{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message","content":[{"type":"output_text","text":"par"}]}],` + usage + `}`,
			true, `"par"`, "length", 0},
		{"content filter", `{"status":"incomplete","incomplete_details":{"reason":"content_filter"},"output":[]}`, false, "", "", 0},
		{"failed", `{"status":"failed","output":[]}`, false, "", "", 0},
		{"refusal part", `{"status":"completed","output":[{"type":"message","content":[{"type":"refusal","refusal":"no"}]}]}`, false, "", "", 0},
		{"hosted tool", `{"status":"completed","output":[{"type":"web_search_call","id":"ws_1","status":"completed"}]}`, false, "", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := ToCompletion(nil, []byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v", err)
			}
			if !tc.ok {
				return
			}
			if !json.Valid(b) {
				t.Fatalf("invalid JSON %s", b)
			}
			ch := jsonscan.Get(jsonscan.Get(b, "choices"), "0")
			var c struct {
				Choices []struct {
					Message struct {
						Content   json.RawMessage `json:"content"`
						ToolCalls []struct {
							ID string `json:"id"`
						} `json:"tool_calls"`
					} `json:"message"`
					FinishReason string `json:"finish_reason"`
				} `json:"choices"`
				Usage struct {
					PromptTokens  int `json:"prompt_tokens"`
					PromptDetails struct {
						Cached int `json:"cached_tokens"`
					} `json:"prompt_tokens_details"`
					CompletionDetails struct {
						Reasoning int `json:"reasoning_tokens"`
					} `json:"completion_tokens_details"`
				} `json:"usage"`
			}
			_ = ch
			if err := json.Unmarshal(b, &c); err != nil || len(c.Choices) != 1 {
				t.Fatalf("%s: %v", b, err)
			}
			m := c.Choices[0]
			var want, got any
			_ = json.Unmarshal([]byte(tc.content), &want)
			_ = json.Unmarshal(m.Message.Content, &got)
			if got != want || m.FinishReason != tc.finish || len(m.Message.ToolCalls) != tc.calls {
				t.Fatalf("got %s", b)
			}
			if c.Usage.PromptTokens != 100 || c.Usage.PromptDetails.Cached != 40 || c.Usage.CompletionDetails.Reasoning != 5 {
				t.Fatalf("usage in %s", b)
			}
		})
	}
}

// FuzzToCompletion: any bytes either convert to valid JSON or are refused;
// never a panic.
func FuzzToCompletion(f *testing.F) {
	f.Add([]byte(`{"id":"r","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"x"}]}],"usage":{"input_tokens":1}}`))
	f.Add([]byte(`{"status":"completed","output":[{"type":"function_call","call_id":"c","name":"n","arguments":"{}"}]}`))
	f.Add([]byte(`{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if jsonscan.Validate(in) != nil {
			return // the caller passes upstream JSON it has read
		}
		b, err := ToCompletion(nil, in)
		if err == nil && !json.Valid(b) {
			t.Fatalf("invalid JSON %s from %s", b, in)
		}
	})
}
