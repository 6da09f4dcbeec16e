package providertest

import (
	"encoding/json"
	"io"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
)

// Drain reads s (a providers.Stream: this package cannot import providers,
// whose tests import it) to its end and returns everything it yielded.
func Drain(t testing.TB, s interface{ Next() ([]byte, error) }) []byte {
	t.Helper()
	var out []byte
	for range 100000 {
		b, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	t.Fatal("stream did not end")
	return nil
}

// AnthropicAccumulate feeds Anthropic SSE bytes
// (https://docs.anthropic.com/en/docs/build-with-claude/streaming) to the
// official SDK's accumulator, checking each event's framing; it returns
// the message and the error event's message, if any.
func AnthropicAccumulate(t testing.TB, b []byte) (sdk.Message, string) {
	t.Helper()
	var m sdk.Message
	errMsg := ""
	for _, ev := range strings.Split(string(b), "\n\n") {
		if ev == "" {
			continue
		}
		name, data, ok := strings.Cut(ev, "\n")
		if !ok || !strings.HasPrefix(name, "event: ") || !strings.HasPrefix(data, "data: ") {
			t.Fatalf("bad event framing: %q", ev)
		}
		data = strings.TrimPrefix(data, "data: ")
		if name == "event: error" {
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				t.Fatal(err)
			}
			errMsg = e.Error.Message
			continue
		}
		var u sdk.MessageStreamEventUnion
		if err := json.Unmarshal([]byte(data), &u); err != nil {
			t.Fatalf("SDK: %v: %s", err, data)
		}
		if "event: "+u.Type != name {
			t.Errorf("event name %q, data type %q", name, u.Type)
		}
		if err := m.Accumulate(u); err != nil {
			t.Fatalf("SDK accumulate: %v", err)
		}
	}
	return m, errMsg
}
