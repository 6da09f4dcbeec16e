package gemini

import (
	"github.com/aigateway/gateway/providers/providertest"
	"io"

	"encoding/json"
	"flag"
	"github.com/aigateway/gateway/providers"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// The golden-file helpers are shared with the other providers' tests.
func golden(t *testing.T, path string, got []byte) { providertest.Golden(t, path, got, *update) }

func indent(t *testing.T, b []byte) []byte { return providertest.IndentJSON(t, b) }

func validSSE(t *testing.T, b []byte) { providertest.ValidSSE(t, b) }

func inputs(t *testing.T, dir, suffix string) map[string]string {
	return providertest.Inputs(t, dir, suffix)
}

func jsonValid(b []byte) bool { return json.Valid(b) }

// accumulateBytes folds an OpenAI SSE byte stream.
func accumulateBytes(t testing.TB, b []byte) completion {
	return accumulate(t, &byteStream{b: b})
}

type byteStream struct {
	b    []byte
	done bool
}

func (s *byteStream) Next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	s.done = true
	return s.b, nil
}
func (s *byteStream) Usage() providers.Usage { return providers.Usage{} }
func (s *byteStream) Close() error           { return nil }
