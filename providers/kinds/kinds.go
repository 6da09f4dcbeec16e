// Package kinds is the list of the provider kinds this build knows: the
// one place the engine reads to validate a provider section, build its
// Provider and apply its environment defaults. Adding a provider is a new
// package under providers/ that declares a providers.Kind, and one line
// here (providers/README.md).
package kinds

import (
	"github.com/aigateway/gateway/providers"
	"github.com/aigateway/gateway/providers/anthropic"
	"github.com/aigateway/gateway/providers/gemini"
	"github.com/aigateway/gateway/providers/mock"
	"github.com/aigateway/gateway/providers/ollama"
	"github.com/aigateway/gateway/providers/openai"
)

// All is every provider kind, in the order error messages name them.
var All = providers.Kinds{
	openai.Kind,
	anthropic.Kind,
	gemini.Kind,
	ollama.Kind,
	mock.Kind,
}
