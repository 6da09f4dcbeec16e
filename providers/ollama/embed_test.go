package ollama

import (
	"errors"
	"testing"

	"github.com/aigateway/gateway/providers"
)

// TestEmbedRequestRefusesAmbiguousMembers: a member the gateway reads, sent
// twice or spelled with escapes, is a 400 (providers.CheckEmbeddingsNames).
func TestEmbedRequestRefusesAmbiguousMembers(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, param string }{
		{"input twice", `{"model":"m","input":"a","input":"b"}`, "input"},
		{"options escaped", `{"model":"m","input":"a","opti\u006fns":{}}`, "options"},
		{"model in upper case", `{"model":"m","MODEL":"n","input":"a"}`, "model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := embedRequest(nil, []byte(tc.body), "m")
			var re *providers.RequestError
			if !errors.As(err, &re) || re.Param != tc.param || re.Code == "" {
				t.Fatalf("err = %v, want a RequestError with a code naming %q", err, tc.param)
			}
		})
	}
	if _, _, err := embedRequest(nil, []byte(`{"model":"m","input":"a","x\u0078":1,"x":1,"x":2}`), "m"); err != nil {
		t.Fatalf("unread members refused: %v", err)
	}
}
