package payload

import (
	"encoding/json"
	"testing"
)

func TestBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     []byte
		min, max int
	}{
		{name: "chat", body: Chat("gpt-4o-mini", false, 0), min: 50, max: 300},
		{name: "chat-stream", body: Chat("gpt-4o-mini", true, 0), min: 50, max: 300},
		{name: "coding-100k", body: Chat("gpt-4o-mini", false, 100<<10), min: 100 << 10, max: 120 << 10},
		{name: "messages", body: Messages("claude-3-5-haiku-latest", true, 0), min: 50, max: 300},
		{name: "deterministic", body: ChatDeterministic("gpt-4o-mini", false), min: 50, max: 300},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v map[string]any
			if err := json.Unmarshal(tc.body, &v); err != nil {
				t.Fatal(err)
			}
			if len(tc.body) < tc.min || len(tc.body) > tc.max {
				t.Errorf("body is %d bytes, want %d..%d", len(tc.body), tc.min, tc.max)
			}
		})
	}
}
