package anthropic

import (
	"encoding/json"
	"flag"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/providertest"
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

func drain(t testing.TB, s providers.Stream) []byte { return providertest.Drain(t, s) }

func sdkAccumulate(t testing.TB, b []byte) (sdk.Message, string) {
	return providertest.AnthropicAccumulate(t, b)
}
